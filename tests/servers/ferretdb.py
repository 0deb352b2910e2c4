"""FerretDB (tools/ferretdb, built by `make ferretdb`) on loopback: the MongoDB wire protocol
over SQLite files in a temporary directory, on a free port."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.servers.ports import free_port, stop_process, wait_for_server

ROOT = Path(__file__).resolve().parents[2]
BINARY = Path(os.environ.get("WEIR_FERRETDB_BIN", ROOT / "build/ferretdb/bin/ferretdb"))


def ferretdb_available() -> bool:
    return BINARY.is_file()


@dataclass
class FerretServer:
    port: int
    directory: Path
    process: subprocess.Popen[bytes]

    host = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"mongodb://{self.host}:{self.port}/"

    def pause(self) -> None:
        """Stop answering (SIGSTOP) while the port stays open: a server that hangs. Returns
        once every thread has stopped: the signal only asks, and a busy machine may let a
        thread answer one more request first."""
        self.process.send_signal(signal.SIGSTOP)
        tasks = Path(f"/proc/{self.process.pid}/task")
        deadline = time.monotonic() + 10
        while not all(_stopped(task) for task in tasks.iterdir()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"ferretdb (pid {self.process.pid}) did not stop")
            time.sleep(0.01)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        self.resume()
        stop_process(self.process)

    def log(self) -> str:
        return (self.directory / "ferretdb.out").read_text(errors="replace")


def _stopped(task: Path) -> bool:
    """Whether a thread is stopped: the state after the command's closing parenthesis."""
    try:
        stat = (task / "stat").read_text()
    except FileNotFoundError:  # the thread ended
        return True
    return stat[stat.rindex(")") + 2] in "tT"


def start_ferretdb(directory: Path) -> FerretServer:
    data = directory / "data"
    data.mkdir(parents=True, exist_ok=True)
    port = free_port()
    process = subprocess.Popen(
        [
            str(BINARY),
            f"--listen-addr=127.0.0.1:{port}",
            "--handler=sqlite",
            f"--sqlite-url=file:{data}/",
            "--log-level=warn",
        ],
        stdout=(directory / "ferretdb.out").open("wb"),
        stderr=subprocess.STDOUT,
    )
    wait_for_server(process, port, directory / "ferretdb.out", "ferretdb")
    return FerretServer(port, directory, process)
