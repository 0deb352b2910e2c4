"""The execution store's schema, versioned with Alembic: ``versions/`` holds one revision per
change and ``env.py`` runs them on a connection Weir opens (there is no ``alembic.ini``).

A store brings itself to the newest revision when it starts (``upgrade``). A store created
before revisions existed (tables but no ``alembic_version``) is recognised as revision 0001
and upgraded from there. Concurrent starts are safe: one process upgrades while holding a lock
(PostgreSQL: an advisory lock; SQLite: the database's write lock), the others wait and then
find the schema current. A store already current costs one query and does not load Alembic.

Adding a revision: change the tables in ``weir/store/tables.py``, run
``python -m weir.store.migrations revision "what changed" --store URL`` against a store at the
current head, review the file it writes in ``versions/``, and set ``HEAD`` to its id.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.ext.asyncio import AsyncEngine

HEAD = "0005"
"""The newest revision in ``versions/``; a test checks that Alembic agrees."""
UNVERSIONED = "0001"
"""The revision of a store created before migrations existed."""
TABLES = ("weir_executions", "weir_node_runs")
VERSION_TABLE = "alembic_version"
PG_LOCK_KEY = 0x5745_4952_5354_4F52  # "WEIRSTOR": pg_advisory_xact_lock's key for upgrades
SQLITE_UPGRADE_WAIT_MS = 60_000
"""How long a start waits for another process's upgrade of the same SQLite file."""

log = logging.getLogger("weir.store")


class StoreSchemaError(RuntimeError):
    """The store's schema is not one this version of Weir can upgrade."""


async def upgrade(engine: AsyncEngine) -> None:
    """Bring the store's schema to ``HEAD``."""
    async with engine.connect() as connection:
        if await connection.run_sync(current_revisions) == [HEAD]:
            return
    async with engine.connect() as connection:
        await connection.run_sync(upgrade_connection)
        await connection.commit()


def upgrade_connection(connection: Connection) -> None:
    """Upgrade within the connection's transaction, which the caller commits; the lock taken
    first is held until then."""
    # Alembic's info lines narrate its internals; the lines below say what changed.
    alembic_log = logging.getLogger("alembic")
    if alembic_log.level == logging.NOTSET:
        alembic_log.setLevel(logging.WARNING)
    from alembic import command

    _lock(connection)
    config = alembic_config(connection)
    revisions = current_revisions(connection)
    if not revisions and _unversioned(connection):
        command.stamp(config, UNVERSIONED)
        revisions = [UNVERSIONED]
        log.info("execution store from before schema revisions: taken as revision %s", UNVERSIONED)
    else:
        _check_known(config, revisions, connection)
    command.upgrade(config, "head")
    now = current_revisions(connection)
    if now != revisions:
        before = f"revision {', '.join(revisions)}" if revisions else "an empty database"
        log.info("execution store schema upgraded from %s to revision %s", before, ", ".join(now))


def alembic_config(connection: Connection) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    config.attributes["connection"] = connection  # env.py runs on it
    return config


def _lock(connection: Connection) -> None:
    """One upgrader at a time, until its transaction ends; the others wait for it."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({PG_LOCK_KEY})")
    elif connection.dialect.name == "sqlite":
        usual = connection.exec_driver_sql("PRAGMA busy_timeout").scalar()
        connection.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_UPGRADE_WAIT_MS}")
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")  # the write lock, until commit
        finally:
            connection.exec_driver_sql(f"PRAGMA busy_timeout={int(usual or 0)}")


def current_revisions(connection: Connection) -> list[str]:
    if not inspect(connection).has_table(VERSION_TABLE):
        return []
    query = f"SELECT version_num FROM {VERSION_TABLE} ORDER BY version_num"
    return list(connection.exec_driver_sql(query).scalars())


def _unversioned(connection: Connection) -> bool:
    """Whether the store holds the tables Weir created before migrations existed."""
    present = [name for name in TABLES if inspect(connection).has_table(name)]
    if present and len(present) < len(TABLES):
        missing = ", ".join(name for name in TABLES if name not in present)
        raise StoreSchemaError(
            f"the execution store at {_where(connection)} has {', '.join(present)} but not "
            f"{missing}, and no {VERSION_TABLE} table: it was not created by Weir; "
            "point --store at another database or remove those tables"
        )
    return bool(present)


def _check_known(config: Config, revisions: list[str], connection: Connection) -> None:
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    script = ScriptDirectory.from_config(config)
    for revision in revisions:
        try:
            script.get_revision(revision)
        except CommandError:
            raise StoreSchemaError(
                f"the execution store at {_where(connection)} has schema revision "
                f"{revision!r}, which this version of Weir does not know (its newest is "
                f"{HEAD!r}): a newer Weir upgraded it; use that version or a later one"
            ) from None


def _where(connection: Connection) -> str:
    return connection.engine.url.render_as_string(hide_password=True)
