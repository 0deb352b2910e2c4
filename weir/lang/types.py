"""Small value types shared by the flow model and the node configs."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, WithJsonSchema

IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]*$"
"""Node and secret names are identifiers so that CEL can read them (``nodes.fetch_users``)."""

KUBE_NAME = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
"""A Kubernetes object name (DNS-1123 subdomain, at most 253 characters)."""


class Strict(BaseModel):
    """Base of every model a user writes: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", populate_by_name=False)


class SecretRef(Strict):
    """A value kept in a secret: the logical secret name declared in ``spec.secrets`` and a key."""

    secret: str = Field(pattern=IDENTIFIER, description="Logical secret name from spec.secrets.")
    key: str = Field(min_length=1, description="Key inside the secret.")


SecretOrText = str | SecretRef
"""A literal string or a reference to a secret value (for URLs that may hold credentials)."""

_SIZE = re.compile(r"^(\d+)(Ki|Mi|Gi|K|M|G)?$")
_SIZE_FACTORS = {
    None: 1,
    "K": 1000,
    "M": 1000**2,
    "G": 1000**3,
    "Ki": 1024,
    "Mi": 1024**2,
    "Gi": 1024**3,
}


def parse_byte_size(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("a size is a number of bytes or a string like '10Mi'")
    if isinstance(value, int):
        return value
    match = _SIZE.fullmatch(str(value).strip())
    if not match:
        raise ValueError(f"invalid size {value!r}: use bytes or a form like '512Ki', '10Mi'")
    return int(match.group(1)) * _SIZE_FACTORS[match.group(2)]


ByteSize = Annotated[
    int,
    BeforeValidator(parse_byte_size),
    PlainSerializer(lambda n: n, return_type=int),
    WithJsonSchema({"x-kubernetes-int-or-string": True}),
]
"""A size in bytes, written as a number or as a Kubernetes quantity ("512Ki", "10Mi")."""

JsonObject = Annotated[
    dict[str, Any],
    WithJsonSchema({"type": "object", "x-kubernetes-preserve-unknown-fields": True}),
]
"""Free-form JSON (a JSON Schema, a literal payload)."""
