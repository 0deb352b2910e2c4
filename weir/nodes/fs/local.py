"""The `file` node's file system: the runner's own, confined to one base directory.

Every path is relative to the base directory and checked after resolving symbolic links:
nothing outside it is ever read, written or listed. Special files (FIFOs, sockets, devices)
are refused: they are opened without blocking and checked before any byte moves. Writes go to
a temporary file in the target's directory, renamed over the target when complete, so a reader
sees the old file or the new one, never half of one.

A relative base directory is resolved against ``$WEIR_FILE_BASE_DIR`` when that is set (a
pod's volume, say), else against the runner's working directory; with ``$WEIR_FILE_BASE_DIR``
set, every base directory must also lie inside it.
"""

from __future__ import annotations

import errno
import os
import posixpath
import secrets
import stat
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from weir.lang.errors import ConfigError, NotFound
from weir.nodes.fs.base import (
    FileInfo,
    FileSystem,
    Payload,
    Reading,
    Written,
    chunks_of,
    modified_at,
)
from weir.nodes.fs.base import copy_stream as _copy  # looked up when called: tests watch it
from weir.nodes.spool import open_content, open_regular, special_file_error

BASE_DIR_ENV = "WEIR_FILE_BASE_DIR"


# -- the sandbox -------------------------------------------------------------------------------


def _resolve(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symbolic link loop (3.11)
        raise ConfigError(f"cannot resolve {path}: {exc}") from None


def _inside(path: Path, base: Path) -> bool:
    return path == base or base in path.parents


@dataclass(frozen=True)
class Sandbox:
    """The resolved base directory and the check that keeps every path inside it."""

    base: Path

    @classmethod
    def open(cls, base_dir: str, environ: Mapping[str, str] | None = None) -> Sandbox:
        environ = os.environ if environ is None else environ
        outer = environ.get(BASE_DIR_ENV) or None
        root = _resolve(Path(outer)) if outer else Path.cwd()
        base = _resolve(root / base_dir)
        if outer and not _inside(base, root):
            raise ConfigError(f"baseDir {base_dir!r} is outside {BASE_DIR_ENV} ({root})")
        if not base.is_dir():
            raise ConfigError(f"baseDir {base} does not exist or is not a directory")
        return cls(base)

    def locate(self, path: str, *, allow_base: bool = False) -> Path:
        """The entry ``path`` names: its parent resolved, its last part as given.

        The last part is kept as written so that delete and rename act on a symbolic link
        itself; where it leads is checked all the same, so a link out of the base directory is
        refused even for those.
        """
        if "\x00" in path:
            raise ConfigError(f"path {path!r} contains a NUL character")
        if os.path.isabs(path):
            raise ConfigError(
                f"path {path!r} is absolute: paths are relative to the base directory {self.base}"
            )
        lexical = self.base / (path or ".")
        resolved = _resolve(lexical)
        if not _inside(resolved, self.base):
            raise ConfigError(f"path {path!r} leads outside the base directory {self.base}")
        if resolved == self.base:
            if not allow_base:
                raise ConfigError(
                    f"path {path!r} is the base directory {self.base} itself; name an entry in it"
                )
            return resolved
        if lexical.name == "..":
            return resolved
        parent = _resolve(lexical.parent)
        if not _inside(parent, self.base):  # unreachable when resolved is inside; kept as a guard
            raise ConfigError(f"path {path!r} leads outside the base directory {self.base}")
        return parent / lexical.name

    def relative(self, path: Path) -> str:
        relative = path.relative_to(self.base).as_posix()
        return relative or "."


# -- writing (blocking) --------------------------------------------------------------------------


def _need_parent(target: Path, mkdirs: bool, shown: str) -> None:
    parent = target.parent
    if mkdirs:
        parent.mkdir(parents=True, exist_ok=True)
    elif not parent.is_dir():
        raise NotFound(
            f"{shown}: directory {parent} does not exist (set mkdirs: true to create it)"
        )


def write_atomic(
    target: Path, content: Any, *, mkdirs: bool, shown: str, stop: threading.Event
) -> int:
    """Write to a temporary file next to ``target``, then rename it over ``target``."""
    _need_parent(target, mkdirs, shown)
    if target.is_dir():
        raise ConfigError(f"{shown} is a directory, not a file")
    with suppress(FileNotFoundError):
        refused = special_file_error(os.stat(target).st_mode, shown)
        if refused is not None:  # replacing a FIFO or a device with a file is not a write
            raise refused
    temporary = target.parent / f".{target.name}.{secrets.token_hex(6)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    descriptor = os.open(temporary, flags, 0o666)  # the umask applies, as for any new file
    try:
        with os.fdopen(descriptor, "wb") as out, open_content(content) as stream:
            size = _copy(stream, out, stop)
            out.flush()
            os.fsync(out.fileno())
        with suppress(FileNotFoundError):
            os.chmod(temporary, stat.S_IMODE(os.stat(target).st_mode))  # keep the old mode
        os.replace(temporary, target)
    except BaseException:
        with suppress(OSError):
            os.unlink(temporary)
        raise
    _sync_directory(target.parent)
    return size


def _sync_directory(directory: Path) -> None:
    with suppress(OSError):
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def append(
    target: Path, content: Any, *, newline: bool, shown: str, stop: threading.Event
) -> tuple[int, int]:
    """Returns the bytes appended and the file's size after."""
    _need_parent(target, False, shown)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
    with (
        os.fdopen(open_regular(target, flags, shown), "ab") as out,
        open_content(content) as stream,
    ):
        appended = _copy(stream, out, stop)
        if newline:
            appended += out.write(b"\n")
        out.flush()
        return appended, os.fstat(out.fileno()).st_size


_NO_HARD_LINKS = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP}


def rename(source: Path, target: Path, *, overwrite: bool) -> None:
    """Without ``overwrite``, a file moves by a hard link, which fails if the target appeared
    meanwhile: there is no window in which an existing file is lost."""
    info = source.lstat()  # FileNotFoundError: the source is missing
    if overwrite:
        os.replace(source, target)
        return
    if os.path.lexists(target):
        raise FileExistsError(errno.EEXIST, "the target exists", str(target))
    if not stat.S_ISDIR(info.st_mode):
        try:
            os.link(source, target, follow_symlinks=False)
        except OSError as exc:
            if exc.errno not in _NO_HARD_LINKS:
                raise
        else:
            os.unlink(source)
            return
    os.rename(source, target)


# -- the file system -----------------------------------------------------------------------------


class LocalFileSystem(FileSystem):
    """Paths are relative to the base directory, ``/``-separated; ``path`` confines them."""

    error_type = "file"

    def __init__(self, sandbox: Sandbox) -> None:
        super().__init__()
        self.sandbox = sandbox

    @property
    def labels(self) -> dict[str, str]:
        return {"baseDir": str(self.sandbox.base)}

    def path(self, text: str, *, allow_root: bool = False) -> str:
        return self.sandbox.relative(self.sandbox.locate(text, allow_base=allow_root))

    def where(self, path: str) -> str:
        return f"{path} (in {self.sandbox.base})"

    def _at(self, path: str) -> Path:
        return self.sandbox.base / path

    def list(self, directory: str) -> Iterator[FileInfo]:
        try:
            with os.scandir(self._at(directory)) as scan:
                entries = [(entry.name, entry.stat(follow_symlinks=False)) for entry in scan]
        except NotADirectoryError:
            raise ConfigError(f"{self.where(directory)} is not a directory") from None
        for name, info in entries:
            yield self._info(posixpath.normpath(posixpath.join(directory, name)), info)

    def stat(self, path: str, *, follow: bool = True) -> FileInfo:
        target = self._at(path)
        return self._info(path, target.stat() if follow else target.lstat())

    @staticmethod
    def _info(path: str, info: os.stat_result) -> FileInfo:
        return FileInfo(
            posixpath.basename(path),
            path,
            stat.S_ISDIR(info.st_mode),
            info.st_size,
            modified_at(info.st_mtime),
        )

    @contextmanager
    def open_read(self, path: str) -> Iterator[Reading]:
        target = self._at(path)
        with os.fdopen(open_regular(target, os.O_RDONLY, self.where(path)), "rb") as stream:
            size = os.fstat(stream.fileno()).st_size
            yield Reading(chunks_of(stream), target.as_uri(), size)

    def write(self, path: str, payload: Payload) -> Written:
        target = self._at(path)
        size = write_atomic(
            target, payload.value, mkdirs=False, shown=self.where(path), stop=self.stop
        )
        return Written(path, size)

    def append(self, path: str, payload: Payload, *, newline: bool) -> tuple[int, int]:
        """Add ``payload`` at the end of the file, creating it: the bytes appended and the size
        after. Not atomic: a reader may see the file grow."""
        shown = self.where(path)
        return append(self._at(path), payload.value, newline=newline, shown=shown, stop=self.stop)

    def delete(self, path: str, *, directory: bool = False) -> None:
        target = self._at(path)
        if not directory:
            target.unlink()
            return
        try:
            target.rmdir()
        except OSError as exc:
            if exc.errno == errno.EEXIST:  # what some systems say for "not empty"
                raise OSError(errno.ENOTEMPTY, os.strerror(errno.ENOTEMPTY), path) from None
            raise

    def rename(self, path: str, to: str, *, overwrite: bool) -> None:
        rename(self._at(path), self._at(to), overwrite=overwrite)

    def mkdir(self, path: str) -> None:
        self._at(path).mkdir()
