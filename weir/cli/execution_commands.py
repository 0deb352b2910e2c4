"""`weir executions`, `weir replay`, `weir cancel` and `weir runs`: read recorded executions,
follow them live, run one again, cancel one, start a run. Each reads the local store (--store)
or asks a console (--server or a configured context, weir.cli.console_client)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from weir.cli.common import (
    CommandError,
    UsageError,
    load_or_report,
    open_store,
    secrets_option,
    store_location,
    store_option,
)
from weir.cli.console_client import server_options, target_of
from weir.cli.run_commands import execute

CANDIDATES = 5
"""Recent executions named when an id is unknown."""
PAGE = 500
"""Executions asked of a console per request: its largest page."""
WAIT_POLL = 0.5


def add_replay(commands: Any) -> None:
    replay = commands.add_parser(
        "replay",
        help="run a recorded execution again, in full or from one node",
        description="Replays use the recorded trigger payload; --from NODE also reuses the "
        "recorded outputs of the nodes that ran before NODE. The replay is recorded as a new "
        "execution that names the original.",
    )
    replay.add_argument(
        "file",
        metavar="FILE",
        help="the flow file (its current definition); with a console give only the ID",
    )
    replay.add_argument("id", metavar="ID", nargs="?", help="execution id or a unique prefix")
    replay.add_argument("--from", dest="start", metavar="NODE", help="start at this node")
    store_option(replay)
    secrets_option(replay)
    replay.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    console = server_options(replay)
    console.add_argument(
        "--input",
        metavar="JSON",
        help="the trigger payload to use instead of the recorded one (JSON, or @file.json)",
    )
    wait_options(console)
    replay.set_defaults(handler=cmd_replay)


def add_cancel(commands: Any) -> None:
    cancel = commands.add_parser(
        "cancel",
        help="cancel a running execution (through a console)",
        description="Asks the console to cancel the execution; the runner running it stops it "
        "within a second and records it as cancelled.",
    )
    cancel.add_argument("id", metavar="ID", help="execution id")
    server_options(cancel)
    cancel.set_defaults(handler=cmd_cancel)


def add_runs(commands: Any) -> None:
    runs = commands.add_parser("runs", help="start runs of a flow (through a console)")
    sub = runs.add_subparsers(metavar="ACTION")
    create = sub.add_parser(
        "create",
        help="start a run of a flow with an input",
        description="In a cluster the console creates a FlowRun, which the operator runs as a "
        "Job; a local console runs the flow in its own process.",
    )
    create.add_argument("flow", metavar="FLOW", help="the flow's name")
    create.add_argument("--namespace", "-n", help="the flow's namespace (in a cluster)")
    create.add_argument("--input", metavar="JSON", help="the run's input: JSON, or @file.json")
    server_options(create)
    wait_options(create)
    create.set_defaults(handler=cmd_runs_create)


def wait_options(parser: Any) -> None:
    parser.add_argument(
        "--wait",
        action="store_true",
        help="wait until the execution finishes; print its result (exit 1 if it failed)",
    )
    parser.add_argument(
        "--timeout", type=float, default=600.0, metavar="SECONDS", help="of --wait (600)"
    )


def add_executions(commands: Any) -> None:
    executions = commands.add_parser("executions", help="list, show and watch recorded executions")
    sub = executions.add_subparsers(metavar="ACTION")
    listing = sub.add_parser("list", help="recent executions, newest first")
    listing.add_argument("--flow")
    listing.add_argument(
        "--status",
        choices=["running", "waiting", "succeeded", "failed", "cancelled", "interrupted"],
        help="interrupted: the runner stopped while it ran (killed, crashed)",
    )
    listing.add_argument("--limit", type=int, default=20)
    listing.add_argument("--namespace", "-n", help="with a console: of this namespace only")
    listing.add_argument("--json", action="store_true")
    store_option(listing)
    server_options(listing)
    listing.set_defaults(handler=cmd_executions_list)
    show = sub.add_parser("show", help="one execution, node by node")
    show.add_argument("id", help="execution id or a unique prefix")
    show.add_argument("--json", action="store_true")
    store_option(show)
    server_options(show)
    show.set_defaults(handler=cmd_executions_show)
    watch = sub.add_parser(
        "watch",
        help="follow executions live (through a console), one line per event",
        description="Prints a line for every execution and node event from now on; when the "
        "stream drops it reconnects and resumes after the last event it printed.",
    )
    watch.add_argument("--flow")
    watch.add_argument("--namespace", "-n")
    watch.add_argument("--execution", metavar="ID", help="the events of one execution")
    watch.add_argument(
        "--after", type=int, metavar="EVENT", help="start after this event id, not from now"
    )
    watch.add_argument("--json", action="store_true", help="each event's data as a JSON line")
    server_options(watch)
    watch.set_defaults(handler=cmd_executions_watch)


def cmd_replay(args: argparse.Namespace) -> int:
    import asyncio

    from weir.engine.replay import ReplayRefused, plan_replay

    target = None if args.id is not None else target_of(args, required=True)
    if target is not None:
        return _remote_replay(target, args.file, args)
    if args.server or args.context:
        raise UsageError("with a console, give only the execution ID: it replays the flow it knows")
    if args.input is not None:
        raise UsageError("--input patches the trigger payload through a console (--server)")
    flow = load_or_report(args.file)
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
    return execute(args, flow, plan.event, plan.replay)


def cmd_executions_list(args: argparse.Namespace) -> int:
    import asyncio

    from weir.store.report import executions_json, executions_table

    if args.limit < 1:
        raise UsageError(f"--limit must be at least 1, got {args.limit}")
    target = target_of(args)
    if target is not None:
        records = _remote_summaries(target, args)
        print(executions_json(records) if args.json else executions_table(records))
        return 0
    if args.namespace:
        raise UsageError("--namespace filters a console's executions (--server)")

    async def listing() -> int:
        store = await open_store(args.store)
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
    import asyncio

    from weir.store.report import execution_detail, execution_json

    target = target_of(args)
    if target is not None:
        record, nodes = _remote_execution(target, args.id)
    else:
        record, nodes = asyncio.run(_find_execution(args.store, args.id))
    print(execution_json(record, nodes) if args.json else execution_detail(record, nodes))
    return 0


def cmd_executions_watch(args: argparse.Namespace) -> int:
    _remote_watch(target_of(args, required=True), args)
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    return _remote_cancel(target_of(args, required=True), args.id)


def cmd_runs_create(args: argparse.Namespace) -> int:
    return _remote_run(target_of(args, required=True), args)


async def _find_execution(url: str | None, execution_id: str, flow: str | None = None) -> Any:
    """The execution with this id or unique prefix, or a UsageError naming the candidates."""
    store = await open_store(url)
    try:
        try:
            found = await store.get_execution(execution_id)
        except LookupError as exc:  # an ambiguous prefix: the message names the matches
            raise UsageError(str(exc)) from None
        if found is not None:
            return found
        recent = await store.list_executions(flow=flow, limit=200)
        where = store_location(store.url)
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


# Through a console (weir.cli.console_client): the same output as from the local store.


def _remote_summaries(target: Any, args: argparse.Namespace) -> list[Any]:
    from weir.cli.console_client import Console, summary_record

    params = {"flow": args.flow, "status": args.status, "namespace": args.namespace}
    records: list[Any] = []
    cursor = None
    with Console(target) as console:
        while len(records) < args.limit:
            limit = min(args.limit - len(records), PAGE)
            page = console.get("/executions", {**params, "limit": limit, "cursor": cursor})
            records += [summary_record(item) for item in page["items"]]
            cursor = page.get("nextCursor")
            if not cursor:
                break
    return records[: args.limit]


def _remote_execution(target: Any, execution_id: str) -> tuple[Any, list[Any]]:
    from weir.cli.console_client import Console, detail_records

    with Console(target) as console:
        return detail_records(console, execution_id)


def _remote_watch(target: Any, args: argparse.Namespace) -> None:
    import json

    from weir.cli.console_client import Console

    params = {"flow": args.flow, "namespace": args.namespace, "execution": args.execution}
    with Console(target) as console:
        for _seq, _kind, data in console.events(params, args.after):
            try:
                event = json.loads(data)
            except ValueError:
                raise CommandError(
                    f"{target.server}: an event that is not JSON: {data!r}"
                ) from None
            print(json.dumps(event) if args.json else _event_line(event), flush=True)


def _event_line(event: dict[str, Any]) -> str:
    """One line per event: time, flow, execution, what (the node and its run), status."""
    flow = event.get("flow", "")
    if event.get("namespace"):
        flow = f"{event['namespace']}/{flow}"
    what = "execution"
    if event.get("type") == "node":
        what = f"node {event.get('node')}[{event.get('nodeSeq')}]"
    at = str(event.get("at", "")).replace("T", " ")[:19]
    return f"{at}  {flow}  {event.get('executionId')}  {what}  {event.get('status')}"


def _remote_replay(target: Any, execution_id: str, args: argparse.Namespace) -> int:
    from weir.cli.console_client import Console, path_segment
    from weir.cli.run_commands import read_input

    body: dict[str, Any] = {}
    if args.start:
        body["from"] = args.start
    if args.input is not None:
        body["input"] = read_input(args.input)
    with Console(target) as console:
        accepted = console.post(f"/executions/{path_segment(execution_id)}/replay", body)
        _accepted(f"replay of {accepted.get('replayOf', execution_id)}", accepted, args)
        return _wait(console, accepted["id"], args) if args.wait else 0


def _remote_run(target: Any, args: argparse.Namespace) -> int:
    from weir.cli.console_client import Console, path_segment
    from weir.cli.run_commands import read_input

    body = {"input": read_input(args.input)}
    with Console(target) as console:
        path = f"/flows/{path_segment(args.flow)}/runs"
        accepted = console.post(path, body, {"namespace": args.namespace})
        _accepted(f"run of {args.flow}", accepted, args)
        return _wait(console, accepted["id"], args) if args.wait else 0


def _remote_cancel(target: Any, execution_id: str) -> int:
    from weir.cli.console_client import Console, path_segment

    with Console(target) as console:
        answer = console.post(f"/executions/{path_segment(execution_id)}/cancel", {})
    print(f"execution {answer.get('id', execution_id)}: {answer.get('status', 'cancelling')}")
    return 0


def _accepted(what: str, accepted: dict[str, Any], args: argparse.Namespace) -> None:
    """What started on stderr; the new execution's id on stdout for scripts, unless --wait
    prints its result there."""
    flow_run = f" as FlowRun {accepted['flowRun']}" if accepted.get("flowRun") else ""
    print(f"weir: {what} started{flow_run}: execution {accepted['id']}", file=sys.stderr)
    if not args.wait:
        print(accepted["id"], flush=True)


def _wait(console: Any, execution_id: str, args: argparse.Namespace) -> int:
    """Poll until the execution has finished; its result on stdout, 1 if it did not succeed."""
    import json
    import time

    from weir.cli.console_client import ApiRefused, path_segment

    deadline = time.monotonic() + args.timeout
    while True:
        try:
            view = console.get(f"/executions/{path_segment(execution_id)}")
            status = view["execution"]["status"]
        except ApiRefused as exc:  # not recorded yet: a FlowRun's Job is still starting
            if exc.status != 404:
                raise
            status = None
        if status not in (None, "running"):
            break
        if time.monotonic() > deadline:
            raise CommandError(
                f"execution {execution_id} has not finished within {args.timeout:g}s (--timeout)"
            )
        time.sleep(WAIT_POLL)
    execution = view["execution"]
    if status == "succeeded":
        print(json.dumps(execution.get("result"), indent=2))
        return 0
    error = execution.get("error") or {}
    where = f"node {error['node']!r}: " if error.get("node") else ""
    message = error.get("message") or status
    print(f"weir: execution {execution_id} {status}: {where}{message}", file=sys.stderr)
    return 1
