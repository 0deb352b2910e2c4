"""The OpenAPI 3.1 document, generated from the route table (routes.py) and the pydantic models
(models.py) when the app is built, and served at ``/api/v1/openapi.json``."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web
from pydantic.json_schema import models_json_schema

from weir import __version__
from weir.console.context import console_of
from weir.console.models import ApiModel, ProblemDetails

if TYPE_CHECKING:
    from weir.console.routes import Route

REF = "#/components/schemas/{model}"
PATH_PARAMETER = re.compile(r"{(\w+)}")
INTEGER_PATH_PARAMETERS = {"seq"}
PROBLEM = "application/problem+json"


def document(routes: tuple[Route, ...]) -> dict[str, Any]:
    schemas = _schemas(routes)
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Weir console API",
            "version": __version__,
            "description": "Executions of every flow in the console's scope: list, search, "
            "follow live, replay, cancel and run (docs/console.md). Errors are "
            "application/problem+json.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A Kubernetes token (kubectl create token), reviewed by the "
                    "API server; GET also takes it from the weir_token cookie. None in local mode.",
                }
            },
        },
        "security": [{"bearer": []}, {}],
    }


def _schemas(routes: tuple[Route, ...]) -> dict[str, Any]:
    """Every body and response model, each under its own name, nested models included."""
    wanted: dict[type[ApiModel], str] = {ProblemDetails: "serialization"}
    for route in routes:
        if route.body is not None:
            wanted[route.body] = "validation"
        for model in (route.response, route.stream):
            if model is not None:
                wanted[model] = "serialization"
    pairs: list[Any] = list(wanted.items())
    keys, top = models_json_schema(pairs, ref_template=REF)
    schemas: dict[str, Any] = dict(top.get("$defs", {}))
    for (chosen, mode), reference in keys.items():
        name = reference["$ref"].rsplit("/", 1)[1]
        if name not in schemas and issubclass(chosen, ApiModel):
            schemas[name] = chosen.model_json_schema(mode=mode, ref_template=REF)
    return schemas


def _ref(model: type[ApiModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def _operation(route: Route) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": route.operation_id,
        "summary": route.summary,
        "tags": [route.tag],
        "responses": _responses(route),
    }
    parameters = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "integer" if name in INTEGER_PATH_PARAMETERS else "string"},
        }
        for name in PATH_PARAMETER.findall(route.path)
    ]
    if route.query is not None:
        parameters += _query_parameters(route.query)
    if parameters:
        operation["parameters"] = parameters
    if route.body is not None:
        operation["requestBody"] = {
            "required": route.body_required,
            "content": {"application/json": {"schema": _ref(route.body)}},
        }
    return operation


def _responses(route: Route) -> dict[str, Any]:
    content: dict[str, Any]
    if route.stream is not None:
        content = {
            route.media_type: {
                "schema": {"type": "string"},
                "x-event-data": _ref(route.stream),
            }
        }
        description = (
            "Server-Sent Events: `id: <seq>`, `event: execution|node`, `data: <EventData>`; "
            "a `: heartbeat` comment every 15 s"
        )
    elif route.response is not None:
        content, description = {route.media_type: {"schema": _ref(route.response)}}, "OK"
    elif route.media_type == "application/json":
        content, description = {route.media_type: {"schema": {"type": "object"}}}, "OK"
    else:
        content, description = {route.media_type: {"schema": {"type": "string"}}}, "OK"
    responses: dict[str, Any] = {
        str(route.status): {"description": description, "content": content}
    }
    for status in route.also:
        responses[str(status)] = {"description": "see the body", "content": content}
    for status in route.errors:
        responses[str(status)] = {
            "description": "a problem",
            "content": {PROBLEM: {"schema": _ref(ProblemDetails)}},
        }
    return responses


def _query_parameters(model: type[ApiModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(mode="validation")
    required = set(schema.get("required", []))
    parameters = []
    for name, field in schema.get("properties", {}).items():
        field = dict(field)
        description = field.pop("description", None)
        field.pop("title", None)
        options = field.get("anyOf")
        if options:  # a query parameter is absent, never null
            kept = [option for option in options if option.get("type") != "null"]
            field.pop("anyOf")
            field.update(kept[0] if len(kept) == 1 else {"anyOf": kept})
        if field.get("default") is None:
            field.pop("default", None)
        parameter: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": field,
        }
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters


def render(routes: tuple[Route, ...]) -> bytes:
    return orjson.dumps(document(routes))


async def serve_openapi(request: web.Request) -> web.Response:
    return web.Response(body=console_of(request).openapi, content_type="application/json")
