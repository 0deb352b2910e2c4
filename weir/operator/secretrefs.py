"""Check that the Secrets behind a flow's FlowSecretRefs exist and hold the keys it reads."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from weir.flow.load import CompiledFlow
from weir.flow.secretref import FlowSecretRefSpec
from weir.kube.client import Kube, NotFound, resource_path, valid_name
from weir.operator.render import checksum, secrets_checksum


@dataclass
class SecretsCheck:
    ok: bool
    message: str = ""
    refs: dict[str, FlowSecretRefSpec] = field(default_factory=dict)
    checksum: str = ""
    waiting: bool = False
    """Only things that do not exist yet are missing (a Secret, a key, a FlowSecretRef): they
    may well come (Sealed Secrets, External Secrets, GitOps ordering), so the flow waits."""


def keys_used(flow: CompiledFlow) -> dict[str, set[str]]:
    """Logical secret name → the keys the flow's nodes and trigger read."""
    used: dict[str, set[str]] = {}
    for ref in flow.secret_refs():
        used.setdefault(ref.secret, set()).add(ref.key)
    return used


async def check_secrets(kube: Kube, namespace: str, flow: CompiledFlow) -> SecretsCheck:
    used = keys_used(flow)
    refs: dict[str, FlowSecretRefSpec] = {}
    data: dict[str, dict[str, str]] = {}
    problems: list[str] = []
    absent = 0
    for binding in flow.flow.spec.secrets:
        ref_name = binding.flowSecretRef or binding.name
        if not valid_name(ref_name):
            problems.append(
                f"secret {binding.name!r} names no FlowSecretRef: {ref_name!r} is not a "
                "Kubernetes name, so set spec.secrets[].flowSecretRef"
            )
            continue
        try:
            body = await kube.get(
                resource_path("weir.dev/v1alpha1", "flowsecretrefs", namespace, ref_name)
            )
        except NotFound:
            problems.append(f"FlowSecretRef {ref_name!r} not found")
            absent += 1
            continue
        try:
            ref = FlowSecretRefSpec.model_validate(body.get("spec") or {})
        except ValidationError as exc:
            problems.append(f"FlowSecretRef {ref_name!r} is invalid: {exc.errors()[0]['msg']}")
            continue
        refs[ref_name] = ref
        listed = {k.key for k in ref.keys}
        for key in sorted(used.get(binding.name, set()) - listed):
            problems.append(
                f"FlowSecretRef {ref_name!r} does not list key {key!r} that the flow reads"
            )
        try:
            secret = await kube.get(resource_path("v1", "secrets", namespace, ref.secretName))
        except NotFound:
            problems.append(
                f"Secret {ref.secretName!r} (from FlowSecretRef {ref_name!r}) not found"
            )
            absent += 1
            continue
        present = secret.get("data") or {}
        strings = secret.get("stringData") or {}
        for item in ref.keys:
            if item.source not in present and item.source not in strings:
                problems.append(
                    f"Secret {ref.secretName!r} lacks key {item.source!r} (FlowSecretRef {ref_name!r})"
                )
                absent += 1
        data[ref.secretName] = {
            k.source: str(present.get(k.source) or _b64(strings.get(k.source))) for k in ref.keys
        }
    if problems:
        return SecretsCheck(False, "; ".join(problems), refs, waiting=absent == len(problems))
    return SecretsCheck(True, "all secrets resolved", refs, secrets_checksum(data))


def _b64(value: Any) -> str:
    return base64.b64encode(str(value or "").encode()).decode()


@dataclass
class SecretRefCheck:
    ready: bool
    message: str
    digest: str = ""
    """Of the listed keys' values: changes when the Secret is rotated, created or completed."""


async def check_secret_ref(kube: Kube, namespace: str, spec: dict[str, Any]) -> SecretRefCheck:
    """A FlowSecretRef's own status: Ready, or which keys are missing."""
    try:
        ref = FlowSecretRefSpec.model_validate(spec)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"]))
        return SecretRefCheck(False, f"invalid spec at {where}: {first['msg']}")
    try:
        secret = await kube.get(resource_path("v1", "secrets", namespace, ref.secretName))
    except NotFound:
        return SecretRefCheck(False, f"Secret {ref.secretName!r} not found", "absent")
    data = {**(secret.get("data") or {}), **(secret.get("stringData") or {})}
    digest = checksum(json.dumps({k.source: data.get(k.source) for k in ref.keys}, sort_keys=True))
    missing = [k.source for k in ref.keys if k.source not in data]
    if missing:
        return SecretRefCheck(
            False, f"Secret {ref.secretName!r} lacks keys: {', '.join(missing)}", digest
        )
    return SecretRefCheck(True, f"Secret {ref.secretName!r} has all {len(ref.keys)} keys", digest)
