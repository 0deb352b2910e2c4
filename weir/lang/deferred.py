"""A field whose model is imported the first time a value is validated for it.

A Flow's node and trigger fields name every kind; building all their models at import took
most of `weir validate`'s time, though a flow uses a few kinds. ``Deferred`` keeps the field's
checks and error locations (``spec.nodes.0.http.url``) and its JSON Schema (CRDs, docs), and
imports the kind's module only when a flow uses the kind or a schema is asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from pydantic import BaseModel, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

Loader = Callable[[], type[BaseModel]]


class Deferred:
    """``Annotated[Any, Deferred(load)]``, an optional field (None or the model): values are
    validated by the model ``load()`` returns, called once, when the first value arrives or
    the JSON Schema is generated; ``describe()`` gives the field's description there."""

    def __init__(self, load: Loader, describe: Callable[[], str] | None = None) -> None:
        self.load = cache(load)
        self.describe = describe

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        load = self.load

        def validate(value: Any) -> BaseModel | None:
            if value is None:
                return None
            model = load()
            return value if isinstance(value, model) else model.model_validate(value)

        # Serialized by what the value is (the model's own serializer), options passed on.
        return core_schema.no_info_plain_validator_function(
            validate, serialization=core_schema.simple_ser_schema("any")
        )

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        described = {"description": self.describe()} if self.describe is not None else {}
        model = handler(self.load().__pydantic_core_schema__)
        return {"anyOf": [model, {"type": "null"}], **described}
