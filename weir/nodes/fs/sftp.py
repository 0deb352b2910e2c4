"""The `sftp` file system: an SFTP server through paramiko, one channel of the shared SSH
connection (``weir.nodes.fs.ssh``) per call.

Downloads keep a bounded number of read requests in flight, which is fast on long round trips
and never buffers more than a few megabytes; uploads are paramiko's pipelined writes.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from weir.lang.errors import ConfigError, NodeError
from weir.nodes.fs.base import Cancelled, FileInfo, FileSystem, Payload, Reading, Written
from weir.nodes.fs.base import modified_at as _modified
from weir.nodes.fs.ssh import SshPool, translate

REQUEST_SIZE = 32 * 1024
REQUESTS_IN_FLIGHT = 64
"""Read requests in flight during a download: 2 MiB, fast on long round trips without ever
buffering more than that."""


def _is_dir(attrs: Any) -> bool:
    return stat.S_ISDIR(attrs.st_mode or 0)


class SftpFileSystem(FileSystem):
    """Paths are the server's: relative ones start at the user's login directory."""

    error_type = "sftp"

    def __init__(self, pool: SshPool) -> None:
        super().__init__()
        self.pool = pool
        self.settings = pool.settings
        self._channel: Any = None

    @property
    def labels(self) -> dict[str, str]:
        return {"host": self.settings.host}

    def where(self, path: str) -> str:
        return f"{self.settings.address} {path}" if path else self.settings.address

    def translate(self, exc: BaseException, path: str) -> NodeError:
        return translate(exc, self.settings, path)

    @contextmanager
    def session(self) -> Iterator[None]:
        with self.pool.sftp() as channel:
            self._channel = channel
            try:
                yield
            finally:
                self._channel = None

    @property
    def sftp(self) -> Any:
        if self._channel is None:
            raise RuntimeError("an SFTP operation outside FileSystem.call")
        return self._channel

    def list(self, directory: str) -> list[FileInfo]:
        directory = directory.rstrip("/") or "/"
        return [
            FileInfo(
                attrs.filename,
                posixpath.join(directory, attrs.filename),
                _is_dir(attrs),  # listdir_attr is an lstat: links are listed, never followed
                attrs.st_size,
                _modified(attrs.st_mtime),
            )
            for attrs in self.sftp.listdir_attr(directory)
        ]

    def stat(self, path: str, *, follow: bool = True) -> FileInfo:
        attrs = self.sftp.stat(path) if follow else self.sftp.lstat(path)
        name = posixpath.basename(path.rstrip("/"))
        return FileInfo(name, path, _is_dir(attrs), attrs.st_size, _modified(attrs.st_mtime))

    @contextmanager
    def open_read(self, path: str) -> Iterator[Reading]:
        absolute = self.sftp.normalize(path)
        with self.sftp.open(absolute, "rb") as remote:
            attrs = remote.stat()
            if _is_dir(attrs):
                raise ConfigError(f"{absolute} is a directory, not a file")
            port = "" if self.settings.port == 22 else f":{self.settings.port}"
            chunks = _PipelinedReader(self.sftp, remote.handle).chunks(attrs.st_size)
            yield Reading(chunks, f"sftp://{self.settings.host}{port}{absolute}", attrs.st_size)

    def write(self, path: str, payload: Payload) -> Written:
        stop = self.stop

        def progress(done: int, total: int) -> None:
            if stop.is_set():
                raise Cancelled()

        with payload.open() as stream:
            attrs = self.sftp.putfo(stream, path, callback=progress, confirm=True)
        return Written(self.sftp.normalize(path), attrs.st_size)

    def delete(self, path: str, *, directory: bool = False) -> None:
        if not directory:
            self.sftp.remove(path)
            return
        try:
            self.sftp.rmdir(path)
        except OSError as exc:
            if exc.errno is None and self.sftp.listdir(path):
                raise OSError(errno.ENOTEMPTY, os.strerror(errno.ENOTEMPTY), path) from None
            raise

    def rename(self, path: str, to: str, *, overwrite: bool) -> None:
        if overwrite:
            # posix-rename@openssh.com replaces the target atomically; plain SFTP rename refuses.
            self.sftp.posix_rename(path, to)
            return
        try:
            self.sftp.rename(path, to)
        except OSError as exc:
            if exc.errno is None and self.exists(path) and self.exists(to):
                raise FileExistsError(errno.EEXIST, "the target exists", to) from None
            raise

    def mkdir(self, path: str) -> None:
        try:
            self.sftp.mkdir(path)
        except OSError as exc:
            if exc.errno is None and self.exists(path):  # SFTP says only "Failure"
                raise FileExistsError(errno.EEXIST, "exists", path) from None
            raise


class _PipelinedReader:
    """Reads a remote file with a bounded number of read requests in flight.

    paramiko's own ``prefetch`` is not used: when its reader catches up with its request
    thread it falls back to one request per round trip while the requests already sent keep
    filling a buffer nobody reads, which can hold the whole file. Here, requests are sent
    from the reading thread only, ``REQUESTS_IN_FLIGHT`` at most, and each answer is handed
    on as soon as it is the next one in the file. A reader left early (the node cancelled)
    leaves answers in flight: the pool closes a channel that failed, answers and all.
    """

    def __init__(self, sftp: Any, handle: bytes) -> None:
        self.sftp = sftp
        self.handle = handle
        self.answers: dict[int, tuple[int, Any]] = {}

    def _async_response(self, kind: int, message: Any, number: int) -> None:
        """Called by paramiko for each answer to a request sent with this object."""
        self.answers[number] = (kind, message)

    def _send(self, offset: int, length: int) -> int:
        from paramiko.sftp import CMD_READ, int64

        number: int = self.sftp._async_request(self, CMD_READ, self.handle, int64(offset), length)
        return number

    def _data(self, number: int) -> bytes | None:
        """The answer's data; None at end of file."""
        from paramiko.sftp import CMD_DATA, CMD_STATUS

        while number not in self.answers:
            self.sftp._read_response()
        kind, message = self.answers.pop(number)
        if kind == CMD_STATUS:
            try:
                self.sftp._convert_status(message)
            except EOFError:
                return None
        if kind != CMD_DATA:
            raise NodeError("the SFTP server answered a read with something else", type="sftp")
        data: bytes = message.get_string()
        return data

    def chunks(self, size: int) -> Iterator[bytes]:
        pending: deque[tuple[int, int, int]] = deque()
        requested = 0
        while True:
            while requested < size and len(pending) < REQUESTS_IN_FLIGHT:
                length = min(REQUEST_SIZE, size - requested)
                pending.append((self._send(requested, length), requested, length))
                requested += length
            if not pending:
                break
            number, offset, length = pending.popleft()
            data = self._data(number)
            if data is None:  # the file shrank since its size was read
                break
            yield data
            if len(data) < length:  # a short answer: read the rest of this range now
                yield from self._rest(offset + len(data), length - len(data))
        for number, _, _ in pending:  # the channel is reused: collect every answer first
            self._data(number)

    def _rest(self, offset: int, length: int) -> Iterator[bytes]:
        done = 0
        while done < length:
            data = self._data(self._send(offset + done, length - done))
            if not data:
                break
            yield data
            done += len(data)
