"""examples/mongodb-to-postgres with `weir run` against FerretDB and PostgreSQL: the seed flow
fills MongoDB, the flow copies the paid orders above the input's amount into a table."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import create_engine, text

from tests.servers.ferretdb import FerretServer
from tests.test_examples import EXAMPLES, weir

EXAMPLE = EXAMPLES / "mongodb-to-postgres"


def test_paid_orders_above_the_amount_travel_from_mongodb_to_postgresql(
    ferretdb: FerretServer, fresh_postgres_url: str, tmp_path: Path
) -> None:
    database = create_engine(fresh_postgres_url.replace("postgresql://", "postgresql+psycopg://"))
    with database.begin() as connection:
        connection.exec_driver_sql((EXAMPLE / "seed.sql").read_text())
    store = f"sqlite:///{tmp_path}/s.db"
    env = {"WEIR_SECRET_MONGO_URL": ferretdb.url, "WEIR_SECRET_DB_URL": fresh_postgres_url}

    seeded = weir("run", str(EXAMPLE / "seed.yaml"), "--store", store, env=env)
    assert seeded.returncode == 0, seeded.stderr
    assert json.loads(seeded.stdout)["inserted"] == 5
    done = weir(
        "run", str(EXAMPLE / "flow.yaml"), "--input", '{"minTotal": 100}', "--store", store, env=env
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"copied": 2, "numbers": [1001, 1004]}

    with database.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT number, customer, total::text, (paid_at AT TIME ZONE 'UTC')::text FROM paid_orders ORDER BY 1"
            )
        ).all()
    database.dispose()
    assert [tuple(row) for row in rows] == [
        (1001, "Ada Lovelace", "120.50", "2026-11-28 09:15:00"),
        (1004, "Barbara Liskov", "310.25", "2026-11-30 17:45:30"),
    ]

    again = weir(
        "run", str(EXAMPLE / "flow.yaml"), "--input", '{"minTotal": 100}', "--store", store, env=env
    )
    assert again.returncode != 0  # the primary key: the README says so
    assert "paid_orders_pkey" in again.stderr + again.stdout
