"""The ``files`` trigger: one execution per new file in a directory (local, SFTP, SMB) or per
new object under an S3 prefix, through the file nodes' own file systems.

* A file is new by its path, size and modification time (an object by its key and ETag): a
  file replaced by another of the same name is new again.
* A file is ready once its size and modification time stayed the same for ``settle`` (two
  looks apart, on this runner's clock), so one still being written waits; while some settle,
  the next look comes within a second. An S3 object appears whole, so it is ready at once.
* ``$.input`` is the file's ``path``, ``name``, ``size``, ``modified`` (and ``etag``) and where
  it lies (``host``, ``share``, ``bucket`` or ``baseDir``); the flow reads it with its node.
* ``after`` (delete, or move to a directory) acts once the execution succeeded.
"""

from __future__ import annotations

import posixpath
import time
from typing import Any

from weir.engine.service import FlowService
from weir.flow.poll_triggers import FilesTrigger, MoveTo
from weir.nodes import file, s3, sftp, smb
from weir.nodes.fs.base import FileInfo, FileSystem
from weir.nodes.fs.ops import find, make_dirs
from weir.triggers.poll.poller import node_context, poll_kind
from weir.triggers.poll.source import Item, Look

FILE_SYSTEMS: dict[str, Any] = {
    "local": file.file_system,
    "sftp": sftp.file_system,
    "smb": smb.file_system,
    "s3": s3.file_system,
}
"""Each source's file system, as its node makes it."""

Signature = tuple[int, str | None, str | None]


class FileSource:
    def __init__(self, service: FlowService, spec: FilesTrigger) -> None:
        self.service = service
        self.spec = spec
        self.config = spec.node_config()
        self.whole = spec.source == "s3"  # objects appear complete
        self.first_seen: dict[str, tuple[Signature, float]] = {}
        """Each listed file's size and time, and when this runner first saw them so."""

    def file_system(self) -> FileSystem:
        """A fresh view (each has its own cancel flag) on the node's shared connections."""
        fs: FileSystem = FILE_SYSTEMS[self.spec.source](self.config, node_context(self.service))
        return fs

    async def look(self) -> Look:
        fs = self.file_system()
        root = fs.path(self.spec.path, allow_root=True)
        listed = await fs.call(
            lambda: find(
                fs,
                root,
                pattern=self.spec.pattern,
                regex=None,
                recursive=self.spec.recursive,
                files_only=True,
            ),
            root,
        )
        ready, waiting = self._settled(listed)
        ready.sort(key=lambda info: (info.modified is None, info.modified, info.path))
        return Look([self._item(fs, info) for info in ready], waiting)

    def _settled(self, listed: list[FileInfo]) -> tuple[list[FileInfo], bool]:
        now = time.monotonic()
        seen: dict[str, tuple[Signature, float]] = {}
        ready: list[FileInfo] = []
        for info in listed:
            signature = (info.size, _iso(info), info.etag)
            before = self.first_seen.get(info.path)
            since = before[1] if before is not None and before[0] == signature else now
            seen[info.path] = (signature, since)
            if self.whole or now - since >= self.spec.settle or self.spec.settle == 0:
                ready.append(info)
        self.first_seen = seen
        return ready, len(ready) < len(listed)

    def _item(self, fs: FileSystem, info: FileInfo) -> Item:
        modified = _iso(info)
        key = f"{info.path}@{info.etag}" if self.whole else f"{info.path}@{info.size}@{modified}"
        payload: dict[str, Any] = {
            **fs.labels,
            "path": info.path,
            "name": info.name,
            "size": info.size,
            "modified": modified,
        }
        if info.etag is not None:
            payload["etag"] = info.etag
        return Item(key, payload, {"source": self.spec.source, "path": info.path})

    async def load(self, item: Item) -> Any:
        return item.ref

    async def end(self) -> None:
        pass

    def release(self, item: Item) -> None:
        pass

    async def finish(self, item: Item, succeeded: bool) -> None:
        after = self.spec.after
        if not succeeded or after == "keep":
            return
        fs = self.file_system()
        path = item.ref["path"]
        if after == "delete":
            await fs.call(lambda: fs.delete(path), path)
            return
        assert isinstance(after, MoveTo)
        directory = fs.path(after.move, allow_root=True)
        target = posixpath.join(directory, posixpath.basename(path))

        def move() -> None:
            if not self.whole:  # an object store has no directories to make
                make_dirs(fs, directory)
            fs.rename(path, target, overwrite=True)

        await fs.call(move, path)


def _iso(info: FileInfo) -> str | None:
    return info.modified.isoformat() if info.modified else None


KIND = poll_kind(
    "files",
    FilesTrigger,
    FileSource,
    "polls a directory (local, SFTP, SMB) or an S3 prefix; one execution per new file",
)
