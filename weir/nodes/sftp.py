"""`sftp`: list, get, put, delete, rename/move and mkdir on an SFTP server (paramiko).

Downloads are spooled to disk and passed on as file references; uploads stream from a file
reference, bytes or text. Host keys are checked against ``knownHosts`` unless the development
switch ``insecureSkipHostKeyCheck`` is on. The file system is ``weir.nodes.fs.sftp``, its
connections ``weir.nodes.fs.ssh``; the operations are those every file system shares.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import Field, model_validator

from weir.lang.durations import Duration
from weir.lang.expressions import Text, Value
from weir.lang.types import SecretOrText, SecretRef
from weir.nodes.connections import peek
from weir.nodes.context import NodeContext
from weir.nodes.fs.ops import DeleteOp, GetOp, ListOp, MkdirOp, PutOp, RenameOp
from weir.nodes.fs.sftp import SftpFileSystem
from weir.nodes.fs.ssh import SshPool, SshSettings
from weir.nodes.kind import NodeKind
from weir.nodes.operations import OneOperation


class SftpGet(GetOp):
    path: Text = Field(description="Remote file to download; the output is a file reference.")


class SftpPut(PutOp):
    path: Text = Field(description="Remote file to write (replaced if it exists).")
    content: Value = Field(
        description="What to write: a file reference from another node, bytes or text."
    )
    mkdirs: bool = Field(False, description="Create missing parent directories first.")


class SftpConfig(OneOperation[SftpFileSystem]):
    KIND = "sftp"

    host: Text = Field(description="SFTP server host name or address.")
    port: int = Field(22, ge=1, le=65535, description="SSH port.")
    username: SecretOrText = Field(description="User to log in as.")
    password: SecretRef | None = Field(None, description="Password, from a secret.")
    privateKey: SecretRef | None = Field(
        None, description="Private key (PEM or OpenSSH text: RSA, ECDSA, Ed25519), from a secret."
    )
    passphrase: SecretRef | None = Field(None, description="Passphrase of an encrypted key.")
    knownHosts: SecretOrText | None = Field(
        None,
        description="Trusted host keys in OpenSSH known_hosts format (e.g. from ssh-keyscan); "
        "use [host]:port names for ports other than 22.",
    )
    insecureSkipHostKeyCheck: bool = Field(
        False,
        description="Accept any host key. For development only: anyone on the network path "
        "can impersonate the server. Logs a warning on every run.",
    )
    timeout: Duration = Field(
        "30s",
        validate_default=True,
        description="Limit for connecting and for each wait on the server.",
    )
    list: ListOp | None = Field(None, description="List a directory.")
    get: SftpGet | None = Field(None, description="Download a file (spooled to disk).")
    put: SftpPut | None = Field(None, description="Upload a file reference, bytes or text.")
    delete: DeleteOp | None = Field(None, description="Remove a file or an empty directory.")
    rename: RenameOp | None = Field(None, description="Rename or move a path.")
    move: RenameOp | None = Field(None, description="The same as rename.")
    mkdir: MkdirOp | None = Field(None, description="Create a directory.")

    @model_validator(mode="after")
    def _consistent(self) -> SftpConfig:
        if self.password is None and self.privateKey is None:
            raise ValueError("sftp needs password or privateKey")
        if self.passphrase is not None and self.privateKey is None:
            raise ValueError("passphrase is only used with privateKey")
        if self.knownHosts is None and not self.insecureSkipHostKeyCheck:
            raise ValueError(
                "sftp needs knownHosts to check the server's identity "
                "(or insecureSkipHostKeyCheck: true, for development only)"
            )
        return self


def _settings(config: SftpConfig, ctx: NodeContext) -> SshSettings:
    host = ctx.text(config.host)
    return SshSettings(
        host=host,
        port=config.port,
        username=ctx.reveal(config.username),
        password=ctx.reveal(config.password) if config.password else None,
        private_key=ctx.reveal(config.privateKey) if config.privateKey else None,
        passphrase=ctx.reveal(config.passphrase) if config.passphrase else None,
        known_hosts=ctx.reveal(config.knownHosts) if config.knownHosts is not None else None,
        insecure=config.insecureSkipHostKeyCheck,
        timeout=config.timeout,
    )


async def _close(pool: SshPool) -> None:
    await asyncio.to_thread(pool.close)


def file_system(config: SftpConfig, ctx: NodeContext) -> SftpFileSystem:
    """The server's file system, on the runner's shared connections (also a files trigger's)."""
    settings = _settings(config, ctx)
    if settings.insecure:
        ctx.log.warning(
            "sftp %s: host key NOT checked (insecureSkipHostKeyCheck); use knownHosts outside "
            "development",
            settings.address,
        )
    pool: SshPool = ctx.resources.get(settings.pool_key(), lambda: SshPool(settings), _close)
    return SftpFileSystem(pool)


async def run(config: SftpConfig, ctx: NodeContext) -> Any:
    return await config.operation.run(file_system(config, ctx), ctx)


def connection(config: SftpConfig, ctx: NodeContext) -> str | None:
    """The server: its circuit breaker's key."""
    return f"sftp://{peek(config.host, ctx)}:{config.port}"


KIND = NodeKind(
    "sftp",
    SftpConfig,
    run,
    "List, get, put, delete, rename/move files and create directories over SFTP.",
    connection,
)
