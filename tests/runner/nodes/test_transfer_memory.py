"""Memory of a large transfer: a flow moving a 128 MiB file from SFTP (sftp get) to S3 (s3 put),
run through the engine in a fresh interpreter (so its peak RSS is its own) against the loopback
sshd and moto servers, stays under 150 MB of peak RSS. A node that held the file in memory
would need the file's size on top of the interpreter's own ~80 MB and fail this.
bench/transfer.py runs the same transfer with 200 MB and reports time too."""

from __future__ import annotations

import importlib.util
import uuid
from pathlib import Path
from types import ModuleType

from tests.servers.s3 import S3Server
from tests.servers.sshd import SshServer

ROOT = Path(__file__).resolve().parents[3]
SIZE = 128 * 1024 * 1024
LIMIT_MB = 150


def bench_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_transfer", ROOT / "bench" / "transfer.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_an_sftp_to_s3_flow_of_128_mib_peaks_under_150_mb_of_rss(
    sshd: SshServer, s3_server: S3Server, tmp_path: Path
) -> None:
    bench = bench_module()
    source = tmp_path / "source.bin"
    bench.write_random_file(source, SIZE)
    bucket = f"weir-{uuid.uuid4().hex[:12]}"
    s3_server.client().create_bucket(Bucket=bucket)
    figures = bench.measure("weir", bench.setup_for(sshd, s3_server, bucket, source, SIZE))
    # The child has checked that S3 holds all SIZE bytes before reporting.
    assert figures["peak_rss_mb"] < LIMIT_MB, figures
    assert figures["peak_rss_mb"] >= figures["idle_rss_mb"] > 0
