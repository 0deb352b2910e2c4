"""examples/sftp-to-s3 against real servers: OpenSSH's sshd, moto's S3 server and aiosmtpd.
Matching files go to S3, the originals move to processed/, the summary mail goes out, and
files that do not match stay where they are."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require_service
from tests.servers.s3 import S3Server
from tests.servers.smtp import SmtpServer, smtp_available, start_smtp
from tests.servers.sshd import SshServer

ROOT = Path(__file__).parents[3]
EXAMPLE = ROOT / "examples" / "sftp-to-s3"


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    require_service(smtp_available(), "aiosmtpd")
    server = start_smtp(tmp_path / "smtp")
    yield server
    server.stop()


def test_invoices_travel_from_sftp_to_s3_and_a_summary_is_mailed(
    sshd: SshServer, s3_server: S3Server, smtp: SmtpServer, tmp_path: Path
) -> None:
    outgoing = tmp_path / "outgoing"
    outgoing.mkdir()
    (outgoing / "invoice-1001.csv").write_text("id,amount\n1001,12.50\n")
    (outgoing / "invoice-1002.pdf").write_bytes(b"%PDF-1.7 " + os.urandom(300_000))
    (outgoing / "notes.txt").write_text("not an invoice")
    s3_server.client().create_bucket(Bucket="invoices")
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        (EXAMPLE / "flow.yaml")
        .read_text()
        .replace("host: sftp.partner.example", "host: 127.0.0.1")
        .replace("port: 22", f"port: {sshd.port}")
        .replace("/outgoing", str(outgoing))
        .replace(
            "endpointUrl: https://s3.eu-west-1.amazonaws.com", f"endpointUrl: {s3_server.endpoint}"
        )
        .replace("region: eu-west-1", f"region: {s3_server.region}\n        forcePathStyle: true")
        .replace("host: smtp.example.org", "host: 127.0.0.1")
        .replace("port: 587", f"port: {smtp.port}\n            caCert: {{secret: smtp, key: ca}}")
    )
    env = {
        **os.environ,
        "WEIR_SECRET_PARTNER_USERNAME": sshd.user,
        "WEIR_SECRET_PARTNER_PRIVATE_KEY": sshd.private_key,
        "WEIR_SECRET_PARTNER_KNOWN_HOSTS": sshd.known_hosts,
        "WEIR_SECRET_LAKE_ACCESS_KEY_ID": s3_server.access_key_id,
        "WEIR_SECRET_LAKE_SECRET_ACCESS_KEY": s3_server.secret_access_key,
        "WEIR_SECRET_SMTP_USERNAME": smtp.username,
        "WEIR_SECRET_SMTP_PASSWORD": smtp.password,
        "WEIR_SECRET_SMTP_CA": smtp.certificate.pem,  # the test server's self-signed certificate
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "weir.cli",
            "run",
            str(flow),
            "--trigger",
            "cron",
            "--scheduled-time",
            "2026-11-25T10:15:00+01:00",
            "--no-store",
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    stored = sorted(json.loads(done.stdout)["stored"])
    assert stored == ["partner/2026-11-25/invoice-1001.csv", "partner/2026-11-25/invoice-1002.pdf"]
    body = s3_server.client().get_object(Bucket="invoices", Key=stored[1])["Body"].read()
    assert body.startswith(b"%PDF-1.7 ") and len(body) == 300_009
    assert sorted(p.name for p in (outgoing / "processed").iterdir()) == [
        "invoice-1001.csv",
        "invoice-1002.pdf",
    ]
    assert sorted(p.name for p in outgoing.iterdir()) == ["notes.txt", "processed"]
    (mail,) = smtp.inbox
    assert mail.message["Subject"] == "2 partner invoices stored"
    assert "invoice-1002.pdf" in mail.message.get_body().get_content()
