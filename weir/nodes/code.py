"""`code`: run a JavaScript function body in a fresh V8 isolate (the `mini-racer` package).

The script is the body of ``async function (input) { ... }``: it reads ``input`` (the node's
evaluated ``input`` field, passed as JSON), may ``await``, and ``return``s the node's output,
which leaves V8 through ``JSON.stringify`` (at most ``MAX_RESULT`` bytes). Every run gets its own
isolate, so nothing a script leaves behind (globals, prototypes) is seen by the next run; an
isolate costs about 2 ms.

The script text is never spliced into JavaScript source: it reaches V8 as a string and becomes
a function through ``new AsyncFunction("input", script)`` (see ``code_js``), which compiles it
as exactly one function body. Loading a flow only compiles the script, on a worker thread with
the node's memory limit and a time limit; it never calls it.

V8 runs on mini-racer's own thread per isolate; the event loop only starts the script and polls
for its result, so a long script never blocks other executions. The isolate has no file system,
network, ``require`` or ``process``; besides the ECMAScript built-ins there are only
``setTimeout``/``clearTimeout``.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import threading
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from weir.lang.durations import Duration
from weir.lang.errors import ConfigError, NodeError, NodeTimeout
from weir.lang.expressions import Value, json_default
from weir.lang.types import ByteSize, Strict
from weir.nodes.code_js import BOOTSTRAP, COMPILE, LINE_OFFSET
from weir.nodes.context import NodeContext
from weir.nodes.kind import NodeKind

if TYPE_CHECKING:
    from py_mini_racer import MiniRacer

MIN_MEMORY = 8 * 1024**2
"""Below this V8 cannot even set up its heap and every run would fail."""

DEFAULT_MEMORY = 64 * 1024**2
DEFAULT_TIMEOUT = 1.0

MAX_RESULT = 16 * 1024**2
"""The largest result, in bytes of UTF-8 JSON, that leaves the isolate. Measured inside V8
before the transfer: decoded into Python objects, JSON can take 20 times its size."""

WASM_MAX_PAGES = 1024
"""A process-wide V8 limit on one WebAssembly memory, in 64 KiB pages (64 MiB). mini-racer
cannot bound off-heap memory per isolate (see docs/nodes/code.md)."""

V8_FLAGS = (f"--wasm-max-mem-pages={WASM_MAX_PAGES}",)

CHECK_MIN_TIME = 1.0
"""The compile check gets the node's timeout but at least this long, so that a tight run
timeout never rejects a valid flow because the machine is busy."""

CHECK_START_TIME = 60.0
"""How long the compile check may take to start an isolate (not the script's time)."""

_LOCATION = re.compile(r"^[^:\n]*:(\d+): (.*)$")
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
        DEFAULT_TIMEOUT,
        gt=0,
        description="Wall-clock limit for the script, awaited promises included.",
    )
    memoryLimit: ByteSize = Field(
        DEFAULT_MEMORY, description="V8 heap limit of the isolate, e.g. 64Mi (at least 8Mi)."
    )

    @field_validator("memoryLimit")
    @classmethod
    def _enough_memory(cls, limit: int) -> int:
        if limit < MIN_MEMORY:
            raise ValueError(f"memoryLimit must be at least 8Mi ({MIN_MEMORY} bytes), got {limit}")
        return limit

    @model_validator(mode="after")
    def _compiles(self) -> CodeConfig:
        problem = syntax_error(self.script, timeout=self.timeout, memory_limit=self.memoryLimit)
        if problem is not None:
            # Reported on `script` (not the whole config), so the message names the field.
            error = PydanticCustomError("code_syntax", "{problem}", {"problem": problem})
            raise ValidationError.from_exception_data(
                type(self).__name__,
                [InitErrorDetails(type=error, loc=("script",), input=self.script)],
            )
        return self


def init_v8() -> None:
    """Start V8 with the node's process-wide flags, unless something already started it."""
    from py_mini_racer import DEFAULT_V8_FLAGS, init_mini_racer

    init_mini_racer(flags=(*DEFAULT_V8_FLAGS, *V8_FLAGS), ignore_duplicate_init=True)


def syntax_error(
    script: str, *, timeout: float = DEFAULT_TIMEOUT, memory_limit: int = DEFAULT_MEMORY
) -> str | None:
    """The script's syntax error as "SyntaxError: ... (line N)", or None if it compiles.

    Compiles without ever calling the script, in a throwaway isolate with ``memory_limit`` on a
    worker thread (never on the caller's event loop), and gives up after ``timeout`` (at least
    ``CHECK_MIN_TIME``). Skipped when mini-racer is not installed (validating a flow never needs
    connector packages), in which case the first run reports it.
    """
    try:
        import py_mini_racer  # noqa: F401
    except ImportError:
        return None
    limit = max(timeout, CHECK_MIN_TIME)
    check = _Check(script, limit, memory_limit)
    worker = threading.Thread(target=check.run, name="weir-code-compile", daemon=True)
    worker.start()
    if not check.started.wait(CHECK_START_TIME):
        return f"the syntax check could not start a V8 isolate within {CHECK_START_TIME:g}s"
    if not check.done.wait(limit):
        # The worker is abandoned; V8 finishes compiling and the isolate is freed.
        return f"compiling the script took longer than the time limit ({limit:g}s)"
    return check.problem


_ONE_CHECK_AT_A_TIME = threading.Lock()
"""Syntax checks run one at a time: two isolates started at once on plain threads (each with
the event loop thread mini-racer 0.14 makes for it) crash V8 with SIGTRAP now and then, taking
the process down; checks from several threads (flows loaded in parallel) queue here instead."""


class _Check:
    def __init__(self, script: str, timeout: float, memory_limit: int) -> None:
        self.script = script
        self.timeout = timeout
        self.memory_limit = memory_limit
        self.started = threading.Event()
        self.done = threading.Event()
        self.problem: str | None = None

    def run(self) -> None:
        try:
            with _ONE_CHECK_AT_A_TIME:
                self.problem = self._compile()
        except Exception as exc:  # reported as the check's outcome
            self.problem = f"the syntax check failed: {type(exc).__name__}: {exc}"
        finally:
            self.started.set()
            self.done.set()

    def _compile(self) -> str | None:
        from py_mini_racer import JSEvalException, JSOOMException, JSTimeoutException, MiniRacer

        init_v8()
        # No event loop runs on this thread, so mini-racer runs its own on a thread of its own.
        with MiniRacer() as racer:
            racer.set_hard_memory_limit(self.memory_limit)
            self.started.set()
            try:
                racer.eval(f"{COMPILE}({json.dumps(self.script)})", timeout_sec=self.timeout)
            except JSTimeoutException:
                return f"compiling the script took longer than the time limit ({self.timeout:g}s)"
            except JSOOMException:
                return _compile_memory_message(self.memory_limit)
            except JSEvalException as exc:
                if racer.was_hard_memory_limit_reached():
                    return _compile_memory_message(self.memory_limit)
                return compile_message(str(exc), self.script)
            return None


def _compile_memory_message(limit: int) -> str:
    return f"compiling the script exceeded the memory limit ({limit} bytes)"


def compile_message(text: str, script: str) -> str:
    """mini-racer's report of a SyntaxError thrown by ``new AsyncFunction``, with the line
    counted in the script."""
    first = text.splitlines()[0] if text else "SyntaxError"
    match = _LOCATION.match(first)
    if match is None:
        return first
    message = match.group(2)
    if "Single function literal required" in message:
        return "SyntaxError: the script closes its function body early (an extra '}' or ')')"
    lines = script.count("\n") + 1
    line = min(max(int(match.group(1)) - LINE_OFFSET, 1), lines)
    return f"{message} (line {line})"


def _input_literal(value: Any) -> str:
    try:
        text = json.dumps(value, default=json_default, allow_nan=False)
    except ValueError as exc:
        raise ConfigError(f"code: input cannot be passed as JSON: {exc}") from None
    # A JSON text inside a JSON string is a valid JavaScript string literal.
    return json.dumps(text)


def _open(loop: asyncio.AbstractEventLoop) -> tuple[AbstractContextManager[MiniRacer], MiniRacer]:
    from py_mini_racer import mini_racer

    init_v8()
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
    reader = f"__outcome_{secrets.token_hex(16)}"
    await racer.eval_cancelable(
        f"({BOOTSTRAP})({json.dumps(script)}, {payload}, {MAX_RESULT}, {json.dumps(reader)})"
    )
    # The script's promise settles in V8's microtask queue or on a timer: poll for the result
    # instead of awaiting the JS promise from Python (mini-racer's `.then` call is synchronous
    # and would block the event loop while a script spins after an `await`).
    delay = _POLL_START
    while True:
        result = await racer.eval_cancelable(f"{reader}()")
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


def _result_error() -> NodeError:
    return NodeError(
        f"the script's result is larger than the limit of {MAX_RESULT} bytes of JSON "
        f"({MAX_RESULT // 1024**2}Mi)",
        type="code",
        details={"limit": MAX_RESULT},
    )


async def run(config: CodeConfig, ctx: NodeContext) -> Any:
    from py_mini_racer import JSEvalException, JSOOMException

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
        except JSEvalException as exc:
            # Only `new AsyncFunction` throws out of the bootstrap: the script does not compile
            # (possible only when mini-racer was missing when the flow was loaded).
            if racer.was_hard_memory_limit_reached():
                raise _memory_error(config.memoryLimit) from None
            problem = compile_message(str(exc), config.script)
            raise NodeError(f"script does not compile: {problem}", type="code") from None
    finally:
        _close_later(loop, manager)
    kind, body = outcome[:1], outcome[1:]
    if kind == "J":
        if len(body) > MAX_RESULT:  # measured in V8 already; a cheap second guard
            raise _result_error()
        try:
            return json.loads(body)
        except ValueError:
            raise NodeError("the script's result could not be read as JSON", type="code") from None
    if kind == "L":
        raise _result_error()
    if kind == "U":
        raise NodeError(body, type="code")
    raise _script_error(body)


KIND = NodeKind(
    "code", CodeConfig, run, "Run a JavaScript function body in a sandboxed V8 isolate."
)
