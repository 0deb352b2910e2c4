"""Memory and time of a large SFTP -> S3 transfer: a Weir flow (sftp get, spooled to disk, then
s3 put in parts) against a hand-written paramiko -> boto3 streaming copy, both on the same
loopback sshd and moto S3 server, in the same run. Prints one JSON line:

    {"bench": "transfer", "bytes": N, "seconds": weir, "plain_seconds": plain,
     "ratio": weir / plain, "peak_rss_mb": weir peak, "baseline_rss_mb": plain peak,
     "idle_rss_mb": RSS before the transfer}

    python bench/transfer.py [--size-mb 200]

Each side runs in a fresh interpreter (``--phase weir|plain``), so its peak RSS (VmHWM) is
its own; the servers run in their own processes. Acceptance: the Weir peak stays < 150 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SETUP_ENV = "WEIR_BENCH_TRANSFER"
"""The child phases get the servers' addresses and credentials through this variable."""
MIB = 1024 * 1024
PART = 8 * MIB
CONCURRENCY = 4


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} missing from /proc/self/status")


def _flow_text(setup: dict[str, Any]) -> str:
    return f"""
apiVersion: weir.dev/v1alpha1
kind: Flow
metadata: {{name: transfer-bench}}
spec:
  trigger: {{manual: {{}}}}
  secrets: [{{name: ssh}}, {{name: s3}}]
  nodes:
  - name: fetch
    sftp:
      host: 127.0.0.1
      port: {setup["port"]}
      username: {setup["user"]}
      privateKey: {{secret: ssh, key: key}}
      knownHosts: {{secret: ssh, key: hosts}}
      get: {{path: "{setup["path"]}"}}
    next: store
  - name: store
    s3:
      bucket: {setup["bucket"]}
      endpointUrl: {setup["endpoint"]}
      region: us-east-1
      forcePathStyle: true
      accessKeyId: {{secret: s3, key: id}}
      secretAccessKey: {{secret: s3, key: secret}}
      put: {{key: weir.bin, content: $.nodes.fetch, partSize: 8Mi, multipartThreshold: 8Mi}}
"""


async def _weir(setup: dict[str, Any]) -> tuple[float, float, float]:
    from weir.engine.executor import Engine, TriggerEvent
    from weir.flow.load import load_flows_text
    from weir.secrets.resolve import LocalSecretResolver

    flow = load_flows_text(_flow_text(setup))[0]
    engine = Engine(
        secrets=LocalSecretResolver(
            environ={
                "WEIR_SECRET_SSH_KEY": setup["private_key"],
                "WEIR_SECRET_SSH_HOSTS": setup["known_hosts"],
                "WEIR_SECRET_S3_ID": setup["key_id"],
                "WEIR_SECRET_S3_SECRET": setup["secret"],
            }
        )
    )
    idle = _status_mb("VmRSS")
    started = time.perf_counter()
    result = await engine.execute(flow, TriggerEvent())
    seconds = time.perf_counter() - started
    await engine.aclose()
    if result.status != "succeeded":
        raise SystemExit(f"the flow failed: {result.error}")
    return seconds, idle, _status_mb("VmHWM")


def _plain(setup: dict[str, Any]) -> tuple[float, float, float]:
    """What one would write by hand: boto3 reads the SFTP file and uploads it in parts."""
    import io

    import boto3
    import paramiko
    from boto3.s3.transfer import TransferConfig

    s3 = boto3.session.Session().client(
        "s3",
        endpoint_url=setup["endpoint"],
        region_name="us-east-1",
        aws_access_key_id=setup["key_id"],
        aws_secret_access_key=setup["secret"],
    )
    ssh = paramiko.SSHClient()
    ssh.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    key = paramiko.Ed25519Key.from_private_key(io.StringIO(setup["private_key"]))
    idle = _status_mb("VmRSS")
    started = time.perf_counter()
    ssh.connect(
        "127.0.0.1",
        port=setup["port"],
        username=setup["user"],
        pkey=key,
        allow_agent=False,
        look_for_keys=False,
    )
    sftp = ssh.open_sftp()
    with sftp.open(setup["path"], "rb") as remote:
        # Unbounded: paramiko's bounded prefetch can fall back to one read per round trip
        # while buffering the rest of the file (see weir/nodes/fs/sftp.py).
        remote.prefetch(setup["size"])
        config = TransferConfig(
            multipart_threshold=PART, multipart_chunksize=PART, max_concurrency=CONCURRENCY
        )
        s3.upload_fileobj(remote, setup["bucket"], "plain.bin", Config=config)
    seconds = time.perf_counter() - started
    ssh.close()
    return seconds, idle, _status_mb("VmHWM")


def run_phase(phase: str) -> None:
    """Child side: one transfer, then a JSON line with its time and memory figures."""
    setup = json.loads(os.environ[SETUP_ENV])
    # Import the libraries both sides use before measuring the idle RSS.
    import boto3
    import paramiko  # noqa: F401

    import weir.engine.executor  # noqa: F401

    if phase == "weir":
        seconds, idle, peak = asyncio.run(_weir(setup))
    else:
        seconds, idle, peak = _plain(setup)
    key = "weir.bin" if phase == "weir" else "plain.bin"
    s3 = boto3.session.Session().client(
        "s3",
        endpoint_url=setup["endpoint"],
        region_name="us-east-1",
        aws_access_key_id=setup["key_id"],
        aws_secret_access_key=setup["secret"],
    )
    stored = s3.head_object(Bucket=setup["bucket"], Key=key)["ContentLength"]
    if stored != setup["size"]:
        raise SystemExit(f"{phase}: stored {stored} bytes, expected {setup['size']}")
    print(json.dumps({"seconds": seconds, "idle_rss_mb": idle, "peak_rss_mb": peak}))


def measure(phase: str, setup: dict[str, Any]) -> dict[str, float]:
    """Run one phase in a fresh interpreter and return its figures."""
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--phase", phase],
        env={**os.environ, SETUP_ENV: json.dumps(setup)},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the {phase} phase failed:\n{done.stderr[-3000:]}")
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def write_random_file(path: Path, size: int) -> None:
    with open(path, "wb") as out:
        left = size
        while left:
            chunk = min(left, MIB)
            out.write(os.urandom(chunk))
            left -= chunk


def setup_for(sshd: Any, s3: Any, bucket: str, path: Path, size: int) -> dict[str, Any]:
    return {
        "port": sshd.port,
        "user": sshd.user,
        "private_key": sshd.private_key,
        "known_hosts": sshd.known_hosts,
        "endpoint": s3.endpoint,
        "key_id": s3.access_key_id,
        "secret": s3.secret_access_key,
        "bucket": bucket,
        "path": str(path),
        "size": size,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--phase", choices=["weir", "plain"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        run_phase(args.phase)
        return
    sys.path.insert(0, str(ROOT))
    from tests.servers.s3 import start_moto
    from tests.servers.sshd import start_sshd

    size = args.size_mb * MIB
    with tempfile.TemporaryDirectory(prefix="weir-bench-") as directory:
        sshd = start_sshd(Path(directory) / "sshd", password_user=False)
        s3 = start_moto()
        try:
            source = Path(directory) / "source.bin"
            write_random_file(source, size)
            s3.client().create_bucket(Bucket="bench")
            setup = setup_for(sshd, s3, "bench", source, size)
            plain = measure("plain", setup)
            weir = measure("weir", setup)
        finally:
            s3.stop()
            sshd.stop()
    print(
        json.dumps(
            {
                "bench": "transfer",
                "bytes": size,
                "seconds": round(weir["seconds"], 3),
                "plain_seconds": round(plain["seconds"], 3),
                "ratio": round(weir["seconds"] / plain["seconds"], 3),
                "peak_rss_mb": round(weir["peak_rss_mb"], 1),
                "baseline_rss_mb": round(plain["peak_rss_mb"], 1),
                "idle_rss_mb": round(weir["idle_rss_mb"], 1),
            }
        )
    )


if __name__ == "__main__":
    main()
