"""Shared fixtures: building node contexts and services every suite needs."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine

from tests.servers.services import POSTGRES
from weir.nodes.context import NodeContext
from weir.nodes.resources import Resources
from weir.nodes.spool import Spool
from weir.secrets.redact import Redactor
from weir.secrets.resolve import LocalSecretResolver, Secrets

IN_CI = os.environ.get("CI") == "true"

# The operator reads these when weir.operator.handlers is imported: a rotated Secret is noticed
# within half a second in the tests instead of 30 s.
os.environ.setdefault("WEIR_SECRET_POLL_INTERVAL", "0.5")


def pytest_report_header(config: pytest.Config) -> str:
    """The real apiserver's version in the header of every run (tests/kube use it)."""
    from tests.kube.controlplane import BINARY, binary_version

    return f"controlplane: {binary_version() or 'not built'} ({BINARY})"


def require_service(available: bool, what: str) -> None:
    """Skip on a developer machine without the service; fail under CI=true."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{what} is required under CI=true but is not available")
    pytest.skip(f"{what} is not available")


@pytest.fixture
async def resources() -> AsyncIterator[Resources]:
    res = Resources()
    yield res
    await res.aclose()


@pytest.fixture
def make_ctx(resources: Resources, tmp_path: Any) -> Callable[..., NodeContext]:
    """``make_ctx(scope={...}, secrets={("crm", "token"): "s3cret"})`` -> a NodeContext."""
    spools: list[Spool] = []

    def build(
        scope: dict[str, Any] | None = None,
        secrets: dict[tuple[str, str], str] | None = None,
        node: str = "node",
    ) -> NodeContext:
        environ = {
            f"WEIR_SECRET_{name.upper()}_{key.upper()}": value
            for (name, key), value in (secrets or {}).items()
        }
        declared = {name for name, _ in (secrets or {})}
        spool = Spool()
        spools.append(spool)
        return NodeContext(
            node=node,
            flow_name="test",
            execution_id="test-execution",
            scope=scope or {},
            secrets=Secrets(LocalSecretResolver(environ=environ), Redactor(), declared),
            resources=resources,
            spool=spool,
        )

    yield build  # type: ignore[misc]
    for spool in spools:
        spool.cleanup()


@pytest.fixture
def kmock_options(kmock_options: dict[str, Any]) -> dict[str, Any]:
    """KMock's emulator plus the apiserver bookkeeping the operator relies on."""
    from tests.operator.cluster import Apiserver

    return {**kmock_options, "cls": Apiserver}


TEST_SPOOL = Spool(prefix="weir-tests-")


def spool_path(name: str) -> Path:
    """A path where a node would have spooled a file: the only place a file reference may
    point (a flow cannot name a local file). Removed at the end of the session."""
    return TEST_SPOOL.new_path(name)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    TEST_SPOOL.cleanup()


@pytest.fixture
def fresh_postgres_url() -> Iterator[str]:
    """A store URL whose search_path is a new, empty schema of the test database."""
    POSTGRES.require()
    schema = f"weir_store_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES.url.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        yield f"{POSTGRES.url}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()
