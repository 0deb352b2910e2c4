"""The sftp node against a real OpenSSH sshd on loopback: listing (glob, regex, recursion),
get spooled to a file reference (short server answers completed), put from text/bytes/file references with mkdirs, delete,
rename/move (overwrite rules), mkdir with parents; key, encrypted-key and password logins;
known_hosts checking (plain and hashed entries, unknown and changed keys) and the insecure
switch; errors for wrong credentials, refused and silent servers, missing files; connection
reuse and reconnection; a get -> put flow through the engine."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from tests.conftest import require_service, spool_path
from tests.servers.ports import free_port
from tests.servers.sshd import SshServer, can_create_users
from weir.lang.errors import AuthFailed, ConfigError, ConnectionFailed, NodeError, NotFound
from weir.nodes.context import NodeContext
from weir.nodes.sftp import SftpConfig, run
from weir.nodes.spool import is_file_ref

KEY = {"secret": "ssh", "key": "key"}
HOSTS = {"secret": "ssh", "key": "hosts"}


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    """A directory the SFTP server sees at the same absolute path."""
    directory = tmp_path / "remote"
    directory.mkdir()
    return directory


@pytest.fixture
def ssh_ctx(sshd: SshServer, make_ctx: Callable[..., NodeContext]) -> Callable[..., NodeContext]:
    def build(**secrets: str) -> NodeContext:
        values = {("ssh", "key"): sshd.private_key, ("ssh", "hosts"): sshd.known_hosts}
        values.update({("ssh", name): value for name, value in secrets.items()})
        return make_ctx(secrets=values)

    return build


def config(sshd: SshServer, **fields: Any) -> SftpConfig:
    base: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": sshd.port,
        "username": sshd.user,
        "privateKey": KEY,
        "knownHosts": HOSTS,
    }
    return SftpConfig.model_validate({**base, **fields})


async def test_listing_a_directory_gives_names_paths_sizes_times_and_kinds(
    sshd: SshServer, remote: Path, ssh_ctx: Callable[..., NodeContext]
) -> None:
    (remote / "a.csv").write_text("id\n1\n")
    (remote / "sub").mkdir()
    (remote / "sub" / "deep.csv").write_text("x")
    os.utime(remote / "a.csv", (1_700_000_000, 1_700_000_000))
    entries = await run(config(sshd, list={"path": str(remote)}), ssh_ctx())
    assert entries == [
        {
            "name": "a.csv",
            "path": f"{remote}/a.csv",
            "size": 5,
            "modified": "2023-11-14T22:13:20+00:00",
            "isDir": False,
        },
        {
            "name": "sub",
            "path": f"{remote}/sub",
            "size": entries[1]["size"],
            "modified": entries[1]["modified"],
            "isDir": True,
        },
    ]


async def test_a_glob_with_recursion_finds_matching_files_in_subdirectories(
    sshd: SshServer, remote: Path, ssh_ctx: Callable[..., NodeContext]
) -> None:
    for name in ("a.csv", "b.txt", "in/c.csv", "in/old/d.csv", "in/old/e.json"):
        (remote / name).parent.mkdir(parents=True, exist_ok=True)
        (remote / name).write_text(name)
    listed = await run(
        config(sshd, list={"path": str(remote), "pattern": "*.csv", "recursive": True}),
        ssh_ctx(),
    )
    assert [e["path"] for e in listed] == [
        f"{remote}/a.csv",
        f"{remote}/in/c.csv",
        f"{remote}/in/old/d.csv",
    ]
    flat = await run(config(sshd, list={"path": str(remote), "filesOnly": True}), ssh_ctx())
    assert [e["name"] for e in flat] == ["a.csv", "b.txt"]


async def test_a_regex_is_searched_in_paths_relative_to_the_listed_directory(
    sshd: SshServer, remote: Path, ssh_ctx: Callable[..., NodeContext]
) -> None:
    for name in ("2024/jan.csv", "2025/feb.csv", "2025/notes.txt"):
        (remote / name).parent.mkdir(parents=True, exist_ok=True)
        (remote / name).write_text(name)
    listed = await run(
        config(sshd, list={"path": str(remote), "regex": r"^2025/.*\.csv$", "recursive": True}),
        ssh_ctx(),
    )
    assert [e["path"] for e in listed] == [f"{remote}/2025/feb.csv"]


async def test_get_spools_the_file_and_outputs_a_file_reference(
    sshd: SshServer, remote: Path, ssh_ctx: Callable[..., NodeContext]
) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)  # more than the requests kept in flight
    (remote / "report.csv").write_bytes(data)
    ref = await run(config(sshd, get={"path": f"{remote}/report.csv"}), ssh_ctx())
    assert is_file_ref(ref)
    assert ref["name"] == "report.csv" and ref["size"] == len(data)
    assert ref["contentType"] == "text/csv"
    assert ref["source"] == f"sftp://127.0.0.1:{sshd.port}{remote}/report.csv"
    spooled = Path(ref["$file"])
    assert spooled != remote / "report.csv"
    assert spooled.read_bytes() == data


async def test_short_answers_from_the_server_are_completed(
    sshd: SshServer,
    remote: Path,
    ssh_ctx: Callable[..., NodeContext],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from weir.nodes.fs import sftp as sftp_ops

    # OpenSSH answers at most ~255 KiB per read: 1 MiB requests come back short.
    monkeypatch.setattr(sftp_ops, "REQUEST_SIZE", 1024 * 1024)
    data = os.urandom(3 * 1024 * 1024 + 5)
    (remote / "big.bin").write_bytes(data)
    ref = await run(config(sshd, get={"path": f"{remote}/big.bin"}), ssh_ctx())
    assert ref["size"] == len(data)
    assert Path(ref["$file"]).read_bytes() == data


async def test_a_missing_remote_file_is_not_found_and_not_retryable(
    sshd: SshServer, remote: Path, ssh_ctx: Callable[..., NodeContext]
) -> None:
    with pytest.raises(NotFound) as caught:
        await run(config(sshd, get={"path": f"{remote}/missing.csv"}), ssh_ctx())
    assert caught.value.type == "not_found" and caught.value.retryable is False
    assert f"{remote}/missing.csv" in caught.value.message
    assert f"127.0.0.1]:{sshd.port}" in caught.value.message


async def test_put_writes_text_bytes_and_file_references(
    sshd: SshServer, remote: Path, tmp_path: Path, make_ctx: Callable[..., NodeContext]
) -> None:
    local = spool_path("local.bin")
    local.write_bytes(os.urandom(200_000))
    ref = {"$file": str(local), "name": "local.bin", "size": 200_000}
    secrets = {("ssh", "key"): sshd.private_key, ("ssh", "hosts"): sshd.known_hosts}
    cases = {"text.txt": ("héllo", "héllo".encode()), "ref.bin": (ref, local.read_bytes())}
    for name, (value, expected) in cases.items():
        ctx = make_ctx(scope={"input": {"value": value}}, secrets=secrets)
        out = await run(
            config(sshd, put={"path": f"{remote}/{name}", "content": "$.input.value"}), ctx
        )
        assert out == {"host": "127.0.0.1", "path": f"{remote}/{name}", "size": len(expected)}
        assert (remote / name).read_bytes() == expected
    ctx = make_ctx(scope={"input": {"value": b"\x00\x01"}}, secrets=secrets)
    await run(config(sshd, put={"path": f"{remote}/raw", "content": "$.input.value"}), ctx)
    assert (remote / "raw").read_bytes() == b"\x00\x01"


async def test_put_creates_missing_directories_only_when_asked(
    sshd: SshServer, remote: Path, ssh_ctx: Callable[..., NodeContext]
) -> None:
    target = f"{remote}/out/2025/x.txt"
    with pytest.raises(NotFound):
        await run(config(sshd, put={"path": target, "content": "x"}), ssh_ctx())
    await run(config(sshd, put={"path": target, "content": "x", "mkdirs": True}), ssh_ctx())
    assert (remote / "out/2025/x.txt").read_text() == "x"


async def test_delete_removes_files_and_empty_directories(
    sshd: SshServer, remote: Path, ssh_ctx: Callable[..., NodeContext]
) -> None:
    (remote / "f.txt").write_text("x")
    (remote / "empty").mkdir()
    (remote / "full").mkdir()
    (remote / "full" / "keep").write_text("x")
    out = await run(config(sshd, delete={"path": f"{remote}/f.txt"}), ssh_ctx())
    assert out["deleted"] is True and not (remote / "f.txt").exists()
    await run(config(sshd, delete={"path": f"{remote}/empty"}), ssh_ctx())
    assert not (remote / "empty").exists()
    with pytest.raises(NodeError, match="not empty"):
        await run(config(sshd, delete={"path": f"{remote}/full"}), ssh_ctx())
    assert (remote / "full" / "keep").exists()


async def test_deleting_a_missing_file_fails_unless_missing_is_ok(
    sshd: SshServer, remote: Path, ssh_ctx: Callable[..., NodeContext]
) -> None:
    with pytest.raises(NotFound) as caught:
        await run(config(sshd, delete={"path": f"{remote}/gone"}), ssh_ctx())
    assert caught.value.retryable is False
    out = await run(config(sshd, delete={"path": f"{remote}/gone", "missingOk": True}), ssh_ctx())
    assert out["deleted"] is False


async def test_rename_refuses_to_overwrite_unless_told(
    sshd: SshServer, remote: Path, ssh_ctx: Callable[..., NodeContext]
) -> None:
    (remote / "new.csv").write_text("new")
    (remote / "old.csv").write_text("old")
    op = {"path": f"{remote}/new.csv", "to": f"{remote}/old.csv"}
    with pytest.raises(NodeError) as caught:
        await run(config(sshd, rename=op), ssh_ctx())
    assert caught.value.type == "exists" and "overwrite: true" in caught.value.message
    assert (remote / "old.csv").read_text() == "old"
    out = await run(config(sshd, rename={**op, "overwrite": True}), ssh_ctx())
    assert out == {"host": "127.0.0.1", "path": f"{remote}/new.csv", "to": f"{remote}/old.csv"}
    assert (remote / "old.csv").read_text() == "new" and not (remote / "new.csv").exists()


async def test_move_puts_a_file_into_another_directory_created_on_demand(
    sshd: SshServer, remote: Path, ssh_ctx: Callable[..., NodeContext]
) -> None:
    (remote / "in.csv").write_text("x")
    op = {"path": f"{remote}/in.csv", "to": f"{remote}/done/2025/in.csv", "mkdirs": True}
    await run(config(sshd, move=op), ssh_ctx())
    assert (remote / "done/2025/in.csv").read_text() == "x"
    assert not (remote / "in.csv").exists()


async def test_mkdir_creates_parents_and_accepts_an_existing_directory(
    sshd: SshServer, remote: Path, ssh_ctx: Callable[..., NodeContext]
) -> None:
    out = await run(config(sshd, mkdir={"path": f"{remote}/a/b/c"}), ssh_ctx())
    assert out["created"] is True and (remote / "a/b/c").is_dir()
    again = await run(config(sshd, mkdir={"path": f"{remote}/a/b/c"}), ssh_ctx())
    assert again["created"] is False
    with pytest.raises(NodeError) as caught:
        await run(config(sshd, mkdir={"path": f"{remote}/a", "parents": False}), ssh_ctx())
    assert caught.value.type == "exists"
    with pytest.raises(NotFound):
        await run(config(sshd, mkdir={"path": f"{remote}/x/y", "parents": False}), ssh_ctx())


async def test_an_encrypted_key_logs_in_with_its_passphrase(
    sshd: SshServer, remote: Path, ssh_ctx: Callable[..., NodeContext]
) -> None:
    ctx = ssh_ctx(enc=sshd.encrypted_key, phrase=sshd.passphrase, bad="not-the-phrase")
    key = {"secret": "ssh", "key": "enc"}
    listed = await run(
        config(
            sshd,
            privateKey=key,
            passphrase={"secret": "ssh", "key": "phrase"},
            list={"path": str(remote)},
        ),
        ctx,
    )
    assert listed == []
    with pytest.raises(ConfigError, match="encrypted: set passphrase"):
        await run(config(sshd, privateKey=key, list={"path": str(remote)}), ctx)
    with pytest.raises(ConfigError, match="passphrase is wrong") as caught:
        await run(
            config(
                sshd,
                privateKey=key,
                passphrase={"secret": "ssh", "key": "bad"},
                list={"path": str(remote)},
            ),
            ctx,
        )
    assert "not-the-phrase" not in caught.value.message


async def test_a_password_logs_in_as_a_local_user(
    sshd: SshServer, make_ctx: Callable[..., NodeContext]
) -> None:
    require_service(can_create_users(), "root, to create a local user with a password")
    user = sshd.password_user
    assert user is not None
    ctx = make_ctx(secrets={("ssh", "password"): user.password, ("ssh", "hosts"): sshd.known_hosts})
    cfg: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": sshd.port,
        "username": user.name,
        "password": {"secret": "ssh", "key": "password"},
        "knownHosts": HOSTS,
    }
    target = f"{user.home}/hello.txt"
    await run(SftpConfig.model_validate({**cfg, "put": {"path": target, "content": "hi"}}), ctx)
    written = Path(target)
    assert written.read_text() == "hi"
    assert written.stat().st_uid == int(
        subprocess.run(["id", "-u", user.name], capture_output=True, text=True).stdout
    )  # written by the logged-in user, not by the server's own user


async def test_a_wrong_password_is_auth_failed_and_never_echoed(
    sshd: SshServer, remote: Path, make_ctx: Callable[..., NodeContext]
) -> None:
    name = sshd.password_user.name if sshd.password_user else sshd.user
    ctx = make_ctx(
        secrets={("ssh", "password"): "Wr0ng-pa55word", ("ssh", "hosts"): sshd.known_hosts}
    )
    cfg = SftpConfig.model_validate(
        {
            "host": "127.0.0.1",
            "port": sshd.port,
            "username": name,
            "password": {"secret": "ssh", "key": "password"},
            "knownHosts": HOSTS,
            "list": {"path": str(remote)},
        }
    )
    with pytest.raises(AuthFailed) as caught:
        await run(cfg, ctx)
    assert caught.value.type == "auth" and caught.value.retryable is False
    assert f"{name}@[127.0.0.1]:{sshd.port}" in caught.value.message
    assert "Wr0ng-pa55word" not in str(caught.value.to_dict())


async def test_a_key_the_server_does_not_know_is_auth_failed(
    sshd: SshServer, remote: Path, ssh_ctx: Callable[..., NodeContext]
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    stranger = (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
        .decode()
    )
    with pytest.raises(AuthFailed) as caught:
        await run(
            config(sshd, privateKey={"secret": "ssh", "key": "other"}, list={"path": str(remote)}),
            ssh_ctx(other=stranger),
        )
    assert caught.value.retryable is False
    assert "PRIVATE KEY" not in caught.value.message


async def test_a_refused_connection_is_a_retryable_connection_failure(
    sshd: SshServer, remote: Path, ssh_ctx: Callable[..., NodeContext]
) -> None:
    port = free_port()
    cfg = config(sshd, list={"path": str(remote)}).model_copy(update={"port": port})
    with pytest.raises(ConnectionFailed) as caught:
        await run(cfg, ssh_ctx())
    assert caught.value.type == "connection" and caught.value.retryable is True
    assert f"[127.0.0.1]:{port}" in caught.value.message
    assert "refused" in caught.value.message


async def test_a_server_that_never_answers_is_a_retryable_timeout(
    sshd: SshServer, remote: Path, ssh_ctx: Callable[..., NodeContext]
) -> None:
    with socket.socket() as silent:  # accepts TCP connections and never speaks SSH
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        cfg = config(sshd, timeout="1s", list={"path": str(remote)}).model_copy(
            update={"port": port}
        )
        with pytest.raises(ConnectionFailed) as caught:
            await run(cfg, ssh_ctx())
    assert caught.value.retryable is True
    assert f"[127.0.0.1]:{port}" in caught.value.message


async def test_an_unknown_host_key_names_the_host_and_its_fingerprint(
    sshd: SshServer, remote: Path, ssh_ctx: Callable[..., NodeContext]
) -> None:
    other_host = sshd.known_hosts.replace("[127.0.0.1]", "[files.example.com]")
    with pytest.raises(NodeError) as caught:
        await run(config(sshd, list={"path": str(remote)}), ssh_ctx(hosts=other_host))
    error = caught.value
    assert error.type == "host_key" and error.retryable is False
    assert f"[127.0.0.1]:{sshd.port} is not in knownHosts" in error.message
    assert sshd.host_fingerprint in error.message
    assert error.to_dict()["fingerprint"] == sshd.host_fingerprint
    assert error.to_dict()["host"] == f"[127.0.0.1]:{sshd.port}"


async def test_a_changed_host_key_is_refused(
    sshd: SshServer, remote: Path, ssh_ctx: Callable[..., NodeContext]
) -> None:
    with pytest.raises(NodeError) as caught:
        await run(config(sshd, list={"path": str(remote)}), ssh_ctx(hosts=sshd.wrong_known_hosts))
    assert caught.value.type == "host_key" and caught.value.retryable is False
    assert "does not match knownHosts" in caught.value.message
    assert sshd.host_fingerprint in caught.value.message


async def test_hashed_known_hosts_entries_are_honoured(
    sshd: SshServer, remote: Path, tmp_path: Path, ssh_ctx: Callable[..., NodeContext]
) -> None:
    known = tmp_path / "known_hosts"
    known.write_text("# from ssh-keyscan\n" + sshd.known_hosts)
    subprocess.run(["ssh-keygen", "-H", "-f", str(known)], check=True, capture_output=True)
    hashed = known.read_text()
    assert "127.0.0.1" not in hashed
    listed = await run(config(sshd, list={"path": str(remote)}), ssh_ctx(hosts=hashed))
    assert listed == []


async def test_the_insecure_switch_skips_the_check_and_warns_on_every_run(
    sshd: SshServer,
    remote: Path,
    ssh_ctx: Callable[..., NodeContext],
    caplog: pytest.LogCaptureFixture,
) -> None:
    cfg = config(sshd, knownHosts=None, insecureSkipHostKeyCheck=True, list={"path": str(remote)})
    with caplog.at_level(logging.WARNING):
        assert await run(cfg, ssh_ctx()) == []
        assert await run(cfg, ssh_ctx()) == []
    warnings = [r for r in caplog.records if "insecureSkipHostKeyCheck" in r.getMessage()]
    assert len(warnings) == 2
    assert all(r.levelno == logging.WARNING for r in warnings)


async def test_the_connection_is_reused_across_runs_and_reopened_after_a_drop(
    sshd: SshServer, remote: Path, ssh_ctx: Callable[..., NodeContext]
) -> None:
    from weir.nodes.fs.ssh import SshPool

    cfg = config(sshd, list={"path": str(remote)})
    before = sshd.log().count("Accepted publickey")
    ctx = ssh_ctx()
    for _ in range(3):
        await run(cfg, ctx)
    assert sshd.log().count("Accepted publickey") - before == 1
    pool = next(v for v in ctx.resources._items.values() if isinstance(v, SshPool))
    pool._client.get_transport().close()  # the server or the network dropped it
    assert await run(cfg, ssh_ctx()) == []
    assert sshd.log().count("Accepted publickey") - before == 2


async def test_many_concurrent_operations_share_one_login_within_the_session_limit(
    sshd: SshServer, remote: Path, ssh_ctx: Callable[..., NodeContext]
) -> None:
    import asyncio

    for i in range(20):
        (remote / f"f{i}.txt").write_text(str(i))
    before = sshd.log().count("Accepted publickey")
    ctx = ssh_ctx()
    refs = await asyncio.gather(
        *(run(config(sshd, get={"path": f"{remote}/f{i}.txt"}), ctx) for i in range(20))
    )
    assert [Path(r["$file"]).read_text() for r in refs] == [str(i) for i in range(20)]
    # OpenSSH allows 10 sessions per connection (the fixture keeps that default).
    assert sshd.log().count("Accepted publickey") - before == 1


def test_a_node_takes_exactly_one_operation_and_a_way_to_trust_the_host() -> None:
    base = {"host": "h", "username": "u", "privateKey": KEY, "knownHosts": HOSTS}
    cases = {
        "exactly one operation (list, get, put, delete, rename, move, mkdir), found none": {},
        "exactly one operation (list, get, put, delete, rename, move, mkdir), found get, delete": {
            "get": {"path": "/a"},
            "delete": {"path": "/a"},
        },
        "needs password or privateKey": {"privateKey": None, "get": {"path": "/a"}},
        "insecureSkipHostKeyCheck: true": {"knownHosts": None, "get": {"path": "/a"}},
        "invalid regular expression": {"list": {"path": "/", "regex": "("}},
    }
    for message, fields in cases.items():
        data = {**base, **fields}
        data = {k: v for k, v in data.items() if v is not None}
        with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
            SftpConfig.model_validate(data)


async def test_a_flow_copies_a_file_from_get_to_put_through_the_engine(
    sshd: SshServer, remote: Path
) -> None:
    from weir.engine.executor import Engine, TriggerEvent
    from weir.flow.load import load_flows_text
    from weir.secrets.resolve import LocalSecretResolver

    (remote / "in.csv").write_bytes(b"a,b\n1,2\n")
    connection = (
        f"host: 127.0.0.1\n      port: {sshd.port}\n      username: {sshd.user}\n"
        "      privateKey: {secret: ssh, key: key}\n      knownHosts: {secret: ssh, key: hosts}"
    )
    flow = load_flows_text(
        f"""
apiVersion: weir.dev/v1alpha1
kind: Flow
metadata: {{name: sftp-copy}}
spec:
  trigger: {{manual: {{}}}}
  secrets: [{{name: ssh}}]
  nodes:
  - name: fetch
    sftp:
      {connection}
      get: {{path: "${{input.dir}}/in.csv"}}
    next: store
  - name: store
    sftp:
      {connection}
      put: {{path: "${{input.dir}}/out/copy.csv", content: $.nodes.fetch, mkdirs: true}}
"""
    )[0]
    engine = Engine(
        secrets=LocalSecretResolver(
            environ={
                "WEIR_SECRET_SSH_KEY": sshd.private_key,
                "WEIR_SECRET_SSH_HOSTS": sshd.known_hosts,
            }
        )
    )
    try:
        result = await engine.execute(flow, TriggerEvent(payload={"dir": str(remote)}))
        assert result.status == "succeeded", result.error
        assert (remote / "out/copy.csv").read_bytes() == b"a,b\n1,2\n"
        missing = await engine.execute(flow, TriggerEvent(payload={"dir": f"{remote}/nowhere"}))
    finally:
        await engine.aclose()
    assert missing.status == "failed"
    assert missing.error is not None
    assert missing.error["type"] == "not_found" and missing.error["retryable"] is False
