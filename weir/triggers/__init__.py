"""The trigger registry: every trigger kind a flow can name, in alphabetical order.

A trigger kind is one module (or package) here with a ``KIND`` entry: its spec model and the
runtime `weir serve` runs for it (:mod:`weir.triggers.kind`); adding a kind is adding its
module, its spec in :mod:`weir.flow.triggers`, and one line below. The HTTP kinds share their
request guards (:mod:`weir.triggers.guards`).
"""

from __future__ import annotations

from weir.triggers import cron, manual, mcp, rabbitmq, rest
from weir.triggers.kind import TriggerKind
from weir.triggers.poll import files, mail

TRIGGER_KINDS: dict[str, TriggerKind] = {
    kind.name: kind
    for kind in (
        cron.KIND,
        files.KIND,
        mail.KIND,
        manual.KIND,
        mcp.KIND,
        rabbitmq.KIND,
        rest.KIND,
    )
}
