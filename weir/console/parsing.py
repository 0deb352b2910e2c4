"""Requests in and responses out through the models: a query string or a JSON body that does
not fit is a 400 problem naming the parameter or the field, never a traceback."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from aiohttp import web
from pydantic import ValidationError

from weir.console.models import ApiModel
from weir.console.problems import bad_request

Model = TypeVar("Model", bound=ApiModel)


def describe(error: ValidationError, where: str) -> str:
    """The first few errors, each with its place: ``body.executions[0].id: …``."""
    parts = []
    for item in error.errors()[:3]:
        place = where
        for step in item["loc"]:
            if isinstance(step, int):
                place += f"[{step}]"
            else:
                place += f".{step}" if place and not place.endswith(" ") else str(step)
        parts.append(f"{place}: {item['msg']}")
    more = len(error.errors()) - 3
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def parse_query(request: web.Request, model: type[Model]) -> Model:
    values: dict[str, Any] = {}
    for name in request.query:
        found = request.query.getall(name)
        if len(found) > 1:
            raise bad_request(f"query parameter {name}: given {len(found)} times; give it once")
        values[name] = found[0]
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise bad_request(describe(exc, "query parameter ")) from None


async def read_json(request: web.Request) -> Any:
    data = await request.read()
    if not data.strip():
        return {}
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"body: not valid JSON (UTF-8): {exc}") from None


async def parse_body(request: web.Request, model: type[Model]) -> Model:
    data = await read_json(request)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise bad_request(describe(exc, "body")) from None


def respond(model: ApiModel, status: int = 200) -> web.Response:
    return web.Response(status=status, body=model.json_bytes(), content_type="application/json")
