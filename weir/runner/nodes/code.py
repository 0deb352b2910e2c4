"""`code`: run a JavaScript function body in a fresh V8 isolate (the `mini-racer` package).

The script is the body of ``async function (input) { ... }``: it reads ``input`` (the node's
evaluated ``input`` field, passed as JSON), may ``await``, and ``return``s the node's output,
which leaves V8 through ``JSON.stringify``. Every run gets its own isolate, so nothing a script
leaves behind (globals, prototypes) is seen by the next run; an isolate costs about 2 ms.

V8 runs on mini-racer's own thread per isolate; the event loop only starts the script and polls
for its result, so a long script never blocks other executions. The isolate has no file system,
network, ``require`` or ``process``; besides the ECMAScript built-ins there is only the
``setTimeout``/``clearTimeout`` that mini-racer installs.
"""

from __future__ import annotations

import asyncio
import json
import re
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from pydantic import Field, field_validator

from weir.flow.durations import Duration
from weir.flow.expressions import Value, json_default
from weir.flow.types import ByteSize, Strict
from weir.runner.context import NodeContext
from weir.runner.errors import ConfigError, NodeError, NodeTimeout
from weir.runner.nodes.kind import NodeKind

if TYPE_CHECKING:
    from py_mini_racer import MiniRacer

MIN_MEMORY = 8 * 1024**2
"""Below this V8 cannot even set up its heap and every run would fail."""

_HEADER = "(async function (input) {"
"""Prepended on the script's first line, so V8's line numbers are the script's own."""

_PRELUDE = r"""
var __weir_result;
var __weir_finish = (function (stringify) {
  function line(error) {
    var match = /<anonymous>:(\d+):\d+/.exec(String(error && error.stack));
    return match ? Number(match[1]) : null;
  }
  return {
    ok: function (value) {
      var kind = typeof value;
      if (kind === "undefined") {
        __weir_result = "J" + "null";
      } else if (kind === "function" || kind === "symbol" || kind === "bigint") {
        __weir_result = "U" + "the script returned a " + kind + ", which is not JSON";
      } else {
        try {
          var text = stringify(value);
          __weir_result = "J" + (text === undefined ? "null" : text);
        } catch (e) {
          __weir_result = "U" + "the returned value is not JSON: " + String(e && e.message);
        }
      }
    },
    fail: function (error) {
      var isError = error instanceof Error;
      __weir_result = "E" + stringify({
        name: isError ? String(error.name) : "thrown value",
        message: isError ? String(error.message) : String(error),
        line: isError ? line(error) : null,
      });
    },
  };
})(JSON.stringify);
"""

_LOCATION = re.compile(r"^<anonymous>:(\d+): (.*)$")
_POLL_START = 0.001
_POLL_MAX = 0.02


class CodeConfig(Strict):
    script: str = Field(
        min_length=1,
        description=(
            "JavaScript: the body of `async function (input)`; `return` the output "
            "(JSON-serialisable). Static text, not a template."
        ),
    )
    input: Value | None = Field(
        None, description="The value the script sees as `input` (references resolved), as JSON."
    )
    timeout: Duration = Field(
        1.0, gt=0, description="Wall-clock limit for the script, awaited promises included."
    )
    memoryLimit: ByteSize = Field(
        64 * 1024**2, description="V8 heap limit of the isolate, e.g. 64Mi (at least 8Mi)."
    )

    @field_validator("script")
    @classmethod
    def _compiles(cls, script: str) -> str:
        problem = syntax_error(script)
        if problem is not None:
            raise ValueError(problem)
        return script

    @field_validator("memoryLimit")
    @classmethod
    def _enough_memory(cls, limit: int) -> int:
        if limit < MIN_MEMORY:
            raise ValueError(f"memoryLimit must be at least 8Mi ({MIN_MEMORY} bytes), got {limit}")
        return limit


def _source(script: str) -> str:
    return f"{_HEADER}{script}\n}})"


def syntax_error(script: str) -> str | None:
    """The script's syntax error as "SyntaxError: ... (line N)", or None if it compiles.

    Compiles (without running) in a throwaway isolate; skipped when mini-racer is not installed
    (validating a flow never needs connector packages), in which case the first run reports it.
    """
    try:
        from py_mini_racer import JSParseException, MiniRacer
    except ImportError:
        return None
    with MiniRacer() as racer:
        try:
            racer.eval(_source(script))
        except JSParseException as exc:
            return _parse_message(str(exc))
    return None


def _parse_message(text: str) -> str:
    first = text.splitlines()[0] if text else "SyntaxError"
    match = _LOCATION.match(first)
    if match is None:
        return first
    return f"{match.group(2)} (line {match.group(1)})"


def _input_literal(value: Any) -> str:
    try:
        text = json.dumps(value, default=json_default, allow_nan=False)
    except ValueError as exc:
        raise ConfigError(f"code: input cannot be passed as JSON: {exc}") from None
    # A JSON text inside a JSON string is a valid JavaScript string literal.
    return json.dumps(text)


def _open(loop: asyncio.AbstractEventLoop) -> tuple[AbstractContextManager[MiniRacer], MiniRacer]:
    from py_mini_racer import mini_racer

    manager = mini_racer(loop)
    return manager, manager.__enter__()


_CLOSING: set[asyncio.Future[Any]] = set()


def _close_later(loop: asyncio.AbstractEventLoop, manager: AbstractContextManager[Any]) -> None:
    """Free the isolate on a worker thread without waiting: after a timeout V8 may need seconds
    to unwind a long built-in call (e.g. filling a huge array), and the node's outcome is known."""
    closing = loop.run_in_executor(None, manager.__exit__, None, None, None)
    _CLOSING.add(closing)
    closing.add_done_callback(_CLOSING.discard)


async def _outcome(racer: MiniRacer, script: str, payload: str) -> str:
    await racer.eval_cancelable(_PRELUDE)
    # The script's promise settles in V8's microtask queue or on a timer: poll for the result
    # instead of awaiting the JS promise from Python (mini-racer's `.then` call is synchronous
    # and would block the event loop while a script spins after an `await`).
    await racer.eval_cancelable(
        f"{_source(script)}.call(undefined, JSON.parse({payload}))"
        ".then(__weir_finish.ok, __weir_finish.fail)"
    )
    delay = _POLL_START
    while True:
        result = await racer.eval_cancelable("__weir_result")
        if isinstance(result, str):
            return result
        await asyncio.sleep(delay)
        delay = min(delay * 2, _POLL_MAX)


def _script_error(text: str) -> NodeError:
    try:
        error = json.loads(text)
        name, message, line = error["name"], error["message"], error["line"]
    except (ValueError, KeyError, TypeError):
        return NodeError(f"script failed: {text}", type="code")
    where = f" (line {line})" if isinstance(line, int) else ""
    return NodeError(
        f"script failed: {name}: {message}{where}",
        type="code",
        details={"name": name, "line": line},
    )


def _memory_error(limit: int) -> NodeError:
    return NodeError(
        f"script exceeded the memory limit ({limit} bytes)",
        type="code",
        details={"memoryLimit": limit},
    )


async def run(config: CodeConfig, ctx: NodeContext) -> Any:
    from py_mini_racer import JSEvalException, JSOOMException, JSParseException

    payload = _input_literal(ctx.eval(config.input))
    loop = asyncio.get_running_loop()
    # Creating the isolate evaluates mini-racer's setTimeout shim synchronously: do it off-loop.
    manager, racer = await asyncio.to_thread(_open, loop)
    try:
        racer.set_hard_memory_limit(config.memoryLimit)
        try:
            outcome = await asyncio.wait_for(
                _outcome(racer, config.script, payload), config.timeout
            )
        except TimeoutError:
            if racer.was_hard_memory_limit_reached():
                raise _memory_error(config.memoryLimit) from None
            raise NodeTimeout(
                f"script timed out after {config.timeout:g}s", retryable=False
            ) from None
        except JSOOMException:
            raise _memory_error(config.memoryLimit) from None
        except JSParseException as exc:
            raise NodeError(
                f"script does not compile: {_parse_message(str(exc))}", type="code"
            ) from None
        except JSEvalException as exc:
            if racer.was_hard_memory_limit_reached():
                raise _memory_error(config.memoryLimit) from None
            raise NodeError(f"script failed: {_parse_message(str(exc))}", type="code") from None
    finally:
        _close_later(loop, manager)
    kind, body = outcome[:1], outcome[1:]
    if kind == "J":
        try:
            return json.loads(body)
        except ValueError:
            raise NodeError("the script's result could not be read as JSON", type="code") from None
    if kind == "U":
        raise NodeError(body, type="code")
    raise _script_error(body)


KIND = NodeKind(
    "code", CodeConfig, run, "Run a JavaScript function body in a sandboxed V8 isolate."
)
