"""Errors as RFC 9457 problem documents: ``application/problem+json`` with ``title``,
``status`` and ``detail``. A handler raises :class:`Problem`; the error middleware (app.py)
turns it, and any other aiohttp HTTP error, into one. A client error never carries a traceback.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import orjson
from aiohttp import web

CONTENT_TYPE = "application/problem+json"


class Problem(Exception):
    """A request the console refuses or cannot serve; ``detail`` says what is wrong and where."""

    def __init__(self, status: int, detail: str, *, title: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or HTTPStatus(status).phrase


def bad_request(detail: str) -> Problem:
    return Problem(400, detail)


def not_found(detail: str) -> Problem:
    return Problem(404, detail)


def conflict(detail: str) -> Problem:
    return Problem(409, detail)


def problem_response(
    status: int, detail: str, *, title: str | None = None, headers: Any = None
) -> web.Response:
    body = {"title": title or HTTPStatus(status).phrase, "status": status, "detail": detail}
    response = web.Response(status=status, body=orjson.dumps(body), headers=headers)
    response.content_type = CONTENT_TYPE
    return response
