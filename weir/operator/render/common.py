"""What rendering starts from and what every rendered object shares: the input, the owner,
names, labels, metadata, the flow document and checksums."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import yaml

from weir.flow.load import CompiledFlow
from weir.flow.secretref import FlowSecretRefSpec
from weir.operator.settings import RenderSettings

FLOW_DIR = "/etc/weir/flow"
FLOW_FILE = f"{FLOW_DIR}/flow.yaml"
SECRETS_DIR = "/etc/weir/secrets"
DATA_DIR = "/var/lib/weir"
FILES_DIR = "/var/lib/weir-files"


@dataclass(frozen=True)
class Owner:
    """The Flow object the rendered objects belong to (garbage-collected with it)."""

    name: str
    uid: str
    api_version: str = "weir.dev/v1alpha1"
    kind: str = "Flow"

    def reference(self) -> dict[str, Any]:
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }


@dataclass
class RenderInput:
    flow: CompiledFlow
    namespace: str
    settings: RenderSettings
    secret_refs: dict[str, FlowSecretRefSpec] = field(default_factory=dict)
    """FlowSecretRef name → spec, for every FlowSecretRef the flow binds."""
    secrets_checksum: str = ""
    owner: Owner | None = None


def object_name(flow_name: str) -> str:
    return f"weir-{flow_name}"


def labels(flow_name: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "weir-runner",
        "app.kubernetes.io/instance": flow_name,
        "app.kubernetes.io/component": "runner",
        "app.kubernetes.io/part-of": "weir",
        "app.kubernetes.io/managed-by": "weir-operator",
        "weir.dev/flow": flow_name,
    }


def selector(flow_name: str) -> dict[str, str]:
    return {"weir.dev/flow": flow_name, "app.kubernetes.io/component": "runner"}


def flow_document(flow: CompiledFlow, namespace: str) -> str:
    """The Flow as the runner reads it: the user's spec, without status or server fields."""
    resource = flow.flow.model_dump(
        mode="json", by_alias=True, exclude_none=True, exclude={"status"}
    )
    resource["metadata"] = {"name": flow.name, "namespace": namespace}
    return yaml.safe_dump(resource, sort_keys=False)


def checksum(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def metadata(
    data: RenderInput, kind: str, api_version: str, name: str | None = None
) -> dict[str, Any]:
    """An object's head: apiVersion, kind, and its name (``weir-<flow>`` unless given),
    namespace, labels and owner."""
    meta: dict[str, Any] = {
        "name": name or object_name(data.flow.name),
        "namespace": data.namespace,
        "labels": labels(data.flow.name),
    }
    if data.owner is not None:
        meta["ownerReferences"] = [data.owner.reference()]
    return {"apiVersion": api_version, "kind": kind, "metadata": meta}


def secrets_checksum(secret_data: dict[str, dict[str, str]]) -> str:
    """A checksum over the Secret data a flow reads (Secret name → key → base64 value)."""
    return checksum(json.dumps(secret_data, sort_keys=True))
