"""examples/invoice-mailbox against Dovecot (IMAPS) and Samba: the PDFs of unread invoice mails
land on the share, the mails move to Processed, other mails stay untouched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.conftest import require_service
from tests.servers.imap import ImapServer, dovecot_available, start_dovecot
from tests.servers.smbd import SmbServer

ROOT = Path(__file__).parents[3]
EXAMPLE = ROOT / "examples" / "invoice-mailbox"


@pytest.fixture
def imap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ImapServer]:
    require_service(dovecot_available(), "Dovecot (Debian package dovecot-imapd)")
    server = start_dovecot(Path(tmp_path_factory.mktemp("dovecot")))
    yield server
    server.stop()


def mail(subject: str, *attachments: tuple[str, bytes, str]) -> bytes:
    message = EmailMessage()
    message["From"] = "supplier@example.com"
    message["To"] = "invoices@example.org"
    message["Subject"] = subject
    message["Message-ID"] = f"<{abs(hash(subject))}@example.com>"
    message.set_content("Please find the invoice attached.")
    for name, data, kind in attachments:
        main, sub = kind.split("/")
        message.add_attachment(data, maintype=main, subtype=sub, filename=name)
    return message.as_bytes()


def test_invoice_pdfs_land_on_the_share_and_the_mails_are_archived(
    imap: ImapServer, smbd: SmbServer, tmp_path: Path
) -> None:
    pdf = b"%PDF-1.7 invoice 881 " + os.urandom(5000)
    imap.append(
        mail(
            "Invoice 881",
            ("inv-881.pdf", pdf, "application/pdf"),
            ("logo.png", b"PNG", "image/png"),
        )
    )
    imap.append(mail("Invoice 882", ("inv-882.pdf", b"%PDF-1.7 882", "application/pdf")))
    imap.append(mail("Lunch on Friday?"))
    imap.append(mail("Invoice 870 (already handled)"), seen=True)
    imap.create("Processed")
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        (EXAMPLE / "flow.yaml")
        .read_text()
        .replace("host: imap.example.org", "host: 127.0.0.1")
        .replace(
            "port: 993", f"port: {imap.tls_port}\n            caCert: {{secret: mailbox, key: ca}}"
        )
        .replace("username: invoices@example.org", f"username: {imap.username}")
        .replace("host: fileserver.example.org", "host: 127.0.0.1")
        .replace("port: 445", f"port: {smbd.port}")
        .replace("share: accounting", f"share: {smbd.share}")
    )
    env = {
        **os.environ,
        "WEIR_SECRET_MAILBOX_PASSWORD": imap.password,
        "WEIR_SECRET_MAILBOX_CA": imap.certificate.pem,
        "WEIR_SECRET_SHARE_USERNAME": smbd.user,
        "WEIR_SECRET_SHARE_PASSWORD": smbd.password,
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
            "2026-11-25T09:05:00Z",
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
    result = json.loads(done.stdout)
    assert result["messages"] == 2
    assert sorted(result["stored"]) == [
        "invoices/2026-11-25/inv-881.pdf",
        "invoices/2026-11-25/inv-882.pdf",
    ]
    stored = smbd.path / "invoices" / "2026-11-25"
    assert sorted(p.name for p in stored.iterdir()) == ["inv-881.pdf", "inv-882.pdf"]
    assert (stored / "inv-881.pdf").read_bytes() == pdf
    assert len(imap.uids("Processed")) == 2
    assert len(imap.uids("INBOX")) == 2  # the lunch mail and the one already seen
    again = subprocess.run(
        [
            sys.executable,
            "-m",
            "weir.cli",
            "run",
            str(flow),
            "--trigger",
            "cron",
            "--no-store",
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=env,
    )
    assert again.returncode == 0 and json.loads(again.stdout)["messages"] == 0
