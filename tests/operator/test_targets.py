"""What `kubectl get flows` shows in its TARGET column for a flow whose runner is a Deployment:
where it listens, or what it watches."""

from __future__ import annotations

from typing import Any

import pytest

from weir.flow.model import FlowSpec
from weir.operator.reconcile import runner_target

LOG = [{"name": "a", "log": {"message": "x"}}]


@pytest.mark.parametrize(
    ("trigger", "target"),
    [
        ({"rest": {"path": "/orders"}}, "http://weir-a.shop.svc/orders"),
        (
            {"mcp": {"tool": "lookup", "inputSchema": {"type": "object"}}},
            "http://weir-a.shop.svc/mcp",
        ),
        ({"rabbitmq": {"url": "amqp://mq", "queue": "orders"}}, "queue orders"),
        ({"files": {"path": "/in", "pattern": "*.csv"}}, "local /in (*.csv)"),
        (
            {
                "files": {
                    "path": "/drop",
                    "sftp": {
                        "host": "files.example.com",
                        "username": "weir",
                        "password": {"secret": "drop", "key": "password"},
                        "knownHosts": "files.example.com ssh-ed25519 AAAA",
                    },
                }
            },
            "sftp /drop",
        ),
        (
            {
                "mail": {
                    "imap": {
                        "host": "imap.example.com",
                        "username": "u",
                        "password": {"secret": "mailbox", "key": "password"},
                    },
                    "folder": "Invoices",
                }
            },
            "imap folder Invoices",
        ),
    ],
)
def test_the_target_says_where_a_runner_listens_or_what_it_watches(
    trigger: dict[str, Any], target: str
) -> None:
    spec = FlowSpec.model_validate({"trigger": trigger, "nodes": LOG})
    assert runner_target(spec, "weir-a", "shop") == target
