"""`file`: read, write, append, list, delete, rename/move and mkdir under a base directory.

Every path is relative to ``baseDir`` and checked after resolving symbolic links: nothing
outside the base directory is ever read, written or listed. Special files (FIFOs, sockets,
devices) are refused: they are opened without blocking and checked before any byte moves. Writes go to a temporary file in
the target's directory, renamed over the target when complete, so a reader sees the old file
or the new one, never half of one. Large files travel as file references and are copied in
chunks, never loaded whole; blocking I/O runs in a worker thread.

A relative ``baseDir`` is resolved against ``$WEIR_FILE_BASE_DIR`` when that is set (a pod's
volume, say), else against the runner's working directory; with ``$WEIR_FILE_BASE_DIR`` set,
every base directory must also lie inside it.
"""

from __future__ import annotations

import asyncio
import codecs
import errno
import json
import mimetypes
import os
import posixpath
import re
import secrets
import stat
import threading
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal, TypeVar

from pydantic import Field, field_validator

from weir.lang.errors import ConfigError, NodeError, NotFound
from weir.lang.expressions import Text, Value, json_default
from weir.lang.types import ByteSize, Strict
from weir.nodes import sftp_ops
from weir.nodes.context import NodeContext
from weir.nodes.kind import NodeKind
from weir.nodes.operations import OneOperation
from weir.nodes.path_ops import DeleteOp, ListOp, MkdirOp, RenameOp
from weir.nodes.spool import (
    file_ref,
    is_file_ref,
    open_content,
    open_regular,
    special_file_error,
)

T = TypeVar("T")

BASE_DIR_ENV = "WEIR_FILE_BASE_DIR"
CHUNK_SIZE = 1024 * 1024
"""Bytes copied at a time: a transfer of any size holds about this much in memory."""


def _known_encoding(value: str) -> str:
    try:
        codecs.lookup(value)
    except LookupError:
        raise ValueError(f"unknown encoding {value!r}") from None
    return value


class FileList(ListOp):
    path: Text = Field(
        ".", validate_default=True, description="Directory to list; the base directory if unset."
    )


class FileRead(Strict):
    path: Text = Field(description="File to read.")
    as_: Literal["text", "bytes", "file"] = Field(
        "text",
        alias="as",
        description="text (decoded with `encoding`), bytes, or file: a file reference to a copy "
        "in the execution's spool, for files of any size.",
    )
    encoding: str = Field("utf-8", description="Encoding of the text (as: text).")
    maxSize: ByteSize = Field(
        "16Mi",
        validate_default=True,
        description="Largest file read as text or bytes; larger files need as: file.",
    )

    @field_validator("encoding")
    @classmethod
    def _known(cls, value: str) -> str:
        return _known_encoding(value)


class FileWrite(Strict):
    path: Text = Field(description="File to write (replaced atomically if it exists).")
    content: Value = Field(
        description="What to write: a file reference from another node, bytes, text, or any "
        "other JSON value (written as JSON)."
    )
    encoding: str = Field("utf-8", description="Encoding of text and JSON content.")
    mkdirs: bool = Field(False, description="Create missing parent directories first.")

    @field_validator("encoding")
    @classmethod
    def _known(cls, value: str) -> str:
        return _known_encoding(value)


class FileAppend(Strict):
    path: Text = Field(description="File to append to (created if missing).")
    content: Value = Field(
        description="What to append: a file reference, bytes, text, or any other JSON value "
        "(written as JSON)."
    )
    encoding: str = Field("utf-8", description="Encoding of text and JSON content.")
    newline: bool = Field(False, description="Add a line break after the content (JSON Lines).")
    mkdirs: bool = Field(False, description="Create missing parent directories first.")

    @field_validator("encoding")
    @classmethod
    def _known(cls, value: str) -> str:
        return _known_encoding(value)


OPERATIONS = ("list", "read", "write", "append", "delete", "rename", "move", "mkdir")


class FileConfig(OneOperation):
    KIND = "file"
    OPERATIONS = OPERATIONS

    baseDir: str = Field(
        min_length=1,
        description="Directory every path is confined to. A constant, not a template; relative "
        "to $WEIR_FILE_BASE_DIR if set, else to the runner's working directory.",
    )
    list: FileList | None = Field(None, description="List a directory.")
    read: FileRead | None = Field(None, description="Read a file as text, bytes or a reference.")
    write: FileWrite | None = Field(None, description="Write a file atomically.")
    append: FileAppend | None = Field(None, description="Append to a file.")
    delete: DeleteOp | None = Field(None, description="Remove a file or an empty directory.")
    rename: RenameOp | None = Field(None, description="Rename or move a path.")
    move: RenameOp | None = Field(None, description="The same as rename.")
    mkdir: MkdirOp | None = Field(None, description="Create a directory.")


# -- the sandbox -----------------------------------------------------------------------------


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
    def open(cls, base_dir: str, environ: Any = None) -> Sandbox:
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


# -- operations (blocking; run in a worker thread) --------------------------------------------


def _copy(source: IO[bytes], target: IO[bytes], stop: threading.Event) -> int:
    size = 0
    while chunk := source.read(CHUNK_SIZE):
        if stop.is_set():
            raise sftp_ops.Cancelled()
        target.write(chunk)
        size += len(chunk)
    return size


def _need_parent(target: Path, mkdirs: bool, shown: str) -> None:
    parent = target.parent
    if mkdirs:
        parent.mkdir(parents=True, exist_ok=True)
    elif not parent.is_dir():
        raise NotFound(
            f"{shown}: directory {parent} does not exist (set mkdirs: true to create it)"
        )


def read_bytes(target: Path, max_size: int, shown: str) -> bytes:
    with os.fdopen(open_regular(target, os.O_RDONLY, shown), "rb") as stream:
        size = os.fstat(stream.fileno()).st_size
        data = stream.read(max_size + 1) if size <= max_size else b""
    if size > max_size or len(data) > max_size:
        raise NodeError(
            f"{shown} is larger than maxSize ({max_size} bytes); read it with as: file",
            type="too_large",
        )
    return data


def read_text(target: Path, max_size: int, encoding: str, shown: str) -> str:
    data = read_bytes(target, max_size, shown)
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise NodeError(
            f"{shown} is not {encoding} text ({exc.reason} at byte {exc.start}); set encoding, "
            "or read it as bytes",
            type="format",
        ) from None


def spool_copy(target: Path, spooled: Path, stop: threading.Event, shown: str) -> int:
    source_fd = open_regular(target, os.O_RDONLY, shown)
    with os.fdopen(source_fd, "rb") as source, open(spooled, "wb") as copy:
        return _copy(source, copy, stop)


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
    target: Path,
    content: Any,
    *,
    newline: bool,
    mkdirs: bool,
    shown: str,
    stop: threading.Event,
) -> tuple[int, int]:
    """Returns the bytes appended and the file's size after."""
    _need_parent(target, mkdirs, shown)
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


@dataclass(frozen=True)
class _Attrs:
    """What ``sftp_ops.list_entries`` reads of an entry (paramiko's SFTPAttributes shape)."""

    filename: str
    st_mode: int
    st_size: int
    st_mtime: float


@dataclass(frozen=True)
class _LocalLister:
    """Lets the sftp node's listing (filters, recursion, output) walk a local directory."""

    base: Path

    def listdir_attr(self, directory: str) -> list[_Attrs]:
        found = []
        with os.scandir(self.base / directory) as entries:
            for entry in entries:
                info = entry.stat(follow_symlinks=False)  # links are listed, never followed
                found.append(_Attrs(entry.name, info.st_mode, info.st_size, info.st_mtime))
        return found


def list_entries(
    sandbox: Sandbox,
    directory: Path,
    *,
    pattern: str | None,
    regex: re.Pattern[str] | None,
    recursive: bool,
    files_only: bool,
) -> list[dict[str, Any]]:
    if not directory.is_dir():
        if directory.exists():
            raise ConfigError(f"{sandbox.relative(directory)} is not a directory")
        raise FileNotFoundError(errno.ENOENT, "no such directory", str(directory))
    entries = sftp_ops.list_entries(
        _LocalLister(sandbox.base),
        sandbox.relative(directory),
        pattern=pattern,
        regex=regex,
        recursive=recursive,
        files_only=files_only,
    )
    for entry in entries:
        entry["path"] = posixpath.normpath(entry["path"])
    return entries


def delete(target: Path, *, missing_ok: bool, shown: str) -> bool:
    """Remove a file, a link or an empty directory; False when it was already gone."""
    try:
        info = target.lstat()
    except FileNotFoundError:
        if missing_ok:
            return False
        raise
    if stat.S_ISDIR(info.st_mode):
        try:
            target.rmdir()
        except OSError as exc:
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                raise NodeError(f"{shown} is a directory that is not empty", type="file") from None
            raise
    else:
        target.unlink()
    return True


_NO_HARD_LINKS = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP}


def rename(source: Path, target: Path, *, overwrite: bool, mkdirs: bool, shown: str) -> None:
    info = source.lstat()  # FileNotFoundError: the source is missing
    if mkdirs:
        target.parent.mkdir(parents=True, exist_ok=True)
    if overwrite:
        os.replace(source, target)
        return
    exists = NodeError(
        f"cannot rename {shown}: the target already exists (set overwrite: true to replace it)",
        type="exists",
    )
    if os.path.lexists(target):
        raise exists
    if not stat.S_ISDIR(info.st_mode):
        # A hard link fails if the target appeared meanwhile: no window for a lost file.
        try:
            os.link(source, target, follow_symlinks=False)
        except FileExistsError:
            raise exists from None
        except OSError as exc:
            if exc.errno not in _NO_HARD_LINKS:
                raise
        else:
            os.unlink(source)
            return
    os.rename(source, target)


def make_dir(target: Path, *, parents: bool, shown: str) -> bool:
    try:
        target.mkdir(parents=parents)
    except FileExistsError:
        if parents and target.is_dir():
            return False
        raise NodeError(f"{shown} already exists", type="exists") from None
    return True


def translate(exc: BaseException, shown: str) -> NodeError:
    """The node error for an OSError on ``shown`` (a path and its base directory)."""
    if isinstance(exc, NodeError):
        return exc
    if isinstance(exc, FileNotFoundError):
        return NotFound(f"{shown}: no such file or directory")
    if isinstance(exc, PermissionError):
        return NodeError(f"{shown}: permission denied", type="permission")
    if isinstance(exc, FileExistsError):
        return NodeError(f"{shown} already exists", type="exists")
    if isinstance(exc, IsADirectoryError):
        return ConfigError(f"{shown} is a directory, not a file")
    if isinstance(exc, NotADirectoryError):
        return ConfigError(f"{shown}: a part of the path is not a directory")
    if isinstance(exc, OSError):
        return NodeError(f"{shown}: {exc.strerror or exc}", type="file")
    return NodeError(f"{shown}: {type(exc).__name__}: {exc}", type="file")


# -- the node ---------------------------------------------------------------------------------


def _payload(content: Any, encoding: str) -> Any:
    """A file reference or bytes: what ``open_content`` streams to the file."""
    if is_file_ref(content):
        return content
    if isinstance(content, bytes | bytearray):
        return bytes(content)
    text = (
        content
        if isinstance(content, str)
        else json.dumps(content, ensure_ascii=False, default=json_default)
    )
    try:
        return text.encode(encoding)
    except UnicodeEncodeError as exc:
        raise NodeError(
            f"the content cannot be encoded as {encoding}: {exc}", type="format"
        ) from None


async def run(config: FileConfig, ctx: NodeContext) -> Any:
    sandbox = Sandbox.open(config.baseDir)
    base = str(sandbox.base)
    operation = config.operation
    op: Any = getattr(config, operation)
    path = ctx.text(op.path)
    shown = f"{path} (in {base})"
    stop = threading.Event()

    async def call(action: Callable[[], T], where: str = shown) -> T:
        try:
            return await asyncio.to_thread(action)
        except asyncio.CancelledError:
            stop.set()  # the copy in the thread gives up at its next chunk
            raise
        except Exception as exc:
            raise translate(exc, where) from None

    if operation == "list":
        directory = sandbox.locate(path, allow_base=True)
        regex = re.compile(op.regex) if op.regex else None
        return await call(
            lambda: list_entries(
                sandbox,
                directory,
                pattern=op.pattern,
                regex=regex,
                recursive=op.recursive,
                files_only=op.filesOnly,
            )
        )
    if operation == "mkdir":
        target = sandbox.locate(path, allow_base=True)
        created = await call(lambda: make_dir(target, parents=op.parents, shown=shown))
        return {"baseDir": base, "path": sandbox.relative(target), "created": created}

    target = sandbox.locate(path)
    relative = sandbox.relative(target)
    if operation == "read":
        if op.as_ == "file":
            spooled = ctx.spool.new_path(target.name)
            size = await call(lambda: spool_copy(target, spooled, stop, shown))
            return file_ref(
                spooled,
                target.name,
                size=size,
                content_type=mimetypes.guess_type(target.name)[0],
                source=target.as_uri(),
            )
        if op.as_ == "bytes":
            return await call(lambda: read_bytes(target, op.maxSize, shown))
        return await call(lambda: read_text(target, op.maxSize, op.encoding, shown))
    if operation == "write":
        content = _payload(ctx.eval(op.content), op.encoding)
        size = await call(
            lambda: write_atomic(target, content, mkdirs=op.mkdirs, shown=shown, stop=stop)
        )
        return {"baseDir": base, "path": relative, "size": size}
    if operation == "append":
        content = _payload(ctx.eval(op.content), op.encoding)
        appended, size = await call(
            lambda: append(
                target, content, newline=op.newline, mkdirs=op.mkdirs, shown=shown, stop=stop
            )
        )
        return {"baseDir": base, "path": relative, "size": size, "appended": appended}
    if operation == "delete":
        deleted = await call(lambda: delete(target, missing_ok=op.missingOk, shown=shown))
        return {"baseDir": base, "path": relative, "deleted": deleted}
    to = ctx.text(op.to)
    destination = sandbox.locate(to)
    await call(
        lambda: rename(
            target,
            destination,
            overwrite=op.overwrite,
            mkdirs=op.mkdirs,
            shown=f"{path} to {to} (in {base})",
        ),
        where=f"{path} -> {to} (in {base})",
    )
    return {"baseDir": base, "path": relative, "to": sandbox.relative(destination)}


KIND = NodeKind(
    "file",
    FileConfig,
    run,
    "Read, write, append, list, delete, rename/move files and create directories under a base "
    "directory.",
)
