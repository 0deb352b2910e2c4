"""Start `weir serve` as a real process (with the test extension kinds loaded) and talk to it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).parents[2]
BOOT = "import sys, tests.runner.kinds; from weir.cli import main; sys.exit(main())"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Served:
    def __init__(self, flow: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.stopping = False
        # Beside the test's files, never beside an example in the repository.
        self.log = Path(tempfile.mkdtemp(prefix="weir-serve-")) / "serve.log"
        self._log_file = self.log.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                BOOT,
                "serve",
                str(flow),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--watch-interval",
                "0.2",
                *args,
            ],
            cwd=ROOT,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )

    def wait_ready(self, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"weir serve exited {self.process.returncode}:\n{self.output()}"
                )
            try:
                answer = httpx.get(self.url + "/readyz", timeout=1)
                if answer.status_code == 200:
                    ready: dict[str, Any] = answer.json()
                    return ready
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"weir serve did not become ready:\n{self.output()}")

    def output(self) -> str:
        if not self._log_file.closed:
            self._log_file.flush()
        return self.log.read_text(errors="replace")

    def sigterm(self) -> None:
        self.stopping = True
        self.process.send_signal(signal.SIGTERM)

    def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM once (as the kubelet does) and the exit code."""
        if self.process.poll() is None and not self.stopping:
            self.sigterm()
        try:
            return self.process.wait(timeout)
        finally:
            self._log_file.close()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._log_file.close()

    def __enter__(self) -> Served:
        self.wait_ready()
        return self

    def __exit__(self, *_: object) -> None:
        self.kill()
