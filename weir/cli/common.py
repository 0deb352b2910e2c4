"""What several commands share: the errors a user can act on (each with its exit code), the
--store and --secrets-dir options, opening the execution store and loading a flow file.

Nothing heavy is imported here: `weir --help` loads this module."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

STORE_UNUSABLE = 4
"""Exit code: the execution store cannot be opened or its schema is not one this Weir knows."""


class CommandError(Exception):
    """A command stopped for a reason the user can act on; the message says it all."""

    code = 1


class UsageError(CommandError):
    """Bad command-line input; exit code 2."""

    code = 2


class StoreUnusable(CommandError):
    """The execution store cannot be used: unreachable, or a schema this Weir cannot upgrade."""

    code = STORE_UNUSABLE


def store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        default=None,
        help="execution store URL (sqlite:///file.db, postgresql://...); "
        "default $WEIR_STORE or the user data directory",
    )


def port_option(parser: argparse.ArgumentParser, variable: str, default: int) -> None:
    """``--port``, whose default ``port_of`` reads from ``$variable`` when the command runs."""
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help=f"HTTP port (default ${variable} or {default}; 0 picks a free one)",
    )
    parser.set_defaults(port_variable=variable, port_default=default)


def port_of(args: argparse.Namespace) -> int:
    from weir.lang.settings import port_from_environment

    if args.port is not None:
        return int(args.port)
    return port_from_environment(args.port_variable, args.port_default)


def grace_option(parser: argparse.ArgumentParser, what: str) -> None:
    """``--grace``, whose default ``grace_of`` reads from $WEIR_GRACE_PERIOD when the command
    runs (so that a bad value is a usage error, not a traceback while parsing)."""
    parser.add_argument(
        "--grace",
        type=float,
        default=None,
        help=f"seconds {what} get to finish on SIGTERM (default $WEIR_GRACE_PERIOD or 30)",
    )


def grace_of(args: argparse.Namespace) -> float:
    from weir.lang.settings import seconds_from_environment

    if args.grace is not None:
        return float(args.grace)
    return seconds_from_environment("WEIR_GRACE_PERIOD", 30.0)


def secrets_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--secrets-dir",
        default=os.environ.get("WEIR_SECRETS_DIR"),
        help="directory laid out as DIR/<secret>/<key> (default $WEIR_SECRETS_DIR); "
        "WEIR_SECRET_<SECRET>_<KEY> variables take precedence",
    )


async def open_store(url: str | None) -> Any:
    """The execution store named by --store, started (its schema upgraded); a bad URL is a
    UsageError, a store that cannot be reached or upgraded is StoreUnusable."""
    from weir.store import open_store as open_url

    try:
        store = open_url(url)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    try:
        await store.start()
    except Exception as exc:
        problem = store_problem(exc, store.url)
        if problem is None:
            raise
        await store.aclose()
        raise problem from None
    return store


def store_problem(exc: BaseException, url: str | None = None) -> StoreUnusable | None:
    """``exc`` as StoreUnusable when it says the store cannot be used, else None.

    Only looks at modules already imported: a command that never opened a store has no
    store error to explain, and `weir --help` imports no database library."""
    migrations = sys.modules.get("weir.store.migrations")
    if migrations is not None and isinstance(exc, migrations.StoreSchemaError):
        return StoreUnusable(str(exc))
    sqlalchemy = sys.modules.get("sqlalchemy.exc")
    if url is not None and sqlalchemy is not None and isinstance(exc, sqlalchemy.DBAPIError):
        reason = str(exc.orig or exc).strip().splitlines()[0]
        return StoreUnusable(f"cannot open the execution store at {store_location(url)}: {reason}")
    return None


def store_location(url: str) -> str:
    """A store's URL as the user wrote it (no driver names), without its password."""
    from weir.secrets.redact import hide_password

    return hide_password(url.replace("+aiosqlite", "").replace("+psycopg", ""))


def load_or_report(file: str) -> Any:
    """The flow in ``file``, or None once the reasons it cannot be loaded are on stderr."""
    from weir.flow.issues import FlowInvalid
    from weir.flow.load import load_flow_file

    try:
        return load_flow_file(file)
    except FlowInvalid as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        return None
