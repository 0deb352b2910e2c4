"""The kind-based end-to-end suite runs only when asked: `make e2e` (WEIR_E2E=1) on a machine
with Docker, kind, kubectl and helm. Otherwise it is not collected, so `make test` neither runs
nor skips it."""

from __future__ import annotations

import os
import shutil

import pytest

if os.environ.get("WEIR_E2E") != "1":
    collect_ignore_glob = ["test_*.py"]


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("WEIR_E2E") != "1":
        return
    missing = [tool for tool in ("docker", "kind", "kubectl", "helm") if shutil.which(tool) is None]
    if missing:
        raise pytest.UsageError(
            f"WEIR_E2E=1 needs {', '.join(missing)} on PATH (see docs/install.md, 'End-to-end tests')"
        )
