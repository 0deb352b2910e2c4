"""The FlowSecretRef resource: points flows at the keys of a Kubernetes Secret."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from weir.flow.model import Metadata
from weir.lang.types import KUBE_NAME, JsonObject, Strict

KEY_PATTERN = r"^[-._a-zA-Z0-9]+$"


class SecretKey(Strict):
    key: str = Field(
        pattern=KEY_PATTERN, description="The key flows use ({secret: NAME, key: KEY})."
    )
    secretKey: str | None = Field(
        None, pattern=KEY_PATTERN, description="The key in the Secret, when it differs from `key`."
    )

    @property
    def source(self) -> str:
        return self.secretKey or self.key


class FlowSecretRefSpec(Strict):
    secretName: str = Field(
        pattern=KUBE_NAME,
        max_length=253,
        description="The Secret in the same namespace.",
    )
    keys: list[SecretKey] = Field(min_length=1, description="The keys flows may read.")

    @model_validator(mode="after")
    def _unique_keys(self) -> FlowSecretRefSpec:
        seen: set[str] = set()
        for item in self.keys:
            if item.key in seen:
                raise ValueError(f"key {item.key!r} is listed twice")
            seen.add(item.key)
        return self


class FlowSecretRef(Strict):
    apiVersion: Literal["weir.dev/v1alpha1"]
    kind: Literal["FlowSecretRef"]
    metadata: Metadata
    spec: FlowSecretRefSpec
    status: JsonObject | None = None
