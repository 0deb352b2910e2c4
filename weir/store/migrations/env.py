"""Alembic runs this for every command. Weir hands over an open connection, already holding
the upgrade lock (``weir.store.migrations.upgrade_connection``): there is no ``alembic.ini``."""

from __future__ import annotations

from alembic import context

from weir.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None or context.is_offline_mode():
    raise RuntimeError(
        "the execution store's migrations run on a connection Weir opens: "
        "python -m weir.store.migrations --help"
    )
context.configure(
    connection=connection,
    target_metadata=metadata,  # what `revision --autogenerate` compares the store with
    render_as_batch=True,  # SQLite alters a table by copying it; batch operations do that
)
with context.begin_transaction():
    context.run_migrations()
