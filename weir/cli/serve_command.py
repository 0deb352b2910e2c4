"""`weir serve`: a flow behind its trigger until stopped."""

from __future__ import annotations

import argparse
import os
from typing import Any

from weir.cli.common import secrets_option, store_option


def add_serve(commands: Any) -> None:
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
    store_option(serve)
    serve.add_argument("--no-store", action="store_true", help="do not record executions")
    secrets_option(serve)
    serve.add_argument("--watch-interval", type=float, default=1.0, help=argparse.SUPPRESS)
    serve.set_defaults(handler=cmd_serve)


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
