"""`wait`: a person decides. The execution parks durably; a resume token and URL let someone
resume it with a payload (checked against an optional JSON Schema) that becomes the node's
output. Past its ``timeout`` it takes ``onTimeout`` instead (docs/nodes/wait.md).

The resume URL is the runner's own base URL — ``$WEIR_PUBLIC_URL``, else ``$WEIR_CONSOLE_URL``
— plus ``/waits/<token>``; never anything a request said (its Host header). Without either, the
node run shows the path alone and `weir resume` is the way back.
"""

from __future__ import annotations

import os
import time
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, WithJsonSchema, field_validator

from weir.lang.durations import Duration
from weir.lang.expressions import Text
from weir.lang.times import iso_exact
from weir.lang.types import IDENTIFIER, Strict
from weir.nodes.context import NodeContext
from weir.nodes.kind import NodeKind
from weir.nodes.suspend import Suspend, WaitRequest
from weir.nodes.wait_payload import schema_problem
from weir.nodes.wait_token import new_token

PUBLIC_URL_VARIABLES = ("WEIR_PUBLIC_URL", "WEIR_CONSOLE_URL")
"""Where the resume URL's base comes from, first set wins."""


def _names(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


NodeNames = Annotated[
    list[Annotated[str, Field(pattern=IDENTIFIER)]],
    BeforeValidator(_names),
    WithJsonSchema(
        {
            "description": "A node name, or a list of names that then run concurrently.",
            "x-kubernetes-preserve-unknown-fields": True,
        }
    ),
]
AnyObject = Annotated[
    dict[str, Any],
    WithJsonSchema({"type": "object", "x-kubernetes-preserve-unknown-fields": True}),
]


class WaitConfig(Strict):
    message: Text | None = Field(
        None,
        description='What the person is asked, shown with the resume form ("Approve order '
        '${input.id}?").',
    )
    timeout: Duration | None = Field(
        None, description='How long the person has ("72h"); none: no deadline.'
    )
    schema_: AnyObject | None = Field(
        None,
        alias="schema",
        description="A JSON Schema (2020-12) the resume payload must satisfy.",
    )
    onTimeout: NodeNames = Field(
        default_factory=list,
        description="Taken instead of the node's transitions when the timeout passes; none: "
        "the node fails with a timeout error (onError).",
    )
    timeoutOutput: AnyObject = Field(
        default_factory=dict,
        description="The node's output on timeout, beside timedOut: true.",
    )

    @field_validator("schema_")
    @classmethod
    def _a_json_schema(cls, schema: dict[str, Any] | None) -> dict[str, Any] | None:
        problem = None if schema is None else schema_problem(schema)
        if problem is not None:
            raise ValueError(f"not a JSON Schema: {problem}")
        return schema

    def transitions(self) -> list[tuple[str, str]]:
        """The graph edges this config adds (weir.flow.graph): its onTimeout targets."""
        return [(f"wait.onTimeout.{i}", target) for i, target in enumerate(self.onTimeout)]


def public_base() -> str | None:
    for variable in PUBLIC_URL_VARIABLES:
        value = os.environ.get(variable, "").strip()
        if value:
            return value.rstrip("/")
    return None


async def run(config: WaitConfig, ctx: NodeContext) -> dict[str, Any]:
    message = ctx.eval(config.message)
    due = time.time() + config.timeout if config.timeout else None
    wait = WaitRequest("human", due_at=due, schema=config.schema_)
    token = new_token(wait.id)
    wait.token_hash = token.hash
    path = f"/waits/{token}"
    base = public_base()
    wait.public = {
        "resumeUrl": f"{base}{path}" if base else None,
        "resumePath": path,
        "resumeCommand": f"weir resume {token} --input '{{...}}'",
        "expiresAt": iso_exact(due),
        "message": message,
    }
    wait.details = {"message": message}
    if config.onTimeout:
        wait.details["onTimeout"] = list(config.onTimeout)
        wait.details["timeoutOutput"] = dict(config.timeoutOutput)
    raise Suspend(wait)


KIND = NodeKind(
    "wait",
    WaitConfig,
    run,
    "Wait for a person: the execution parks durably until someone resumes it with a payload "
    "(token, URL, console), or its timeout takes onTimeout.",
)
