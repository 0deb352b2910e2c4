"""The `smb` file system: a Windows share or Samba over SMB2/3 (smbprotocol's smbclient).

Paths are relative to the share and written with ``/``. Transfers stream in 1 MiB chunks; one
authenticated session per server, user and port (smbclient's connection cache, kept in the
runner's resources) is shared by every execution of the runner.
"""

from __future__ import annotations

import errno
import posixpath
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from weir.lang.errors import AuthFailed, ConfigError, ConnectionFailed, NodeError, NotFound
from weir.nodes.fs.base import (
    FileInfo,
    FileSystem,
    Payload,
    Reading,
    Written,
    chunks_of,
    common_error,
    copy_stream,
    is_missing,
    modified_at,
)

FILE_ATTRIBUTE_DIRECTORY = 0x10


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


def translate(exc: BaseException, share: Share, path: str) -> NodeError:
    """The node error for whatever smbprotocol or the server raised; never shows the password."""
    from smbprotocol.exceptions import LogonFailure, SMBAuthenticationError, SMBException

    where = share.url(path)
    text = str(exc).replace(share.password, "***") if share.password else str(exc)
    if isinstance(exc, LogonFailure | SMBAuthenticationError) or "STATUS_LOGON_FAILURE" in text:
        return AuthFailed(f"{share.host} refused the credentials of {share.user!r}")
    common = common_error(exc, where, "smb")
    if common is not None:
        return common
    if "Failed to connect" in text or isinstance(exc, ConnectionError | TimeoutError):
        return ConnectionFailed(f"cannot reach {share.host}:{share.port}: {text}")
    if "credits" in text and "requires" in text:
        # Concurrent requests on one connection outran the credits the server granted;
        # they come back as answers arrive, so a later attempt goes through.
        return NodeError(f"{where}: {text}", type="smb", retryable=True)
    if isinstance(exc, SMBException | OSError):
        return NodeError(f"{where}: {text}", type="smb")
    return NodeError(f"{where}: {type(exc).__name__}: {text}", type="smb")


class SmbFileSystem(FileSystem):
    error_type = "smb"

    def __init__(self, share: Share) -> None:
        super().__init__()
        self.share = share

    @property
    def labels(self) -> dict[str, str]:
        return {"host": self.share.host, "share": self.share.share}

    def path(self, text: str, *, allow_root: bool = False) -> str:
        return clean(text)

    def where(self, path: str) -> str:
        return self.share.url(path)

    def translate(self, exc: BaseException, path: str) -> NodeError:
        if is_missing(exc) and not self._share_exists():
            return NotFound(f"share {self.share.share!r} does not exist on {self.share.host}")
        return translate(exc, self.share, path)

    def _share_exists(self) -> bool:
        import smbclient

        try:
            smbclient.stat(self.share.unc(""), **self.share.options)
        except OSError:
            return False
        return True

    def list(self, directory: str) -> Iterator[FileInfo]:
        import smbclient

        for entry in smbclient.scandir(self.share.unc(directory), **self.share.options):
            info = entry.smb_info  # from the directory listing itself: no request per entry
            yield FileInfo(
                entry.name,
                clean(posixpath.join(directory, entry.name)),
                bool(info.file_attributes & FILE_ATTRIBUTE_DIRECTORY),
                info.end_of_file,
                modified_at(info.last_write_time.timestamp()),
            )

    def stat(self, path: str, *, follow: bool = True) -> FileInfo:
        import smbclient

        look = smbclient.stat if follow else smbclient.lstat
        info = look(self.share.unc(path), **self.share.options)
        is_dir = (info.st_mode & 0o170000) == 0o040000
        name = posixpath.basename(path)
        return FileInfo(name, path, is_dir, info.st_size, modified_at(info.st_mtime))

    @contextmanager
    def open_read(self, path: str) -> Iterator[Reading]:
        import smbclient

        with smbclient.open_file(self.share.unc(path), mode="rb", **self.share.options) as remote:
            yield Reading(chunks_of(remote), self.share.url(path))

    def write(self, path: str, payload: Payload) -> Written:
        import smbclient

        unc = self.share.unc(path)
        with (
            payload.open() as stream,
            smbclient.open_file(unc, mode="wb", **self.share.options) as remote,
        ):
            size = copy_stream(stream, remote, self.stop)
        return Written(path, size)

    def delete(self, path: str, *, directory: bool = False) -> None:
        import smbclient

        remove = smbclient.rmdir if directory else smbclient.remove
        remove(self.share.unc(path), **self.share.options)

    def rename(self, path: str, to: str, *, overwrite: bool) -> None:
        import smbclient

        if overwrite:
            smbclient.replace(self.share.unc(path), self.share.unc(to), **self.share.options)
            return
        if self.exists(to):  # SMB's rename would refuse too, with a less telling status
            raise FileExistsError(errno.EEXIST, "the target exists", to)
        smbclient.rename(self.share.unc(path), self.share.unc(to), **self.share.options)

    def mkdir(self, path: str) -> None:
        import smbclient

        smbclient.mkdir(self.share.unc(path), **self.share.options)
