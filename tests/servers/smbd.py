"""Samba's smbd on loopback with a private configuration: one share, one user, every state
directory inside a temporary directory, a free port."""

from __future__ import annotations

import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.servers.ports import free_port, wait_for_port

SMBD = "/usr/sbin/smbd"


def smbd_available() -> bool:
    return Path(SMBD).exists() and shutil.which("smbpasswd") is not None


@dataclass
class SmbServer:
    port: int
    share: str
    path: Path
    """The directory behind the share."""
    user: str
    password: str
    directory: Path
    process: subprocess.Popen[bytes]

    host = "127.0.0.1"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.directory.glob("log.*"))


def start_smbd(directory: Path) -> SmbServer:
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("lock", "state", "cache", "pid", "private", "share", "ncalrpc"):
        (directory / name).mkdir(exist_ok=True)
    port = free_port()
    user = "root"  # smbd runs as root here; the SMB user must be a unix account
    password = secrets.token_urlsafe(12)
    config = directory / "smb.conf"
    config.write_text(
        f"""[global]
  server role = standalone server
  workgroup = WEIRTEST
  netbios name = WEIRTEST
  smb ports = {port}
  interfaces = 127.0.0.1
  bind interfaces only = yes
  disable netbios = yes
  lock directory = {directory}/lock
  state directory = {directory}/state
  cache directory = {directory}/cache
  pid directory = {directory}/pid
  private dir = {directory}/private
  ncalrpc dir = {directory}/ncalrpc
  log file = {directory}/log.%m
  log level = 1
  passdb backend = tdbsam:{directory}/private/passdb.tdb
  server min protocol = SMB2_10
  map to guest = never
  load printers = no
  printing = bsd
  printcap name = /dev/null
  disable spoolss = yes
  usershare max shares = 0

[files]
  path = {directory}/share
  read only = no
  guest ok = no
  valid users = {user}
"""
    )
    added = subprocess.run(
        ["smbpasswd", "-c", str(config), "-a", "-s", user],
        input=f"{password}\n{password}\n".encode(),
        capture_output=True,
        timeout=30,
    )
    if added.returncode != 0:
        raise RuntimeError(f"smbpasswd failed: {added.stderr.decode(errors='replace')}")
    process = subprocess.Popen(
        [SMBD, "--foreground", "--no-process-group", f"--configfile={config}"],
        stdout=(directory / "smbd.out").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # smbd signals its whole process group when it stops
    )
    try:
        wait_for_port(port, timeout=20, alive=lambda: process.poll() is None)
    except Exception:
        process.kill()
        out = (directory / "smbd.out").read_text(errors="replace")
        raise RuntimeError(f"smbd did not start:\n{out}") from None
    return SmbServer(port, "files", directory / "share", user, password, directory, process)
