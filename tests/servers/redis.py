"""redis-server (Debian's package, .ci/services/packages) on loopback: a free port, no
persistence (``--save ''``, no append-only file), its files in a temporary directory."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers.ports import free_port, stop_process, wait_for_server

BINARY = shutil.which("redis-server") or "/usr/bin/redis-server"


def redis_available() -> bool:
    return Path(BINARY).is_file()


@dataclass
class RedisServer:
    port: int
    directory: Path
    process: subprocess.Popen[bytes]

    host = "127.0.0.1"

    def url(self, db: int = 0) -> str:
        return f"redis://{self.host}:{self.port}/{db}"

    def stop(self) -> None:
        stop_process(self.process)

    def log(self) -> str:
        return (self.directory / "redis.out").read_text(errors="replace")


def start_redis(directory: Path, *options: str) -> RedisServer:
    """A server of its own; ``options`` as redis-server takes them (``--requirepass``, …)."""
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    process = subprocess.Popen(
        [
            *(BINARY, "--port", str(port), "--bind", "127.0.0.1"),
            *("--save", "", "--appendonly", "no", "--dir", str(directory), "--loglevel", "warning"),
            *options,
        ],
        stdout=(directory / "redis.out").open("wb"),
        stderr=subprocess.STDOUT,
    )
    wait_for_server(process, port, directory / "redis.out", "redis-server")
    return RedisServer(port, directory, process)


def redis_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """The body of a session fixture: skipped without redis-server, failed under CI=true."""
    from tests.conftest import require_service

    require_service(redis_available(), "redis-server (Debian package redis-server)")
    server = start_redis(Path(tmp_path_factory.mktemp("redis")))
    yield server
    server.stop()
