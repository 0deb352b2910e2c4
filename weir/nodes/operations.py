"""Node kinds whose config holds exactly one operation key (file, sftp, s3, smb, sql,
transform): one check and one message for all of them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Self

from pydantic import model_validator

from weir.lang.types import Strict


def chosen_operation(
    config: Any,
    kind: str,
    operations: Sequence[str],
    field: Callable[[str], str] = lambda name: name,
) -> str:
    """The one operation set on ``config``; a ValueError naming them all otherwise.
    ``field`` maps an operation to its attribute when they differ (``copy`` → ``copy_``)."""
    chosen = [name for name in operations if getattr(config, field(name)) is not None]
    if len(chosen) != 1:
        found = ", ".join(chosen) if chosen else "none"
        raise ValueError(
            f"{kind} takes exactly one operation ({', '.join(operations)}), found {found}"
        )
    return chosen[0]


class OneOperation(Strict):
    """Base of a config that holds exactly one operation key: checks it when the flow is
    loaded and names it as ``operation``. Subclasses set ``KIND`` and ``OPERATIONS``, and
    override ``_field`` when an operation's attribute is named differently."""

    KIND: ClassVar[str]
    OPERATIONS: ClassVar[tuple[str, ...]]

    @staticmethod
    def _field(operation: str) -> str:
        return operation

    @model_validator(mode="after")
    def _one_operation(self) -> Self:
        chosen_operation(self, self.KIND, self.OPERATIONS, self._field)
        return self

    @property
    def operation(self) -> str:
        return chosen_operation(self, self.KIND, self.OPERATIONS, self._field)
