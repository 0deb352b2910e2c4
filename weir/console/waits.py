"""A person's waits (the ``wait`` node) through the console: see what is asked, resume.

* ``GET/POST /api/v1/waits/{token}[/resume]``: by resume token, under the console's access
  control as well — reading needs what reading the execution needs, resuming what a replay
  needs (``create flowruns`` in the flow's namespace);
* ``GET /api/v1/executions/{id}/waits``, ``POST …/waits/{waitId}/resume``: the Execution page's
  resume form, for a caller allowed to act on the execution (no token needed);
* ``GET/POST /waits/{token}``: the bare resume URL when the console's URL is the runners' public
  base (``WEIR_CONSOLE_URL``): the token is the only credential (weir.triggers.wait_link).

Resolving records who did it (the authenticated user, else ``console``) and pokes the local
waker so that a local run resumes at once; in a cluster, the runner of the flow sharing the
console's store resumes it within its poll.
"""

from __future__ import annotations

from aiohttp import web

from weir.console.access import READ, RUN, USER_KEY, Permission
from weir.console.context import access_of, console_of
from weir.console.executions import readable_execution
from weir.console.parsing import parse_body, respond
from weir.console.problems import Problem, not_found
from weir.console.wait_models import ResumeAccepted, ResumeRequest, WaitList, WaitView
from weir.engine.human_waits import describe, resolve_wait, wait_of_token
from weir.store.waits import UnknownWait, Wait
from weir.triggers.wait_link import get_link, post_link, refusal


def _view(wait: Wait) -> WaitView:
    return WaitView.model_validate(describe(wait))


async def _token_wait(request: web.Request, permission: Permission) -> Wait:
    """The wait the path's token opens, once the caller may ``permission`` its execution."""
    console = console_of(request)
    try:
        wait = await wait_of_token(console.store.waits(), request.match_info["token"])
    except UnknownWait as exc:
        raise not_found(str(exc)) from None
    found = await console.store.get_execution(wait.execution_id, payloads=False)
    if found is None:
        raise not_found(f"no execution {wait.execution_id} for wait {wait.id}")
    record = found[0]
    name = record.flow if permission == READ else None
    await access_of(request).require(request, *permission, namespace=record.namespace, name=name)
    return wait


async def _resolve(request: web.Request, wait: Wait) -> web.Response:
    console = console_of(request)
    body = await parse_body(request, ResumeRequest)
    by = request.get(USER_KEY) or "console"
    try:
        resolved = await resolve_wait(console.store.waits(), wait, body.input, by)
    except Exception as exc:
        refused = refusal(exc)
        if refused is None:
            raise
        raise Problem(*refused) from None
    _poke(request)
    accepted = ResumeAccepted(
        wait_id=resolved.id, execution_id=resolved.execution_id, resolved_by=by
    )
    return respond(accepted)


def _poke(request: web.Request) -> None:
    """A local console resumes the execution now rather than at its next poll."""
    waker = getattr(console_of(request).runs, "waker", None)
    if waker is not None:
        waker.poke()


async def get_wait(request: web.Request) -> web.Response:
    return respond(_view(await _token_wait(request, READ)))


async def resume_wait(request: web.Request) -> web.Response:
    return await _resolve(request, await _token_wait(request, RUN))


async def list_waits(request: web.Request) -> web.Response:
    record, _nodes = await readable_execution(request, request.match_info["id"])
    waits = await console_of(request).store.waits().of_execution(record.id)
    return respond(WaitList(items=[_view(w) for w in waits if w.kind == "human"]))


async def resume_execution_wait(request: web.Request) -> web.Response:
    record, _nodes = await readable_execution(request, request.match_info["id"])
    await access_of(request).require(request, *RUN, namespace=record.namespace)
    wait = await console_of(request).store.waits().get(request.match_info["waitId"])
    if wait is None or wait.execution_id != record.id:
        raise not_found(f"execution {record.id} has no wait {request.match_info['waitId']!r}")
    return await _resolve(request, wait)


async def link_get(request: web.Request) -> web.Response:
    return await get_link(console_of(request).store.waits(), request)


async def link_post(request: web.Request) -> web.Response:
    return await post_link(
        console_of(request).store.waits(), request, resolved=lambda: _poke(request)
    )
