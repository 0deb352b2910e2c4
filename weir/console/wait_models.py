"""The API's models of a person's wait (the ``wait`` node): what is asked, and a resume."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from weir.console.models import ApiModel, DateTime

WaitState = Literal["pending", "resolved", "claimed", "resumed", "timed_out", "cancelled"]


class WaitView(ApiModel):
    """One wait of an execution: never its token."""

    wait_id: str
    execution_id: str
    node: str
    state: WaitState
    message: str | None = None
    json_schema: dict[str, Any] | None = Field(
        None, alias="schema", description="the JSON Schema a resume payload must satisfy"
    )
    expires_at: str | None = DateTime
    on_timeout: list[str] = Field(default_factory=list)
    resolved_by: str | None = None
    result: Any = Field(None, description='once resolved: {"output": payload}')


class WaitList(ApiModel):
    items: list[WaitView]


class ResumeRequest(ApiModel):
    input: Any = Field(None, description="the payload: the wait node's output")


class ResumeAccepted(ApiModel):
    wait_id: str
    execution_id: str
    status: Literal["resolved"] = "resolved"
    resolved_by: str
