"""`weir store upgrade`: bring an execution store's schema to the newest revision by hand.

A runner and every command that opens a store do the same when they start; upgrading first, in
a step of its own (a deployment's pre-upgrade job), keeps runners from waiting on each other's
upgrade and shows what changed."""

from __future__ import annotations

import argparse
from typing import Any

from weir.cli.common import UsageError, store_location, store_option, store_problem


def add_store(commands: Any) -> None:
    store = commands.add_parser("store", help="manage the execution store")
    actions = store.add_subparsers(metavar="ACTION")
    upgrade = actions.add_parser(
        "upgrade",
        help="bring the store's schema to the newest revision",
        description="Upgrades the execution store's schema to the newest revision this Weir "
        "knows (a runner does so when it starts); a store already current is left as it is.",
    )
    store_option(upgrade)
    upgrade.set_defaults(handler=cmd_store_upgrade)


def cmd_store_upgrade(args: argparse.Namespace) -> int:
    import asyncio

    from weir.store import open_store

    try:
        url = open_store(args.store).url
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    before, after = asyncio.run(_upgrade(url))
    where = store_location(url)
    if before == after:
        print(f"{where}: schema revision {after}, the newest; nothing to do")
    else:
        print(f"{where}: schema upgraded from {before or 'an empty database'} to revision {after}")
    return 0


async def _upgrade(url: str) -> tuple[str, str]:
    """The store's schema revisions before and after the upgrade."""
    from weir.store.connect import store_engine
    from weir.store.migrations import current_revisions, upgrade

    engine = store_engine(url)
    try:
        async with engine.connect() as connection:
            before = await connection.run_sync(current_revisions)
        await upgrade(engine)
        async with engine.connect() as connection:
            after = await connection.run_sync(current_revisions)
    except Exception as exc:
        problem = store_problem(exc, url)
        if problem is None:
            raise
        raise problem from None
    finally:
        await engine.dispose()
    return ", ".join(before), ", ".join(after)
