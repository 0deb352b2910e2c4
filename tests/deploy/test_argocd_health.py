"""The Argo CD health check for Flows, run in a real Lua interpreter (lupa) against sample
statuses: Healthy, Progressing, Degraded and Suspended."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lupa import LuaRuntime

SCRIPT_DIR = Path(__file__).parents[2] / "deploy" / "argocd"
SCRIPT = (SCRIPT_DIR / "health.lua").read_text()


def health(obj: dict[str, Any]) -> dict[str, str]:
    lua = LuaRuntime(unpack_returned_tuples=True)

    def to_lua(value: Any) -> Any:
        if isinstance(value, dict):
            return lua.table_from({k: to_lua(v) for k, v in value.items()})
        if isinstance(value, list):
            return lua.table_from([to_lua(v) for v in value])
        return value

    lua.globals().obj = to_lua(obj)
    result = lua.execute(SCRIPT)
    return {"status": result["status"], "message": result["message"]}


def flow(status: dict[str, Any] | None, generation: int = 2) -> dict[str, Any]:
    body: dict[str, Any] = {"metadata": {"name": "orders", "generation": generation}}
    if status is not None:
        body["status"] = status
    return body


def conditions(**states: tuple[str, str]) -> list[dict[str, str]]:
    return [
        {"type": kind, "status": status, "message": message}
        for kind, (status, message) in states.items()
    ]


@pytest.mark.parametrize(
    ("status", "expected", "message"),
    [
        (
            {
                "observedGeneration": 2,
                "phase": "Ready",
                "conditions": conditions(
                    Ready=("True", "1/1 runner replicas ready"), Stalled=("False", "")
                ),
            },
            "Healthy",
            "1/1 runner replicas ready",
        ),
        (
            {
                "observedGeneration": 2,
                "phase": "Progressing",
                "conditions": conditions(
                    Ready=("False", "waiting for a runner replica to be ready"),
                    Stalled=("False", ""),
                ),
            },
            "Progressing",
            "waiting for a runner replica to be ready",
        ),
        (
            {
                "observedGeneration": 1,
                "phase": "Ready",
                "conditions": conditions(Ready=("True", "ok")),
            },
            "Progressing",
            "Waiting for the operator to observe generation 2",
        ),
        (
            {
                "observedGeneration": 2,
                "phase": "Failed",
                "conditions": conditions(
                    Ready=("False", "x"),
                    Stalled=(
                        "True",
                        "the flow is invalid: node 'a', field next: unknown target node 'b'",
                    ),
                ),
            },
            "Degraded",
            "the flow is invalid: node 'a', field next: unknown target node 'b'",
        ),
        (
            {
                "observedGeneration": 2,
                "phase": "Suspended",
                "conditions": conditions(Ready=("True", "suspended"), Stalled=("False", "")),
            },
            "Suspended",
            "suspended",
        ),
        (None, "Progressing", "Waiting for the Weir operator to reconcile the flow"),
    ],
)
def test_the_health_check_maps_status_to_argo_health(
    status: dict[str, Any] | None, expected: str, message: str
) -> None:
    assert health(flow(status)) == {"status": expected, "message": message}


def test_the_argocd_cm_patch_carries_exactly_the_tested_script() -> None:
    import yaml

    patch = yaml.safe_load((SCRIPT_DIR / "argocd-cm-health.yaml").read_text())
    assert patch["data"]["resource.customizations.health.weir.dev_Flow"] == SCRIPT


def test_the_gitops_examples_are_well_formed() -> None:
    import yaml

    root = Path(__file__).parents[2] / "deploy"
    (application,) = yaml.safe_load_all((root / "argocd" / "application.yaml").read_text())
    assert application["kind"] == "Application" and application["spec"]["syncPolicy"]["automated"]
    kinds = [
        d["kind"] for d in yaml.safe_load_all((root / "flux" / "kustomization.yaml").read_text())
    ]
    assert kinds == ["Kustomization", "GitRepository"]
