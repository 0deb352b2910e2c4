"""`extension`: the one escape hatch for node kinds that are not built in.

A third-party package registers a ``NodeKind`` under the entry-point group ``weir.nodes``
(or calls ``register_extension`` at import); a flow uses it as::

    - name: enrich
      extension:
        kind: acme.enrich
        config: {apiVersion: 2}

The config is validated by the extension's own model when the flow is loaded, like any other.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from pydantic import BaseModel, Field, PrivateAttr, ValidationError, model_validator

from weir.lang.types import JsonObject, Strict
from weir.nodes.context import NodeContext
from weir.nodes.kind import NodeKind

ENTRY_POINT_GROUP = "weir.nodes"
_extensions: dict[str, NodeKind] = {}
_entry_points_loaded = False


def register_extension(kind: NodeKind) -> None:
    _extensions[kind.name] = kind


def extension_kinds() -> dict[str, NodeKind]:
    global _entry_points_loaded
    if not _entry_points_loaded:
        _entry_points_loaded = True
        for entry in entry_points(group=ENTRY_POINT_GROUP):
            kind = entry.load()
            if isinstance(kind, NodeKind):
                _extensions.setdefault(kind.name, kind)
    return _extensions


class ExtensionConfig(Strict):
    kind: str = Field(description="The registered name of the extension node kind.")
    config: JsonObject = Field(default_factory=dict, description="Validated by the extension.")
    _compiled: BaseModel | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _validate_with_extension(self) -> ExtensionConfig:
        known = extension_kinds()
        if self.kind not in known:
            installed = ", ".join(sorted(known)) or "none installed"
            raise ValueError(f"unknown extension kind {self.kind!r} ({installed})")
        try:
            self._compiled = known[self.kind].config.model_validate(self.config)
        except ValidationError as exc:
            problems = "; ".join(
                f"config.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            raise ValueError(problems) from None
        return self


async def run(config: ExtensionConfig, ctx: NodeContext) -> Any:
    # Read the private attribute directly: pydantic's __getattr__ fallback is slow per node.
    compiled = config.__pydantic_private__["_compiled"]  # type: ignore[index]
    return await extension_kinds()[config.kind].run(compiled, ctx)


KIND = NodeKind("extension", ExtensionConfig, run, "A node kind provided by another package.")
