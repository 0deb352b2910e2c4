"""Dovecot on loopback with a private configuration, one test user and Maildir mail, all in a
temporary directory.

IMAP (with STARTTLS) and IMAPS listen on free ports with a self-signed certificate for
127.0.0.1; plain-text login is allowed without TLS. Every Dovecot process runs as the current
user (root in CI containers), so no system account is needed.
"""

from __future__ import annotations

import grp
import imaplib
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.servers.ports import free_port, wait_for_port
from tests.servers.smtp import Certificate, self_signed
from weir.nodes.mail_imap_session import mailbox_name

DOVECOT = "dovecot"


def dovecot_available() -> bool:
    return shutil.which(DOVECOT) is not None or Path("/usr/sbin/dovecot").exists()


def _binary() -> str:
    return shutil.which(DOVECOT) or "/usr/sbin/dovecot"


@dataclass
class ImapServer:
    port: int
    tls_port: int
    directory: Path
    run_dir: Path
    config: Path
    username: str
    password: str
    certificate: Certificate
    process: subprocess.Popen[bytes]

    host = "127.0.0.1"

    def connect(self) -> imaplib.IMAP4:
        imap = imaplib.IMAP4(self.host, self.port, timeout=10)
        imap.login(self.username, self.password)
        return imap

    def append(self, message: bytes, folder: str = "INBOX", seen: bool = False) -> None:
        imap = self.connect()
        try:
            typ, data = imap.append(
                mailbox_name(folder), "(\\Seen)" if seen else None, None, message
            )
            assert typ == "OK", data
        finally:
            imap.logout()

    def create(self, folder: str) -> None:
        imap = self.connect()
        try:
            typ, data = imap.create(mailbox_name(folder))
            assert typ == "OK", data
        finally:
            imap.logout()

    def clear(self) -> None:
        """Delete every message of every folder, and the folders but INBOX."""
        imap = self.connect()
        try:
            _, folders = imap.list()
            for line in folders:
                assert isinstance(line, bytes)
                name = line.decode().split(") ", 1)[1].split(" ", 1)[1].strip('"')
                _, exists = imap.select(f'"{name}"')
                if exists[0] != b"0":
                    imap.store("1:*", "+FLAGS.SILENT", "(\\Deleted)")
                    imap.expunge()
                imap.close()
                if name.upper() != "INBOX":
                    imap.delete(f'"{name}"')
        finally:
            imap.logout()

    def uids(self, folder: str = "INBOX", criteria: str = "ALL") -> list[int]:
        imap = self.connect()
        try:
            typ, data = imap.select(mailbox_name(folder), readonly=True)
            assert typ == "OK", data
            typ, data = imap.uid("SEARCH", criteria)
            assert typ == "OK", data
            assert isinstance(data[0], bytes)
            return [int(n) for n in data[0].split()]
        finally:
            imap.logout()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.run_dir, ignore_errors=True)

    def log(self) -> str:
        path = self.directory / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _mail_ids() -> tuple[int, int]:
    """Dovecot refuses to access mail as root: as root, mail belongs to the dovecot account."""
    if os.geteuid() != 0:
        return os.geteuid(), os.getegid()
    account = pwd.getpwnam("dovecot")
    return account.pw_uid, account.pw_gid


def _accounts() -> tuple[str, str, str]:
    """The internal user, its group and the login user Dovecot's helpers run as."""
    if os.geteuid() != 0:
        user = pwd.getpwuid(os.geteuid()).pw_name
        return user, grp.getgrgid(os.getegid()).gr_name, user
    # Login processes refuse to run as root: use the accounts the Debian package creates.
    return "dovecot", grp.getgrgid(pwd.getpwnam("dovecot").pw_gid).gr_name, "dovenull"


def _config(
    directory: Path, run_dir: Path, port: int, tls_port: int, certificate: Certificate
) -> Path:
    user, group, login_user = _accounts()
    uid, gid = _mail_ids()
    config = directory / "dovecot.conf"
    config.write_text(
        f"""\
base_dir = {run_dir}/run
state_dir = {directory}/state
log_path = {directory}/dovecot.log
info_log_path = {directory}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{certificate.cert_file}
ssl_key = <{certificate.key_file}
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {login_user}
first_valid_uid = 0
first_valid_gid = 0
mail_location = maildir:{run_dir}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {directory}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={run_dir}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
  # no growing delay for logins from 127.0.0.1 after the wrong-password tests
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service imap-login {{
  chroot =
}}
service auth {{
  user = {pwd.getpwuid(os.geteuid()).pw_name}
}}
"""
    )
    return config


def start_dovecot(directory: Path) -> ImapServer:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "state").mkdir(exist_ok=True)
    # Unprivileged processes must reach the sockets and the mail: outside the private tmp tree.
    run_dir = Path(tempfile.mkdtemp(prefix="weir-dovecot-"))
    run_dir.chmod(0o755)
    uid, gid = _mail_ids()
    for sub in ("mail", "home"):
        (run_dir / sub).mkdir()
        os.chown(run_dir / sub, uid, gid)
    certificate = self_signed(directory, "imap")
    username = "reader"
    password = secrets.token_urlsafe(12)
    (directory / "users").write_text(f"{username}:{{PLAIN}}{password}\n")
    port, tls_port = free_port(), free_port()
    config = _config(directory, run_dir, port, tls_port, certificate)
    log = open(directory / "dovecot.stderr", "wb")  # noqa: SIM115 - the server's own stderr
    process = subprocess.Popen(
        [_binary(), "-F", "-c", str(config)], stdout=log, stderr=subprocess.STDOUT
    )
    log.close()
    server = ImapServer(
        port, tls_port, directory, run_dir, config, username, password, certificate, process
    )
    try:
        wait_for_port(port, alive=lambda: process.poll() is None)
        wait_for_port(tls_port, alive=lambda: process.poll() is None)
        _wait_for_login(server)
    except Exception:
        server.stop()
        stderr = (directory / "dovecot.stderr").read_text(errors="replace")
        raise RuntimeError(f"dovecot did not start:\n{stderr}\n{server.log()}") from None
    return server


def _wait_for_login(server: ImapServer, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            server.connect().logout()
            return
        except (imaplib.IMAP4.error, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
