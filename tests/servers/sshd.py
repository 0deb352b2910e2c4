"""OpenSSH's sshd on loopback, with host and user keys generated in a private directory.

The server runs as the current user with key authentication for that user. When the tests run
as root (CI containers), a throwaway local user with a random password is also created, so that
password authentication is exercised against the real /etc/shadow check; it is deleted on stop.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.servers.ports import free_port, wait_for_port

SSHD = Path("/usr/sbin/sshd")


def sshd_available() -> bool:
    return SSHD.exists() and shutil.which("ssh-keygen") is not None


def can_create_users() -> bool:
    return os.geteuid() == 0 and shutil.which("useradd") is not None


@dataclass
class PasswordUser:
    name: str
    password: str
    home: Path


@dataclass
class SshServer:
    port: int
    directory: Path
    user: str
    """The current user, authorised by ``private_key`` and ``encrypted_key``."""
    private_key: str
    encrypted_key: str
    passphrase: str
    known_hosts: str
    """One OpenSSH known_hosts line for ``[127.0.0.1]:port`` with the server's real key."""
    wrong_known_hosts: str
    """The same host name with another key: what a changed (or spoofed) server looks like."""
    host_fingerprint: str
    process: subprocess.Popen[bytes]
    password_user: PasswordUser | None = None

    host = "127.0.0.1"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.password_user is not None:
            _delete_user(self.password_user)

    def log(self) -> str:
        return (self.directory / "sshd.log").read_text(errors="replace")


def _keygen(path: Path, passphrase: str = "", kind: str = "ed25519") -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", kind, "-N", passphrase, "-C", "weir-test", "-f", str(path)],
        check=True,
        capture_output=True,
    )


def _fingerprint(public_key: Path) -> str:
    out = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(public_key)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.split()[1]


def _known_host(port: int, public_key: Path) -> str:
    kind, blob = public_key.read_text().split()[:2]
    return f"[127.0.0.1]:{port} {kind} {blob}\n"


def _create_password_user() -> PasswordUser:
    name = f"weir{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(12)
    # Outside the test's private (0700) directory: the user must be able to enter its home.
    home = Path(tempfile.mkdtemp(prefix=f"{name}-"))
    user = PasswordUser(name, password, home)
    try:
        subprocess.run(
            ["useradd", "--no-create-home", "--home-dir", str(home), "--shell", "/bin/sh", name],
            check=True,
            capture_output=True,
        )
        subprocess.run(["chpasswd"], input=f"{name}:{password}\n", text=True, check=True)
        shutil.chown(home, user=name, group=name)
    except BaseException:
        _delete_user(user)
        raise
    return user


def _delete_user(user: PasswordUser) -> None:
    # userdel refuses (exit 8) while a session process of the user is still winding down.
    for _ in range(50):
        done = subprocess.run(["userdel", user.name], check=False, capture_output=True)
        if done.returncode != 8:
            break
        time.sleep(0.1)
    shutil.rmtree(user.home, ignore_errors=True)


def _config(directory: Path, port: int) -> Path:
    config = directory / "sshd_config"
    config.write_text(
        f"""\
ListenAddress 127.0.0.1
Port {port}
HostKey {directory}/host_ed25519
PidFile {directory}/sshd.pid
AuthorizedKeysFile {directory}/authorized_keys
PermitRootLogin yes
PubkeyAuthentication yes
PasswordAuthentication yes
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
ChrootDirectory none
Subsystem sftp internal-sftp
MaxStartups 32
LogLevel VERBOSE
"""
    )
    return config


def start_sshd(directory: Path, *, password_user: bool = True) -> SshServer:
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    _keygen(directory / "host_ed25519")
    _keygen(directory / "user_ed25519")
    passphrase = secrets.token_urlsafe(8)
    _keygen(directory / "user_rsa_encrypted", passphrase, kind="rsa")
    (directory / "authorized_keys").write_text(
        (directory / "user_ed25519.pub").read_text()
        + (directory / "user_rsa_encrypted.pub").read_text()
    )
    _keygen(directory / "other_host_ed25519")
    config = _config(directory, port)
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation directory
    subprocess.run([str(SSHD), "-t", "-f", str(config)], check=True, capture_output=True)
    user = password_user and can_create_users()
    created = _create_password_user() if user else None
    log = open(directory / "sshd.log", "wb")  # noqa: SIM115 - the server's stderr for its lifetime
    process = subprocess.Popen(
        [str(SSHD), "-D", "-e", "-f", str(config), "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    server = SshServer(
        port=port,
        directory=directory,
        user=_current_user(),
        private_key=(directory / "user_ed25519").read_text(),
        encrypted_key=(directory / "user_rsa_encrypted").read_text(),
        passphrase=passphrase,
        known_hosts=_known_host(port, directory / "host_ed25519.pub"),
        wrong_known_hosts=_known_host(port, directory / "other_host_ed25519.pub"),
        host_fingerprint=_fingerprint(directory / "host_ed25519.pub"),
        process=process,
        password_user=created,
    )
    try:
        wait_for_port(port, alive=lambda: process.poll() is None)
    except Exception:
        server.stop()
        raise RuntimeError(f"sshd did not start:\n{server.log()}") from None
    return server


def _current_user() -> str:
    import pwd

    return pwd.getpwuid(os.geteuid()).pw_name
