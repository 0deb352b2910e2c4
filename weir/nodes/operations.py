"""Node kinds whose config holds exactly one operation key (file, sftp, s3, smb, sql,
transform): one check and one message for all of them.

The file-like kinds go further: each operation is a model with its own ``run``, and the config
hands out the one that is set (``OneOperation.operation``), so the node runs it by its type.
"""

from __future__ import annotations

import types
import typing
from abc import abstractmethod
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Self, TypeVar

from pydantic import model_validator

from weir.lang.types import Strict

if TYPE_CHECKING:
    from weir.nodes.context import NodeContext

Target = TypeVar("Target", contravariant=True)


def one_operation_error(kind: str, operations: Sequence[str], found: Sequence[str]) -> ValueError:
    listed = ", ".join(found) if found else "none"
    return ValueError(
        f"{kind} takes exactly one operation ({', '.join(operations)}), found {listed}"
    )


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
        raise one_operation_error(kind, operations, chosen)
    return chosen[0]


class Operation(Strict, Generic[Target]):
    # No docstring here or on the subclasses: pydantic would put it in the JSON schema, and so
    # in the CRD. An operation's fields are what a user writes under its key; ``run`` does it
    # against ``Target`` (a file system, for the file-like kinds).

    @abstractmethod
    async def run(self, target: Target, ctx: NodeContext) -> Any: ...


class OneOperation(Strict, Generic[Target]):
    """Base of a config whose operations are ``Operation`` fields, exactly one of them set.

    The operations are found from the field types when the class is made: a field typed
    ``SomeOperation | None`` is one, named by its alias (``copy``) or else its name. Subclasses
    set ``KIND``, the node kind named in the message.
    """

    KIND: ClassVar[str]
    OPERATIONS: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls.OPERATIONS = tuple(
            field.alias or name
            for name, field in cls.model_fields.items()
            if _is_operation(field.annotation)
        )

    @model_validator(mode="after")
    def _one_operation(self) -> Self:
        self._chosen()
        return self

    def _chosen(self) -> Operation[Target]:
        aliases = {name: field.alias or name for name, field in type(self).model_fields.items()}
        chosen = [(name, value) for name, value in self if isinstance(value, Operation)]
        if len(chosen) != 1:
            raise one_operation_error(
                self.KIND, self.OPERATIONS, [aliases[name] for name, _ in chosen]
            )
        return chosen[0][1]

    @property
    def operation(self) -> Operation[Target]:
        """The operation this node does."""
        return self._chosen()


def _is_operation(annotation: Any) -> bool:
    options = (
        typing.get_args(annotation)
        if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union
        else (annotation,)
    )
    return any(isinstance(option, type) and issubclass(option, Operation) for option in options)
