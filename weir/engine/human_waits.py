"""Resolving a person's wait (the ``wait`` node): by its resume token or, for a caller the
console authorized, by its id. One place for the checks every way in shares — `weir resume`,
the console API and a POST to the runner's URL:

* an unknown token, a malformed one, or one whose secret does not match: ``UnknownWait`` (404;
  the same answer for each, so that a guess learns nothing);
* a wait no longer pending: ``AlreadyResolved`` (409) when someone resolved it, carrying the
  stored result; ``WaitGone`` (410) when it timed out or was cancelled;
* a wait past its deadline: ``WaitGone`` (410), even before a runner took its onTimeout;
* a payload that fails the wait's JSON Schema: ``PayloadRejected`` (422) listing every problem.

A resolve is a compare-and-set in the store (weir.store.waits): of two racing resumes one wins,
the other gets 409. The runner that claims the wait then resumes the execution with the
payload as the node's output.
"""

from __future__ import annotations

import time
from typing import Any

from weir.lang.times import iso_exact
from weir.nodes.wait_payload import payload_problems
from weir.nodes.wait_token import BadToken, matches, parse_token
from weir.store.waits import AlreadyResolved, SqlWaits, UnknownWait, Wait

NOT_PENDING_WITH_RESULT = ("resolved", "claimed", "resumed")


class WaitGone(Exception):
    """The wait timed out or was cancelled: its link no longer resumes anything (410)."""

    def __init__(self, wait: Wait, reason: str) -> None:
        super().__init__(f"wait {wait.id} {reason}")
        self.wait = wait


class PayloadRejected(ValueError):
    """The payload fails the wait's schema (422); ``problems`` says each way."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("the payload does not fit the wait's schema: " + "; ".join(problems))
        self.problems = problems


async def wait_of_token(waits: SqlWaits, text: str) -> Wait:
    """The person's wait ``text`` (a resume token) opens; UnknownWait if none does."""
    try:
        token = parse_token(text)
    except BadToken as exc:
        raise UnknownWait(str(exc)) from None
    wait = await waits.get(token.wait_id)
    if wait is None or wait.kind != "human" or not matches(token, wait.token_hash):
        raise UnknownWait("no wait for this resume token")
    return wait


def check_open(wait: Wait, now: float | None = None) -> None:
    """Raise why ``wait`` can no longer be resolved, if it cannot."""
    if wait.state != "pending":
        if wait.state in NOT_PENDING_WITH_RESULT and wait.result is not None:
            raise AlreadyResolved(wait)
        raise WaitGone(wait, "timed out" if wait.state != "cancelled" else "was cancelled")
    if wait.due_at is not None and (now or time.time()) >= wait.due_at:
        raise WaitGone(wait, f"timed out at {iso_exact(wait.due_at)}")


async def resolve_wait(waits: SqlWaits, wait: Wait, payload: Any, by: str) -> Wait:
    """Resolve ``wait`` with ``payload`` as its node's output, recording ``by`` whom."""
    if wait.kind != "human":
        raise UnknownWait(f"wait {wait.id} is a {wait.kind} wait: no person resumes it")
    check_open(wait)
    problems = payload_problems(wait.schema, payload)
    if problems:
        raise PayloadRejected(problems)
    try:
        return await waits.resolve({"output": payload}, by, wait_id=wait.id)
    except AlreadyResolved as exc:
        check_open(exc.wait)  # a runner took its timeout meanwhile: 410, not 409
        raise


async def resolve_token(waits: SqlWaits, token: str, payload: Any, by: str) -> Wait:
    return await resolve_wait(waits, await wait_of_token(waits, token), payload, by)


def describe(wait: Wait) -> dict[str, Any]:
    """What a person is shown of a wait: never its token or hash."""
    described: dict[str, Any] = {
        "waitId": wait.id,
        "executionId": wait.execution_id,
        "node": wait.node,
        "state": wait.state,
        "message": wait.details.get("message"),
        "schema": wait.schema,
        "expiresAt": iso_exact(wait.due_at),
        "onTimeout": list(wait.details.get("onTimeout") or []),
        "resolvedBy": wait.resolved_by,
    }
    if wait.result is not None:
        described["result"] = wait.result
    return described
