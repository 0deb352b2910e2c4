"""`weir console`: the executions of every flow in its scope, over an HTTP API with live events
(docs/console.md)."""

from __future__ import annotations

import argparse
from typing import Any

from weir.cli.common import (
    UsageError,
    grace_of,
    grace_option,
    port_of,
    port_option,
    secrets_option,
    store_option,
)
from weir.cli.state_option import state_url_of


def add_console(commands: Any) -> None:
    console = commands.add_parser(
        "console",
        help="serve the execution history, its HTTP API and live events (replay, cancel, run)",
        description="Locally (the default) it serves the flows in PATH (files or directories) "
        "over the store, on a loopback address, without authentication: `weir console --store "
        "sqlite:///.weir/demo.db examples/`. With --kube it serves the cluster's Flows and "
        "authenticates every call with the API server. The API is under /api/v1 (its OpenAPI "
        "document at /api/v1/openapi.json); health on /healthz, readiness on /readyz, "
        "Prometheus metrics on /metrics.",
    )
    console.add_argument("paths", nargs="*", metavar="PATH", help="flow files or directories")
    store_option(console)
    console.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    port_option(console, "WEIR_CONSOLE_PORT", 8090)
    console.add_argument(
        "--kube",
        action="store_true",
        help="cluster mode: Flows from the API server, bearer tokens reviewed there, runs as FlowRuns",
    )
    console.add_argument(
        "--namespace",
        dest="namespaces",
        action="append",
        metavar="NS",
        help="with --kube: a namespace served (repeat it); default every namespace",
    )
    console.add_argument(
        "--retain-days",
        type=float,
        default=30.0,
        help="delete executions that started longer ago (default 30; 0 keeps them)",
    )
    console.add_argument(
        "--retain-per-flow",
        type=int,
        default=10_000,
        help="keep at most this many executions per flow, the newest (default 10000; 0: no cap)",
    )
    grace_option(console, "local runs")
    console.add_argument(
        "--ui",
        metavar="DIR",
        help="the built web console (default $WEIR_CONSOLE_UI, else console-ui/dist of the "
        "checkout: `make console-ui` builds it)",
    )
    secrets_option(console)
    console.set_defaults(handler=cmd_console)


def cmd_console(args: argparse.Namespace) -> int:
    from pathlib import Path

    from weir.console.server import ConsoleOptions, NotLoopback, serve_console
    from weir.lang.heap import young_from_environment

    if args.kube and args.paths:
        raise UsageError("--kube serves the cluster's Flows: give no PATH with it")
    if args.namespaces and not args.kube:
        raise UsageError("--namespace needs --kube")
    missing = [path for path in args.paths if not Path(path).exists()]
    if missing:
        raise UsageError(f"no such file or directory: {missing[0]}")
    if args.ui and not (Path(args.ui) / "index.html").is_file():
        raise UsageError(f"--ui {args.ui}: no index.html there (build it: make console-ui)")
    if args.retain_days < 0 or args.retain_per_flow < 0:
        raise UsageError("--retain-days and --retain-per-flow take 0 (keep all) or more")
    state_url_of(args)  # local runs keep state keys in $WEIR_STATE_URL's Redis: refuse a bad one
    options = ConsoleOptions(
        paths=list(args.paths),
        store=args.store,
        host=args.host,
        port=port_of(args),
        kube=args.kube,
        retain_days=args.retain_days,
        retain_per_flow=args.retain_per_flow,
        secrets_dir=args.secrets_dir,
        grace=grace_of(args),
        namespaces=args.namespaces,
        ui=args.ui,
        gc_young=young_from_environment(),
    )
    try:
        return serve_console(options)
    except NotLoopback as exc:
        raise UsageError(str(exc)) from None
