"""The file node on the real filesystem (tmp_path): listing (glob, regex, recursion, links not
followed), read as text/bytes/file reference, atomic write of text/bytes/JSON/file references
(old content intact until the rename, no temporary files left on failure, mode kept), a 50 MB
file streamed through a file reference within a few megabytes of memory, append, delete,
rename/move (overwrite refusal), mkdir; paths escaping the base directory (.., absolute paths,
symbolic links out) refused; baseDir resolution (working directory, WEIR_FILE_BASE_DIR); a
transform -> write -> list flow through the engine."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import pytest
from pydantic import ValidationError

from tests.conftest import spool_path
from weir.lang.errors import ConfigError, NodeError, NotFound
from weir.nodes.context import NodeContext
from weir.nodes.file import FileConfig, run
from weir.nodes.fs import local as file_node
from weir.nodes.fs.base import Cancelled
from weir.nodes.fs.local import BASE_DIR_ENV
from weir.nodes.spool import is_file_ref

MIB = 1024 * 1024


@pytest.fixture(autouse=True)
def no_outer_base(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(BASE_DIR_ENV, raising=False)


@pytest.fixture
def base(tmp_path: Path) -> Path:
    directory = tmp_path / "base"
    directory.mkdir()
    return directory


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    directory = tmp_path / "outside"
    directory.mkdir()
    (directory / "secret.txt").write_text("top secret")
    return directory


def config(base: Path, **fields: Any) -> FileConfig:
    return FileConfig.model_validate({"baseDir": str(base), **fields})


async def op(
    base: Path,
    make_ctx: Callable[..., NodeContext],
    scope: dict[str, Any] | None = None,
    **fields: Any,
) -> Any:
    return await run(config(base, **fields), make_ctx(scope=scope))


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


# -- list ------------------------------------------------------------------------------------


async def test_listing_gives_relative_paths_sizes_times_and_kinds(
    base: Path, make_ctx: Callable[..., NodeContext]
) -> None:
    (base / "a.csv").write_text("id\n1\n")
    (base / "sub").mkdir()
    (base / "sub" / "deep.csv").write_text("x")
    os.utime(base / "a.csv", (1_700_000_000, 1_700_000_000))
    entries = await op(base, make_ctx, list={})
    assert entries == [
        {
            "name": "a.csv",
            "path": "a.csv",
            "size": 5,
            "modified": "2023-11-14T22:13:20+00:00",
            "isDir": False,
        },
        {
            "name": "sub",
            "path": "sub",
            "size": entries[1]["size"],
            "modified": entries[1]["modified"],
            "isDir": True,
        },
    ]
    inner = await op(base, make_ctx, list={"path": "sub"})
    assert [(e["name"], e["path"], e["size"]) for e in inner] == [("deep.csv", "sub/deep.csv", 1)]


async def test_a_glob_with_recursion_finds_matching_files_in_subdirectories(
    base: Path, make_ctx: Callable[..., NodeContext]
) -> None:
    for name in ("a.csv", "b.txt", "in/c.csv", "in/old/d.csv", "in/old/e.json"):
        (base / name).parent.mkdir(parents=True, exist_ok=True)
        (base / name).write_text(name)
    listed = await op(base, make_ctx, list={"pattern": "*.csv", "recursive": True})
    assert [e["path"] for e in listed] == ["a.csv", "in/c.csv", "in/old/d.csv"]
    flat = await op(base, make_ctx, list={"path": ".", "filesOnly": True})
    assert [e["name"] for e in flat] == ["a.csv", "b.txt"]
    nested = await op(base, make_ctx, list={"path": "in", "recursive": True, "filesOnly": True})
    assert [e["path"] for e in nested] == ["in/c.csv", "in/old/d.csv", "in/old/e.json"]


async def test_a_regex_is_searched_in_paths_relative_to_the_listed_directory(
    base: Path, make_ctx: Callable[..., NodeContext]
) -> None:
    for name in ("data/2024/jan.csv", "data/2025/feb.csv", "data/2025/notes.txt"):
        (base / name).parent.mkdir(parents=True, exist_ok=True)
        (base / name).write_text(name)
    listed = await op(
        base, make_ctx, list={"path": "data", "regex": r"^2025/.*\.csv$", "recursive": True}
    )
    assert [e["path"] for e in listed] == ["data/2025/feb.csv"]


async def test_symbolic_links_are_listed_but_never_followed(
    base: Path, outside: Path, make_ctx: Callable[..., NodeContext]
) -> None:
    (base / "escape").symlink_to(outside, target_is_directory=True)
    listed = await op(base, make_ctx, list={"recursive": True})
    assert [(e["path"], e["isDir"]) for e in listed] == [("escape", False)]


async def test_listing_a_missing_directory_or_a_file_fails(
    base: Path, make_ctx: Callable[..., NodeContext]
) -> None:
    (base / "f.txt").write_text("x")
    with pytest.raises(NotFound) as caught:
        await op(base, make_ctx, list={"path": "nowhere"})
    assert "nowhere" in caught.value.message and str(base) in caught.value.message
    with pytest.raises(ConfigError, match="not a directory"):
        await op(base, make_ctx, list={"path": "f.txt"})


# -- read ------------------------------------------------------------------------------------


async def test_read_returns_text_in_the_chosen_encoding_or_bytes(
    base: Path, make_ctx: Callable[..., NodeContext]
) -> None:
    (base / "utf8.txt").write_text("héllo", encoding="utf-8")
    (base / "latin.txt").write_bytes("héllo".encode("latin-1"))
    assert await op(base, make_ctx, read={"path": "utf8.txt"}) == "héllo"
    assert await op(base, make_ctx, read={"path": "latin.txt", "encoding": "latin-1"}) == "héllo"
    raw = await op(base, make_ctx, read={"path": "latin.txt", "as": "bytes"})
    assert raw == "héllo".encode("latin-1")
    with pytest.raises(NodeError) as caught:
        await op(base, make_ctx, read={"path": "latin.txt"})
    assert caught.value.type == "format" and "latin.txt" in caught.value.message


async def test_read_as_file_spools_a_copy_and_outputs_a_file_reference(
    base: Path, make_ctx: Callable[..., NodeContext]
) -> None:
    data = os.urandom(3 * MIB + 17)
    (base / "in").mkdir()
    (base / "in" / "report.csv").write_bytes(data)
    ref = await op(base, make_ctx, read={"path": "in/report.csv", "as": "file"})
    assert is_file_ref(ref)
    assert ref["name"] == "report.csv" and ref["size"] == len(data)
    assert ref["contentType"] == "text/csv"
    assert ref["source"] == f"file://{base}/in/report.csv"
    spooled = Path(ref["$file"])
    assert spooled != base / "in" / "report.csv"
    assert spooled.read_bytes() == data


async def test_text_and_bytes_reads_are_limited_by_max_size(
    base: Path, make_ctx: Callable[..., NodeContext]
) -> None:
    (base / "big.txt").write_text("x" * 2048)
    with pytest.raises(NodeError) as caught:
        await op(base, make_ctx, read={"path": "big.txt", "maxSize": "1Ki"})
    assert caught.value.type == "too_large" and "as: file" in caught.value.message
    assert await op(base, make_ctx, read={"path": "big.txt", "maxSize": 2048}) == "x" * 2048


async def test_a_missing_file_is_not_found_and_names_the_path_and_base(
    base: Path, make_ctx: Callable[..., NodeContext]
) -> None:
    with pytest.raises(NotFound) as caught:
        await op(base, make_ctx, read={"path": "missing.csv"})
    assert caught.value.type == "not_found" and caught.value.retryable is False
    assert "missing.csv" in caught.value.message and str(base) in caught.value.message
    (base / "dir").mkdir()
    with pytest.raises(ConfigError, match="is a directory"):
        await op(base, make_ctx, read={"path": "dir"})


# -- write -----------------------------------------------------------------------------------


async def test_write_accepts_text_bytes_json_values_and_file_references(
    base: Path, tmp_path: Path, make_ctx: Callable[..., NodeContext]
) -> None:
    local = spool_path("local.bin")
    local.write_bytes(os.urandom(200_000))
    ref = {"$file": str(local), "name": "local.bin", "size": 200_000}
    cases: dict[str, tuple[Any, bytes]] = {
        "text.txt": ("héllo", "héllo".encode()),
        "raw.bin": (b"\x00\x01", b"\x00\x01"),
        "data.json": ({"name": "Zoë", "n": [1, 2]}, '{"name": "Zoë", "n": [1, 2]}'.encode()),
        "number.json": (42, b"42"),
        "ref.bin": (ref, local.read_bytes()),
    }
    for name, (value, expected) in cases.items():
        out = await op(
            base,
            make_ctx,
            scope={"input": {"value": value}},
            write={"path": name, "content": "$.input.value"},
        )
        assert out == {"baseDir": str(base), "path": name, "size": len(expected)}
        assert (base / name).read_bytes() == expected
    await op(base, make_ctx, write={"path": "latin.txt", "content": "é", "encoding": "latin-1"})
    assert (base / "latin.txt").read_bytes() == b"\xe9"
    assert leftovers(base) == []


async def test_write_replaces_a_file_and_keeps_its_mode(
    base: Path, make_ctx: Callable[..., NodeContext]
) -> None:
    target = base / "script.sh"
    target.write_text("old")
    target.chmod(0o750)
    await op(base, make_ctx, write={"path": "script.sh", "content": "new"})
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o750


async def test_write_creates_missing_directories_only_when_asked(
    base: Path, make_ctx: Callable[..., NodeContext]
) -> None:
    with pytest.raises(NotFound, match="mkdirs: true"):
        await op(base, make_ctx, write={"path": "out/2025/x.txt", "content": "x"})
    assert not (base / "out").exists()
    out = await op(base, make_ctx, write={"path": "out/2025/x.txt", "content": "x", "mkdirs": True})
    assert out["path"] == "out/2025/x.txt"
    assert (base / "out/2025/x.txt").read_text() == "x"


async def test_a_reader_sees_the_old_file_until_the_new_one_is_complete(
    base: Path, make_ctx: Callable[..., NodeContext], monkeypatch: pytest.MonkeyPatch
) -> None:
    target = base / "report.csv"
    target.write_text("old,complete\n")
    seen: list[tuple[str, list[str]]] = []
    original = file_node._copy

    def observing_copy(source: IO[bytes], out: IO[bytes], stop: Any) -> int:
        size = original(source, out, stop)
        out.flush()  # everything is written, but not renamed yet
        seen.append((target.read_text(), leftovers(base)))
        return size

    monkeypatch.setattr(file_node, "_copy", observing_copy)
    await op(base, make_ctx, write={"path": "report.csv", "content": "new,complete\n" * 1000})
    assert len(seen) == 1
    during, temporaries = seen[0]
    assert during == "old,complete\n"
    assert len(temporaries) == 1 and temporaries[0].startswith(".report.csv.")
    assert target.read_text() == "new,complete\n" * 1000
    assert leftovers(base) == []


async def test_a_failed_or_cancelled_write_leaves_the_old_file_and_no_temporary(
    base: Path, make_ctx: Callable[..., NodeContext], monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    target = base / "report.csv"
    target.write_text("old")

    def failing_copy(source: IO[bytes], out: IO[bytes], stop: Any) -> int:
        out.write(source.read(3))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(file_node, "_copy", failing_copy)
    with pytest.raises(NodeError) as caught:
        await op(base, make_ctx, write={"path": "report.csv", "content": "new content"})
    assert caught.value.type == "file" and "No space left" in caught.value.message
    assert target.read_text() == "old" and leftovers(base) == []
    monkeypatch.undo()

    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        file_node.write_atomic(target, b"new", mkdirs=False, shown="report.csv", stop=stop)
    assert target.read_text() == "old" and leftovers(base) == []


async def test_a_missing_file_reference_is_a_config_error_and_writes_nothing(
    base: Path, tmp_path: Path, make_ctx: Callable[..., NodeContext]
) -> None:
    gone = {"$file": str(spool_path("gone.bin")), "name": "gone.bin", "size": 1}
    with pytest.raises(ConfigError, match="no longer available"):
        await op(
            base,
            make_ctx,
            scope={"input": {"ref": gone}},
            write={"path": "x.bin", "content": "$.input.ref"},
        )
    assert list(base.iterdir()) == []


async def test_a_50_mb_file_streams_through_a_file_reference_without_being_loaded(
    base: Path, make_ctx: Callable[..., NodeContext]
) -> None:
    source = base / "big.bin"
    digest = hashlib.sha256()
    with open(source, "wb") as out:
        for index in range(50):
            chunk = os.urandom(64) * (MIB // 64) + index.to_bytes(4, "big")
            digest.update(chunk)
            out.write(chunk)
    size = source.stat().st_size
    tracemalloc.start()
    try:
        ref = await op(base, make_ctx, read={"path": "big.bin", "as": "file"})
        out = await op(
            base,
            make_ctx,
            scope={"nodes": {"read": ref}},
            write={"path": "copy/big.bin", "content": "$.nodes.read", "mkdirs": True},
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert ref["size"] == size and out["size"] == size
    assert peak < 8 * MIB, f"peak {peak} bytes: the file was loaded into memory"
    copied = hashlib.sha256()
    with open(base / "copy" / "big.bin", "rb") as stream:
        while chunk := stream.read(MIB):
            copied.update(chunk)
    assert copied.hexdigest() == digest.hexdigest()


# -- append ----------------------------------------------------------------------------------


async def test_append_creates_the_file_then_adds_to_it(
    base: Path, tmp_path: Path, make_ctx: Callable[..., NodeContext]
) -> None:
    first = await op(base, make_ctx, append={"path": "log.txt", "content": "one\n"})
    assert first == {"baseDir": str(base), "path": "log.txt", "size": 4, "appended": 4}
    local = spool_path("more.txt")
    local.write_bytes(b"two\n")
    ref = {"$file": str(local), "name": "more.txt", "size": 4}
    second = await op(
        base,
        make_ctx,
        scope={"input": {"ref": ref}},
        append={"path": "log.txt", "content": "$.input.ref"},
    )
    assert second["size"] == 8 and second["appended"] == 4
    assert (base / "log.txt").read_text() == "one\ntwo\n"


async def test_append_with_newline_writes_json_lines(
    base: Path, make_ctx: Callable[..., NodeContext]
) -> None:
    for n in (1, 2):
        await op(
            base,
            make_ctx,
            scope={"input": {"event": {"n": n}}},
            append={
                "path": "events/all.jsonl",
                "content": "$.input.event",
                "newline": True,
                "mkdirs": True,
            },
        )
    lines = (base / "events/all.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [{"n": 1}, {"n": 2}]


# -- delete, rename, mkdir -------------------------------------------------------------------


async def test_delete_removes_files_and_empty_directories(
    base: Path, make_ctx: Callable[..., NodeContext]
) -> None:
    (base / "f.txt").write_text("x")
    (base / "empty").mkdir()
    (base / "full").mkdir()
    (base / "full" / "keep").write_text("x")
    out = await op(base, make_ctx, delete={"path": "f.txt"})
    assert out == {"baseDir": str(base), "path": "f.txt", "deleted": True}
    assert not (base / "f.txt").exists()
    await op(base, make_ctx, delete={"path": "empty"})
    assert not (base / "empty").exists()
    with pytest.raises(NodeError, match="not empty"):
        await op(base, make_ctx, delete={"path": "full"})
    assert (base / "full" / "keep").exists()


async def test_deleting_a_missing_file_fails_unless_missing_is_ok(
    base: Path, make_ctx: Callable[..., NodeContext]
) -> None:
    with pytest.raises(NotFound) as caught:
        await op(base, make_ctx, delete={"path": "gone"})
    assert caught.value.retryable is False and "gone" in caught.value.message
    out = await op(base, make_ctx, delete={"path": "gone", "missingOk": True})
    assert out["deleted"] is False


async def test_a_link_inside_the_base_is_deleted_itself_not_its_target(
    base: Path, make_ctx: Callable[..., NodeContext]
) -> None:
    (base / "real.txt").write_text("x")
    (base / "alias.txt").symlink_to(base / "real.txt")
    await op(base, make_ctx, delete={"path": "alias.txt"})
    assert not (base / "alias.txt").is_symlink() and (base / "real.txt").read_text() == "x"


async def test_rename_refuses_to_overwrite_unless_told(
    base: Path, make_ctx: Callable[..., NodeContext]
) -> None:
    (base / "new.csv").write_text("new")
    (base / "old.csv").write_text("old")
    rename = {"path": "new.csv", "to": "old.csv"}
    with pytest.raises(NodeError) as caught:
        await op(base, make_ctx, rename=rename)
    assert caught.value.type == "exists" and "overwrite: true" in caught.value.message
    assert (base / "old.csv").read_text() == "old" and (base / "new.csv").read_text() == "new"
    out = await op(base, make_ctx, rename={**rename, "overwrite": True})
    assert out == {"baseDir": str(base), "path": "new.csv", "to": "old.csv"}
    assert (base / "old.csv").read_text() == "new" and not (base / "new.csv").exists()


async def test_move_puts_files_and_directories_elsewhere_creating_directories_on_demand(
    base: Path, make_ctx: Callable[..., NodeContext]
) -> None:
    (base / "in.csv").write_text("x")
    (base / "batch").mkdir()
    (base / "batch" / "a.txt").write_text("a")
    with pytest.raises(NotFound):
        await op(base, make_ctx, move={"path": "in.csv", "to": "done/2025/in.csv"})
    await op(base, make_ctx, move={"path": "in.csv", "to": "done/2025/in.csv", "mkdirs": True})
    assert (base / "done/2025/in.csv").read_text() == "x" and not (base / "in.csv").exists()
    await op(base, make_ctx, move={"path": "batch", "to": "done/batch"})
    assert (base / "done/batch/a.txt").read_text() == "a" and not (base / "batch").exists()
    (base / "batch").mkdir()
    with pytest.raises(NodeError) as caught:
        await op(base, make_ctx, move={"path": "batch", "to": "done/batch"})
    assert caught.value.type == "exists"
    with pytest.raises(NotFound):
        await op(base, make_ctx, move={"path": "nothing", "to": "else"})


async def test_mkdir_creates_parents_and_accepts_an_existing_directory(
    base: Path, make_ctx: Callable[..., NodeContext]
) -> None:
    out = await op(base, make_ctx, mkdir={"path": "a/b/c"})
    assert out == {"baseDir": str(base), "path": "a/b/c", "created": True}
    assert (base / "a/b/c").is_dir()
    again = await op(base, make_ctx, mkdir={"path": "a/b/c"})
    assert again["created"] is False
    with pytest.raises(NodeError) as caught:
        await op(base, make_ctx, mkdir={"path": "a", "parents": False})
    assert caught.value.type == "exists"
    with pytest.raises(NotFound):
        await op(base, make_ctx, mkdir={"path": "x/y", "parents": False})
    (base / "f").write_text("x")
    with pytest.raises(NodeError) as caught:
        await op(base, make_ctx, mkdir={"path": "f"})
    assert caught.value.type == "exists"


# -- confinement -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"read": {"path": "../../etc/passwd"}},
        {"read": {"path": "/etc/passwd"}},
        {"read": {"path": "sub/../../outside/secret.txt"}},
        {"write": {"path": "../outside/new.txt", "content": "x"}},
        {"append": {"path": "/tmp/weir-escape.txt", "content": "x"}},
        {"delete": {"path": "../outside/secret.txt"}},
        {"list": {"path": ".."}},
        {"mkdir": {"path": "../made"}},
        {"move": {"path": "a.txt", "to": "../outside/a.txt"}},
        {"move": {"path": "../outside/secret.txt", "to": "stolen.txt"}},
    ],
)
async def test_paths_that_leave_the_base_directory_are_refused(
    fields: dict[str, Any], base: Path, outside: Path, make_ctx: Callable[..., NodeContext]
) -> None:
    (base / "sub").mkdir()
    (base / "a.txt").write_text("a")
    with pytest.raises(ConfigError) as caught:
        await op(base, make_ctx, **fields)
    path = next(iter(fields.values()))["path"]
    escaping = path if ".." in path or path.startswith("/") else fields["move"]["to"]
    assert repr(escaping) in caught.value.message and str(base) in caught.value.message
    assert caught.value.retryable is False
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert (outside / "secret.txt").read_text() == "top secret"
    assert not (base.parent / "made").exists() and (base / "a.txt").exists()
    assert not Path("/tmp/weir-escape.txt").exists()


async def test_symbolic_links_out_of_the_base_directory_are_refused(
    base: Path, outside: Path, make_ctx: Callable[..., NodeContext]
) -> None:
    (base / "secret.txt").symlink_to(outside / "secret.txt")
    (base / "elsewhere").symlink_to(outside, target_is_directory=True)
    attempts: list[dict[str, Any]] = [
        {"read": {"path": "secret.txt"}},
        {"read": {"path": "secret.txt", "as": "file"}},
        {"write": {"path": "secret.txt", "content": "overwritten"}},
        {"append": {"path": "secret.txt", "content": "more"}},
        {"delete": {"path": "secret.txt"}},
        {"read": {"path": "elsewhere/secret.txt"}},
        {"write": {"path": "elsewhere/new.txt", "content": "x"}},
        {"list": {"path": "elsewhere"}},
        {"mkdir": {"path": "elsewhere/made"}},
        {"move": {"path": "elsewhere/secret.txt", "to": "mine.txt"}},
    ]
    for fields in attempts:
        with pytest.raises(ConfigError, match="outside the base directory") as caught:
            await op(base, make_ctx, **fields)
        assert str(base) in caught.value.message
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert (outside / "secret.txt").read_text() == "top secret"
    assert (base / "secret.txt").is_symlink()


async def test_links_that_stay_inside_the_base_directory_work(
    base: Path, make_ctx: Callable[..., NodeContext]
) -> None:
    (base / "data").mkdir()
    (base / "data" / "a.txt").write_text("a")
    (base / "current").symlink_to(base / "data", target_is_directory=True)
    assert await op(base, make_ctx, read={"path": "current/a.txt"}) == "a"
    await op(base, make_ctx, write={"path": "current/b.txt", "content": "b"})
    assert (base / "data" / "b.txt").read_text() == "b"


async def test_the_base_directory_itself_is_not_a_file_to_delete_or_write(
    base: Path, make_ctx: Callable[..., NodeContext]
) -> None:
    for fields in ({"delete": {"path": "."}}, {"write": {"path": "", "content": "x"}}):
        with pytest.raises(ConfigError, match=r"base directory .* itself"):
            await op(base, make_ctx, **fields)
    assert base.is_dir()


# -- baseDir ---------------------------------------------------------------------------------


async def test_a_relative_base_dir_starts_at_the_working_directory(
    tmp_path: Path, make_ctx: Callable[..., NodeContext], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "work" / "files").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "work")
    out = await run(
        FileConfig.model_validate({"baseDir": "files", "write": {"path": "x", "content": "1"}}),
        make_ctx(),
    )
    assert out["baseDir"] == str(tmp_path / "work" / "files")
    assert (tmp_path / "work" / "files" / "x").read_text() == "1"


async def test_weir_file_base_dir_anchors_and_confines_every_base_dir(
    tmp_path: Path, make_ctx: Callable[..., NodeContext], monkeypatch: pytest.MonkeyPatch
) -> None:
    volume = tmp_path / "volume"
    (volume / "reports").mkdir(parents=True)
    monkeypatch.setenv(BASE_DIR_ENV, str(volume))
    write = {"path": "r.txt", "content": "1"}
    out = await run(FileConfig.model_validate({"baseDir": "reports", "write": write}), make_ctx())
    assert out["baseDir"] == str(volume / "reports") and (volume / "reports/r.txt").exists()
    inside = {"baseDir": str(volume / "reports"), "write": write}
    assert (await run(FileConfig.model_validate(inside), make_ctx()))["size"] == 1
    for escaping in (str(tmp_path), "../"):
        with pytest.raises(ConfigError, match=BASE_DIR_ENV):
            await run(FileConfig.model_validate({"baseDir": escaping, "write": write}), make_ctx())
    assert not (tmp_path / "r.txt").exists()


async def test_a_missing_base_dir_is_a_config_error(
    tmp_path: Path, make_ctx: Callable[..., NodeContext]
) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        await op(tmp_path / "nowhere", make_ctx, list={})


def test_a_node_takes_exactly_one_valid_operation() -> None:
    cases = {
        "exactly one operation (list, read, write, append, delete, rename, move, mkdir), "
        "found none": {},
        "found read, delete": {"read": {"path": "a"}, "delete": {"path": "a"}},
        "invalid regular expression": {"list": {"regex": "("}},
        "unknown encoding": {"read": {"path": "a", "encoding": "klingon"}},
        "Input should be 'text', 'bytes' or 'file'": {"read": {"path": "a", "as": "pdf"}},
        "Extra inputs are not permitted": {"read": {"path": "a", "as_": "text"}},
    }
    for message, fields in cases.items():
        with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
            FileConfig.model_validate({"baseDir": "/tmp", **fields})
    with pytest.raises(ValidationError, match="baseDir"):
        FileConfig.model_validate({"list": {}})


# -- through the engine ----------------------------------------------------------------------


async def test_a_flow_writes_a_csv_report_and_lists_it_through_the_engine(base: Path) -> None:
    from weir.engine.executor import Engine, TriggerEvent
    from weir.flow.load import load_flows_text

    flow = load_flows_text(
        f"""
apiVersion: weir.dev/v1alpha1
kind: Flow
metadata: {{name: file-report}}
spec:
  trigger: {{manual: {{}}}}
  nodes:
  - name: csv
    transform:
      json2csv: {{items: $.input.rows, columns: [id, name]}}
    next: save
  - name: save
    file:
      baseDir: {base}
      write: {{path: "${{input.dir}}/report.csv", content: $.nodes.csv, mkdirs: true}}
    next: listing
  - name: listing
    file:
      baseDir: {base}
      list: {{path: $.input.dir, pattern: "*.csv"}}
"""
    )[0]
    rows = [{"id": 1, "name": "Ada"}, {"id": 2, "name": "Grace"}]
    engine = Engine()
    try:
        result = await engine.execute(flow, TriggerEvent(payload={"dir": "out", "rows": rows}))
        assert result.status == "succeeded", result.error
        escaped = await engine.execute(flow, TriggerEvent(payload={"dir": "../..", "rows": rows}))
    finally:
        await engine.aclose()
    assert (base / "out" / "report.csv").read_text() == "id,name\n1,Ada\n2,Grace\n"
    assert [(e["path"], e["size"]) for e in result.result] == [("out/report.csv", 22)]
    assert escaped.status == "failed" and escaped.error is not None
    assert escaped.error["type"] == "config" and escaped.error["node"] == "save"
    assert "outside the base directory" in escaped.error["message"]
