"""The FlowRun resource: one run of a Flow, asked for by a user, GitOps or the console.

The spec is a pydantic model (the CRD's schema comes from it, and the runner reads a FlowRun
through it); the status is written by the operator (the Job, Pending) and by the runner
(Running, then how it ended), in the shape ``flowrun_status_schema`` describes.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationError

from weir.flow.model import MAX_NAME, NAME_PATTERN
from weir.lang.types import IDENTIFIER, Strict

GROUP, VERSION, PLURAL = "weir.dev", "v1alpha1", "flowruns"
API_VERSION = f"{GROUP}/{VERSION}"
DEFAULT_TTL = 3600
MAX_RESULT = 16 * 1024
"""Bytes of JSON a FlowRun's status.result may hold; a larger result is left out and
``resultTruncated`` set (the whole result stays in the execution record)."""
PHASES = ("Pending", "Running", "Waiting", "Succeeded", "Failed", "Cancelled")
FINISHED = ("Succeeded", "Failed", "Cancelled")
PHASE_OF_STATUS = {
    "succeeded": "Succeeded",
    "failed": "Failed",
    "cancelled": "Cancelled",
    "waiting": "Waiting",
}
"""An execution's status → the FlowRun phase its Job leaves it in (interrupted counts as
failed; a parked execution leaves it ``Waiting``: docs/flowruns.md says who resumes it)."""


class FlowRunSpec(Strict):
    flowRef: str = Field(
        pattern=NAME_PATTERN,
        max_length=MAX_NAME,
        description="The Flow to run, in the FlowRun's namespace.",
    )
    input: Any = Field(
        None,
        description="The trigger input ($.input), any JSON; with replayOf, it replaces the "
        "recorded input.",
    )
    replayOf: str | None = Field(
        None,
        min_length=1,
        max_length=32,
        description="Replay this recorded execution (its input unless `input` is given).",
    )
    from_: str | None = Field(
        None,
        alias="from",
        pattern=IDENTIFIER,
        max_length=63,
        description="With replayOf: start at this node, reusing the recorded outputs of the "
        "nodes before it.",
    )
    outputs: dict[str, Any] = Field(
        default_factory=dict,
        description="With from: recorded outputs to replace, node name → output.",
    )
    parent: dict[str, Any] | None = Field(
        None,
        description="Set by the console when a subflow node starts this run: the parent "
        "execution (executionId, node, flow, depth), the child's $.trigger.parent.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    ttlSecondsAfterFinished: int = Field(
        DEFAULT_TTL,
        ge=0,
        description="Seconds a finished FlowRun is kept before the operator deletes it "
        "(its Job and Pod with it).",
    )


class FlowRunInvalid(ValueError):
    """A FlowRun whose spec cannot be run; the message names the field."""


def parse_spec(spec: Any, name: str = "") -> FlowRunSpec:
    """The spec, or FlowRunInvalid naming what is wrong (the CRD's schema is checked by the
    apiserver; this also serves FlowRuns read from anywhere else)."""
    try:
        parsed = FlowRunSpec.model_validate(spec or {})
    except ValidationError as exc:
        problems = "; ".join(
            f"spec.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise FlowRunInvalid(f"FlowRun {name}: {problems}".replace("FlowRun : ", "")) from None
    if parsed.from_ is not None and parsed.replayOf is None:
        raise FlowRunInvalid(f"FlowRun {name}: spec.from needs spec.replayOf")
    return parsed


def flowrun_status_schema() -> dict[str, Any]:
    def text(**more: str) -> dict[str, Any]:
        return {"type": "string", **more}

    return {
        "type": "object",
        "properties": {
            "phase": {"type": "string", "enum": list(PHASES)},
            "observedGeneration": {"type": "integer"},
            "executionId": text(description="The execution this run recorded."),
            "job": text(description="The Job that runs it."),
            "startedAt": text(format="date-time"),
            "finishedAt": text(format="date-time"),
            "error": {
                "type": "object",
                "properties": {"type": text(), "message": text(), "node": text()},
            },
            "result": {
                "x-kubernetes-preserve-unknown-fields": True,
                "description": f"The execution's result, when its JSON fits in {MAX_RESULT} bytes.",
            },
            "resultTruncated": {
                "type": "boolean",
                "description": "The result was too large for the status; the execution "
                "record holds it.",
            },
            "conditions": {
                "type": "array",
                "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            },
        },
    }
