"""`weir serve`: a flow behind its trigger until stopped."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from weir.cli.common import (
    UsageError,
    grace_of,
    grace_option,
    port_of,
    port_option,
    secrets_option,
    store_option,
)
from weir.cli.state_option import state_option, state_url_of

if TYPE_CHECKING:
    from weir.serve.link import ConsoleSettings


def console_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--console",
        default=None,
        metavar="URL",
        help="ship executions to the Weir console at URL (default $WEIR_CONSOLE_URL); "
        "token from $WEIR_CONSOLE_TOKEN or the pod's ServiceAccount",
    )


def console_url_of(args: argparse.Namespace) -> str | None:
    """The console URL from --console or $WEIR_CONSOLE_URL; a bad one is a usage error."""
    from weir.serve.console_client import console_url

    try:
        return console_url(args.console)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def add_serve(commands: Any) -> None:
    serve = commands.add_parser(
        "serve",
        help="serve a flow behind its trigger (REST, RabbitMQ, cron, MCP) until stopped",
        description="Health on /healthz, readiness on /readyz, Prometheus metrics on /metrics. "
        "The flow file is watched and reloaded; SIGTERM drains executions in flight.",
    )
    serve.add_argument("file", metavar="FILE")
    serve.add_argument("--host", default="0.0.0.0", help="address to bind (default all)")
    port_option(serve, "WEIR_PORT", 8080)
    grace_option(serve, "executions in flight")
    store_option(serve)
    serve.add_argument("--no-store", action="store_true", help="do not record executions")
    state_option(serve)
    console_option(serve)
    secrets_option(serve)
    serve.add_argument("--watch-interval", type=float, default=1.0, help=argparse.SUPPRESS)
    serve.set_defaults(handler=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    from weir.lang.heap import young_from_environment
    from weir.serve.server import ServeOptions, serve

    console = _console_settings(args)
    return serve(
        ServeOptions(
            file=args.file,
            host=args.host,
            port=port_of(args),
            grace=grace_of(args),
            store=args.store,
            no_store=args.no_store,
            state=state_url_of(args),
            secrets_dir=args.secrets_dir,
            watch_interval=args.watch_interval,
            console=console,
            gc_young=young_from_environment(),
        )
    )


def _console_settings(args: argparse.Namespace) -> ConsoleSettings | None:
    from weir.serve.link import ConsoleSettings
    from weir.serve.retention import retention_from_environment
    from weir.serve.ship import outbox_limit_from_environment

    url = console_url_of(args)
    if url is None:
        return None
    try:
        return ConsoleSettings(url, outbox_limit_from_environment(), retention_from_environment())
    except ValueError as exc:
        raise UsageError(str(exc)) from None
