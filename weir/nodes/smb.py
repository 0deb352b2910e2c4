"""`smb`: files on a Windows share or Samba over SMB2/3 (smbprotocol): list, get, put, delete,
rename/move, mkdir — the same fields and outputs as the `sftp` and `file` nodes.

Paths are relative to the share and written with ``/``. Transfers stream in 1 MiB chunks
between the share and the execution's spool, in a worker thread; one authenticated session per
server, user and port is shared by every execution of the runner.
"""

from __future__ import annotations

import asyncio
import errno
import mimetypes
import posixpath
import re
import threading
from dataclasses import dataclass
from typing import IO, Any

from pydantic import Field

from weir.lang.durations import Duration
from weir.lang.errors import AuthFailed, ConfigError, ConnectionFailed, NodeError, NotFound
from weir.lang.expressions import Text, Value
from weir.lang.types import SecretOrText, SecretRef, Strict
from weir.nodes import sftp_ops
from weir.nodes.context import NodeContext
from weir.nodes.kind import NodeKind
from weir.nodes.operations import OneOperation
from weir.nodes.path_ops import DeleteOp, ListOp, MkdirOp, RenameOp
from weir.nodes.spool import file_ref, open_content

CHUNK = 1024 * 1024
FILE_ATTRIBUTE_DIRECTORY = 0x10
OPERATIONS = ("list", "get", "put", "delete", "rename", "move", "mkdir")


class SmbGet(Strict):
    path: Text = Field(description="File to download; the output is a file reference.")


class SmbPut(Strict):
    path: Text = Field(description="File to write (replaced if it exists).")
    content: Value = Field(description="A file reference from another node, bytes or text.")
    mkdirs: bool = Field(False, description="Create missing parent directories first.")


class SmbConfig(OneOperation):
    KIND = "smb"
    OPERATIONS = OPERATIONS

    host: Text = Field(description="Server name or address.")
    port: int = Field(445, ge=1, le=65535)
    share: str = Field(min_length=1, description="Share name, e.g. invoices.")
    domain: SecretOrText | None = Field(None, description="Windows domain of the user, if any.")
    username: SecretOrText = Field(description="User to log in as.")
    password: SecretRef = Field(description="Password, from a secret.")
    encrypt: bool = Field(False, description="Require SMB3 encryption of the session.")
    timeout: Duration = Field(30.0, description="Connection timeout.")
    list: ListOp | None = None
    get: SmbGet | None = None
    put: SmbPut | None = None
    delete: DeleteOp | None = None
    rename: RenameOp | None = None
    move: RenameOp | None = Field(None, description="The same as rename.")
    mkdir: MkdirOp | None = None


@dataclass(frozen=True)
class Share:
    host: str
    port: int
    share: str
    user: str
    password: str
    encrypt: bool
    timeout: float
    cache: dict[str, Any]

    @property
    def options(self) -> dict[str, Any]:
        return {
            "port": self.port,
            "username": self.user,
            "password": self.password,
            "connection_cache": self.cache,
            "encrypt": self.encrypt or None,
            "connection_timeout": self.timeout,
        }

    def unc(self, path: str) -> str:
        parts = [p for p in path.replace("\\", "/").split("/") if p and p != "."]
        if ".." in parts:
            raise ConfigError(f"smb path {path!r} may not contain '..'")
        return "\\\\" + "\\".join([self.host, self.share, *parts])

    def url(self, path: str) -> str:
        port = "" if self.port == 445 else f":{self.port}"
        return f"smb://{self.host}{port}/{self.share}/{clean(path)}"


def clean(path: str) -> str:
    return posixpath.normpath("/" + path.replace("\\", "/")).lstrip("/")


@dataclass(frozen=True)
class _Attrs:
    filename: str
    st_mode: int
    st_size: int
    st_mtime: float


class _ShareLister:
    """What ``sftp_ops.list_entries`` needs (paramiko's listdir_attr), over a share."""

    def __init__(self, share: Share) -> None:
        self.share = share

    def listdir_attr(self, directory: str) -> list[_Attrs]:
        import smbclient

        found = []
        for entry in smbclient.scandir(self.share.unc(directory), **self.share.options):
            info = entry.smb_info  # from the directory listing itself: no request per entry
            is_dir = info.file_attributes & FILE_ATTRIBUTE_DIRECTORY
            mode = 0o040755 if is_dir else 0o100644
            found.append(
                _Attrs(entry.name, mode, info.end_of_file, info.last_write_time.timestamp())
            )
        return found


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


def _download(share: Share, path: str, target: Any, stop: threading.Event) -> int:
    import smbclient

    size = 0
    with (
        smbclient.open_file(share.unc(path), mode="rb", **share.options) as remote,
        open(target, "wb") as local,
    ):
        while chunk := remote.read(CHUNK):
            if stop.is_set():
                raise sftp_ops.Cancelled()
            local.write(chunk)
            size += len(chunk)
    return size


def _upload(share: Share, stream: IO[bytes], path: str, mkdirs: bool, stop: threading.Event) -> int:
    import smbclient

    if mkdirs and posixpath.dirname(clean(path)):
        smbclient.makedirs(
            share.unc(posixpath.dirname(clean(path))), exist_ok=True, **share.options
        )
    size = 0
    with smbclient.open_file(share.unc(path), mode="wb", **share.options) as remote:
        while chunk := stream.read(CHUNK):
            if stop.is_set():
                raise sftp_ops.Cancelled()
            remote.write(chunk)
            size += len(chunk)
    return size


def _exists(share: Share, path: str) -> bool:
    import smbclient

    try:
        smbclient.stat(share.unc(path), **share.options)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return False
        raise
    return True


def _share_exists(share: Share) -> bool:
    import smbclient

    try:
        smbclient.stat(share.unc(""), **share.options)
    except OSError:
        return False
    return True


def _delete(share: Share, path: str, missing_ok: bool) -> bool:
    import smbclient

    try:
        info = smbclient.lstat(share.unc(path), **share.options)
    except OSError as exc:
        if exc.errno == errno.ENOENT and missing_ok:
            return False
        raise
    if (info.st_mode & 0o170000) == 0o040000:
        smbclient.rmdir(share.unc(path), **share.options)
    else:
        smbclient.remove(share.unc(path), **share.options)
    return True


def _rename(share: Share, path: str, to: str, overwrite: bool, mkdirs: bool) -> None:
    import smbclient

    if not _exists(share, path):
        raise FileNotFoundError(errno.ENOENT, "no such file", path)
    if mkdirs and posixpath.dirname(clean(to)):
        smbclient.makedirs(share.unc(posixpath.dirname(clean(to))), exist_ok=True, **share.options)
    if overwrite:
        smbclient.replace(share.unc(path), share.unc(to), **share.options)
        return
    if _exists(share, to):
        raise NodeError(
            f"{to} already exists on {share.url('')}; set overwrite: true to replace it",
            type="exists",
        )
    smbclient.rename(share.unc(path), share.unc(to), **share.options)


def _mkdir(share: Share, path: str, parents: bool) -> bool:
    import smbclient

    if _exists(share, path):
        if parents:
            return False
        raise NodeError(f"{path} already exists on {share.url('')}", type="exists")
    if parents:
        smbclient.makedirs(share.unc(path), exist_ok=True, **share.options)
    else:
        smbclient.mkdir(share.unc(path), **share.options)
    return True


def translate(exc: BaseException, share: Share, path: str) -> NodeError:
    from smbprotocol.exceptions import LogonFailure, SMBAuthenticationError, SMBException

    where = share.url(path)
    text = str(exc).replace(share.password, "***") if share.password else str(exc)
    if isinstance(exc, NodeError):
        return exc
    if isinstance(exc, LogonFailure | SMBAuthenticationError) or "STATUS_LOGON_FAILURE" in text:
        return AuthFailed(f"{share.host} refused the credentials of {share.user!r}")
    if isinstance(exc, sftp_ops.Cancelled):
        return NodeError(f"transfer of {where} was cancelled", type="cancelled")
    if isinstance(exc, OSError) and exc.errno == errno.ENOENT:
        return NotFound(f"{where}: no such file or directory")
    if isinstance(exc, OSError) and exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.EACCES):
        return NodeError(f"{where}: {exc.strerror or text}", type="smb")
    if "Failed to connect" in text or isinstance(exc, ConnectionError | TimeoutError):
        return ConnectionFailed(f"cannot reach {share.host}:{share.port}: {text}")
    if "credits" in text and "requires" in text:
        # Concurrent requests on one connection outran the credits the server granted;
        # they come back as answers arrive, so a later attempt goes through.
        return NodeError(f"{where}: {text}", type="smb", retryable=True)
    if isinstance(exc, SMBException | OSError):
        return NodeError(f"{where}: {text}", type="smb")
    return NodeError(f"{where}: {type(exc).__name__}: {text}", type="smb")


async def run(config: SmbConfig, ctx: NodeContext) -> Any:
    share = _open_share(config, ctx)
    operation = config.operation
    op: Any = getattr(config, operation)
    path = clean(ctx.text(op.path))
    stop = threading.Event()

    async def call(work: Any) -> Any:
        try:
            return await asyncio.to_thread(work)
        except asyncio.CancelledError:
            stop.set()
            raise
        except Exception as exc:
            missing = isinstance(exc, OSError) and exc.errno == errno.ENOENT
            if missing and not await asyncio.to_thread(_share_exists, share):
                raise NotFound(f"share {share.share!r} does not exist on {share.host}") from None
            raise translate(exc, share, path) from None

    if operation == "list":
        regex = re.compile(op.regex) if op.regex else None
        entries = await call(
            lambda: sftp_ops.list_entries(
                _ShareLister(share),
                path or ".",
                pattern=op.pattern,
                regex=regex,
                recursive=op.recursive,
                files_only=op.filesOnly,
            )
        )
        for entry in entries:
            entry["path"] = clean(entry["path"])
        return entries
    if operation == "get":
        name = posixpath.basename(path) or "download"
        target = ctx.spool.new_path(name)
        size = await call(lambda: _download(share, path, target, stop))
        return file_ref(
            target,
            name,
            size=size,
            content_type=mimetypes.guess_type(name)[0],
            source=share.url(path),
        )
    if operation == "put":
        content = ctx.eval(op.content)

        def put() -> int:
            with open_content(content) as stream:
                return _upload(share, stream, path, op.mkdirs, stop)

        size = await call(put)
        return {"host": share.host, "share": share.share, "path": path, "size": size}
    if operation == "delete":
        deleted = await call(lambda: _delete(share, path, op.missingOk))
        return {"host": share.host, "share": share.share, "path": path, "deleted": deleted}
    if operation in ("rename", "move"):
        to = clean(ctx.text(op.to))
        await call(lambda: _rename(share, path, to, op.overwrite, op.mkdirs))
        return {"host": share.host, "share": share.share, "path": path, "to": to}
    created = await call(lambda: _mkdir(share, path, op.parents))
    return {"host": share.host, "share": share.share, "path": path, "created": created}


KIND = NodeKind("smb", SmbConfig, run, "Files on an SMB2/3 share: list, get, put, delete, move.")
