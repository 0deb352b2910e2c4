"""CustomResourceDefinitions generated from the pydantic models (`weir crds`).

The models are the one schema source: this module turns their JSON Schema into structural
`openAPIV3Schema` (every field typed, no `$ref`, no `anyOf` of types), keeps the descriptions
for `kubectl explain`, and adds CEL rules for what a schema alone cannot say.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from weir.flow.flowrun import FlowRunSpec, flowrun_status_schema
from weir.flow.model import MAX_NAME, NAME_PATTERN, Flow
from weir.flow.secretref import FlowSecretRef
from weir.flow.triggers import TRIGGER_KINDS
from weir.nodes import NODE_KINDS

GROUP = "weir.dev"
VERSION = "v1alpha1"
_DROPPED = ("title", "additionalProperties", "discriminator")


def structural(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON Schema with references inlined and made structural."""
    schema = model.model_json_schema(mode="validation")
    definitions = schema.pop("$defs", {})
    return _convert(schema, definitions)


def _convert(node: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_convert(item, definitions) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = definitions[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**copy.deepcopy(target), **{k: v for k, v in node.items() if k != "$ref"}}
        return _convert(merged, definitions)
    if "anyOf" in node:
        return _convert(_collapse_union(node), definitions)
    result: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED and not (key == "additionalProperties" and isinstance(value, dict)):
            continue
        if key == "properties":
            result[key] = {name: _convert(sub, definitions) for name, sub in value.items()}
        elif key == "default":
            continue  # defaults stay in the models: the apiserver keeps objects as written
        elif key == "const":
            result["enum"] = [value]
        else:
            result[key] = _convert(value, definitions)
    if "properties" in result and "type" not in result:
        result["type"] = "object"
    if "default" in node and "description" in node:
        result["description"] = _with_default(node["description"], node["default"])
    return result


def _collapse_union(node: dict[str, Any]) -> dict[str, Any]:
    """`X | None` becomes X; any other union of types keeps its values but drops validation."""
    options = [o for o in node["anyOf"] if o.get("type") != "null"]
    rest = {k: v for k, v in node.items() if k != "anyOf"}
    if len(options) == 1:
        return {**options[0], **rest}
    return {**rest, "x-kubernetes-preserve-unknown-fields": True}


def _with_default(description: str, default: Any) -> str:
    if default is None or isinstance(default, dict | list):
        return description
    shown = str(default).lower() if isinstance(default, bool) else default
    return f"{description} Default: {shown}."


def _exactly_one(keys: tuple[str, ...] | list[str], what: str) -> dict[str, str]:
    listed = ", ".join(f"has(self.{k})" for k in keys)
    return {
        "rule": f"[{listed}].filter(x, x).size() == 1",
        "message": f"{what} takes exactly one of {', '.join(keys)}",
    }


def flow_schema() -> dict[str, Any]:
    schema = structural(Flow)
    spec = schema["properties"]["spec"]
    spec["properties"]["trigger"]["x-kubernetes-validations"] = [
        _exactly_one(TRIGGER_KINDS, "a trigger")
    ]
    node = spec["properties"]["nodes"]["items"]
    node["x-kubernetes-validations"] = [_exactly_one(sorted(NODE_KINDS), "a node")]
    schema["properties"].pop("metadata")
    schema["properties"]["status"] = {
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
    }
    # The apiserver itself refuses a name whose derived names would not fit.
    schema["x-kubernetes-validations"] = [
        {
            "rule": f"self.metadata.name.size() <= {MAX_NAME}",
            "message": f"metadata.name: at most {MAX_NAME} characters, so that the runner's "
            "object names (weir-<name>, its Jobs) stay within 63",
        },
        {
            "rule": f"self.metadata.name.matches('{NAME_PATTERN}')",
            "message": "metadata.name: a DNS label (lower-case letters, digits and '-'), "
            "since it names the runner's Service",
        },
    ]
    return schema


def secretref_schema() -> dict[str, Any]:
    schema = structural(FlowSecretRef)
    schema["properties"].pop("metadata")
    schema["properties"]["status"] = {
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
    }
    return schema


def flowrun_schema() -> dict[str, Any]:
    spec = structural(FlowRunSpec)
    for name in ("input", "outputs"):
        spec["properties"][name]["x-kubernetes-preserve-unknown-fields"] = True
    spec["properties"]["outputs"]["type"] = "object"
    spec["x-kubernetes-validations"] = [
        {"rule": "self == oldSelf", "message": "spec is immutable: create another FlowRun"},
        {"rule": "!has(self.from) || has(self.replayOf)", "message": "spec.from needs replayOf"},
    ]
    return {
        "type": "object",
        "required": ["spec"],
        "properties": {"spec": spec, "status": flowrun_status_schema()},
    }


def _condition(kind: str) -> str:
    return f'.status.conditions[?(@.type=="{kind}")]'


def flow_crd() -> dict[str, Any]:
    return _crd(
        kind="Flow",
        plural="flows",
        short_names=["fl"],
        schema=flow_schema(),
        columns=[
            {"name": "Trigger", "type": "string", "jsonPath": ".status.trigger"},
            {"name": "Ready", "type": "string", "jsonPath": _condition("Ready") + ".status"},
            {"name": "Last Run", "type": "date", "jsonPath": ".status.lastExecution.startTime"},
            {"name": "Last Status", "type": "string", "jsonPath": ".status.lastExecution.phase"},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
            {
                "name": "Target",
                "type": "string",
                "priority": 1,
                "jsonPath": ".status.target",
                "description": "The endpoint (REST, MCP) or the next schedule (cron).",
            },
            {
                "name": "Message",
                "type": "string",
                "priority": 1,
                "jsonPath": _condition("Ready") + ".message",
            },
        ],
    )


def secretref_crd() -> dict[str, Any]:
    return _crd(
        kind="FlowSecretRef",
        plural="flowsecretrefs",
        short_names=["fsr"],
        schema=secretref_schema(),
        columns=[
            {"name": "Secret", "type": "string", "jsonPath": ".spec.secretName"},
            {"name": "Ready", "type": "string", "jsonPath": _condition("Ready") + ".status"},
            {
                "name": "Message",
                "type": "string",
                "priority": 1,
                "jsonPath": _condition("Ready") + ".message",
            },
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
    )


def flowrun_crd() -> dict[str, Any]:
    return _crd(
        kind="FlowRun",
        plural="flowruns",
        short_names=["fr"],
        schema=flowrun_schema(),
        columns=[
            {"name": "Flow", "type": "string", "jsonPath": ".spec.flowRef"},
            {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
            {"name": "Execution", "type": "string", "jsonPath": ".status.executionId"},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
            {
                "name": "Error",
                "type": "string",
                "priority": 1,
                "jsonPath": ".status.error.message",
            },
        ],
    )


def _crd(
    *,
    kind: str,
    plural: str,
    short_names: list[str],
    schema: dict[str, Any],
    columns: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}", "labels": {"app.kubernetes.io/part-of": "weir"}},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": short_names,
                "categories": ["weir"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


def peering_crd(*, clusterwide: bool) -> dict[str, Any]:
    """kopf's peering resource, where operator replicas announce themselves and only the one
    of highest priority works (leader election)."""
    kind = "ClusterKopfPeering" if clusterwide else "KopfPeering"
    plural = kind.lower() + "s"
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.kopf.dev", "labels": {"app.kubernetes.io/part-of": "weir"}},
        "spec": {
            "group": "kopf.dev",
            "scope": "Cluster" if clusterwide else "Namespaced",
            "names": {"kind": kind, "plural": plural, "singular": kind.lower()},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "status": {
                                    "type": "object",
                                    "x-kubernetes-preserve-unknown-fields": True,
                                }
                            },
                        }
                    },
                }
            ],
        },
    }


def render_crds() -> dict[str, str]:
    """File name → YAML text, as committed in crds/."""
    crds = [
        flow_crd(),
        secretref_crd(),
        flowrun_crd(),
        peering_crd(clusterwide=True),
        peering_crd(clusterwide=False),
    ]
    return {
        f"{crd['metadata']['name']}.yaml": "# Generated by `weir crds`; do not edit.\n"
        + yaml.safe_dump(crd, sort_keys=False, width=100)
        for crd in crds
    }


def write_crds(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_crds().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
