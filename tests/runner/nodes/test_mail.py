"""The mail node against real servers on loopback: sending through aiosmtpd (plain with AUTH,
STARTTLS, implicit TLS; text, HTML, attachments from file references, bytes and text; refused
recipients, size limits, wrong passwords, refused ports, untrusted certificates) and receiving
from Dovecot (search criteria, attachments spooled as file references, markSeen, moveTo,
IMAPS/STARTTLS, wrong password, missing folders); a receive -> send flow through the engine."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from tests.conftest import require_service, spool_path
from tests.servers.imap import ImapServer, dovecot_available, start_dovecot
from tests.servers.ports import free_port
from tests.servers.smtp import REFUSED_DOMAIN, SmtpServer, smtp_available, start_smtp
from weir.lang.errors import AuthFailed, ConfigError, ConnectionFailed, NodeError, NotFound
from weir.nodes.context import NodeContext
from weir.nodes.mail import MailConfig, run
from weir.nodes.spool import file_ref, is_file_ref

PASSWORD = {"secret": "mail", "key": "password"}
CA = {"secret": "mail", "key": "ca"}


@pytest.fixture(scope="module")
def smtp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpServer]:
    require_service(smtp_available(), "aiosmtpd (dev dependency)")
    server = start_smtp(Path(tmp_path_factory.mktemp("smtp")))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def imap_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ImapServer]:
    require_service(dovecot_available(), "Dovecot (Debian package dovecot-imapd)")
    server = start_dovecot(Path(tmp_path_factory.mktemp("dovecot")))
    yield server
    server.stop()


@pytest.fixture
def smtp(smtp_server: SmtpServer) -> SmtpServer:
    smtp_server.inbox.clear()
    return smtp_server


@pytest.fixture
def imap(imap_server: ImapServer) -> ImapServer:
    imap_server.clear()
    return imap_server


def smtp_ctx(
    make_ctx: Callable[..., NodeContext],
    server: SmtpServer,
    password: str | None = None,
    **scope: Any,
) -> NodeContext:
    secrets = {
        ("mail", "password"): server.password if password is None else password,
        ("mail", "ca"): server.certificate.pem,
    }
    return make_ctx(scope=scope, secrets=secrets)


def imap_ctx(
    make_ctx: Callable[..., NodeContext], server: ImapServer, password: str | None = None
) -> NodeContext:
    secrets = {
        ("mail", "password"): server.password if password is None else password,
        ("mail", "ca"): server.certificate.pem,
    }
    return make_ctx(secrets=secrets)


def send_config(server: SmtpServer, smtp: dict[str, Any] | None = None, **send: Any) -> MailConfig:
    connection = {
        "host": "127.0.0.1",
        "port": server.port,
        "security": "none",
        "username": server.username,
        "password": PASSWORD,
        **(smtp or {}),
    }
    base = {"from": "Weir <weir@example.com>", "to": ["ops@example.com"], "subject": "hello"}
    return MailConfig.model_validate({"send": {"smtp": connection, **base, **send}})


def receive_config(
    server: ImapServer, imap: dict[str, Any] | None = None, **receive: Any
) -> MailConfig:
    connection = {
        "host": "127.0.0.1",
        "port": server.port,
        "security": "none",
        "username": server.username,
        "password": PASSWORD,
        **(imap or {}),
    }
    return MailConfig.model_validate({"receive": {"imap": connection, **receive}})


def mail(
    sender: str,
    subject: str,
    text: str,
    *,
    attachment: tuple[str, bytes] | None = None,
    day: int = 1,
) -> bytes:
    import datetime as dt

    message = EmailMessage()
    message["From"] = sender
    message["To"] = "reader@example.com"
    message["Subject"] = subject
    message["Message-ID"] = f"<{re.sub('[^A-Za-z0-9]', '-', subject)}@example.com>"
    message["Date"] = format_datetime(dt.datetime(2024, 5, day, 10, 0, tzinfo=dt.UTC))
    message.set_content(text)
    message.add_alternative(f"<p>{text}</p>", subtype="html")
    if attachment is not None:
        name, data = attachment
        message.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return message.as_bytes()


# --- send -------------------------------------------------------------------------------------


async def test_send_writes_text_html_and_attachments_the_server_receives(
    smtp: SmtpServer, make_ctx: Callable[..., NodeContext], tmp_path: Path
) -> None:
    payload = bytes(range(256)) * 400
    spooled = spool_path("report.bin")
    spooled.write_bytes(payload)
    reference = file_ref(spooled, "report.bin", content_type="application/x-report")
    config = send_config(
        smtp,
        to="${input.to}",
        cc=["Boss <boss@example.com>"],
        bcc=["audit@example.com"],
        subject="Report for ${input.day}",
        text="Hello ${input.name},\nsee attached.",
        html="<p>Hello <b>${input.name}</b></p>",
        attachments=[
            {"content": "$.input.file"},
            {"content": "a,b\n1,2\n", "filename": "rows.csv"},
        ],
        headers={"X-Flow": "${input.day}"},
    )
    ctx = smtp_ctx(
        make_ctx,
        smtp,
        input={
            "to": "ops@example.com, dev@example.com",
            "day": "2024-05-01",
            "name": "Zoë",
            "file": reference,
        },
    )
    out = await run(config, ctx)

    assert out["accepted"] == [
        "ops@example.com",
        "dev@example.com",
        "boss@example.com",
        "audit@example.com",
    ]
    assert out["messageId"].startswith("<") and out["messageId"].endswith("@example.com>")
    assert len(smtp.inbox) == 1
    received = smtp.inbox[0]
    assert received.sender == "weir@example.com"
    assert received.recipients == out["accepted"]
    assert received.authenticated == smtp.username
    message = received.message
    assert message["Subject"] == "Report for 2024-05-01"
    assert message["Message-ID"] == out["messageId"]
    assert message["X-Flow"] == "2024-05-01"
    assert "audit@example.com" not in received.data.decode("ascii", "replace")  # bcc stays hidden
    assert message["Cc"] == "Boss <boss@example.com>"
    body = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert body is not None and body.get_content() == "Hello Zoë,\nsee attached.\n"
    assert html is not None and "<b>Zoë</b>" in html.get_content()
    attachments = list(message.iter_attachments())
    assert [(a.get_filename(), a.get_content_type()) for a in attachments] == [
        ("report.bin", "application/x-report"),
        ("rows.csv", "text/csv"),
    ]
    assert attachments[0].get_payload(decode=True) == payload
    assert attachments[1].get_payload(decode=True) == b"a,b\n1,2\n"
    assert ctx.input["subject"] == "Report for 2024-05-01"


async def test_starttls_with_login_encrypts_before_the_password_is_sent(
    smtp: SmtpServer, make_ctx: Callable[..., NodeContext]
) -> None:
    config = send_config(smtp, {"security": "starttls", "caCert": CA}, text="over TLS")
    out = await run(config, smtp_ctx(make_ctx, smtp))
    assert out["accepted"] == ["ops@example.com"]
    assert smtp.inbox[-1].tls and smtp.inbox[-1].authenticated == smtp.username


async def test_implicit_tls_and_an_html_only_body(
    smtp: SmtpServer, make_ctx: Callable[..., NodeContext]
) -> None:
    config = send_config(
        smtp, {"security": "tls", "port": smtp.tls_port, "caCert": CA}, html="<i>only</i>"
    )
    await run(config, smtp_ctx(make_ctx, smtp))
    message = smtp.inbox[-1].message
    assert smtp.inbox[-1].tls
    assert message.get_content_type() == "text/html"
    assert message.get_content() == "<i>only</i>\n"


async def test_an_untrusted_certificate_fails_without_sending(
    smtp: SmtpServer, make_ctx: Callable[..., NodeContext]
) -> None:
    config = send_config(smtp, {"security": "starttls"}, text="x")
    with pytest.raises(NodeError) as caught:
        await run(config, smtp_ctx(make_ctx, smtp))
    assert caught.value.type == "tls" and not caught.value.retryable
    assert smtp.inbox == []


async def test_a_wrong_smtp_password_is_auth_failed_without_the_password(
    smtp: SmtpServer, make_ctx: Callable[..., NodeContext]
) -> None:
    wrong = "wrong-Pa55word"
    with pytest.raises(AuthFailed) as caught:
        await run(send_config(smtp, text="x"), smtp_ctx(make_ctx, smtp, password=wrong))
    assert wrong not in str(caught.value) and wrong not in str(caught.value.to_dict())
    assert "535" in caught.value.message and not caught.value.retryable
    assert smtp.inbox == []


async def test_a_refused_port_is_a_retryable_connection_failure(
    make_ctx: Callable[..., NodeContext], smtp: SmtpServer
) -> None:
    config = send_config(smtp, {"port": free_port()}, text="x")
    with pytest.raises(ConnectionFailed) as caught:
        await run(config, smtp_ctx(make_ctx, smtp))
    assert caught.value.retryable and caught.value.type == "connection"


async def test_a_refused_recipient_fails_the_node_and_nothing_is_sent(
    smtp: SmtpServer, make_ctx: Callable[..., NodeContext]
) -> None:
    bad = f"nobody@{REFUSED_DOMAIN}"
    config = send_config(smtp, to=["ops@example.com", bad], text="x")
    with pytest.raises(NodeError) as caught:
        await run(config, smtp_ctx(make_ctx, smtp))
    assert caught.value.type == "mail"
    assert "550 5.1.1" in caught.value.message and "User unknown" in caught.value.message
    assert caught.value.details["rejected"][bad].startswith("550")
    assert smtp.inbox == []

    partial = send_config(smtp, to=["ops@example.com", bad], text="x", allowPartialDelivery=True)
    out = await run(partial, smtp_ctx(make_ctx, smtp))
    assert out["accepted"] == ["ops@example.com"] and list(out["rejected"]) == [bad]
    assert smtp.inbox[-1].recipients == ["ops@example.com"]


async def test_an_attachment_over_the_size_limit_is_refused_before_connecting(
    smtp: SmtpServer, make_ctx: Callable[..., NodeContext], tmp_path: Path
) -> None:
    big = spool_path("big.bin")
    big.write_bytes(b"x" * 2048)
    config = send_config(
        smtp,
        text="x",
        attachments=[{"content": "$.input.file"}],
        maxAttachmentSize="1Ki",
    )
    ctx = smtp_ctx(make_ctx, smtp, input={"file": file_ref(big, "big.bin")})
    with pytest.raises(ConfigError, match="maxAttachmentSize"):
        await run(config, ctx)
    assert smtp.inbox == []


def test_config_needs_exactly_one_operation_a_body_and_a_recipient(smtp_server: SmtpServer) -> None:
    with pytest.raises(ValidationError, match="exactly one operation"):
        MailConfig.model_validate({})
    with pytest.raises(ValidationError, match="text, html or both"):
        send_config(smtp_server)
    with pytest.raises(ValidationError, match="at least one recipient"):
        send_config(smtp_server, to=None, text="x")
    with pytest.raises(ValidationError, match="both username and password"):
        send_config(smtp_server, {"password": None}, text="x")


# --- receive ----------------------------------------------------------------------------------


async def test_receive_searches_parses_and_spools_attachments(
    imap: ImapServer, make_ctx: Callable[..., NodeContext]
) -> None:
    data = bytes(range(256)) * 100
    imap.append(
        mail("Alice <alice@example.com>", "Invoice 42", "pay me", attachment=("inv.pdf", data))
    )
    imap.append(mail("alice@example.com", "Invoice 41", "old one"), seen=True)
    imap.append(mail("bob@example.com", "Invoice 43", "not alice"))
    imap.append(mail("alice@example.com", "Lunch", "not an invoice"))
    config = receive_config(imap, search={"unseen": True, "from": "alice", "subject": "invoice"})
    messages = await run(config, imap_ctx(make_ctx, imap))

    assert len(messages) == 1
    message = messages[0]
    assert message["from"] == "Alice <alice@example.com>"
    assert message["to"] == ["reader@example.com"]
    assert message["subject"] == "Invoice 42"
    assert message["messageId"] == "<Invoice-42@example.com>"
    assert message["date"] == "2024-05-01T10:00:00+00:00"
    assert message["text"] == "pay me\n" and message["html"] == "<p>pay me</p>\n"
    [attachment] = message["attachments"]
    assert is_file_ref(attachment)
    assert attachment["name"] == "inv.pdf" and attachment["size"] == len(data)
    assert attachment["contentType"] == "application/octet-stream"
    assert attachment["source"] == f"imap://127.0.0.1:{imap.port}/INBOX;UID={message['uid']}"
    assert Path(attachment["$file"]).read_bytes() == data
    # BODY.PEEK: reading does not flag the message as seen
    assert message["uid"] in imap.uids(criteria="UNSEEN")


async def test_mark_seen_empties_a_second_unseen_search(
    imap: ImapServer, make_ctx: Callable[..., NodeContext]
) -> None:
    for n in range(3):
        imap.append(mail("alice@example.com", f"Note {n}", "x"))
    config = receive_config(imap, search={"unseen": True}, markSeen=True, limit=2)
    first = await run(config, imap_ctx(make_ctx, imap))
    assert [m["subject"] for m in first] == ["Note 0", "Note 1"]
    assert all("\\Seen" in m["flags"] for m in first)
    second = await run(config, imap_ctx(make_ctx, imap))
    assert [m["subject"] for m in second] == ["Note 2"]
    assert await run(config, imap_ctx(make_ctx, imap)) == []


async def test_move_to_moves_the_messages_and_a_missing_target_is_not_found(
    imap: ImapServer, make_ctx: Callable[..., NodeContext]
) -> None:
    imap.create("Archiv für 2024")
    imap.append(mail("alice@example.com", "Keep", "x"))
    imap.append(mail("bob@example.com", "Move me", "x"))
    config = receive_config(imap, search={"from": "bob"}, moveTo="Archiv für 2024")
    moved = await run(config, imap_ctx(make_ctx, imap))
    assert [m["subject"] for m in moved] == ["Move me"]
    assert len(imap.uids()) == 1 and len(imap.uids("Archiv für 2024")) == 1

    imap.append(mail("bob@example.com", "Again", "x"))
    missing = receive_config(imap, search={"from": "bob"}, moveTo="Nowhere")
    with pytest.raises(NotFound, match="Nowhere"):
        await run(missing, imap_ctx(make_ctx, imap))


async def test_raw_and_date_criteria_and_attachments_off(
    imap: ImapServer, make_ctx: Callable[..., NodeContext]
) -> None:
    imap.append(mail("a@example.com", "Early", "x", day=1, attachment=("a.bin", b"1")))
    imap.append(mail("b@example.com", "Late", "x", day=20))
    ctx = imap_ctx(make_ctx, imap)
    raw = await run(receive_config(imap, search={"raw": "OR FROM a@ FROM nobody@"}), ctx)
    assert [m["subject"] for m in raw] == ["Early"]
    no_files = await run(receive_config(imap, attachments=False, search={"subject": "Early"}), ctx)
    assert no_files[0]["attachments"] == [
        {"name": "a.bin", "contentType": "application/octet-stream", "size": 1}
    ]
    # SINCE/BEFORE compare the internal (APPEND) date, which is today here
    assert len(await run(receive_config(imap, search={"since": "2000-01-01"}), ctx)) == 2
    assert await run(receive_config(imap, search={"before": "2000-01-01"}), ctx) == []
    with pytest.raises(ConfigError):
        await run(receive_config(imap, search={"raw": "NONSENSE"}), ctx)


async def test_a_non_ascii_search_value_is_sent_as_utf8(
    imap: ImapServer, make_ctx: Callable[..., NodeContext]
) -> None:
    imap.append(mail("a@example.com", "Grüße aus Köln", "x"))
    imap.append(mail("a@example.com", "Greetings", "x"))
    config = receive_config(imap, search={"subject": "Grüße", "from": "a@example.com"})
    messages = await run(config, imap_ctx(make_ctx, imap))
    assert [m["subject"] for m in messages] == ["Grüße aus Köln"]


async def test_imaps_and_starttls_check_the_certificate(
    imap: ImapServer, make_ctx: Callable[..., NodeContext]
) -> None:
    imap.append(mail("a@example.com", "Secure", "x"))
    for connection in (
        {"security": "tls", "port": imap.tls_port, "caCert": CA},
        {"security": "starttls", "caCert": CA},
    ):
        messages = await run(receive_config(imap, connection), imap_ctx(make_ctx, imap))
        assert [m["subject"] for m in messages] == ["Secure"]
    with pytest.raises(NodeError) as caught:
        untrusted = receive_config(imap, {"security": "tls", "port": imap.tls_port})
        await run(untrusted, imap_ctx(make_ctx, imap))
    assert caught.value.type == "tls"


async def test_imap_errors_wrong_password_missing_folder_refused_port(
    imap: ImapServer, make_ctx: Callable[..., NodeContext]
) -> None:
    wrong = "wrong-Pa55word"
    with pytest.raises(AuthFailed) as auth:
        await run(receive_config(imap), imap_ctx(make_ctx, imap, password=wrong))
    assert wrong not in str(auth.value.to_dict()) and not auth.value.retryable
    with pytest.raises(NotFound, match="Missing"):
        await run(receive_config(imap, folder="Missing"), imap_ctx(make_ctx, imap))
    with pytest.raises(ConnectionFailed) as refused:
        await run(receive_config(imap, {"port": free_port()}), imap_ctx(make_ctx, imap))
    assert refused.value.retryable


# --- a flow -----------------------------------------------------------------------------------


async def test_a_flow_receives_mail_and_sends_a_summary_through_the_engine(
    imap: ImapServer, smtp: SmtpServer
) -> None:
    from weir.engine.executor import Engine, TriggerEvent
    from weir.flow.load import load_flows_text
    from weir.secrets.resolve import LocalSecretResolver

    imap.append(mail("alice@example.com", "Order 1", "one", attachment=("order1.csv", b"id\n1\n")))
    imap.append(mail("bob@example.com", "Order 2", "two"))
    flow = load_flows_text(
        textwrap.dedent(f"""\
        apiVersion: weir.dev/v1alpha1
        kind: Flow
        metadata: {{name: mail-summary}}
        spec:
          trigger: {{manual: {{}}}}
          secrets: [{{name: imap}}, {{name: smtp}}]
          nodes:
          - name: inbox
            mail:
              receive:
                imap:
                  host: 127.0.0.1
                  port: {imap.port}
                  security: none
                  username: {imap.username}
                  password: {{secret: imap, key: password}}
                search: {{unseen: true, subject: Order}}
                markSeen: true
            next: report
          - name: report
            mail:
              send:
                smtp:
                  host: 127.0.0.1
                  port: {smtp.port}
                  security: starttls
                  caCert: {{secret: smtp, key: ca}}
                  username: {smtp.username}
                  password: {{secret: smtp, key: password}}
                from: weir@example.com
                to: ["${{input.to}}"]
                subject: "${{size(nodes.inbox)}} new orders"
                text: "First: ${{nodes.inbox[0].subject}} from ${{nodes.inbox[0].from}}"
                attachments:
                - content: $.nodes.inbox[0].attachments[0]
        """)
    )[0]
    engine = Engine(
        secrets=LocalSecretResolver(
            environ={
                "WEIR_SECRET_IMAP_PASSWORD": imap.password,
                "WEIR_SECRET_SMTP_PASSWORD": smtp.password,
                "WEIR_SECRET_SMTP_CA": smtp.certificate.pem,
            }
        )
    )
    try:
        result = await engine.execute(flow, TriggerEvent(payload={"to": "boss@example.com"}))
    finally:
        await engine.aclose()
    assert result.status == "succeeded", result.error
    assert result.result["accepted"] == ["boss@example.com"]
    message = smtp.inbox[-1].message
    assert message["Subject"] == "2 new orders"
    body = message.get_body(preferencelist=("plain",))
    assert body is not None and body.get_content() == "First: Order 1 from alice@example.com\n"
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "order1.csv"
    assert attachment.get_payload(decode=True) == b"id\n1\n"
    assert imap.uids(criteria="UNSEEN") == []
