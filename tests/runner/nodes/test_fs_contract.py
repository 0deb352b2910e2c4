"""The file-system contract (weir/nodes/fs/base.py) holds the same way for every adapter: the
local file system, SFTP against sshd, SMB against smbd and S3 against moto, all on loopback.
One scenario runs the contract's operations on each: write and stat, read back, list, rename
(refused onto an existing target without overwrite, nothing moved), mkdir of an existing
directory, delete, and a missing entry reported alike (ENOENT, then NotFound)."""

from __future__ import annotations

import errno
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest

from weir.lang.errors import NotFound
from weir.nodes.fs.base import FileSystem, Payload
from weir.nodes.fs.ops import make_dirs

T = TypeVar("T")


@contextmanager
def local(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[FileSystem, str]]:
    from weir.nodes.fs.local import LocalFileSystem, Sandbox

    yield LocalFileSystem(Sandbox(tmp_path.resolve())), ""


@contextmanager
def sftp(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[FileSystem, str]]:
    from weir.nodes.fs.sftp import SftpFileSystem
    from weir.nodes.fs.ssh import SshPool, SshSettings

    sshd = request.getfixturevalue("sshd")
    settings = SshSettings(
        host="127.0.0.1",
        port=sshd.port,
        username=sshd.user,
        password=None,
        private_key=sshd.private_key,
        passphrase=None,
        known_hosts=sshd.known_hosts,
        insecure=False,
        timeout=10.0,
    )
    pool = SshPool(settings)
    try:
        yield SftpFileSystem(pool), f"{tmp_path}/"
    finally:
        pool.close()


@contextmanager
def smb(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[FileSystem, str]]:
    import smbclient

    from weir.nodes.fs.smb import Share, SmbFileSystem

    smbd = request.getfixturevalue("smbd")
    area = f"c-{uuid.uuid4().hex[:8]}"
    (smbd.path / area).mkdir()
    cache: dict[str, Any] = {}
    share = Share("127.0.0.1", smbd.port, smbd.share, smbd.user, smbd.password, False, 10.0, cache)
    try:
        yield SmbFileSystem(share), f"{area}/"
    finally:
        smbclient.reset_connection_cache(fail_on_error=False, connection_cache=cache)


@contextmanager
def s3(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[FileSystem, str]]:
    from weir.nodes.fs.s3 import S3FileSystem
    from weir.nodes.fs.s3_client import S3Handle, S3Settings

    server = request.getfixturevalue("s3_server")
    bucket = f"weir-{uuid.uuid4().hex[:12]}"
    server.client().create_bucket(Bucket=bucket)
    handle = S3Handle(
        S3Settings(
            region=server.region,
            endpoint_url=server.endpoint,
            access_key_id=server.access_key_id,
            secret_access_key=server.secret_access_key,
            session_token=None,
            path_style=True,
            timeout=10.0,
        )
    )
    try:
        yield S3FileSystem(handle, bucket), ""
    finally:
        handle.close()


ADAPTERS = {"local": local, "sftp": sftp, "smb": smb, "s3": s3}


@pytest.fixture(params=sorted(ADAPTERS))
def mounted(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[FileSystem, str]]:
    """A file system and the prefix of a fresh, empty place in it."""
    with ADAPTERS[request.param](request, tmp_path) as found:
        yield found


def in_thread(fs: FileSystem, path: str) -> Callable[[Callable[[], T]], Any]:
    return lambda work: fs.call(work, path)


def read_all(fs: FileSystem, path: str) -> bytes:
    with fs.open_read(path) as reading:
        return b"".join(reading.chunks)


def refusal(action: Callable[[], Any]) -> int | None:
    """The errno of the OSError ``action`` raises (the contract's way to refuse); None if none."""
    try:
        action()
    except OSError as exc:
        return exc.errno
    return None


async def test_every_adapter_keeps_the_contract(mounted: tuple[FileSystem, str]) -> None:
    fs, prefix = mounted
    folder, a, b, c = (fs.path(prefix + name) for name in ("dir", "dir/a", "dir/b", "dir/c"))
    run = in_thread(fs, folder)

    assert await run(lambda: make_dirs(fs, folder)) is True
    written = await run(lambda: fs.write(a, Payload(b"hello")))
    assert written.size == 5
    info = await run(lambda: fs.stat(a))
    assert (info.name, info.is_dir, info.size) == ("a", False, 5)
    assert (await run(lambda: fs.stat(folder))).is_dir
    assert await run(lambda: read_all(fs, a)) == b"hello"
    listed = await run(lambda: [entry.path for entry in fs.list(folder)])
    assert any(path.endswith("dir/a") for path in listed), listed

    await run(lambda: fs.rename(a, b, overwrite=False))
    assert await run(lambda: (fs.exists(a), fs.exists(b))) == (False, True)
    await run(lambda: fs.write(c, Payload("other")))
    assert await run(lambda: refusal(lambda: fs.rename(b, c, overwrite=False))) == errno.EEXIST
    assert await run(lambda: (read_all(fs, b), read_all(fs, c))) == (b"hello", b"other")
    await run(lambda: fs.rename(b, c, overwrite=True))
    assert await run(lambda: (fs.exists(b), read_all(fs, c))) == (False, b"hello")

    assert await run(lambda: refusal(lambda: fs.mkdir(folder))) == errno.EEXIST
    await run(lambda: fs.delete(c))
    await run(lambda: fs.delete(folder, directory=True))
    assert await run(lambda: refusal(lambda: fs.stat(folder))) == errno.ENOENT
    with pytest.raises(NotFound):
        await fs.call(lambda: read_all(fs, c), c)
