"""`weir validate` and `weir run`: check flow files, run a flow once with its result on stdout."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from weir.cli.common import UsageError, load_or_report, open_store, secrets_option, store_option
from weir.cli.serve_command import console_option, console_url_of
from weir.cli.state_option import state_option, state_url_of

NOT_RECORDED = 3
"""Exit code: the execution ran (and succeeded) but its records could not be written, or not
shipped to the console given."""
FLUSH_TIMEOUT_ENV = "WEIR_STORE_FLUSH_TIMEOUT"
SHIP_WAIT_ENV = "WEIR_SHIP_WAIT"
SHIP_WAIT = 60.0


def add_validate(commands: Any) -> None:
    validate = commands.add_parser("validate", help="check flow files without running them")
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.add_argument("--json", action="store_true", help="print findings as JSON")
    validate.set_defaults(handler=cmd_validate)


def add_run(commands: Any) -> None:
    run = commands.add_parser("run", help="run a flow once and print its result")
    run.add_argument("file", metavar="FILE")
    run.add_argument("--input", default=None, help="JSON input, or @file.json")
    store_option(run)
    run.add_argument("--no-store", action="store_true", help="do not record the execution")
    state_option(run)
    console_option(run)
    secrets_option(run)
    run.add_argument(
        "--trigger",
        choices=["manual", "cron"],
        default="manual",
        help="manual (default): --input is the payload; cron: one scheduled run of a cron flow, "
        "as a Kubernetes CronJob starts it",
    )
    run.add_argument(
        "--scheduled-time",
        default=None,
        help="with --trigger cron: the slot being run (ISO 8601); the latest slot by default",
    )
    run.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    run.set_defaults(handler=cmd_run)


def cmd_validate(args: argparse.Namespace) -> int:
    from weir.engine.flow_finder import unfound_subflows
    from weir.flow.issues import FlowInvalid
    from weir.flow.load import decode_flow_text, load_flows_text

    findings: list[dict[str, Any]] = []
    failed = False
    for file in args.files:
        try:
            text = decode_flow_text(Path(file).read_bytes(), file)
            flows = load_flows_text(text, file)
        except OSError as exc:
            failed = True
            findings.append({"file": file, "message": f"cannot read file: {exc.strerror}"})
            if not args.json:
                print(f"{file}: cannot read file: {exc.strerror}", file=sys.stderr)
            continue
        except FlowInvalid as exc:
            failed = True
            findings.extend(issue.to_dict() for issue in exc.issues)
            if not args.json:
                for issue in exc.issues:
                    print(issue, file=sys.stderr)
            continue
        warnings = [w for flow in flows for w in unfound_subflows(flow)]
        findings.extend({"file": file, "severity": "warning", "message": w} for w in warnings)
        if not args.json:
            for flow in flows:
                nodes = len(flow.flow.spec.nodes)
                print(
                    f"{file}: flow {flow.name!r} is valid ({nodes} nodes, trigger {flow.flow.spec.trigger.kind})"
                )
            for warning in warnings:
                print(f"{file}: warning: {warning}", file=sys.stderr)
    if args.json:
        print(json.dumps({"valid": not failed, "issues": findings}, indent=2))
    return 1 if failed else 0


def read_input(raw: str | None) -> Any:
    if raw is None:
        return {}
    source = "--input"
    if raw.startswith("@"):
        source = raw[1:]
        try:
            raw = Path(source).read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot read input file {source}: {exc.strerror}") from None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{source} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None


def cmd_run(args: argparse.Namespace) -> int:
    payload = read_input(args.input)
    flow = load_or_report(args.file)
    if flow is None:
        return 2
    event = _run_event(args, flow.flow.spec.trigger, payload)
    return execute(args, flow, event)


def execute(args: argparse.Namespace, flow: Any, event: Any, replay: Any = None) -> int:
    """Run once with progress on stderr and the result on stdout: 0 succeeded, 1 failed."""
    import asyncio

    from weir.engine.executor import Engine, ExecutionListener
    from weir.engine.progress import ProgressPrinter
    from weir.engine.state_choice import use_state
    from weir.lang.expressions import json_default
    from weir.logs import configure_logging
    from weir.secrets.redact import Redactor
    from weir.secrets.store import local_resolver
    from weir.serve.reporting import StatusReporter
    from weir.serve.subflows import RunChildren

    redactor = Redactor()
    configure_logging(redactor, json_lines=False, level="warning" if args.quiet else "info")

    flush_timeout = flush_timeout_from_environment()
    console = console_from_args(args)
    state = state_url_of(args)

    async def run_once() -> int:
        store = None if getattr(args, "no_store", False) else await open_store(args.store)
        if store is not None:
            store.close_timeout = flush_timeout
        listeners: list[ExecutionListener] = []
        if not args.quiet:
            listeners.append(ProgressPrinter(sys.stderr, redactor))
        reporter = StatusReporter.from_environment()  # a CronJob's or manual Job's pod
        if reporter is not None:
            listeners.append(reporter)
        engine = Engine(
            store=store,
            secrets=local_resolver(args.secrets_dir),
            listeners=listeners,
            redactor=redactor,
        )
        use_state(engine, state)
        children = RunChildren(engine, flow, console[0] if console else None)  # subflow nodes
        unshipped = None
        try:
            result = await engine.execute(flow, event, replay=replay)
            if result.status == "waiting" and store is not None:
                result = await _wait_here(engine, flow, result, children)
            if console is not None and store is not None:
                unshipped = await ship_before_exit(store, console, flush_timeout)
        finally:
            await children.aclose()
            await engine.aclose()
            if reporter is not None:
                await reporter.aclose()
        lost = store.lost if store is not None else 0
        if lost:
            print(
                f"weir: {lost} records of execution {result.id} could not be written to the "
                f"store within {flush_timeout:g}s (is another process holding it?): the "
                f"execution is not recorded ({FLUSH_TIMEOUT_ENV} sets how long to wait)",
                file=sys.stderr,
            )
        if unshipped:
            print(f"weir: execution {result.id} {unshipped}", file=sys.stderr)
        if result.ok:
            print(json.dumps(result.result, indent=2, default=json_default))
            return NOT_RECORDED if lost or unshipped else 0
        if result.status == "waiting":
            print(json.dumps({"id": result.id, "status": "waiting"}, indent=2))
            return NOT_RECORDED if lost or unshipped else 0
        error = result.error or {}
        where = f"node {error['node']!r}: " if error.get("node") else ""
        print(f"weir: execution {result.id} failed: {where}{error.get('message')}", file=sys.stderr)
        return 1

    return asyncio.run(run_once())


async def _wait_here(engine: Any, flow: Any, result: Any, children: Any) -> Any:
    """A parked execution: resume it here as its timers come due and its child flows end;
    one waiting for something else (a person, a child elsewhere) is left to whoever resolves
    it, and said so."""
    from weir.cli.resume_command import open_wait_lines

    await engine.store.durable()
    print(
        f"weir: execution {result.id} is waiting; this process resumes it as its timers come "
        "due and its child flows end (if stopped, `weir serve` of the flow on this store does)",
        file=sys.stderr,
    )
    result = await children.finish(flow, result)
    if result.status == "waiting":
        for line in await open_wait_lines(engine.store, result.id):
            print(line, file=sys.stderr)
    return result


def console_from_args(args: argparse.Namespace) -> tuple[str, float] | None:
    """The console to ship to and how long to wait for it, when one is given."""
    from weir.lang.settings import seconds_from_environment

    url = console_url_of(args) if hasattr(args, "console") else None
    if url is None:
        return None
    if getattr(args, "no_store", False):  # nothing recorded, nothing to ship
        if args.console:
            raise UsageError("--console ships the execution's records: not with --no-store")
        return None
    try:
        return url, seconds_from_environment(SHIP_WAIT_ENV, SHIP_WAIT)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


async def ship_before_exit(
    store: Any, console: tuple[str, float], flush_timeout: float
) -> str | None:
    """Ship the store's records to the console before exiting; why not, when they did not go."""
    from weir.serve.ship import ship_outbox
    from weir.store.base import RecordingUnavailable

    url, wait = console
    try:
        await store.durable(flush_timeout)
    except RecordingUnavailable:
        return None  # not recorded: said once the store is closed
    problem = await ship_outbox(store, url, wait)
    if problem is None:
        return None
    return (
        f"could not be shipped to the console at {url} within {wait:g}s ({problem}): its "
        f"record stays in the local store, and a later weir run or weir serve on that store "
        f"ships it ({SHIP_WAIT_ENV} sets how long to wait)"
    )


def flush_timeout_from_environment() -> float:
    raw = os.environ.get(FLUSH_TIMEOUT_ENV)
    if not raw:
        return 30.0
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:  # also refuses NaN
        raise UsageError(f"{FLUSH_TIMEOUT_ENV} must be a number of seconds, got {raw!r}")
    return value


def _run_event(args: argparse.Namespace, trigger: Any, payload: Any) -> Any:
    import datetime as dt

    from weir.engine.executor import TriggerEvent
    from weir.triggers.cron import cron_event

    if args.trigger == "manual":
        if args.scheduled_time:
            raise UsageError("--scheduled-time needs --trigger cron")
        return TriggerEvent(kind="manual", payload=payload)
    if trigger.cron is None:
        raise UsageError(f"--trigger cron needs a flow with a cron trigger, not {trigger.kind}")
    scheduled = None
    if args.scheduled_time:
        try:
            scheduled = dt.datetime.fromisoformat(args.scheduled_time.replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(
                f"--scheduled-time {args.scheduled_time!r} is not an ISO 8601 time"
            ) from None
        if scheduled.tzinfo is None:
            scheduled = scheduled.replace(tzinfo=dt.UTC)
    return cron_event(trigger.cron, scheduled=scheduled)
