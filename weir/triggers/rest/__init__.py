"""The REST trigger kind: an HTTP endpoint (webhook, REST or SOAP) that runs the flow per request.

``endpoint`` holds the handler and its order of checks, ``payload`` reads a body by content
type, ``answer`` writes the reply, ``soap`` the envelopes, ``route`` the endpoint's resource.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from weir.engine.service import FlowService
from weir.flow.triggers import RestTrigger
from weir.triggers.kind import TriggerKind, TriggerSettings

if TYPE_CHECKING:
    from weir.triggers.rest.endpoint import RestEndpoint


def _endpoint(service: FlowService, settings: TriggerSettings) -> RestEndpoint:
    from weir.triggers.rest.endpoint import RestEndpoint  # aiohttp: the runner extra

    return RestEndpoint(service, settings)


KIND = TriggerKind(
    name="rest",
    spec=RestTrigger,
    runtime=_endpoint,
    summary="an HTTP endpoint (webhook, REST or SOAP) that runs the flow per request",
)
