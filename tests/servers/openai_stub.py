"""A small OpenAI-compatible chat-completions server for the `llm` node tests.

It runs in the test's event loop on 127.0.0.1 (a free port), records every request, checks
the bearer key and answers from a queue of scripted replies, one per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Reply:
    """One scripted answer: a status, a JSON body (or raw text), an optional delay and headers."""

    status: int = 200
    body: Any = None
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


def completion(
    content: Any,
    *,
    finish_reason: str = "stop",
    model: str = "stub-model",
    usage: tuple[int, int] = (12, 5),
) -> Reply:
    """A successful answer; dicts and lists are sent as JSON text, as a model writes them."""
    text = content if isinstance(content, str) or content is None else json.dumps(content)
    prompt_tokens, completion_tokens = usage
    return Reply(
        200,
        {
            "id": "chatcmpl-stub",
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        },
    )


def error(
    status: int,
    message: str,
    kind: str = "invalid_request_error",
    headers: dict[str, str] | None = None,
) -> Reply:
    body = {"error": {"message": message, "type": kind, "code": None}}
    return Reply(status, body, headers=headers or {})


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    json: Any


@dataclass
class OpenAIStub:
    api_key: str | None = "sk-test-key"
    replies: list[Reply] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None
    _closing: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except ValueError:
            body = None
        self.requests.append(Request(request.path, dict(request.headers), body))
        given = request.headers.get("Authorization", "")
        if self.api_key is not None and given != f"Bearer {self.api_key}":
            # Like OpenAI, quote the key it was given: the node must not pass this on.
            key = given.removeprefix("Bearer ")
            return web.json_response(
                {"error": {"message": f"Incorrect API key provided: {key}", "type": "auth"}},
                status=401,
            )
        if not isinstance(body, dict) or "model" not in body or "messages" not in body:
            return web.json_response({"error": {"message": "model and messages required"}}, 400)
        if not self.replies:
            return web.json_response({"error": {"message": "stub: nothing scripted"}}, 418)
        reply = self.replies.pop(0)
        if reply.delay:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), reply.delay)
        if isinstance(reply.body, str):
            return web.Response(status=reply.status, text=reply.body, headers=reply.headers)
        return web.json_response(reply.body, status=reply.status, headers=reply.headers)

    async def start(self) -> OpenAIStub:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
