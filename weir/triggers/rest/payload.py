"""A REST request's body as the flow's payload (``$.input``), by content type, and what
``$.trigger`` holds about the request."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from multidict import CIMultiDictProxy

from weir.flow.triggers import RestTrigger
from weir.nodes.conversions import from_xml
from weir.store.records import iso_time
from weir.triggers.rejection import PayloadError, Rejection, TooDeep, check_xml_depth, loads_json
from weir.triggers.rest.soap import SoapError, SoapVersion, unwrap

HIDDEN_HEADERS = {"authorization", "cookie", "proxy-authorization"}


def parse(request: web.Request, raw: bytes, trigger: RestTrigger) -> tuple[Any, SoapVersion | None]:
    """The payload, and the SOAP version when the body was an envelope; a Rejection (400, 415)
    naming what is wrong. No body: the query parameters."""
    if not raw:
        return (dict(request.query) or None), None
    kind = request.content_type.lower()
    try:
        text = raw.decode(request.charset or "utf-8")
    except (UnicodeDecodeError, LookupError):
        raise Rejection(400, f"the body is not valid {request.charset or 'utf-8'} text") from None
    if trigger.soap:
        return _soap(text, kind)
    if kind == "application/json" or kind.endswith("+json"):
        try:
            return loads_json(text), None
        except TooDeep as exc:
            raise Rejection(400, f"the body is {exc}") from None
        except PayloadError as exc:
            raise Rejection(400, f"the body is not valid JSON: {exc}") from None
    if kind == "application/x-www-form-urlencoded":
        return _form(text), None
    if kind in ("application/xml", "text/xml") or kind.endswith("+xml"):
        return _xml(text), None
    if kind.startswith("text/"):
        return text, None
    raise Rejection(
        415,
        f"unsupported content type {kind!r}: send application/json, "
        "application/x-www-form-urlencoded, application/xml or text/*",
    )


def _soap(text: str, kind: str) -> tuple[Any, SoapVersion]:
    if "xml" not in kind:
        raise Rejection(415, f"SOAP needs an XML body, not {kind or 'no content type'}")
    _xml(text)  # refuses DTDs, entities and deep nesting before the envelope is looked at
    try:
        version, payload = unwrap(text)
    except SoapError as exc:
        raise Rejection(400, str(exc)) from None
    return payload, version


def _form(text: str) -> dict[str, Any]:
    """Fields as an object; a repeated field becomes a list."""
    form: dict[str, Any] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        if key not in form:
            form[key] = value
        elif isinstance(form[key], list):
            form[key].append(value)
        else:
            form[key] = [form[key], value]
    return form


def _xml(text: str) -> Any:
    from weir.lang.errors import NodeError

    try:
        check_xml_depth(text)
    except PayloadError as exc:
        raise Rejection(400, str(exc)) from None
    try:
        return from_xml(text)
    except NodeError as exc:  # malformed, or refused for a DTD/entities
        raise Rejection(400, exc.message.replace("transform xml2json: ", "")) from None


def meta(request: web.Request) -> dict[str, Any]:
    """``$.trigger`` of a REST execution; credentials and cookies left out."""
    return {
        "receivedAt": iso_time(time.time()),
        "method": request.method,
        "path": request.path,
        "query": dict(request.query),
        "headers": _shown_headers(request.headers),
        "remote": request.remote,
    }


def _shown_headers(headers: CIMultiDictProxy[str]) -> dict[str, str]:
    # Most requests carry none of the hidden headers: three case-insensitive lookups then
    # spare lower-casing every name.
    for name in HIDDEN_HEADERS:
        if name in headers:
            return {k: v for k, v in headers.items() if k.lower() not in HIDDEN_HEADERS}
    return dict(headers.items())  # as the comprehension: a repeated header keeps its last value
