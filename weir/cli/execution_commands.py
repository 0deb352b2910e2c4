"""`weir executions` and `weir replay`: read recorded executions, and run one again."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from weir.cli.common import (
    UsageError,
    load_or_report,
    open_store,
    secrets_option,
    store_location,
    store_option,
)
from weir.cli.run_commands import execute

CANDIDATES = 5
"""Recent executions named when an id is unknown."""


def add_replay(commands: Any) -> None:
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
    store_option(replay)
    secrets_option(replay)
    replay.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    replay.set_defaults(handler=cmd_replay)


def add_executions(commands: Any) -> None:
    executions = commands.add_parser("executions", help="list and show recorded executions")
    sub = executions.add_subparsers(metavar="ACTION")
    listing = sub.add_parser("list", help="recent executions, newest first")
    listing.add_argument("--flow")
    listing.add_argument(
        "--status",
        choices=["running", "succeeded", "failed", "cancelled", "interrupted"],
        help="interrupted: the runner stopped while it ran (killed, crashed)",
    )
    listing.add_argument("--limit", type=int, default=20)
    listing.add_argument("--json", action="store_true")
    store_option(listing)
    listing.set_defaults(handler=cmd_executions_list)
    show = sub.add_parser("show", help="one execution, node by node")
    show.add_argument("id", help="execution id or a unique prefix")
    show.add_argument("--json", action="store_true")
    store_option(show)
    show.set_defaults(handler=cmd_executions_show)


def cmd_replay(args: argparse.Namespace) -> int:
    import asyncio

    from weir.engine.replay import ReplayRefused, plan_replay

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

    record, nodes = asyncio.run(_find_execution(args.store, args.id))
    print(execution_json(record, nodes) if args.json else execution_detail(record, nodes))
    return 0


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
