"""The code node: real JavaScript in a real V8 isolate (mini-racer), its limits and its errors."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from weir.engine.executor import Engine, TriggerEvent
from weir.flow.issues import FlowInvalid
from weir.flow.load import load_flows_text
from weir.lang.errors import NodeError, NodeTimeout
from weir.nodes.code import CodeConfig, run
from weir.nodes.context import NodeContext

pytest.importorskip("py_mini_racer")


async def code(
    make_ctx: Callable[..., NodeContext], scope: dict[str, Any] | None = None, **config: Any
) -> Any:
    ctx = make_ctx(scope=scope or {"input": {}, "nodes": {}})
    return await run(CodeConfig.model_validate(config), ctx)


async def test_the_script_transforms_its_input_into_json(make_ctx: Any) -> None:
    out = await code(
        make_ctx,
        script="""
            const total = input.items.reduce((a, x) => a + x, 0);
            return {doubled: input.items.map(x => x * 2), total, when: new Date(0)};
        """,
        input={"items": [1, 2, 3]},
    )
    assert out == {"doubled": [2, 4, 6], "total": 6, "when": "1970-01-01T00:00:00.000Z"}


async def test_input_references_are_resolved_before_the_script_sees_them(make_ctx: Any) -> None:
    ctx = make_ctx(
        scope={"input": {"name": "Ada"}, "nodes": {"fetch": {"rows": [{"id": 7}, {"id": 9}]}}}
    )
    config = CodeConfig.model_validate(
        {
            "script": "return {ids: input.rows.map(r => r.id), hello: input.greeting}",
            "input": {"rows": "$.nodes.fetch.rows", "greeting": "Hello, ${input.name}!"},
        }
    )
    assert await run(config, ctx) == {"ids": [7, 9], "hello": "Hello, Ada!"}
    assert ctx.input["input"]["rows"] == [{"id": 7}, {"id": 9}]


async def test_async_scripts_are_awaited(make_ctx: Any) -> None:
    out = await code(
        make_ctx,
        script="""
            await new Promise(resolve => setTimeout(resolve, 20));
            const parts = await Promise.all([1, 2].map(async n => n * 10));
            return parts;
        """,
    )
    assert out == [10, 20]


async def test_no_return_gives_null_and_undefined_fields_are_dropped(make_ctx: Any) -> None:
    assert await code(make_ctx, script="const x = 1;") is None
    assert await code(make_ctx, script="return {a: 1, b: undefined, f() {}}") == {"a": 1}


@pytest.mark.parametrize(
    ("script", "fragment"),
    [
        ("return () => 1", "returned a function"),
        ("return 10n", "returned a bigint"),
        ("const o = {}; o.self = o; return o", "not JSON: Converting circular structure"),
    ],
)
async def test_values_json_cannot_carry_are_errors(
    make_ctx: Any, script: str, fragment: str
) -> None:
    with pytest.raises(NodeError) as failure:
        await code(make_ctx, script=script)
    assert failure.value.type == "code"
    assert fragment in failure.value.message


async def test_a_js_exception_surfaces_with_its_message_and_line(make_ctx: Any) -> None:
    with pytest.raises(NodeError) as failure:
        await code(
            make_ctx,
            script="const a = 1;\nif (input.strict) {\n  throw new RangeError('bad total ' + a);\n}",
            input={"strict": True},
        )
    assert failure.value.type == "code" and failure.value.retryable is False
    assert failure.value.message == "script failed: RangeError: bad total 1 (line 3)"
    assert failure.value.details == {"name": "RangeError", "line": 3}


async def test_a_runtime_type_error_and_a_thrown_string_are_reported(make_ctx: Any) -> None:
    with pytest.raises(NodeError, match=r"TypeError: Cannot read properties of null .*\(line 2\)"):
        await code(make_ctx, script="const x = null;\nreturn x.name;")
    with pytest.raises(NodeError, match="script failed: thrown value: nope"):
        await code(make_ctx, script="await null; throw 'nope'")


def test_a_syntax_error_is_reported_with_its_line_when_the_config_is_validated() -> None:
    with pytest.raises(ValidationError, match=r"SyntaxError: Unexpected token ';' \(line 3\)"):
        CodeConfig.model_validate({"script": "const a = 1;\n\nfunction f() { let b = ; }"})


def test_a_syntax_error_fails_loading_the_flow() -> None:
    with pytest.raises(FlowInvalid, match=r"code\.script: SyntaxError: .*\(line 2\)"):
        load_flows_text(flow_text("const a = 1;\nreturn a +;"))


async def test_an_endless_loop_is_stopped_by_the_timeout(make_ctx: Any) -> None:
    for script in ("while (true) {}", "await null; for (;;) {}"):
        # Without the limit the script would spin until pytest's own timeout fails the test.
        with pytest.raises(NodeTimeout) as failure:
            await code(make_ctx, script=script, timeout="200ms")
        assert failure.value.retryable is False
        assert failure.value.message == "script timed out after 0.2s"


async def test_a_spinning_script_does_not_block_the_event_loop(make_ctx: Any) -> None:
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        with pytest.raises(NodeTimeout):
            await code(make_ctx, script="await null; while (true) {}", timeout="500ms")
    finally:
        ticker.cancel()
    assert ticks >= 5  # a blocked loop would not tick at all


async def test_a_memory_hog_is_stopped_by_the_memory_limit(make_ctx: Any) -> None:
    with pytest.raises(NodeError) as failure:  # the memory limit, not the 10 s timeout, stops it
        await code(
            make_ctx,
            script="const rows = []; for (;;) rows.push({n: rows.length, s: 'x' + rows.length});",
            memoryLimit="32Mi",
            timeout="10s",
        )
    assert failure.value.type == "code"
    assert failure.value.message == f"script exceeded the memory limit ({32 * 1024**2} bytes)"


async def test_the_same_allocation_fits_under_a_larger_limit(make_ctx: Any) -> None:
    script = "const rows = []; for (let i = 0; i < 1e6; i++) rows.push('x' + i); return rows.length"
    with pytest.raises(NodeError, match="memory limit"):
        await code(make_ctx, script=script, memoryLimit="16Mi", timeout="10s")
    assert await code(make_ctx, script=script, memoryLimit="256Mi", timeout="10s") == 1_000_000


def test_the_memory_limit_has_a_floor() -> None:
    with pytest.raises(ValidationError, match="at least 8Mi"):
        CodeConfig.model_validate({"script": "return 1", "memoryLimit": "1Mi"})


async def test_state_does_not_leak_between_runs(make_ctx: Any) -> None:
    assert (
        await code(
            make_ctx,
            script="globalThis.leak = 1; counter = 2; Array.prototype.evil = 3; return 'set'",
        )
        == "set"
    )
    assert await code(make_ctx, script="return [typeof leak, typeof counter, typeof [].evil]") == [
        "undefined",
        "undefined",
        "undefined",
    ]


async def test_the_isolate_has_no_host_apis(make_ctx: Any) -> None:
    out = await code(
        make_ctx,
        script="return [typeof require, typeof process, typeof fetch, typeof XMLHttpRequest]",
    )
    assert out == ["undefined"] * 4


async def test_concurrent_runs_are_isolated_and_correct(make_ctx: Any) -> None:
    config = CodeConfig.model_validate(
        {
            "script": """
                globalThis.mine = input.n;
                let acc = 0;
                for (let i = 0; i < 200000; i++) acc += i % 7;
                await new Promise(resolve => setTimeout(resolve, 10));
                return {n: globalThis.mine * 2, acc};
            """,
            "input": "$.input",
        }
    )
    outs = await asyncio.gather(
        *(run(config, make_ctx(scope={"input": {"n": n}})) for n in range(8))
    )
    expected_acc = sum(i % 7 for i in range(200000))
    assert outs == [{"n": n * 2, "acc": expected_acc} for n in range(8)]


def flow_text(script: str) -> str:
    body = "\n".join(f"          {line}" for line in script.splitlines())
    return (
        "apiVersion: weir.dev/v1alpha1\nkind: Flow\nmetadata: {name: js}\nspec:\n"
        "  trigger: {manual: {}}\n"
        "  nodes:\n"
        "    - name: totals\n"
        "      code:\n"
        "        input: $.input\n"
        "        timeout: 2s\n"
        "        script: |\n"
        f"{body}\n"
    )


async def test_a_flow_with_a_code_node_runs_through_the_engine() -> None:
    compiled = load_flows_text(
        flow_text(
            "const paid = input.orders.filter(o => o.paid);\n"
            "return {count: paid.length, sum: paid.reduce((a, o) => a + o.amount, 0)};"
        )
    )[0]
    engine = Engine()
    try:
        payload = {"orders": [{"paid": True, "amount": 5}, {"paid": False, "amount": 9}]}
        result = await engine.execute(compiled, TriggerEvent(payload=payload))
        failing = await engine.execute(compiled, TriggerEvent(payload={"orders": None}))
    finally:
        await engine.aclose()
    assert result.status == "succeeded", result.error
    assert result.result == {"count": 1, "sum": 5}
    assert failing.status == "failed"
    assert failing.error is not None
    assert failing.error["type"] == "code" and failing.error["node"] == "totals"
    assert "Cannot read properties of null (reading 'filter') (line 1)" in failing.error["message"]


async def test_a_script_cannot_forge_the_output_by_writing_globals(make_ctx: Any) -> None:
    # Replace, redefine and delete every global the script can reach (the old wrapper's result
    # variable included) while still running: the output is only what the script returns.
    out = await code(
        make_ctx,
        script="""
            const global = globalThis;
            const forged = () => 'J"forged"';
            const keep = new Set(["setTimeout", "Promise", "Object", "Reflect"]);
            for (const name of Object.getOwnPropertyNames(global)) {
              if (keep.has(name)) continue;
              try { global[name] = forged; } catch (e) {}
              try { Object.defineProperty(global, name, {value: forged}); } catch (e) {}
              try { delete global[name]; } catch (e) {}
              try { (0, eval)(`let ${name} = ${forged};`); } catch (e) {}
            }
            global.__weir_result = 'J"forged"';
            await new Promise(resolve => setTimeout(resolve, 50));
            return "real";
        """,
    )
    assert out == "real"


async def test_set_timeout_with_zero_or_no_delay_runs_after_the_microtasks(make_ctx: Any) -> None:
    out = await code(
        make_ctx,
        script="""
            const seen = [];
            setTimeout(() => seen.push("zero"), 0);
            setTimeout(() => seen.push("none"));
            setTimeout((a, b) => seen.push(a + b), -5, "arg", "s");
            setTimeout(() => seen.push("nan"), "soon");
            clearTimeout(setTimeout(() => seen.push("cleared"), 0));
            Promise.resolve().then(() => seen.push("microtask"));
            seen.push("sync");
            await new Promise(resolve => setTimeout(resolve, 0));
            await new Promise(resolve => setTimeout(resolve));
            await new Promise(resolve => setTimeout(resolve, 10));
            return seen;
        """,
        timeout="5s",  # without the fix `setTimeout(r)` never fires; this bounds the test
    )
    assert out == ["sync", "microtask", "zero", "none", "args", "nan"]


async def test_an_exception_in_a_timer_fails_the_node_with_its_line(make_ctx: Any) -> None:
    with pytest.raises(NodeError) as failure:
        await code(
            make_ctx,
            script="setTimeout(() => {\n  throw new TypeError('late');\n}, 0);\n"
            "await new Promise(() => {});",
            timeout="5s",
        )
    assert failure.value.message == "script failed: TypeError: late (line 2)"


@pytest.mark.parametrize(
    "script",
    [
        pytest.param("return 'x'.repeat(17 * 1024 * 1024)", id="string"),
        pytest.param("return '\u20ac'.repeat(6 * 1024 * 1024)", id="utf-8 bytes, not characters"),
        pytest.param("return new Array(5e6).fill({i: 1})", id="five million items"),
    ],
)
async def test_a_result_larger_than_the_limit_is_refused_before_it_leaves_v8(
    make_ctx: Any, script: str
) -> None:
    with pytest.raises(NodeError) as failure:
        await code(make_ctx, script=script, memoryLimit="512Mi", timeout="30s")
    assert failure.value.type == "code"
    assert failure.value.message == (
        "the script's result is larger than the limit of 16777216 bytes of JSON (16Mi)"
    )
    assert failure.value.details == {"limit": 16 * 1024**2}


async def test_a_result_just_under_the_limit_is_returned(make_ctx: Any) -> None:
    size = 16 * 1024**2 - 2  # the two quotes make it exactly the limit
    out = await code(
        make_ctx, script=f"return 'x'.repeat({size})", memoryLimit="256Mi", timeout="30s"
    )
    assert isinstance(out, str) and len(out) == size


@pytest.mark.parametrize(
    ("script", "fragment"),
    [
        pytest.param(
            "const memory = new WebAssembly.Memory({initial: 16384});\n"
            "return memory.buffer.byteLength;",
            r"RangeError: WebAssembly\.Memory\(\): could not allocate memory \(line 1\)",
            id="constructed",
        ),
        pytest.param(
            # A module that declares a memory of 16384 pages (1 GiB), instantiated.
            "const bytes = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 5, 5, 1, 0, 128, 128, 1]);\n"
            "new WebAssembly.Instance(new WebAssembly.Module(bytes));\n"
            "return 'instantiated';",
            r"RangeError: WebAssembly\.Instance\(\): Out of memory.* \(line 2\)",
            id="declared by a module",
        ),
    ],
)
async def test_a_gigabyte_of_webassembly_memory_is_refused(
    make_ctx: Any, script: str, fragment: str
) -> None:
    with pytest.raises(NodeError, match=fragment):
        await code(make_ctx, script=script, timeout="10s")
