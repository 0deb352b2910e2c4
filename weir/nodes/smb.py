"""`smb`: files on a Windows share or Samba over SMB2/3 (smbprotocol): list, get, put, delete,
rename/move, mkdir — the same operations, fields and outputs as the `sftp` and `file` nodes.

The file system is ``weir.nodes.fs.smb``; here are the connection settings and the secrets.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from weir.lang.durations import Duration
from weir.lang.expressions import Text
from weir.lang.types import SecretOrText, SecretRef
from weir.nodes.connections import peek
from weir.nodes.context import NodeContext
from weir.nodes.fs.ops import DeleteOp, GetOp, ListOp, MkdirOp, PutOp, RenameOp
from weir.nodes.fs.smb import Share, SmbFileSystem
from weir.nodes.kind import NodeKind
from weir.nodes.operations import OneOperation


class SmbConfig(OneOperation[SmbFileSystem]):
    KIND = "smb"

    host: Text = Field(description="Server name or address.")
    port: int = Field(445, ge=1, le=65535)
    share: str = Field(min_length=1, description="Share name, e.g. invoices.")
    domain: SecretOrText | None = Field(None, description="Windows domain of the user, if any.")
    username: SecretOrText = Field(description="User to log in as.")
    password: SecretRef = Field(description="Password, from a secret.")
    encrypt: bool = Field(False, description="Require SMB3 encryption of the session.")
    timeout: Duration = Field(30.0, description="Connection timeout.")
    list: ListOp | None = None
    get: GetOp | None = None
    put: PutOp | None = None
    delete: DeleteOp | None = None
    rename: RenameOp | None = None
    move: RenameOp | None = Field(None, description="The same as rename.")
    mkdir: MkdirOp | None = None


def _open_share(config: SmbConfig, ctx: NodeContext) -> Share:
    import smbclient

    host = ctx.text(config.host)
    user = ctx.reveal(config.username)
    if config.domain is not None:
        user = f"{ctx.reveal(config.domain)}\\{user}"
    password = ctx.reveal(config.password)
    cache: dict[str, Any] = ctx.resources.get(
        ("smb", host, config.port, user),
        dict,
        lambda connections: smbclient.reset_connection_cache(
            fail_on_error=False, connection_cache=connections
        ),
    )
    return Share(
        host, config.port, config.share, user, password, config.encrypt, config.timeout, cache
    )


def file_system(config: SmbConfig, ctx: NodeContext) -> SmbFileSystem:
    """The share's file system (also a files trigger's)."""
    return SmbFileSystem(_open_share(config, ctx))


async def run(config: SmbConfig, ctx: NodeContext) -> Any:
    return await config.operation.run(file_system(config, ctx), ctx)


def connection(config: SmbConfig, ctx: NodeContext) -> str | None:
    """The server: its circuit breaker's key."""
    return f"smb://{peek(config.host, ctx)}:{config.port}"


KIND = NodeKind(
    "smb", SmbConfig, run, "Files on an SMB2/3 share: list, get, put, delete, move.", connection
)
