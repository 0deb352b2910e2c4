"""Free loopback ports and waiting for a server to listen."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float = 15.0, alive: object = None) -> None:
    """Return once 127.0.0.1:port accepts connections; ``alive()`` False means give up early."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if callable(alive) and not alive():
                raise RuntimeError(f"the server meant for port {port} exited") from None
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if the server has not exited within ``timeout`` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_for_server(process: subprocess.Popen[bytes], port: int, log: Path, what: str) -> None:
    """Return once the server listens; else kill it and raise with its log."""
    try:
        wait_for_port(port, timeout=20, alive=lambda: process.poll() is None)
    except Exception:
        process.kill()
        process.wait()
        raise RuntimeError(f"{what} did not start:\n{log.read_text(errors='replace')}") from None
