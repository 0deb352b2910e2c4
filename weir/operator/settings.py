"""Defaults of the runner workloads the operator renders, from flags or environment."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from weir import __version__

DEFAULT_IMAGE = f"ghcr.io/weir-dev/weir-runner:{__version__}"
DEFAULT_RESOURCES: dict[str, Any] = {
    "requests": {"cpu": "50m", "memory": "128Mi"},
    "limits": {"memory": "512Mi"},
}


@dataclass
class RenderSettings:
    runner_image: str = DEFAULT_IMAGE
    image_pull_policy: str = "IfNotPresent"
    resources: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_RESOURCES))
    port: int = 8080
    run_as_user: int = 10001
    grace_period_seconds: int = 30
    store_secret: tuple[str, str] | None = None
    """A Secret name and key holding the execution-store URL (e.g. PostgreSQL); else SQLite."""
    console_url: str = ""
    """The console runners ship their executions to (WEIR_CONSOLE_URL in their pods)."""

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> RenderSettings:
        env = os.environ if environ is None else environ
        settings = cls()
        settings.runner_image = env.get("WEIR_RUNNER_IMAGE", settings.runner_image)
        settings.image_pull_policy = env.get("WEIR_RUNNER_PULL_POLICY", settings.image_pull_policy)
        if "WEIR_RUNNER_RESOURCES" in env:
            settings.resources = json.loads(env["WEIR_RUNNER_RESOURCES"])
        if "WEIR_RUNNER_GRACE_PERIOD" in env:
            settings.grace_period_seconds = int(env["WEIR_RUNNER_GRACE_PERIOD"])
        if env.get("WEIR_RUNNER_STORE_SECRET"):
            name, _, key = env["WEIR_RUNNER_STORE_SECRET"].partition("/")
            settings.store_secret = (name, key or "url")
        settings.console_url = env.get("WEIR_CONSOLE_URL", "").rstrip("/")
        return settings
