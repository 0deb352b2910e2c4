"""`sftp`: list, get, put, delete, rename/move and mkdir on an SFTP server (paramiko).

Downloads are spooled to disk and passed on as file references; uploads stream from a file
reference, bytes or text. Host keys are checked against ``knownHosts`` unless the development
switch ``insecureSkipHostKeyCheck`` is on.
"""

from __future__ import annotations

import asyncio
import mimetypes
import posixpath
import re
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import Field, model_validator

from weir.lang.durations import Duration
from weir.lang.expressions import Text, Value
from weir.lang.types import SecretOrText, SecretRef, Strict
from weir.nodes import sftp_ops
from weir.nodes.context import NodeContext
from weir.nodes.kind import NodeKind
from weir.nodes.operations import OneOperation
from weir.nodes.path_ops import DeleteOp, ListOp, MkdirOp, RenameOp
from weir.nodes.sftp_client import SshPool, SshSettings, translate
from weir.nodes.spool import file_ref, open_content

T = TypeVar("T")


class SftpGet(Strict):
    path: Text = Field(description="Remote file to download; the output is a file reference.")


class SftpPut(Strict):
    path: Text = Field(description="Remote file to write (replaced if it exists).")
    content: Value = Field(
        description="What to write: a file reference from another node, bytes or text."
    )
    mkdirs: bool = Field(False, description="Create missing parent directories first.")


OPERATIONS = ("list", "get", "put", "delete", "rename", "move", "mkdir")


class SftpConfig(OneOperation):
    KIND = "sftp"
    OPERATIONS = OPERATIONS

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


async def run(config: SftpConfig, ctx: NodeContext) -> Any:
    settings = _settings(config, ctx)
    if settings.insecure:
        ctx.log.warning(
            "sftp %s: host key NOT checked (insecureSkipHostKeyCheck); use knownHosts outside "
            "development",
            settings.address,
        )
    pool: SshPool = ctx.resources.get(settings.pool_key(), lambda: SshPool(settings), _close)
    operation = config.operation
    op: Any = getattr(config, operation)
    path = ctx.text(op.path)
    stop = threading.Event()

    def on_channel(action: Callable[[Any], T]) -> Callable[[], T]:
        def work() -> T:
            with pool.sftp() as sftp:
                return action(sftp)

        return work

    async def call(action: Callable[[Any], T]) -> T:
        try:
            return await asyncio.to_thread(on_channel(action))
        except asyncio.CancelledError:
            stop.set()
            raise
        except Exception as exc:
            raise translate(exc, settings, path) from None

    if operation == "list":
        regex = re.compile(op.regex) if op.regex else None
        return await call(
            lambda sftp: sftp_ops.list_entries(
                sftp,
                path,
                pattern=op.pattern,
                regex=regex,
                recursive=op.recursive,
                files_only=op.filesOnly,
            )
        )
    if operation == "get":
        name = posixpath.basename(path.rstrip("/")) or "download"
        target = ctx.spool.new_path(name)
        absolute, size = await call(lambda sftp: sftp_ops.download(sftp, path, target, stop))
        port = "" if settings.port == 22 else f":{settings.port}"
        return file_ref(
            target,
            name,
            size=size,
            content_type=mimetypes.guess_type(name)[0],
            source=f"sftp://{settings.host}{port}{absolute}",
        )
    if operation == "put":
        content = ctx.eval(op.content)

        def put(sftp: Any) -> tuple[str, int]:
            with open_content(content) as stream:
                return sftp_ops.upload(sftp, stream, path, mkdirs=op.mkdirs, stop=stop)

        absolute, size = await call(put)
        return {"host": settings.host, "path": absolute, "size": size}
    if operation == "delete":
        deleted = await call(lambda sftp: sftp_ops.delete(sftp, path, missing_ok=op.missingOk))
        return {"host": settings.host, "path": path, "deleted": deleted}
    if operation in ("rename", "move"):
        to = ctx.text(op.to)
        await call(
            lambda sftp: sftp_ops.rename(sftp, path, to, overwrite=op.overwrite, mkdirs=op.mkdirs)
        )
        return {"host": settings.host, "path": path, "to": to}
    created = await call(lambda sftp: sftp_ops.make_dir(sftp, path, parents=op.parents))
    return {"host": settings.host, "path": path, "created": created}


KIND = NodeKind(
    "sftp",
    SftpConfig,
    run,
    "List, get, put, delete, rename/move files and create directories over SFTP.",
)
