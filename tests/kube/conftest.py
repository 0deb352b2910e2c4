"""The real control plane (tools/controlplane, built by `make controlplane`) for tests that
need what only a real apiserver checks: CRD acceptance, RBAC, admission, garbage collection."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import require_service
from tests.kube.controlplane import BINARY, ControlPlane, running_controlplane


@pytest.fixture(scope="session")
def controlplane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """etcd, kube-apiserver and kube-controller-manager on free loopback ports."""
    require_service(
        BINARY.is_file(), f"the control plane binary {BINARY} (run `make controlplane`)"
    )
    with running_controlplane(tmp_path_factory.mktemp("controlplane")) as plane:
        yield plane
