"""Delivery through a real SMTP server on loopback (aiosmtpd, trustme certificate): TLS only,
the received message parsed, retries, escalations, and no double send across a crash."""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
import textwrap
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from incidents.models import ClockFact, Escalation
from notifiers.exceptions import ApprovalDenied, InsecureTransport
from notifiers.models import Notice, OutboxMessage
from notifiers.outbox import SmtpConfig, deliver_due, resolve_uncertain
from notifiers.schemas import NoticeEdit
from tests.notifiers.builders import (
    NOW,
    RSSI,
    T0,
    THREE,
    TenantSpec,
    approve,
    build_incident,
    draft_one,
)
from tests.notifiers.conftest import SENDER, SmtpServer

BACKENDS = pytest.mark.parametrize("fresh_db_url", ["sqlite", "postgresql"], indirect=True)
ROOT = Path(__file__).resolve().parents[2]


def _approved_notice(
    factory: sessionmaker[Session], spec: TenantSpec = THREE[0], edits: NoticeEdit | None = None
) -> int:
    with factory() as session, session.begin():
        notice = draft_one(session, tenants=[spec])
        return approve(session, notice, edits=edits).id


def _row(factory: sessionmaker[Session], notice_id: int) -> OutboxMessage:
    with factory() as session:
        row = session.scalars(
            select(OutboxMessage).where(OutboxMessage.notice_id == notice_id)
        ).one()
        session.expunge(row)
        return row


def _body(msg: EmailMessage, subtype: str) -> str:
    part = msg.get_body(preferencelist=(subtype,))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content


@BACKENDS
def test_starttls_delivery_received_and_parsed(
    factory: sessionmaker[Session], smtp_starttls: SmtpServer
) -> None:
    notice_id = _approved_notice(factory)
    report = deliver_due(session_factory=factory, smtp=smtp_starttls.config(), now=NOW)
    assert (report.sent, report.failed, report.retried) == (1, 0, 0)
    [got] = smtp_starttls.handler.received
    assert got.mail_from == "securite@avmup.com"
    assert got.rcpt_tos == [THREE[0].email]
    msg = got.message()
    row = _row(factory, notice_id)
    assert msg["Message-ID"] == row.message_id
    assert msg["To"] == THREE[0].email
    assert msg["From"] == SENDER
    assert msg["Subject"].startswith("[INC-2026-")
    assert "Acme Industries" in msg["Subject"] and "notification initiale" in msg["Subject"]
    assert msg["Content-Language"] == "fr"
    assert msg.get_content_type() == "multipart/alternative"
    text, html_part = _body(msg, "plain"), _body(msg, "html")
    for part in (text, html_part):
        assert "Personnes concernées : environ 1\u00a0234" in part
        assert "Enregistrements concernés : environ 5\u00a0678" in part
        assert "dpo@avmup.com" in part
    assert "sous-traitant au sens de l'article 28" in text
    assert "<h2>5. NOMBRE APPROXIMATIF" in html_part
    with factory() as session:
        notice = session.get(Notice, notice_id)
        assert notice is not None and notice.status == "sent" and notice.sent_at == NOW
        facts = list(
            session.scalars(select(ClockFact).where(ClockFact.incident_id == notice.incident_id))
        )
        assert [(f.clock, f.tenant_id, f.kind) for f in facts] == [
            ("customer", THREE[0].tenant_id, "met")
        ]
    # A second run sends nothing again.
    again = deliver_due(
        session_factory=factory, smtp=smtp_starttls.config(), now=NOW + timedelta(hours=1)
    )
    assert again.sent == 0 and len(smtp_starttls.handler.received) == 1


def test_smtps_delivery(factory: sessionmaker[Session], smtp_smtps: SmtpServer) -> None:
    _approved_notice(factory)
    report = deliver_due(session_factory=factory, smtp=smtp_smtps.config("smtps"), now=NOW)
    assert report.sent == 1 and len(smtp_smtps.handler.received) == 1


def test_plaintext_refused_without_dev_flag(
    factory: sessionmaker[Session], smtp_plain: SmtpServer
) -> None:
    with pytest.raises(InsecureTransport):
        smtp_plain.config("plain")
    with pytest.raises(InsecureTransport):
        SmtpConfig.from_url(f"smtp+plain://127.0.0.1:{smtp_plain.port}", from_address=SENDER)
    notice_id = _approved_notice(factory)
    # A server without STARTTLS is never used in clear: retry later, nothing sent.
    report = deliver_due(session_factory=factory, smtp=smtp_plain.config("starttls"), now=NOW)
    assert report.retried == 1 and smtp_plain.handler.received == []
    row = _row(factory, notice_id)
    assert row.state == "retry" and "STARTTLS" in (row.last_error or "")
    # With the explicit development flag, plain SMTP works.
    dev = SmtpConfig.from_url(
        f"smtp+plain://127.0.0.1:{smtp_plain.port}", from_address=SENDER, allow_plaintext=True
    )
    assert deliver_due(session_factory=factory, smtp=dev, now=NOW + timedelta(hours=2)).sent == 1


def test_untrusted_certificate_is_refused(
    factory: sessionmaker[Session], smtp_starttls: SmtpServer
) -> None:
    _approved_notice(factory)
    config = SmtpConfig(
        host=smtp_starttls.host,
        port=smtp_starttls.port,
        security="starttls",
        from_address=SENDER,
        timeout=10,
    )  # system trust store only
    report = deliver_due(session_factory=factory, smtp=config, now=NOW)
    assert report.retried == 1 and smtp_starttls.handler.received == []


def test_temporary_failure_retries_with_backoff(
    factory: sessionmaker[Session], smtp_starttls: SmtpServer
) -> None:
    notice_id = _approved_notice(factory)
    smtp_starttls.handler.fail_next = 2
    cfg = smtp_starttls.config()
    assert deliver_due(session_factory=factory, smtp=cfg, now=NOW).retried == 1
    first = _row(factory, notice_id)
    assert first.next_attempt_at == NOW + timedelta(seconds=60)
    # Not due yet: nothing attempted.
    assert (
        deliver_due(session_factory=factory, smtp=cfg, now=NOW + timedelta(seconds=30)).attempted
        == 0
    )
    later = NOW + timedelta(seconds=61)
    assert deliver_due(session_factory=factory, smtp=cfg, now=later).retried == 1
    assert _row(factory, notice_id).next_attempt_at == later + timedelta(seconds=120)
    done = deliver_due(session_factory=factory, smtp=cfg, now=later + timedelta(minutes=3))
    assert done.sent == 1 and len(smtp_starttls.handler.received) == 1
    assert _row(factory, notice_id).attempts == 3


def test_smtp_server_down_is_retried_then_delivered_once(
    factory: sessionmaker[Session], smtp_starttls: SmtpServer
) -> None:
    notice_id = _approved_notice(factory)
    with socket.socket() as sock:  # a port nothing listens on: the relay is down
        sock.bind(("127.0.0.1", 0))
        down = dataclasses.replace(smtp_starttls.config(), port=sock.getsockname()[1])
    report = deliver_due(session_factory=factory, smtp=down, now=NOW)
    assert (report.attempted, report.retried, report.sent) == (1, 1, 0)
    assert _row(factory, notice_id).state == "retry"
    later = NOW + timedelta(minutes=2)
    assert deliver_due(session_factory=factory, smtp=smtp_starttls.config(), now=later).sent == 1
    assert (
        deliver_due(
            session_factory=factory, smtp=smtp_starttls.config(), now=later + timedelta(hours=1)
        ).attempted
        == 0
    )
    assert len(smtp_starttls.handler.received) == 1
    with factory() as session:
        assert session.get(Notice, notice_id).status == "sent"  # type: ignore[union-attr]


@BACKENDS
def test_crash_between_smtp_accept_and_commit_never_sends_twice(
    fresh_db_url: str, factory: sessionmaker[Session], smtp_starttls: SmtpServer
) -> None:
    notice_id = _approved_notice(factory)
    script = textwrap.dedent(f"""
        import os, ssl
        from datetime import datetime
        from incidents.db import make_engine, session_factory
        from notifiers import outbox
        real_send = outbox.SmtpSession.send
        def send_then_die(self, *args):
            reply = real_send(self, *args)
            os._exit(9)  # killed after the server's 250, before the DB commit
        outbox.SmtpSession.send = send_then_die
        ctx = ssl.create_default_context(cafile={str(smtp_starttls.ca_file)!r})
        cfg = outbox.SmtpConfig(host="127.0.0.1", port={smtp_starttls.port},
                                security="starttls", from_address={SENDER!r},
                                ssl_context=ctx, timeout=10)
        outbox.deliver_due(session_factory=session_factory(make_engine({fresh_db_url!r})),
                           smtp=cfg, now=datetime.fromisoformat({NOW.isoformat()!r}))
    """)
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
    )
    assert proc.returncode == 9, proc.stderr.decode()[-2000:]
    assert len(smtp_starttls.handler.received) == 1
    assert _row(factory, notice_id).state == "sending"
    cfg = smtp_starttls.config()
    # Rerun at once: the claim is still leased, nothing is sent.
    assert deliver_due(session_factory=factory, smtp=cfg, now=NOW).attempted == 0
    # Rerun after the lease: the row becomes uncertain, still not resent.
    report = deliver_due(session_factory=factory, smtp=cfg, now=NOW + timedelta(hours=1))
    assert report.uncertain == 1 and report.attempted == 0
    assert _row(factory, notice_id).state == "uncertain"
    deliver_due(session_factory=factory, smtp=cfg, now=NOW + timedelta(hours=5))
    assert len(smtp_starttls.handler.received) == 1
    # The RSSI finds the Message-ID in the mail log and records it as sent.
    with factory() as session, session.begin(), pytest.raises(ApprovalDenied):
        resolve_uncertain(
            session=session,
            outbox_id=_row(factory, notice_id).id,
            sent=True,
            user_email="a@avmup.com",
            user_role="analyst",
            now=NOW + timedelta(hours=6),
        )
    with factory() as session, session.begin():
        resolve_uncertain(
            session=session,
            outbox_id=_row(factory, notice_id).id,
            sent=True,
            user_email=RSSI,
            user_role="rssi",
            now=NOW + timedelta(hours=6),
        )
    assert _row(factory, notice_id).state == "sent"
    with factory() as session:
        notice = session.get(Notice, notice_id)
        assert notice is not None and notice.status == "sent"
    assert (
        deliver_due(session_factory=factory, smtp=cfg, now=NOW + timedelta(hours=7)).attempted == 0
    )
    assert len(smtp_starttls.handler.received) == 1


def test_header_injection_impossible(
    factory: sessionmaker[Session], smtp_starttls: SmtpServer
) -> None:
    evil = TenantSpec(
        "evil",
        "Evil\r\nBcc: victim@evil.example\r\nX-Injected: 1",
        "dpo@evil.example",
        7,
        8,
        "<script>alert(1)</script>{{7*7}}",
        "192.0.2.77",
        user_agent="UA\r\nX-Injected: 2\r\n\r\n<script>x</script>",
    )
    _approved_notice(factory, evil, edits=NoticeEdit(subject="Sujet\r\nBcc: victim@evil.example"))
    assert deliver_due(session_factory=factory, smtp=smtp_starttls.config(), now=NOW).sent == 1
    [got] = smtp_starttls.handler.received
    assert got.rcpt_tos == ["dpo@evil.example"]
    msg = got.message()
    assert msg["X-Injected"] is None and msg["Bcc"] is None
    assert msg["Subject"] == "Sujet Bcc: victim@evil.example"
    html_part = _body(msg, "html")
    text = _body(msg, "plain")
    assert "<script>" not in html_part
    assert "&lt;script&gt;alert(1)&lt;/script&gt;{{7*7}}" in html_part
    assert "compte <script>alert(1)</script>{{7*7}}" in text  # plain text: inert, literal
    for line in text.splitlines():
        assert not line.startswith(("X-Injected", "Bcc"))


def test_escalations_reach_the_rssi_once(
    factory: sessionmaker[Session], smtp_starttls: SmtpServer
) -> None:
    with factory() as session, session.begin():
        built = build_incident(session, tenants=[THREE[1]])
        session.add(
            Escalation(
                incident_id=built.incident.id,
                clock="customer",
                tenant_id=THREE[1].tenant_id,
                threshold_hours=6.0,
                due_at=T0 + timedelta(hours=24),
                fired_at=NOW,
            )
        )
        ref = built.incident.ref
    cfg = smtp_starttls.config()
    report = deliver_due(session_factory=factory, smtp=cfg, now=NOW)
    assert report.escalations_queued == 1 and report.sent == 1
    assert deliver_due(session_factory=factory, smtp=cfg, now=NOW).escalations_queued == 0
    [got] = smtp_starttls.handler.received
    assert got.rcpt_tos == ["rssi@avmup.com"]
    msg = got.message()
    assert ref in msg["Subject"] and "échéance dans 6 h" in msg["Subject"]
    assert "21 novembre 2026 à 10:00" in _body(msg, "plain")
    with factory() as session:
        esc = session.scalars(select(Escalation)).one()
        assert esc.delivered_at == NOW


def test_smtp_url_parsing() -> None:
    cfg = SmtpConfig.from_url("smtps://user%40x:p%3Ass@mail.example:2465", from_address=SENDER)
    assert (cfg.security, cfg.host, cfg.port, cfg.username, cfg.password) == (
        "smtps",
        "mail.example",
        2465,
        "user@x",
        "p:ss",
    )
    assert SmtpConfig.from_url("smtp://mail.example", from_address=SENDER).port == 587
    assert "p:ss" not in repr(cfg)
