"""The file node refuses special files under its base directory: reading, appending to or
writing over a FIFO, a socket or a device is a clear error naming the path and what it is,
at once, instead of a worker thread blocked forever (a FIFO with no writer) or a device read;
a file reference to a FIFO is refused the same way; regular files and listing still work."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import spool_path
from weir.lang.errors import NodeError
from weir.nodes.context import NodeContext
from weir.nodes.file import FileConfig, run
from weir.nodes.fs.local import BASE_DIR_ENV
from weir.nodes.spool import open_content

GUARD = 20  # seconds: only there so that a regression fails instead of hanging


@pytest.fixture(autouse=True)
def no_outer_base(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(BASE_DIR_ENV, raising=False)


def _release(path: Path) -> None:
    """Unblock a thread stuck opening the FIFO (what the node did before it refused them)."""
    for flags in (os.O_WRONLY | os.O_NONBLOCK, os.O_RDONLY | os.O_NONBLOCK):
        with contextlib.suppress(OSError):
            os.close(os.open(path, flags))


@pytest.fixture(params=["fifo", "socket", "device"])
def special(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A base directory holding one special file ``special``, and the word naming its kind."""
    base = tmp_path / "base"
    base.mkdir()
    target = base / "special"
    listener = None
    if request.param == "fifo":
        os.mkfifo(target)
        word = "FIFO"
    elif request.param == "socket":
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(target))
        listener.listen()
        word = "socket"
    else:
        try:
            os.mknod(target, stat.S_IFCHR | 0o600, os.makedev(1, 3))  # what /dev/null is
        except PermissionError:
            pytest.skip("device nodes cannot be created here (needs CAP_MKNOD)")
        word = "device"
    yield target, word
    if request.param == "fifo":
        for _ in range(3):
            _release(target)
    if listener is not None:
        listener.close()


def config(base: Path, **fields: Any) -> FileConfig:
    return FileConfig.model_validate({"baseDir": str(base), **fields})


@pytest.mark.parametrize(
    "operation",
    [
        {"read": {"path": "special"}},
        {"read": {"path": "special", "as": "bytes"}},
        {"read": {"path": "special", "as": "file"}},
        {"append": {"path": "special", "content": "x"}},
        {"write": {"path": "special", "content": "x"}},
    ],
    ids=["read-text", "read-bytes", "read-file", "append", "write"],
)
async def test_special_files_are_refused_with_a_clear_error(
    special: tuple[Path, str],
    operation: dict[str, Any],
    make_ctx: Callable[..., NodeContext],
) -> None:
    target, word = special
    try:
        async with asyncio.timeout(GUARD):
            with pytest.raises(NodeError) as caught:
                await run(config(target.parent, **operation), make_ctx())
    finally:
        _release(target)
    message = caught.value.message
    assert word in message and "special (in " in message and "not a regular file" in message
    assert caught.value.type == "file" and caught.value.retryable is False
    assert not stat.S_ISREG(target.lstat().st_mode), "the special file was replaced"


async def test_a_file_reference_to_a_fifo_is_refused(tmp_path: Path) -> None:
    fifo = spool_path("pipe")
    os.mkfifo(fifo)

    def read() -> bytes:
        with open_content({"$file": str(fifo), "name": "pipe"}) as stream:
            return stream.read()

    try:
        async with asyncio.timeout(GUARD):
            with pytest.raises(NodeError, match=r"'pipe' is a FIFO \(named pipe\)"):
                await asyncio.to_thread(read)
    finally:
        _release(fifo)


async def test_regular_files_and_listings_still_work_next_to_a_fifo(
    tmp_path: Path, make_ctx: Callable[..., NodeContext]
) -> None:
    base = tmp_path / "base"
    base.mkdir()
    os.mkfifo(base / "pipe")
    await run(config(base, write={"path": "a.txt", "content": "one"}), make_ctx())
    await run(config(base, append={"path": "a.txt", "content": "+two"}), make_ctx())
    assert await run(config(base, read={"path": "a.txt"}), make_ctx()) == "one+two"
    listed = await run(config(base, list={}), make_ctx())
    assert sorted(entry["name"] for entry in listed) == ["a.txt", "pipe"]
