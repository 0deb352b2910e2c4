"""`weir resume TOKEN --input JSON`: resume an execution waiting for a person (the `wait`
node), with the payload as the node's output (docs/nodes/wait.md).

With ``--server`` (or a context) it asks the console: ``POST /api/v1/waits/{token}/resume``.
Otherwise it resolves the wait in the execution store (``--store``) and, given the flow
(``--file``: a flow file or a directory of them, the flow picked by name), resumes the
execution in this process as `weir run` would; without ``--file`` the runner of the flow
(`weir serve`, `weir console`) on that store resumes it within a second.

Exit codes: 0 resolved (or resumed and succeeded), 1 refused (no such wait 404, already
resumed 409, expired 410) or the resumed execution failed, 2 a payload the wait's schema
rejects (each problem listed).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path
from typing import Any

from weir.cli.common import CommandError, UsageError, open_store, secrets_option, store_option
from weir.cli.console_client import ApiRefused, Console, path_segment, server_options, target_of
from weir.cli.state_option import state_option, state_url_of


def add_resume(commands: Any) -> None:
    resume = commands.add_parser(
        "resume",
        help="resume an execution waiting for a person (a wait node) with a payload",
        description="TOKEN is the wait's resume token (the last part of its resume URL, "
        "printed by `weir run`). The payload must fit the wait's JSON Schema.",
    )
    resume.add_argument("resume_token", metavar="TOKEN", help="the resume token (w1.…)")
    resume.add_argument("--input", metavar="JSON", help="the payload: JSON, or @file.json")
    store_option(resume)
    resume.add_argument(
        "--file",
        action="append",
        default=[],
        metavar="PATH",
        help="with --store: the flow file (or a directory of flow files) to resume the "
        "execution on, here and now; repeatable",
    )
    state_option(resume)
    secrets_option(resume)
    server_options(resume)
    resume.set_defaults(handler=cmd_resume)


def cmd_resume(args: argparse.Namespace) -> int:
    from weir.cli.run_commands import read_input

    payload = read_input(args.input)
    state_url_of(args)  # a bad --state is refused before the wait is resolved
    target = target_of(args)
    if target is not None:
        return _through_console(Console(target), args.resume_token, payload)
    import asyncio

    return asyncio.run(_in_store(args, payload))


def _through_console(console: Console, token: str, payload: Any) -> int:
    with console:
        try:
            answer = console.post(f"/waits/{path_segment(token)}/resume", {"input": payload})
        except ApiRefused as exc:
            if exc.status == 422:
                raise UsageError(str(exc)) from None
            raise
    print(json.dumps(answer, indent=2))
    return 0


async def _in_store(args: argparse.Namespace, payload: Any) -> int:
    from weir.engine.human_waits import PayloadRejected, WaitGone, resolve_token
    from weir.store.waits import AlreadyResolved, UnknownWait

    store = await open_store(args.store)
    try:
        waits = store.waits()
        try:
            wait = await resolve_token(waits, args.resume_token, payload, f"cli:{_user()}")
        except UnknownWait as exc:
            raise CommandError(f"no such wait (404): {exc}") from None
        except WaitGone as exc:
            raise CommandError(f"the wait is gone (410): {exc}") from None
        except AlreadyResolved as exc:
            already = json.dumps(exc.wait.result)
            raise CommandError(
                f"the wait was already resolved by {exc.wait.resolved_by} (409): {already}"
            ) from None
        except PayloadRejected as exc:
            raise UsageError(
                "\n".join(["the payload was rejected (422):", *exc.problems])
            ) from None
        await store.durable()
        record = await store.get_execution(wait.execution_id, payloads=False)
        flow_name = record[0].flow if record is not None else "?"
        if not args.file:
            print(json.dumps({"waitId": wait.id, "executionId": wait.execution_id,
                              "status": "resolved"}, indent=2))  # fmt: skip
            print(
                f"weir: resolved; a runner of flow {flow_name} on this store (weir serve, weir "
                "console) resumes it, or give --file to resume it here",
                file=sys.stderr,
            )
            return 0
        return await _resume_here(args, store, wait, _flow_named(args.file, flow_name))
    finally:
        await store.aclose()


async def _resume_here(args: argparse.Namespace, store: Any, wait: Any, flow: Any) -> int:
    """Claim the resolved wait and run the rest of the execution in this process."""
    from weir.engine.executor import Engine
    from weir.engine.progress import ProgressPrinter
    from weir.engine.resume import finish_in_process, resumed_execution
    from weir.engine.state_choice import use_state
    from weir.lang.expressions import json_default
    from weir.secrets.redact import Redactor
    from weir.secrets.store import local_resolver

    claimed = await store.waits().claim(wait.id, wait.execution_id)
    if claimed is None:
        print(
            f"weir: resolved; another runner is resuming execution {wait.execution_id}",
            file=sys.stderr,
        )
        return 0
    redactor = Redactor()
    engine = Engine(
        store=store,
        secrets=local_resolver(args.secrets_dir),
        listeners=[ProgressPrinter(sys.stderr, redactor)],
        redactor=redactor,
    )
    use_state(engine, state_url_of(args))
    try:
        result = await (await resumed_execution(engine, flow, claimed)).run()
        if result.status == "waiting":
            result = await finish_in_process(engine, flow, result)
    finally:
        await engine.aclose()
    if result.ok:
        print(json.dumps(result.result, indent=2, default=json_default))
        return 0
    if result.status == "waiting":
        print(json.dumps({"id": result.id, "status": "waiting"}, indent=2))
        for line in await open_wait_lines(store, result.id):
            print(line, file=sys.stderr)
        return 0
    error = result.error or {}
    print(f"weir: execution {result.id} failed: {error.get('message')}", file=sys.stderr)
    return 1


def _flow_named(paths: list[str], name: str) -> Any:
    """The valid flow called ``name`` among the files and directories ``paths``."""
    from weir.flow.issues import FlowInvalid
    from weir.flow.load import load_flow_file

    files: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml"))
        elif path.is_file():
            files.append(path)
        else:
            raise UsageError(f"--file {given}: no such file or directory")
    for file in files:
        try:
            flow = load_flow_file(file)
        except (FlowInvalid, OSError, ValueError):
            continue
        if flow.name == name:
            return flow
    raise UsageError(f"no valid flow {name!r} in {', '.join(paths)} to resume on")


async def open_wait_lines(store: Any, execution_id: str) -> list[str]:
    """A line per open wait of the execution: for a person's, how to resume it."""
    found = await store.get_execution(execution_id)
    nodes = found[1] if found is not None else []
    shown = {n.seq: n.output for n in nodes if n.status == "waiting"}
    lines = []
    for wait in await store.waits().of_execution(execution_id):
        if wait.state not in ("pending", "resolved"):
            continue
        public = shown.get(wait.seq) or {}
        line = f"weir: execution {execution_id} waits at node {wait.node} ({wait.kind}"
        if wait.due_at is not None:
            line += f", until {public.get('dueAt') or wait.due_at}"
        line += ")"
        if wait.kind == "human" and public.get("resumeCommand"):
            line += f"; resume: {public['resumeCommand']}"
            if public.get("resumeUrl"):
                line += f" or POST the payload to {public['resumeUrl']}"
        lines.append(line)
    return lines


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
