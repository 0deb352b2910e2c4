"""The operations file systems share, as config models that run against any ``FileSystem``:
the same fields mean the same thing on every file system a flow touches (`file`, `sftp`,
`smb`), and globbing, recursion, creating parents and the overwrite rule exist once.

The models carry no docstrings: pydantic would put them in the JSON schema and the CRD.
"""

from __future__ import annotations

import fnmatch
import mimetypes
import posixpath
import re
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from weir.lang.expressions import Text, Value
from weir.nodes.context import NodeContext
from weir.nodes.fs.base import (
    AlreadyExists,
    FileInfo,
    FileSystem,
    Payload,
    Written,
    copy_chunks,
    is_missing,
)
from weir.nodes.operations import Operation
from weir.nodes.spool import Spool, file_ref


def compiled_regex(value: str | None) -> str | None:
    if value is not None:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
    return value


# -- blocking helpers (in the worker thread) ---------------------------------------------------


def make_dirs(fs: FileSystem, path: str) -> bool:
    """``mkdir -p``: True when at least one directory was created."""
    if not path or path in ("/", "."):
        return False
    try:
        info = fs.stat(path)
    except OSError as exc:
        if not is_missing(exc):
            raise
    else:
        if not info.is_dir:
            raise AlreadyExists(f"{fs.where(path)} exists and is not a directory")
        return False
    make_dirs(fs, posixpath.dirname(path.rstrip("/")))
    try:
        fs.mkdir(path)
    except OSError:
        if not fs.exists(path):  # lost a race with another creator: that is fine
            raise
        return False
    return True


def find(
    fs: FileSystem,
    root: str,
    *,
    pattern: str | None,
    regex: re.Pattern[str] | None,
    recursive: bool,
    files_only: bool,
) -> list[FileInfo]:
    """Entries under ``root``, sorted by path; ``pattern`` matches names, ``regex`` searches
    paths relative to ``root``. Symbolic links are listed, never followed."""
    entries: list[FileInfo] = []
    pending = [(root, "")]
    while pending:
        directory, relative_dir = pending.pop()
        for info in fs.list(directory):
            relative = posixpath.join(relative_dir, info.name)
            if info.is_dir and recursive:
                pending.append((info.path, relative))
            if info.is_dir and files_only:
                continue
            if pattern is not None and not fnmatch.fnmatchcase(info.name, pattern):
                continue
            if regex is not None and not regex.search(relative):
                continue
            entries.append(info)
    entries.sort(key=lambda info: info.path)
    return entries


def fetched_type(stored: str | None, name: str) -> str | None:
    # Objects stored without a type come back as S3's generic default; the name says more.
    if stored in (None, "", "binary/octet-stream", "application/octet-stream"):
        return mimetypes.guess_type(name)[0] or stored
    return stored


def fetch(fs: FileSystem, path: str, name: str, target: Path) -> dict[str, Any]:
    """Copy the file into ``target`` (in the spool); its file reference."""
    with fs.open_read(path) as reading, open(target, "wb") as local:
        size = copy_chunks(reading.chunks, local.write, fs.stop)
    return file_ref(
        target,
        name,
        size=size,
        content_type=fetched_type(reading.content_type, name),
        source=reading.source,
    )


async def download(fs: FileSystem, path: str, name: str, spool: Spool) -> dict[str, Any]:
    target = spool.new_path(name)
    return await fs.call(lambda: fetch(fs, path, name, target), path)


# -- the operations ------------------------------------------------------------------------------


class ListOp(Operation[FileSystem]):
    path: Text = Field(description="Directory to list.")
    pattern: str | None = Field(None, description='Glob matched against entry names: "*.csv".')
    regex: str | None = Field(
        None, description="Regular expression searched in each entry's path relative to `path`."
    )
    recursive: bool = Field(False, description="Descend into subdirectories.")
    filesOnly: bool = Field(False, description="Leave directories out of the result.")

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        return compiled_regex(value)

    async def run(self, target: FileSystem, ctx: NodeContext) -> Any:
        root = target.path(ctx.text(self.path), allow_root=True)
        regex = re.compile(self.regex) if self.regex else None
        found = await target.call(
            lambda: find(
                target,
                root,
                pattern=self.pattern,
                regex=regex,
                recursive=self.recursive,
                files_only=self.filesOnly,
            ),
            root,
        )
        return [info.entry() for info in found]


class GetOp(Operation[FileSystem]):
    path: Text = Field(description="File to download; the output is a file reference.")

    async def run(self, target: FileSystem, ctx: NodeContext) -> Any:
        path = target.path(ctx.text(self.path))
        name = posixpath.basename(path.rstrip("/")) or "download"
        return await download(target, path, name, ctx.spool)


class PutOp(Operation[FileSystem]):
    path: Text = Field(description="File to write (replaced if it exists).")
    content: Value = Field(description="A file reference from another node, bytes or text.")
    mkdirs: bool = Field(False, description="Create missing parent directories first.")

    async def run(self, target: FileSystem, ctx: NodeContext) -> Any:
        path = target.path(ctx.text(self.path))
        return await put(target, path, Payload(ctx.eval(self.content)), self.mkdirs)


async def put(fs: FileSystem, path: str, payload: Payload, mkdirs: bool) -> dict[str, Any]:
    """Write ``payload`` to ``path`` (creating its parents with ``mkdirs``); the output."""

    def write() -> Written:
        if mkdirs:
            make_dirs(fs, posixpath.dirname(path))
        return fs.write(path, payload)

    written = await fs.call(write, path)
    return {**fs.labels, "path": written.path, "size": written.size}


class DeleteOp(Operation[FileSystem]):
    path: Text = Field(description="File or empty directory to remove.")
    missingOk: bool = Field(False, description="Succeed when the path does not exist.")

    async def run(self, target: FileSystem, ctx: NodeContext) -> Any:
        path = target.path(ctx.text(self.path))

        def delete() -> bool:
            try:
                info = target.stat(path, follow=False)  # a link is removed, never its target
            except OSError as exc:
                if self.missingOk and is_missing(exc):
                    return False
                raise
            target.delete(path, directory=info.is_dir)
            return True

        deleted = await target.call(delete, path)
        return {**target.labels, "path": path, "deleted": deleted}


class RenameOp(Operation[FileSystem]):
    path: Text = Field(description="Path to rename or move.")
    to: Text = Field(description="New path, in the same or another directory.")
    overwrite: bool = Field(False, description="Replace an existing target.")
    mkdirs: bool = Field(False, description="Create the target's missing parent directories.")

    async def run(self, target: FileSystem, ctx: NodeContext) -> Any:
        path = target.path(ctx.text(self.path))
        to = target.path(ctx.text(self.to))

        def rename() -> None:
            target.stat(path, follow=False)  # a missing source: refused before anything is made
            if self.mkdirs:
                make_dirs(target, posixpath.dirname(to))
            try:
                target.rename(path, to, overwrite=self.overwrite)
            except FileExistsError:
                raise AlreadyExists(
                    f"cannot rename {target.where(path)} to {to}: the target already exists "
                    "(set overwrite: true to replace it)"
                ) from None

        await target.call(rename, f"{path} -> {to}")
        return {**target.labels, "path": path, "to": to}


class MkdirOp(Operation[FileSystem]):
    path: Text = Field(description="Directory to create.")
    parents: bool = Field(
        True, description="Create missing parents too, and succeed if it already exists."
    )

    async def run(self, target: FileSystem, ctx: NodeContext) -> Any:
        path = target.path(ctx.text(self.path), allow_root=True)

        def mkdir() -> bool:
            if self.parents:
                return make_dirs(target, path)
            target.mkdir(path)
            return True

        created = await target.call(mkdir, path)
        return {**target.labels, "path": path, "created": created}
