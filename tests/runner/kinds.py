"""Extension node kinds used by engine tests: deterministic failures, sleeps and echoes."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import Field

from weir.lang.errors import NodeError
from weir.lang.expressions import Value
from weir.lang.types import SecretRef, Strict
from weir.nodes.context import NodeContext
from weir.nodes.extension import register_extension
from weir.nodes.kind import NodeKind

CALLS: dict[str, int] = {}


class FlakyConfig(Strict):
    key: str
    failures: int = Field(description="Attempts that fail before one succeeds.")
    retryable: bool = True
    type: str = "flaky"


async def flaky(config: FlakyConfig, ctx: NodeContext) -> Any:
    CALLS[config.key] = CALLS.get(config.key, 0) + 1
    if CALLS[config.key] <= config.failures:
        raise NodeError(
            f"failure {CALLS[config.key]}", retryable=config.retryable, type=config.type
        )
    return {"calls": CALLS[config.key]}


class SleepConfig(Strict):
    seconds: float
    value: Value | None = None


async def sleep(config: SleepConfig, ctx: NodeContext) -> Any:
    await asyncio.sleep(config.seconds)
    return ctx.eval(config.value)


class EchoConfig(Strict):
    value: Value | None = None
    secret: SecretRef | None = None


async def echo(config: EchoConfig, ctx: NodeContext) -> Any:
    value = ctx.eval(config.value)
    if config.secret is not None:
        return {"value": value, "secret": ctx.reveal(config.secret)}
    return value


class BarrierConfig(Strict):
    key: str
    parties: int


BARRIERS: dict[str, asyncio.Barrier] = {}


async def barrier(config: BarrierConfig, ctx: NodeContext) -> Any:
    """Returns only once ``parties`` nodes wait at the same time: proof they run concurrently."""
    waiting = BARRIERS.setdefault(config.key, asyncio.Barrier(config.parties))
    async with asyncio.timeout(5):
        await waiting.wait()
    return ctx.node


async def needs_missing_package(config: EchoConfig, ctx: NodeContext) -> Any:
    import weir_no_such_connector  # noqa: F401

    return None


async def boom(config: EchoConfig, ctx: NodeContext) -> Any:
    raise RuntimeError("unexpected bug")


for kind in (
    NodeKind("test.flaky", FlakyConfig, flaky, "fails N times"),
    NodeKind("test.sleep", SleepConfig, sleep, "sleeps"),
    NodeKind("test.echo", EchoConfig, echo, "returns its value"),
    NodeKind("test.barrier", BarrierConfig, barrier, "waits for its peers"),
    NodeKind("test.missing", EchoConfig, needs_missing_package, "imports a missing package"),
    NodeKind("test.boom", EchoConfig, boom, "raises a plain exception"),
):
    register_extension(kind)
