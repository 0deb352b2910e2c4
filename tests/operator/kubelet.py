"""Playing kubelet: run a rendered pod template's container as a local process.

Volumes become directories under a temporary root (a ConfigMap volume with the kubelet's
``..data`` symlink layout, Secret volumes with their items, emptyDirs), every mount path in the
command and the environment is mapped onto them, ``fieldRef`` and ``secretKeyRef`` values are
resolved against the emulated API server, and the container's own command runs — `weir serve` or
`weir run` — with the API server reachable through a kubeconfig instead of a service account.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.operator.cluster import Cluster


class Pod:
    def __init__(self, process: subprocess.Popen[bytes], log: Path, root: Path) -> None:
        self.process = process
        self.log = log
        self.root = root

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
        return self.process.wait(60)


async def start_pod(
    cluster: Cluster,
    template: dict[str, Any],
    root: Path,
    *,
    name: str,
    kubeconfig: Path,
    port: int | None = None,
    env: dict[str, str] | None = None,
    namespace: str = "default",
) -> Pod:
    spec = template["spec"]
    (container,) = spec["containers"]
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    mounts: dict[str, Path] = {}
    for mount in container["volumeMounts"]:
        local = root / mount["mountPath"].strip("/")
        local.mkdir(parents=True, exist_ok=True)
        await _fill(cluster, volumes[mount["name"]], local, namespace)
        mounts[mount["mountPath"]] = local

    # One pass, longest mount first: a mapped path is never mapped again (/tmp inside it).
    pattern = re.compile("|".join(re.escape(m) for m in sorted(mounts, key=len, reverse=True)))

    def mapped(text: str) -> str:
        return pattern.sub(lambda match: str(mounts[match.group(0)]), text)

    environment = {
        "PATH": os.environ["PATH"],
        "HOME": str(root),
        "KUBECONFIG": str(kubeconfig),
        **{e["name"]: mapped(await _value(cluster, e, name, namespace)) for e in container["env"]},
        **(env or {}),
    }
    command = [mapped(arg) for arg in container["command"]]
    assert command[0] == "weir", command
    if port is not None and "--port" in command:
        command[command.index("--port") + 1] = str(port)
    log = root / "container.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "weir.cli", *command[1:]],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=environment,
            cwd=root,
        )
    return Pod(process, log, root)


async def _fill(cluster: Cluster, volume: dict[str, Any], local: Path, namespace: str) -> None:
    if "configMap" in volume:
        config_map = await cluster.get("ConfigMap", volume["configMap"]["name"], namespace)
        data_dir = local / "..2026_11_25_00_00_00.000000001"
        data_dir.mkdir()
        for key, text in config_map["data"].items():
            (data_dir / key).write_text(text)
            (local / key).symlink_to(f"..data/{key}")
        (local / "..data").symlink_to(data_dir.name)
    elif "secret" in volume:
        source = volume["secret"]
        secret = await cluster.get("Secret", source["secretName"], namespace)
        data = {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}
        items = source.get("items") or [{"key": k, "path": k} for k in data]
        for item in items:
            (local / item["path"]).write_bytes(data[item["key"]])


async def _value(cluster: Cluster, env: dict[str, Any], pod: str, namespace: str) -> str:
    if "value" in env:
        return str(env["value"])
    source = env["valueFrom"]
    if "fieldRef" in source:
        return {"metadata.namespace": namespace, "metadata.name": pod}[
            source["fieldRef"]["fieldPath"]
        ]
    ref = source["secretKeyRef"]
    secret = await cluster.get("Secret", ref["name"], namespace)
    return base64.b64decode(secret["data"][ref["key"]]).decode()
