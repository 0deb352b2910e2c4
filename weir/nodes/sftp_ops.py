"""The `sftp` node's operations on one SFTP channel (blocking; run in a worker thread).

Transfers move in chunks between the remote file and a local file or stream: a file of any
size costs a few megabytes of memory. ``stop`` is set when the node is cancelled (timeout,
execution cancelled) so that a transfer in its thread gives up at the next chunk.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import posixpath
import re
import stat
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from weir.lang.errors import ConfigError, NodeError

REQUEST_SIZE = 32 * 1024
REQUESTS_IN_FLIGHT = 64
"""Read requests in flight during a download: 2 MiB, fast on long round trips without ever
buffering more than that."""


class Cancelled(Exception):
    """The node was cancelled while its transfer was running."""


def _modified(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat()


def _is_dir(attrs: Any) -> bool:
    return stat.S_ISDIR(attrs.st_mode or 0)


def _exists(sftp: Any, path: str) -> bool:
    try:
        sftp.stat(path)
    except FileNotFoundError:
        return False
    return True


def list_entries(
    sftp: Any,
    path: str,
    *,
    pattern: str | None,
    regex: re.Pattern[str] | None,
    recursive: bool,
    files_only: bool,
) -> list[dict[str, Any]]:
    """Entries under ``path``; ``pattern`` matches names, ``regex`` searches relative paths."""
    root = path.rstrip("/") or "/"
    entries: list[dict[str, Any]] = []
    pending = [root]
    while pending:
        directory = pending.pop()
        for attrs in sftp.listdir_attr(directory):
            full = posixpath.join(directory, attrs.filename)
            is_dir = _is_dir(attrs)  # lstat: symbolic links are listed, never followed
            if is_dir and recursive:
                pending.append(full)
            if is_dir and files_only:
                continue
            if pattern is not None and not fnmatch.fnmatchcase(attrs.filename, pattern):
                continue
            if regex is not None and not regex.search(posixpath.relpath(full, root)):
                continue
            entries.append(
                {
                    "name": attrs.filename,
                    "path": full,
                    "size": attrs.st_size,
                    "modified": _modified(attrs.st_mtime),
                    "isDir": is_dir,
                }
            )
    entries.sort(key=lambda entry: entry["path"])
    return entries


def download(sftp: Any, path: str, target: Path, stop: threading.Event) -> tuple[str, int]:
    """Copy the remote file to ``target``; returns its absolute remote path and its size."""
    absolute = sftp.normalize(path)
    with sftp.open(absolute, "rb") as remote:
        attrs = remote.stat()
        if _is_dir(attrs):
            raise ConfigError(f"{absolute} is a directory, not a file")
        with open(target, "wb") as local:
            size = _PipelinedReader(sftp, remote.handle).copy(attrs.st_size, local.write, stop)
    return absolute, size


class _PipelinedReader:
    """Reads a remote file with a bounded number of read requests in flight.

    paramiko's own ``prefetch`` is not used: when its reader catches up with its request
    thread it falls back to one request per round trip while the requests already sent keep
    filling a buffer nobody reads, which can hold the whole file. Here, requests are sent
    from the reading thread only, ``REQUESTS_IN_FLIGHT`` at most, and each answer is written
    out as soon as it is the next one in the file.
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

    def copy(self, size: int, write: Callable[[bytes], Any], stop: threading.Event) -> int:
        pending: deque[tuple[int, int, int]] = deque()
        requested = written = 0
        while True:
            while requested < size and len(pending) < REQUESTS_IN_FLIGHT:
                length = min(REQUEST_SIZE, size - requested)
                pending.append((self._send(requested, length), requested, length))
                requested += length
            if not pending:
                break
            number, offset, length = pending.popleft()
            data = self._data(number)
            if stop.is_set():
                raise Cancelled()  # the pool closes this channel, answers in flight and all
            if data is None:  # the file shrank since its size was read
                break
            write(data)
            written += len(data)
            if len(data) < length:  # a short answer: read the rest of this range now
                written += self._rest(offset + len(data), length - len(data), write)
        for number, _, _ in pending:  # the channel is reused: collect every answer first
            self._data(number)
        return written

    def _rest(self, offset: int, length: int, write: Callable[[bytes], Any]) -> int:
        done = 0
        while done < length:
            data = self._data(self._send(offset + done, length - done))
            if not data:
                break
            write(data)
            done += len(data)
        return done


def upload(
    sftp: Any, stream: IO[bytes], path: str, *, mkdirs: bool, stop: threading.Event
) -> tuple[str, int]:
    """Write ``stream`` to the remote path; returns the absolute path and the size written."""
    if mkdirs:
        make_dirs(sftp, posixpath.dirname(path))

    def progress(done: int, total: int) -> None:
        if stop.is_set():
            raise Cancelled()

    attrs = sftp.putfo(stream, path, callback=progress, confirm=True)
    return sftp.normalize(path), attrs.st_size


def make_dirs(sftp: Any, path: str) -> bool:
    """``mkdir -p``: True when at least one directory was created."""
    if not path or path in ("/", "."):
        return False
    try:
        attrs = sftp.stat(path)
    except FileNotFoundError:
        pass
    else:
        if not _is_dir(attrs):
            raise NodeError(f"{path} exists and is not a directory", type="exists")
        return False
    make_dirs(sftp, posixpath.dirname(path.rstrip("/")))
    try:
        sftp.mkdir(path)
    except OSError:
        if not _exists(sftp, path):  # lost a race with another creator: that is fine
            raise
        return False
    return True


def make_dir(sftp: Any, path: str, *, parents: bool) -> bool:
    if parents:
        return make_dirs(sftp, path)
    try:
        sftp.mkdir(path)
    except OSError as exc:
        if exc.errno is None and _exists(sftp, path):
            raise NodeError(f"{path} already exists", type="exists") from None
        raise
    return True


def delete(sftp: Any, path: str, *, missing_ok: bool) -> bool:
    """Remove a file or an empty directory; False when it was already gone."""
    try:
        attrs = sftp.lstat(path)
    except FileNotFoundError:
        if missing_ok:
            return False
        raise
    if _is_dir(attrs):
        try:
            sftp.rmdir(path)
        except OSError as exc:
            if exc.errno is None and sftp.listdir(path):
                raise NodeError(f"{path} is a directory that is not empty", type="sftp") from None
            raise
    else:
        sftp.remove(path)
    return True


def rename(sftp: Any, path: str, to: str, *, overwrite: bool, mkdirs: bool) -> None:
    if mkdirs:
        make_dirs(sftp, posixpath.dirname(to))
    if overwrite:
        # posix-rename@openssh.com replaces the target atomically; plain SFTP rename refuses.
        sftp.posix_rename(path, to)
        return
    try:
        sftp.rename(path, to)
    except OSError as exc:
        if exc.errno is None and _exists(sftp, path) and _exists(sftp, to):
            raise NodeError(
                f"cannot rename {path}: {to} already exists (set overwrite: true to replace it)",
                type="exists",
            ) from None
        raise
