"""Node kinds whose config holds exactly one operation key (file, sftp, s3, smb, sql,
transform): one check and one message for all of them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


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
