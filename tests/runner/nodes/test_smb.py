"""The smb node against Samba's smbd on loopback: every operation, streaming of large files,
and the errors a user meets (missing file, wrong password, refused port, missing share)."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from tests.conftest import spool_path
from tests.servers.ports import free_port
from tests.servers.smbd import SmbServer
from weir.engine.executor import Engine, TriggerEvent
from weir.flow.load import load_flows_text
from weir.lang.errors import AuthFailed, ConnectionFailed, NodeError, NotFound
from weir.nodes.context import NodeContext
from weir.nodes.smb import SmbConfig, run
from weir.nodes.spool import file_ref, open_content
from weir.secrets.resolve import LocalSecretResolver


@pytest.fixture
def area(smbd: SmbServer) -> tuple[str, Path]:
    """A fresh directory on the share: its path in the share and on disk."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    (smbd.path / name).mkdir()
    return name, smbd.path / name


def smb(smbd: SmbServer, **operation: Any) -> SmbConfig:
    return SmbConfig.model_validate(
        {
            "host": "127.0.0.1",
            "port": smbd.port,
            "share": smbd.share,
            "username": smbd.user,
            "password": {"secret": "smb", "key": "password"},
            **operation,
        }
    )


@pytest.fixture
def ctx(smbd: SmbServer, make_ctx: Callable[..., NodeContext]) -> Callable[..., NodeContext]:
    return lambda **scope: make_ctx(scope=scope, secrets={("smb", "password"): smbd.password})


async def test_put_then_get_round_trips_text_bytes_and_file_references(
    smbd: SmbServer, area: tuple[str, Path], ctx: Callable[..., NodeContext], tmp_path: Path
) -> None:
    name, disk = area
    out = await run(smb(smbd, put={"path": f"{name}/a.txt", "content": "héllo"}), ctx())
    assert out == {"host": "127.0.0.1", "share": "files", "path": f"{name}/a.txt", "size": 6}
    assert (disk / "a.txt").read_text() == "héllo"
    big = spool_path("big.bin")
    big.write_bytes(os.urandom(50 * 1024 * 1024))
    ref = file_ref(big, "big.bin")
    await run(
        smb(smbd, put={"path": f"{name}/deep/er/big.bin", "content": "$.input", "mkdirs": True}),
        ctx(input=ref),
    )
    fetched = await run(smb(smbd, get={"path": f"{name}/deep/er/big.bin"}), ctx())
    assert fetched["size"] == 50 * 1024 * 1024
    assert fetched["source"] == f"smb://127.0.0.1:{smbd.port}/files/{name}/deep/er/big.bin"
    with open_content(fetched) as stream:
        assert hashlib.sha256(stream.read()).digest() == hashlib.sha256(big.read_bytes()).digest()


async def test_put_into_a_missing_directory_fails_unless_asked_to_create_it(
    smbd: SmbServer, area: tuple[str, Path], ctx: Callable[..., NodeContext]
) -> None:
    name, _ = area
    with pytest.raises(NotFound):
        await run(smb(smbd, put={"path": f"{name}/nope/x.txt", "content": "x"}), ctx())


async def test_list_filters_by_glob_regex_and_recursion(
    smbd: SmbServer, area: tuple[str, Path], ctx: Callable[..., NodeContext]
) -> None:
    name, disk = area
    (disk / "sub").mkdir()
    for file in ("a.csv", "b.txt", "sub/c.csv", "sub/d.csv"):
        (disk / file).write_text(file)
    flat = await run(smb(smbd, list={"path": name}), ctx())
    assert sorted(e["name"] for e in flat) == ["a.csv", "b.txt", "sub"]
    kinds = {e["name"]: e["isDir"] for e in flat}
    assert kinds["sub"] is True and kinds["a.csv"] is False
    csv = await run(smb(smbd, list={"path": name, "pattern": "*.csv", "recursive": True}), ctx())
    assert sorted(e["path"] for e in csv) == [
        f"{name}/a.csv",
        f"{name}/sub/c.csv",
        f"{name}/sub/d.csv",
    ]
    regex = await run(
        smb(
            smbd,
            list={"path": name, "regex": r"^sub/[cd]\.csv$", "recursive": True, "filesOnly": True},
        ),
        ctx(),
    )
    assert sorted(e["name"] for e in regex) == ["c.csv", "d.csv"]
    assert all(e["size"] == 9 and e["modified"] for e in regex)


async def test_move_refuses_to_overwrite_unless_told_and_creates_directories(
    smbd: SmbServer, area: tuple[str, Path], ctx: Callable[..., NodeContext]
) -> None:
    name, disk = area
    (disk / "a.txt").write_text("a")
    (disk / "b.txt").write_text("b")
    with pytest.raises(NodeError, match="already exists"):
        await run(smb(smbd, move={"path": f"{name}/a.txt", "to": f"{name}/b.txt"}), ctx())
    await run(
        smb(smbd, move={"path": f"{name}/a.txt", "to": f"{name}/b.txt", "overwrite": True}), ctx()
    )
    assert (disk / "b.txt").read_text() == "a" and not (disk / "a.txt").exists()
    await run(
        smb(smbd, move={"path": f"{name}/b.txt", "to": f"{name}/done/b.txt", "mkdirs": True}), ctx()
    )
    assert (disk / "done" / "b.txt").read_text() == "a"


async def test_delete_and_mkdir(
    smbd: SmbServer, area: tuple[str, Path], ctx: Callable[..., NodeContext]
) -> None:
    name, disk = area
    created = await run(smb(smbd, mkdir={"path": f"{name}/x/y/z"}), ctx())
    assert created["created"] and (disk / "x" / "y" / "z").is_dir()
    assert not (await run(smb(smbd, mkdir={"path": f"{name}/x/y/z"}), ctx()))["created"]
    (disk / "f.txt").write_text("f")
    assert (await run(smb(smbd, delete={"path": f"{name}/f.txt"}), ctx()))["deleted"]
    await run(smb(smbd, delete={"path": f"{name}/x/y/z"}), ctx())
    assert not (disk / "x" / "y" / "z").exists()
    with pytest.raises(NotFound) as missing:
        await run(smb(smbd, delete={"path": f"{name}/f.txt"}), ctx())
    assert not missing.value.retryable and f"{name}/f.txt" in missing.value.message
    assert not (await run(smb(smbd, delete={"path": f"{name}/f.txt", "missingOk": True}), ctx()))[
        "deleted"
    ]


async def test_a_missing_file_is_not_found_and_not_retryable(
    smbd: SmbServer, area: tuple[str, Path], ctx: Callable[..., NodeContext]
) -> None:
    name, _ = area
    with pytest.raises(NotFound) as caught:
        await run(smb(smbd, get={"path": f"{name}/nothing.csv"}), ctx())
    assert not caught.value.retryable and "nothing.csv" in caught.value.message


async def test_a_wrong_password_is_auth_failed_without_the_password(
    smbd: SmbServer, make_ctx: Callable[..., NodeContext]
) -> None:
    ctx = make_ctx(secrets={("smb", "password"): "wrong-password-123"})
    with pytest.raises(AuthFailed) as caught:
        await run(smb(smbd, list={"path": "."}), ctx)
    assert not caught.value.retryable and "wrong-password-123" not in caught.value.message


async def test_a_refused_port_is_a_retryable_connection_failure(
    smbd: SmbServer, make_ctx: Callable[..., NodeContext]
) -> None:
    config = smb(smbd, list={"path": "."}).model_copy(update={"port": free_port(), "timeout": 3.0})
    with pytest.raises(ConnectionFailed) as caught:
        await run(config, make_ctx(secrets={("smb", "password"): smbd.password}))
    assert caught.value.retryable


async def test_a_missing_share_is_named(smbd: SmbServer, ctx: Callable[..., NodeContext]) -> None:
    config = smb(smbd, list={"path": "."}).model_copy(update={"share": "nope"})
    with pytest.raises(NotFound, match="share 'nope' does not exist"):
        await run(config, ctx())


def test_exactly_one_operation_and_no_parent_escapes() -> None:
    base = {"host": "h", "share": "s", "username": "u", "password": {"secret": "s", "key": "k"}}
    with pytest.raises(ValidationError, match=r"exactly one operation \(list, get"):
        SmbConfig.model_validate({**base, "get": {"path": "a"}, "delete": {"path": "a"}})


async def test_a_flow_puts_a_transformed_report_on_the_share(
    smbd: SmbServer, area: tuple[str, Path]
) -> None:
    name, disk = area
    (flow,) = load_flows_text(
        f"""
apiVersion: weir.dev/v1alpha1
kind: Flow
metadata: {{name: to-share}}
spec:
  trigger: {{manual: {{}}}}
  secrets: [{{name: share}}]
  nodes:
    - name: csv
      transform: {{json2csv: {{items: $.input.rows}}}}
      next: store
    - name: store
      smb:
        host: 127.0.0.1
        port: {smbd.port}
        share: files
        username: {{secret: share, key: user}}
        password: {{secret: share, key: password}}
        put: {{path: "{name}/reports/${{input.name}}.csv", content: $.nodes.csv, mkdirs: true}}
"""
    )
    engine = Engine(
        secrets=LocalSecretResolver(
            environ={
                "WEIR_SECRET_SHARE_USER": smbd.user,
                "WEIR_SECRET_SHARE_PASSWORD": smbd.password,
            }
        )
    )
    result = await engine.execute(
        flow, TriggerEvent(payload={"name": "q3", "rows": [{"a": 1}, {"a": 2}]})
    )
    await engine.aclose()
    assert result.ok, result.error
    assert (disk / "reports" / "q3.csv").read_text() == "a\n1\n2\n"


def test_running_out_of_credits_is_a_retryable_error() -> None:
    from smbprotocol.exceptions import SMBException

    from weir.nodes.fs.smb import Share, translate

    share = Share("127.0.0.1", 445, "files", "u", "pw-123456", False, 10.0, {})
    error = translate(
        SMBException("Request requires 1 credits but only 0 credits are available"), share, "a.pdf"
    )
    assert error.retryable and error.type == "smb" and "credits" in error.message
