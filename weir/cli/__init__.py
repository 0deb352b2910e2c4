"""The `weir` command: validate and run flows locally, inspect executions.

Exit codes: 0 success, 1 a failed execution or an invalid flow in `validate`, 2 bad usage or a
flow that cannot be loaded by `run`, 3 an execution that ran but could not be recorded, 141 a
closed standard output (as a Unix tool killed by SIGPIPE). A user never sees a traceback unless
WEIR_DEBUG=1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
from pathlib import Path
from typing import Any

from weir import __version__
from weir.cli.secret_commands import register as register_secrets
from weir.flow.issues import FlowInvalid
from weir.lang.expressions import json_default


class UsageError(Exception):
    """Bad command-line input; exit code 2."""


NOT_RECORDED = 3
"""Exit code: the execution ran (and succeeded) but its records could not be written."""
CLOSED_STDOUT = 128 + 13
"""Exit code when the reader of stdout went away: what a shell reports for ``yes | head -1``."""
FLUSH_TIMEOUT_ENV = "WEIR_STORE_FLUSH_TIMEOUT"


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        code: int = args.handler(args)
        sys.stdout.flush()  # here, where a closed pipe can be handled, not at exit
        return code
    except BrokenPipeError:
        return _stdout_closed()
    except UsageError as exc:
        print(f"weir: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # last resort: say what happened, not where in our code
        if os.environ.get("WEIR_DEBUG"):
            raise
        print(
            f"weir: internal error: {type(exc).__name__}: {exc} (WEIR_DEBUG=1 shows details)",
            file=sys.stderr,
        )
        return 70


def _stdout_closed() -> int:
    """The reader of stdout is gone (``| head -1``): stop quietly, as Unix tools do.

    Whatever is still buffered cannot be written; stdout is pointed at /dev/null so that the
    interpreter's final flush does not complain about it either.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
    return CLOSED_STDOUT


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="weir", description="Declarative integration flows.")
    parser.add_argument("--version", action="version", version=f"weir {__version__}")
    commands = parser.add_subparsers(metavar="COMMAND")

    validate = commands.add_parser("validate", help="check flow files without running them")
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.add_argument("--json", action="store_true", help="print findings as JSON")
    validate.set_defaults(handler=cmd_validate)

    run = commands.add_parser("run", help="run a flow once and print its result")
    run.add_argument("file", metavar="FILE")
    run.add_argument("--input", default=None, help="JSON input, or @file.json")
    _store_option(run)
    run.add_argument("--no-store", action="store_true", help="do not record the execution")
    _secrets_option(run)
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

    serve = commands.add_parser(
        "serve",
        help="serve a flow behind its trigger (REST, RabbitMQ, cron, MCP) until stopped",
        description="Health on /healthz, readiness on /readyz, Prometheus metrics on /metrics. "
        "The flow file is watched and reloaded; SIGTERM drains executions in flight.",
    )
    serve.add_argument("file", metavar="FILE")
    serve.add_argument("--host", default="0.0.0.0", help="address to bind (default all)")
    serve.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("WEIR_PORT", "8080")),
        help="HTTP port (default $WEIR_PORT or 8080; 0 picks a free one)",
    )
    serve.add_argument(
        "--grace",
        type=float,
        default=float(os.environ.get("WEIR_GRACE_PERIOD", "30")),
        help="seconds executions in flight get to finish on SIGTERM (default $WEIR_GRACE_PERIOD or 30)",
    )
    _store_option(serve)
    serve.add_argument("--no-store", action="store_true", help="do not record executions")
    _secrets_option(serve)
    serve.add_argument("--watch-interval", type=float, default=1.0, help=argparse.SUPPRESS)
    serve.set_defaults(handler=cmd_serve)

    replay = commands.add_parser(
        "replay",
        help="run a recorded execution again, in full or from one node",
        description="Replays use the recorded trigger payload; --from NODE also reuses the "
        "recorded outputs of the nodes that ran before NODE. The replay is recorded as a new "
        "execution that names the original.",
    )
    replay.add_argument("file", metavar="FILE", help="the flow file (its current definition)")
    replay.add_argument("id", metavar="ID", help="execution id or a unique prefix")
    replay.add_argument("--from", dest="start", metavar="NODE", help="start at this node")
    _store_option(replay)
    _secrets_option(replay)
    replay.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    replay.set_defaults(handler=cmd_replay)

    crds = commands.add_parser(
        "crds", help="write the CustomResourceDefinitions generated from the models"
    )
    crds.add_argument(
        "--output", "-o", default="crds", help="directory (default crds/); - prints them"
    )
    crds.set_defaults(handler=cmd_crds)

    render = commands.add_parser("render", help="print the Kubernetes manifests of a flow's runner")
    render.add_argument("file", metavar="FILE")
    render.add_argument("--namespace", "-n", default="default")
    render.add_argument("--image", default=None, help="runner image (default $WEIR_RUNNER_IMAGE)")
    render.set_defaults(handler=cmd_render)

    operator = commands.add_parser("operator", help="run the Weir operator (kopf)")
    scope = operator.add_mutually_exclusive_group()
    scope.add_argument(
        "--all-namespaces", "-A", action="store_true", help="watch every namespace (default)"
    )
    scope.add_argument(
        "--namespace", "-n", action="append", default=[], help="watch this namespace (repeatable)"
    )
    operator.add_argument("--liveness-port", type=int, default=8081, help="serves /healthz")
    operator.add_argument(
        "--metrics-port", type=int, default=9090, help="serves /metrics; 0 turns it off"
    )
    operator.add_argument(
        "--peering",
        default=os.environ.get("WEIR_PEERING") or None,
        metavar="NAME",
        help="leader election among replicas through kopf's peering object NAME "
        "($WEIR_PEERING); without it the operator runs standalone, as the only replica",
    )
    operator.add_argument("--runner-image", help="default runner image ($WEIR_RUNNER_IMAGE)")
    operator.add_argument(
        "--runner-resources", help="default runner resources as JSON ($WEIR_RUNNER_RESOURCES)"
    )
    operator.add_argument(
        "--runner-store-secret",
        help="NAME/KEY of a Secret with the execution-store URL ($WEIR_RUNNER_STORE_SECRET)",
    )
    operator.set_defaults(handler=cmd_operator)

    executions = commands.add_parser("executions", help="list and show recorded executions")
    sub = executions.add_subparsers(metavar="ACTION")
    listing = sub.add_parser("list", help="recent executions, newest first")
    listing.add_argument("--flow")
    listing.add_argument("--status", choices=["running", "succeeded", "failed", "cancelled"])
    listing.add_argument("--limit", type=int, default=20)
    listing.add_argument("--json", action="store_true")
    _store_option(listing)
    listing.set_defaults(handler=cmd_executions_list)
    show = sub.add_parser("show", help="one execution, node by node")
    show.add_argument("id", help="execution id or a unique prefix")
    show.add_argument("--json", action="store_true")
    _store_option(show)
    show.set_defaults(handler=cmd_executions_show)
    register_secrets(commands)
    return parser


def _store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        default=None,
        help="execution store URL (sqlite:///file.db, postgresql://...); "
        "default $WEIR_STORE or the user data directory",
    )


def _secrets_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--secrets-dir",
        default=os.environ.get("WEIR_SECRETS_DIR"),
        help="directory laid out as DIR/<secret>/<key> (default $WEIR_SECRETS_DIR); "
        "WEIR_SECRET_<SECRET>_<KEY> variables take precedence",
    )


def cmd_crds(args: argparse.Namespace) -> int:
    from weir.operator.crds import render_crds, write_crds

    if args.output == "-":
        print("---\n".join(render_crds().values()), end="")
        return 0
    for path in write_crds(Path(args.output)):
        print(path)
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from weir.flow.load import load_flow_file
    from weir.operator.render import RenderInput, render, to_yaml
    from weir.operator.settings import RenderSettings

    try:
        flow = load_flow_file(args.file)
    except FlowInvalid as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        return 2
    settings = RenderSettings.from_env()
    if args.image:
        settings.runner_image = args.image
    # Offline there is no Flow uid, so no owner references; the operator adds them.
    print(to_yaml(render(RenderInput(flow, args.namespace, settings))), end="")
    return 0


def cmd_operator(args: argparse.Namespace) -> int:
    for flag, variable in (
        ("runner_image", "WEIR_RUNNER_IMAGE"),
        ("runner_resources", "WEIR_RUNNER_RESOURCES"),
        ("runner_store_secret", "WEIR_RUNNER_STORE_SECRET"),
    ):
        if getattr(args, flag):
            os.environ[variable] = getattr(args, flag)
    if args.runner_resources:
        try:
            json.loads(args.runner_resources)
        except json.JSONDecodeError as exc:
            raise UsageError(f"--runner-resources is not valid JSON: {exc.msg}") from None
    import kopf
    from prometheus_client import start_http_server

    import weir.operator.handlers  # noqa: F401 - registers the handlers
    from weir.operator.metrics import REGISTRY

    if args.metrics_port:
        start_http_server(args.metrics_port, registry=REGISTRY)
    from weir.operator.handlers import STATE

    STATE.namespaced = bool(args.namespace)
    # A random priority: kopf pauses every replica that sees another of the same one.
    priority = secrets.randbelow(2**31 - 1) + 1
    if args.peering:
        from weir.operator.peering import Peering

        STATE.peering = Peering(args.peering, priority, tuple(args.namespace))
    kopf.configure(verbose=False)
    kopf.run(
        standalone=args.peering is None,
        peering_name=args.peering,
        priority=priority,
        clusterwide=not args.namespace,
        namespaces=args.namespace,
        liveness_endpoint=f"http://0.0.0.0:{args.liveness_port}/healthz",
    )
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
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
        if not args.json:
            for flow in flows:
                nodes = len(flow.flow.spec.nodes)
                print(
                    f"{file}: flow {flow.name!r} is valid ({nodes} nodes, trigger {flow.flow.spec.trigger.kind})"
                )
    if args.json:
        print(json.dumps({"valid": not failed, "issues": findings}, indent=2))
    return 1 if failed else 0


def _read_input(raw: str | None) -> Any:
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
    payload = _read_input(args.input)
    flow = _load_or_report(args.file)
    if flow is None:
        return 2
    event = _run_event(args, flow.flow.spec.trigger, payload)
    return _execute(args, flow, event)


def _load_or_report(file: str) -> Any:
    from weir.flow.load import load_flow_file

    try:
        return load_flow_file(file)
    except FlowInvalid as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        return None


def _execute(args: argparse.Namespace, flow: Any, event: Any, replay: Any = None) -> int:
    """Run once with progress on stderr and the result on stdout: 0 succeeded, 1 failed."""
    from weir.engine.executor import Engine, ExecutionListener
    from weir.engine.progress import ProgressPrinter
    from weir.logs import configure_logging
    from weir.secrets.redact import Redactor
    from weir.secrets.store import local_resolver
    from weir.serve.reporting import StatusReporter

    redactor = Redactor()
    configure_logging(redactor, json_lines=False, level="warning" if args.quiet else "info")

    flush_timeout = _flush_timeout()

    async def execute() -> int:
        store = None if getattr(args, "no_store", False) else await _open_store(args.store)
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
        try:
            result = await engine.execute(flow, event, replay=replay)
        finally:
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
        if result.ok:
            print(json.dumps(result.result, indent=2, default=json_default))
            return NOT_RECORDED if lost else 0
        error = result.error or {}
        where = f"node {error['node']!r}: " if error.get("node") else ""
        print(f"weir: execution {result.id} failed: {where}{error.get('message')}", file=sys.stderr)
        return 1

    return asyncio.run(execute())


def _flush_timeout() -> float:
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


def cmd_serve(args: argparse.Namespace) -> int:
    from weir.serve.server import ServeOptions, serve

    return serve(
        ServeOptions(
            file=args.file,
            host=args.host,
            port=args.port,
            grace=args.grace,
            store=args.store,
            no_store=args.no_store,
            secrets_dir=args.secrets_dir,
            watch_interval=args.watch_interval,
        )
    )


def cmd_replay(args: argparse.Namespace) -> int:
    from weir.engine.replay import ReplayRefused, plan_replay

    flow = _load_or_report(args.file)
    if flow is None:
        return 2

    found = asyncio.run(_find_execution(args.store, args.id, flow=flow.name))
    try:
        record, nodes = found
        plan = plan_replay(flow, record, nodes, start=args.start)
    except ReplayRefused as exc:
        raise UsageError(str(exc)) from None
    for warning in plan.warnings:
        print(f"weir: warning: {warning}", file=sys.stderr)
    return _execute(args, flow, plan.event, plan.replay)


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


async def _open_store(url: str | None) -> Any:
    from weir.store import open_store

    try:
        store = open_store(url)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    await store.start()
    return store


def cmd_executions_list(args: argparse.Namespace) -> int:
    from weir.store.report import executions_json, executions_table

    async def listing() -> int:
        store = await _open_store(args.store)
        try:
            records = await store.list_executions(
                flow=args.flow, status=args.status, limit=args.limit
            )
        finally:
            await store.aclose()
        print(executions_json(records) if args.json else executions_table(records))
        return 0

    return asyncio.run(listing())


def cmd_executions_show(args: argparse.Namespace) -> int:
    from weir.store.report import execution_detail, execution_json

    record, nodes = asyncio.run(_find_execution(args.store, args.id))
    print(execution_json(record, nodes) if args.json else execution_detail(record, nodes))
    return 0


CANDIDATES = 5
"""Recent executions named when an id is unknown."""


async def _find_execution(url: str | None, execution_id: str, flow: str | None = None) -> Any:
    """The execution with this id or unique prefix, or a UsageError naming the candidates."""
    from weir.store import hide_password

    store = await _open_store(url)
    try:
        try:
            found = await store.get_execution(execution_id)
        except LookupError as exc:  # an ambiguous prefix: the message names the matches
            raise UsageError(str(exc)) from None
        if found is not None:
            return found
        recent = await store.list_executions(flow=flow, limit=200)
        where = hide_password(store.url.replace("+aiosqlite", "").replace("+psycopg", ""))
    finally:
        await store.aclose()
    raise UsageError(_unknown_id(execution_id, recent, flow, where))


def _unknown_id(execution_id: str, recent: list[Any], flow: str | None, where: str) -> str:
    import difflib

    from weir.store.report import executions_table

    message = f"no execution with id {execution_id!r} in {where}"
    of_flow = f" of flow {flow!r}" if flow else ""
    if not recent:
        return f"{message}: no executions{of_flow} are recorded in {where}"
    by_id = {record.id: record for record in recent}
    close = difflib.get_close_matches(execution_id, list(by_id), n=1, cutoff=0.8)
    if close:
        return f"{message}; did you mean {close[0]!r}?"
    table = executions_table(recent[:CANDIDATES])
    shown = "\n".join("  " + line for line in table.splitlines())
    more = " (weir executions list shows more)" if len(recent) > CANDIDATES else ""
    return f"{message}; the most recent{of_flow}{more}:\n{shown}"
