"""Upgrading an execution store by hand, and writing a new revision (for contributors).

python -m weir.store.migrations upgrade --store URL
python -m weir.store.migrations revision "what changed" --store URL
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from sqlalchemy import Connection

from weir.store import open_store
from weir.store.connect import store_engine
from weir.store.migrations import (
    HEAD,
    StoreSchemaError,
    alembic_config,
    current_revisions,
    upgrade,
)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    store = argparse.ArgumentParser(add_help=False)
    store.add_argument("--store", help="execution store URL; the default is that of `weir run`")
    parser = argparse.ArgumentParser(prog="python -m weir.store.migrations")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "upgrade", parents=[store], help="bring the store's schema to the newest revision"
    )
    revision = commands.add_parser(
        "revision",
        parents=[store],
        help="upgrade the store, then write versions/<next>_<message>.py from what differs "
        "between it and the tables in weir/store/sql.py",
    )
    revision.add_argument("message")
    args = parser.parse_args(argv)
    try:
        url = open_store(args.store).url
    except ValueError as exc:
        parser.error(str(exc))
    try:
        return asyncio.run(_run(url, args.command, getattr(args, "message", "")))
    except StoreSchemaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


async def _run(url: str, command: str, message: str) -> int:
    engine = store_engine(url)
    try:
        await upgrade(engine)
        async with engine.connect() as connection:
            if command == "revision":
                await connection.run_sync(_autogenerate, message)
            revisions = await connection.run_sync(current_revisions)
    finally:
        await engine.dispose()
    print(
        f"{engine.url.render_as_string(hide_password=True)}: schema revision {', '.join(revisions)}"
    )
    return 0


def _autogenerate(connection: Connection, message: str) -> None:
    from alembic import command

    command.revision(
        alembic_config(connection),
        message=message,
        autogenerate=True,
        rev_id=f"{int(HEAD) + 1:04d}",
    )


if __name__ == "__main__":
    sys.exit(main())
