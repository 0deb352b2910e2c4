"""The polling triggers against the suite's servers: new objects under an S3 prefix (moto),
new files on an SMB share (Samba), new mail in an IMAP folder (Dovecot); each new item starts
one execution, ``after`` acts on the server, and an item done never starts again."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.runner.nodes import test_mail
from tests.runner.nodes.test_mail import mail
from tests.runner.polling import close, counts, flow_file, poller, started, until
from tests.servers.imap import ImapServer
from tests.servers.s3 import S3Server
from tests.servers.smbd import SmbServer
from weir.nodes.spool import FILE_MARKER, is_file_ref

pytestmark = pytest.mark.timeout(60)

imap_server, imap = test_mail.imap_server, test_mail.imap  # the mail node tests' Dovecot


async def run_until(
    tmp_path: Path, kind: str, trigger: dict[str, Any], environ: dict[str, str], count: int
) -> list[dict[str, Any]]:
    """Serve the trigger until ``count`` executions started and a few more polls went by."""
    flow = flow_file(tmp_path, kind, {"interval": "100ms", **trigger}, secrets=("server",))
    runtime = await poller(flow, tmp_path / "store.db", environ)
    await runtime.start()
    try:
        await until(lambda: len(started(tmp_path / "store.db")) >= count)
        await asyncio.sleep(0.5)
        await until(lambda: not runtime.in_flight and not runtime._tasks)
    finally:
        await close(runtime)
    return started(tmp_path / "store.db")


async def test_new_s3_objects_start_once_by_key_and_etag(
    tmp_path: Path, s3_server: S3Server
) -> None:
    client = s3_server.client()
    bucket = f"poll-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=bucket)
    for key in ("in/a.csv", "in/deep/b.csv", "elsewhere/c.csv"):
        client.put_object(Bucket=bucket, Key=key, Body=b"1,2\n")
    trigger = {
        "s3": {
            "bucket": bucket,
            "endpointUrl": s3_server.endpoint,
            "region": s3_server.region,
            "accessKeyId": {"secret": "server", "key": "id"},
            "secretAccessKey": {"secret": "server", "key": "secret"},
            "forcePathStyle": True,
        },
        "path": "in/",
        "after": {"move": "done/"},
    }
    environ = {
        "WEIR_SECRET_SERVER_ID": s3_server.access_key_id,
        "WEIR_SECRET_SERVER_SECRET": s3_server.secret_access_key,
    }
    inputs = await run_until(tmp_path, "files", trigger, environ, 2)
    assert counts(tmp_path / "store.db") == {"in/a.csv": 1, "in/deep/b.csv": 1}
    assert all(i["bucket"] == bucket and i["etag"] and i["size"] == 4 for i in inputs)
    keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == ["done/a.csv", "done/b.csv", "elsewhere/c.csv"]

    # The same key again with other content (another ETag) is a new object.
    client.put_object(Bucket=bucket, Key="in/a.csv", Body=b"3,4,5\n")
    await run_until(tmp_path, "files", trigger, environ, 3)
    assert counts(tmp_path / "store.db") == {"in/a.csv": 2, "in/deep/b.csv": 1}


async def test_new_files_on_an_smb_share_start_once_and_are_deleted(
    tmp_path: Path, smbd: SmbServer
) -> None:
    area = f"poll-{uuid.uuid4().hex[:8]}"
    (smbd.path / area).mkdir()
    for name in ("a.csv", "b.csv", "c.txt"):
        (smbd.path / area / name).write_text("x,y\n")
    trigger = {
        "smb": {
            "host": "127.0.0.1",
            "port": smbd.port,
            "share": smbd.share,
            "username": smbd.user,
            "password": {"secret": "server", "key": "password"},
        },
        "path": area,
        "pattern": "*.csv",
        "settle": "0s",
        "after": "delete",
    }
    environ = {"WEIR_SECRET_SERVER_PASSWORD": smbd.password}
    inputs = await run_until(tmp_path, "files", trigger, environ, 2)
    assert counts(tmp_path / "store.db") == {f"{area}/a.csv": 1, f"{area}/b.csv": 1}
    assert inputs[0]["share"] == smbd.share and inputs[0]["host"] == "127.0.0.1"
    assert sorted(p.name for p in (smbd.path / area).iterdir()) == ["c.txt"]


def imap_trigger(server: ImapServer, **fields: Any) -> dict[str, Any]:
    connection = {
        "host": "127.0.0.1",
        "port": server.port,
        "security": "none",
        "username": server.username,
        "password": {"secret": "server", "key": "password"},
    }
    return {"imap": connection, **fields}


async def test_new_mail_starts_once_by_uid_and_moves_when_done(
    tmp_path: Path, imap: ImapServer
) -> None:
    imap.create("Done")
    imap.append(mail("a@example.com", "Invoice 1", "one", attachment=("i1.pdf", b"%PDF-1")))
    imap.append(mail("b@example.com", "Invoice 2", "two"))
    imap.append(mail("c@example.com", "Lunch", "not an invoice"))
    environ = {"WEIR_SECRET_SERVER_PASSWORD": imap.password}
    trigger = imap_trigger(imap, search={"subject": "Invoice"}, moveTo="Done", limit=1)
    inputs = await run_until(tmp_path, "mail", trigger, environ, 2)
    assert [i["subject"] for i in inputs] == ["Invoice 1", "Invoice 2"]
    attachment = inputs[0]["attachments"][0]
    assert attachment["name"] == "i1.pdf" and attachment["size"] == 6
    assert is_file_ref(attachment)
    assert not Path(attachment[FILE_MARKER]).exists()  # spooled for its execution, then gone
    assert len(imap.uids("Done")) == 2 and len(imap.uids("INBOX")) == 1


async def test_mail_left_in_the_folder_never_starts_again_and_late_mail_still_starts(
    tmp_path: Path, imap: ImapServer
) -> None:
    imap.append(mail("a@example.com", "First", "1"))
    imap.append(mail("b@example.com", "Second", "2"))
    environ = {"WEIR_SECRET_SERVER_PASSWORD": imap.password}
    await run_until(tmp_path, "mail", imap_trigger(imap), environ, 2)
    imap.append(mail("c@example.com", "Third", "3"))
    inputs = await run_until(tmp_path, "mail", imap_trigger(imap), environ, 3)
    assert [i["subject"] for i in inputs] == ["First", "Second", "Third"]
    assert len(imap.uids("INBOX", "UNSEEN")) == 3  # read-only: flags untouched
