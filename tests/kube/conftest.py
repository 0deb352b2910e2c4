"""The real control plane (tools/controlplane, built by `make controlplane`) for tests that
need what only a real apiserver checks: CRD acceptance, RBAC, admission, garbage collection."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import require_service
from tests.kube.controlplane import BINARY, ControlPlane, running_controlplane
from tests.kube.operator_harness import (
    Api,
    Installation,
    OperatorProcess,
    install,
    running_operator,
    uninstall,
)


@pytest.fixture(scope="session")
def controlplane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """etcd, kube-apiserver and kube-controller-manager on free loopback ports."""
    require_service(
        BINARY.is_file(), f"the control plane binary {BINARY} (run `make controlplane`)"
    )
    with running_controlplane(tmp_path_factory.mktemp("controlplane")) as plane:
        yield plane


@pytest.fixture(scope="module")
def api(controlplane: ControlPlane) -> Iterator[Api]:
    with controlplane.client() as client:
        yield Api(client)


@pytest.fixture(scope="module")
def installation(
    request: pytest.FixtureRequest,
    controlplane: ControlPlane,
    api: Api,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Installation]:
    """The chart installed under the module's ``RELEASE`` name (a release per module: their
    objects never meet)."""
    release = request.module.RELEASE
    installed = install(controlplane, api, tmp_path_factory.mktemp(release), release, {})
    yield installed
    uninstall(api, installed)


@pytest.fixture(scope="module")
def operator(installation: Installation) -> Iterator[OperatorProcess]:
    """The installation's operator container as a local process."""
    with running_operator(installation) as process:
        yield process
