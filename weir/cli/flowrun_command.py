"""`weir flowrun NAME`: run one FlowRun, in the pod of the Job the operator made for it.

It reads the FlowRun (namespace from $WEIR_NAMESPACE), writes Running with the execution id,
runs the flow file the Job mounts (a replay fetches the original execution from the console,
$WEIR_CONSOLE_URL, or else from the execution store), and writes the outcome: phase, times,
error and the result when it is small. A FlowRun cancelled meanwhile keeps its Cancelled.
Exit codes: 0 succeeded (or already finished), 1 failed, 2 a FlowRun or flow that cannot run.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from weir.cli.common import CommandError, UsageError, open_store, secrets_option, store_option
from weir.cli.serve_command import console_option
from weir.cli.state_option import state_option, state_url_of


def add_flowrun(commands: Any) -> None:
    flowrun = commands.add_parser(
        "flowrun",
        help="run a FlowRun and write its status (what a FlowRun's Job runs)",
        description="Reads FlowRun NAME from the API server ($WEIR_NAMESPACE), runs FILE with "
        "its input (or replays spec.replayOf) and writes the FlowRun's status.",
    )
    flowrun.add_argument("name", metavar="NAME")
    flowrun.add_argument("--file", required=True, metavar="FILE", help="the flow file")
    flowrun.add_argument(
        "--namespace", "-n", default=os.environ.get("WEIR_NAMESPACE"), help="($WEIR_NAMESPACE)"
    )
    store_option(flowrun)
    console_option(flowrun)
    secrets_option(flowrun)
    state_option(flowrun)
    flowrun.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    flowrun.set_defaults(handler=cmd_flowrun)


def cmd_flowrun(args: argparse.Namespace) -> int:
    import asyncio

    if not args.namespace:
        raise UsageError("give the FlowRun's namespace: --namespace or $WEIR_NAMESPACE")
    return asyncio.run(_flowrun(args))


async def _flowrun(args: argparse.Namespace) -> int:
    from weir.flow.flowrun import FINISHED, FlowRunInvalid, parse_spec
    from weir.flow.flowrun_status import failed_status, outcome_status, phase_status
    from weir.kube.client import Kube, NotFound
    from weir.lang.ids import new_execution_id
    from weir.lang.times import iso
    from weir.operator.flowruns import FlowRunKey, report_unless_finished

    kube = Kube()
    key = FlowRunKey(args.namespace, args.name)
    try:
        try:
            body = await kube.get(key.path)
        except NotFound:
            raise CommandError(f"no FlowRun {args.name!r} in namespace {args.namespace}") from None
        phase = (body.get("status") or {}).get("phase")
        if phase in FINISHED:
            print(f"weir: FlowRun {args.name} is {phase} already; nothing to run", file=sys.stderr)
            return 0
        try:
            spec = parse_spec(body.get("spec"), args.name)
            flow = _load(args.file, spec.flowRef)
        except (FlowRunInvalid, UsageError) as exc:
            await report_unless_finished(kube, key, failed_status("Invalid", str(exc)))
            raise UsageError(str(exc)) from None
        # The console names the execution of a run it starts (in the status, which only
        # it, the operator and runners may write); else the runner does.
        execution_id = (body.get("status") or {}).get("executionId") or new_execution_id()
        running = phase_status(
            "Running", "Running", f"execution {execution_id} is running",
            executionId=execution_id, startedAt=iso(_now()),
        )  # fmt: skip
        if not await report_unless_finished(kube, key, running):
            print(f"weir: FlowRun {args.name} finished meanwhile; not running", file=sys.stderr)
            return 0
        try:
            event, replay = await _what_to_run(args, spec, flow)
        except CommandError as exc:
            await report_unless_finished(kube, key, failed_status("ReplayRefused", str(exc)))
            raise

        async def report(result: Any) -> None:
            outcome = outcome_status(
                result.id, str(result.status), result.started_at, result.finished_at,
                result.result, result.error,
            )  # fmt: skip
            await report_unless_finished(kube, key, outcome)

        result = await _execute(args, flow, event, replay, execution_id, report)
        print(f"weir: FlowRun {args.name}: execution {result.id} {result.status}", file=sys.stderr)
        return 0 if result.ok or result.status == "waiting" else 1
    finally:
        await kube.close()


def _now() -> float:
    import time

    return time.time()


def _load(file: str, flow_ref: str) -> Any:
    from weir.cli.common import load_or_report

    flow = load_or_report(file)
    if flow is None:
        raise UsageError(f"the flow file {file} cannot be loaded (see above)")
    if flow.name != flow_ref:
        raise UsageError(f"spec.flowRef is {flow_ref!r} but {file} holds flow {flow.name!r}")
    return flow


async def _what_to_run(args: argparse.Namespace, spec: Any, flow: Any) -> tuple[Any, Any]:
    """The trigger event and, for a replay, what to reuse of the original execution."""
    from weir.engine.executor import TriggerEvent
    from weir.engine.replay import ReplayRefused, plan_replay

    if spec.replayOf is None:
        if spec.parent is not None:  # a subflow's child, started by the console
            meta = {"parent": spec.parent}
            return TriggerEvent(kind="subflow", payload=spec.input, meta=meta), None
        return TriggerEvent(kind="manual", payload=spec.input), None
    record, nodes = await _original(args, spec.replayOf)
    try:
        plan = plan_replay(flow, record, nodes, start=spec.from_)
    except ReplayRefused as exc:
        raise UsageError(str(exc)) from None
    for warning in plan.warnings:
        print(f"weir: warning: {warning}", file=sys.stderr)
    unknown = sorted(set(spec.outputs) - set(flow.graph.nodes))
    if unknown:
        raise UsageError(f"spec.outputs names nodes flow {flow.name!r} has not: {unknown}")
    if spec.input is not None:
        plan.event.payload = spec.input
    plan.replay.outputs.update(spec.outputs)
    return plan.event, plan.replay


async def _original(args: argparse.Namespace, execution_id: str) -> tuple[Any, list[Any]]:
    """The execution to replay, with its nodes' outputs: from the console when there is one
    (the original may have run in any pod), else from the execution store."""
    from weir.cli.serve_command import console_url_of

    url = console_url_of(args)
    if url is not None:
        return await _from_console(url, execution_id)
    store = await open_store(args.store)
    try:
        found = await store.get_execution(execution_id)
    finally:
        await store.aclose()
    if found is None:
        raise UsageError(f"no execution {execution_id!r} in the store, and no console is set")
    record, nodes = found
    return record, nodes


async def _from_console(url: str, execution_id: str) -> tuple[Any, list[Any]]:
    """The execution and its node runs with their payloads, as `weir replay --server` reads
    them, with the pod's ServiceAccount token."""
    import asyncio

    from weir.cli.console_client import Console, Target, detail_records
    from weir.serve.console_client import bearer_token

    def fetch() -> tuple[Any, list[Any]]:
        with Console(Target(url, bearer_token())) as console:
            return detail_records(console, execution_id)

    return await asyncio.to_thread(fetch)


async def _execute(
    args: argparse.Namespace,
    flow: Any,
    event: Any,
    replay: Any,
    execution_id: str,
    report: Callable[[Any], Awaitable[None]],
) -> Any:
    """Run the execution as `weir run` does (its store, secrets, progress, Flow status
    reporting, shipping to the console before exiting, and once when it starts), under the id
    already written to the FlowRun; ``report`` gets the result as soon as it is there. SIGTERM
    (the Job deleted: a cancel) cancels it, and it is recorded cancelled."""
    import asyncio
    import signal

    from weir.cli.run_commands import (
        console_from_args,
        flush_timeout_from_environment,
        ship_before_exit,
    )
    from weir.serve.subflows import RunChildren

    flush_timeout, console = flush_timeout_from_environment(), console_from_args(args)
    store = await open_store(args.store)
    store.close_timeout = flush_timeout
    engine, outcome, reporter = _engine(args, store)
    children = RunChildren(engine, flow, console[0] if console else None)  # subflow nodes

    async def execute() -> Any:
        result = await engine.execute(flow, event, execution_id=execution_id, replay=replay)
        if result.status == "waiting":  # resumed here as its timers and children end
            result = await children.finish(flow, result)
        return result

    run = asyncio.ensure_future(execute())
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, run.cancel)
    shipping = None
    if console is not None:
        # The console learns of the run while it runs (it can show and cancel it), not only
        # once it is over; a failure here is told by the last shipping, before exiting.
        async def ship_started() -> None:
            await outcome.started.wait()
            await ship_before_exit(store, console, flush_timeout)

        shipping = loop.create_task(ship_started())
    try:
        try:
            await run
        except asyncio.CancelledError:
            if not run.cancelled():
                raise
        assert outcome.result is not None  # the engine reports every execution it ends
        await report(outcome.result)  # before shipping, which may wait for the console
        if shipping is not None:  # what is left of it, the last shipping does
            shipping.cancel()
            await asyncio.gather(shipping, return_exceptions=True)
        if console is not None:
            unshipped = await ship_before_exit(store, console, flush_timeout)
            if unshipped:
                print(f"weir: execution {execution_id} {unshipped}", file=sys.stderr)
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
        await children.aclose()
        await engine.aclose()
        if reporter is not None:
            await reporter.aclose()  # lets a report on its way land, then writes the last
    return outcome.result


def _engine(args: argparse.Namespace, store: Any) -> tuple[Any, Any, Any]:
    """The engine `weir run` would build, with a listener that keeps the outcome (and says
    when the execution started), and the Flow status reporter when the pod reports."""
    import asyncio

    from weir.engine.executor import Engine, ExecutionListener, ExecutionResult
    from weir.engine.progress import ProgressPrinter
    from weir.engine.state_choice import use_state
    from weir.logs import configure_logging
    from weir.secrets.redact import Redactor
    from weir.secrets.store import local_resolver
    from weir.serve.reporting import StatusReporter

    class Outcome(ExecutionListener):
        def __init__(self) -> None:
            self.result: ExecutionResult | None = None
            self.started = asyncio.Event()

        def execution_started(self, record: Any) -> None:
            self.started.set()

        def execution_finished(self, result: ExecutionResult) -> None:
            self.result = result

    redactor = Redactor()
    configure_logging(redactor, json_lines=False, level="warning" if args.quiet else "info")
    outcome = Outcome()
    listeners: list[ExecutionListener] = [outcome]
    if not args.quiet:
        listeners.append(ProgressPrinter(sys.stderr, redactor))
    reporter = StatusReporter.from_environment()
    if reporter is not None:
        listeners.append(reporter)
    secrets = local_resolver(args.secrets_dir)
    engine = Engine(store=store, secrets=secrets, listeners=listeners, redactor=redactor)
    use_state(engine, state_url_of(args))  # the state node's keys in Redis, as for weir run
    return engine, outcome, reporter
