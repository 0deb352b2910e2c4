"""`file`: read, write, append, list, delete, rename/move and mkdir under a base directory.

The file system, its confinement to ``baseDir`` and its refusal of special files are in
``weir.nodes.fs.local``; list, delete, rename and mkdir are the operations every file system
shares (``weir.nodes.fs.ops``). Here: the node's config, and read, write and append, which take
text and JSON as well as files. Large files travel as file references and are copied in chunks,
never loaded whole; blocking I/O runs in a worker thread.
"""

from __future__ import annotations

import codecs
import json
import posixpath
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from weir.lang.errors import NodeError
from weir.lang.expressions import Text, Value, json_default
from weir.lang.types import ByteSize
from weir.nodes.context import NodeContext
from weir.nodes.fs import ops
from weir.nodes.fs.base import FileSystem, Payload
from weir.nodes.fs.local import LocalFileSystem, Sandbox
from weir.nodes.fs.ops import DeleteOp, ListOp, MkdirOp, RenameOp
from weir.nodes.kind import NodeKind
from weir.nodes.operations import OneOperation, Operation
from weir.nodes.spool import is_file_ref


def _known_encoding(value: str) -> str:
    try:
        codecs.lookup(value)
    except LookupError:
        raise ValueError(f"unknown encoding {value!r}") from None
    return value


Encoding = Annotated[str, AfterValidator(_known_encoding)]


def _payload(content: Any, encoding: str) -> Payload:
    """A file reference or bytes as they are; text encoded, anything else as JSON."""
    if is_file_ref(content):
        return Payload(content)
    if isinstance(content, bytes | bytearray):
        return Payload(bytes(content))
    text = (
        content
        if isinstance(content, str)
        else json.dumps(content, ensure_ascii=False, default=json_default)
    )
    try:
        return Payload(text.encode(encoding))
    except UnicodeEncodeError as exc:
        raise NodeError(
            f"the content cannot be encoded as {encoding}: {exc}", type="format"
        ) from None


def read_limited(fs: FileSystem, path: str, max_size: int) -> bytes:
    too_large = NodeError(
        f"{fs.where(path)} is larger than maxSize ({max_size} bytes); read it with as: file",
        type="too_large",
    )
    with fs.open_read(path) as reading:
        if reading.size is not None and reading.size > max_size:
            raise too_large
        data = bytearray()
        for chunk in reading.chunks:
            data += chunk
            if len(data) > max_size:
                raise too_large
    return bytes(data)


def read_text(fs: FileSystem, path: str, max_size: int, encoding: str) -> str:
    data = read_limited(fs, path, max_size)
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise NodeError(
            f"{fs.where(path)} is not {encoding} text ({exc.reason} at byte {exc.start}); set "
            "encoding, or read it as bytes",
            type="format",
        ) from None


class FileList(ListOp):
    path: Text = Field(
        ".", validate_default=True, description="Directory to list; the base directory if unset."
    )


class FileRead(Operation[FileSystem]):
    path: Text = Field(description="File to read.")
    as_: Literal["text", "bytes", "file"] = Field(
        "text",
        alias="as",
        description="text (decoded with `encoding`), bytes, or file: a file reference to a copy "
        "in the execution's spool, for files of any size.",
    )
    encoding: Encoding = Field("utf-8", description="Encoding of the text (as: text).")
    maxSize: ByteSize = Field(
        "16Mi",
        validate_default=True,
        description="Largest file read as text or bytes; larger files need as: file.",
    )

    async def run(self, target: FileSystem, ctx: NodeContext) -> Any:
        path = target.path(ctx.text(self.path))
        if self.as_ == "file":
            return await ops.download(target, path, posixpath.basename(path), ctx.spool)
        if self.as_ == "bytes":
            return await target.call(lambda: read_limited(target, path, self.maxSize), path)
        return await target.call(lambda: read_text(target, path, self.maxSize, self.encoding), path)


class FileWrite(Operation[FileSystem]):
    path: Text = Field(description="File to write (replaced atomically if it exists).")
    content: Value = Field(
        description="What to write: a file reference from another node, bytes, text, or any "
        "other JSON value (written as JSON)."
    )
    encoding: Encoding = Field("utf-8", description="Encoding of text and JSON content.")
    mkdirs: bool = Field(False, description="Create missing parent directories first.")

    async def run(self, target: FileSystem, ctx: NodeContext) -> Any:
        path = target.path(ctx.text(self.path))
        return await ops.put(
            target, path, _payload(ctx.eval(self.content), self.encoding), self.mkdirs
        )


class FileAppend(Operation[LocalFileSystem]):
    path: Text = Field(description="File to append to (created if missing).")
    content: Value = Field(
        description="What to append: a file reference, bytes, text, or any other JSON value "
        "(written as JSON)."
    )
    encoding: Encoding = Field("utf-8", description="Encoding of text and JSON content.")
    newline: bool = Field(False, description="Add a line break after the content (JSON Lines).")
    mkdirs: bool = Field(False, description="Create missing parent directories first.")

    async def run(self, target: LocalFileSystem, ctx: NodeContext) -> Any:
        path = target.path(ctx.text(self.path))
        payload = _payload(ctx.eval(self.content), self.encoding)

        def append() -> tuple[int, int]:
            if self.mkdirs:
                ops.make_dirs(target, posixpath.dirname(path))
            return target.append(path, payload, newline=self.newline)

        appended, size = await target.call(append, path)
        return {**target.labels, "path": path, "size": size, "appended": appended}


class FileConfig(OneOperation[LocalFileSystem]):
    KIND = "file"

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


def file_system(config: FileConfig, ctx: NodeContext) -> LocalFileSystem:
    """The base directory's file system (also a files trigger's)."""
    return LocalFileSystem(Sandbox.open(config.baseDir))


async def run(config: FileConfig, ctx: NodeContext) -> Any:
    return await config.operation.run(file_system(config, ctx), ctx)


KIND = NodeKind(
    "file",
    FileConfig,
    run,
    "Read, write, append, list, delete, rename/move files and create directories under a base "
    "directory.",
)
