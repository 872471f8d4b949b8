"""The SMTP outbox: at-most-once delivery of approved notices and RSSI escalations.

State machine of an `OutboxMessage`::

    pending ──claim──▶ sending ──250 after DATA──▶ sent
       ▲                  │ refused before acceptance (4xx, connection, TLS) ──▶ retry ─┐
       └──── backoff ─────┴──────────────────────────────────────────────────────────────┘
                          │ 5xx / attempts exhausted ──▶ failed
                          │ lost during DATA, or claim outlived its lease ──▶ uncertain

Choice: **at-most-once, with the uncertainty made visible.** Each attempt first *claims* the
row in its own committed transaction (`UPDATE … WHERE state IN (pending, retry)`, so two
workers never claim the same row), then talks SMTP with the row's stable Message-ID, then
records the outcome in a second transaction. A crash between the server's final 250 and
that commit leaves the row in `sending`. On the next run such a row, once its lease has
expired, becomes `uncertain`: it is *not* resent. Why not at-least-once with Message-ID
deduplication? Receiving MTAs do not deduplicate on Message-ID, so the customer would get a
second legal notice, possibly after a complementary one, which confuses the record of what
was said when. A breach notice sent twice is embarrassing; a notice silently lost would be
worse, so an uncertain row is counted (`tocsin_notices_sent_total{result="uncertain"}`),
logged and shown by `tocsin notices list`; the RSSI checks the mail server log for the
Message-ID and resolves it (`resolve_uncertain`: mark sent, or requeue). The window is only
the few milliseconds between the final 250 and the commit: every failure the SMTP protocol
reports before acceptance is a definite "not sent" and is retried with exponential backoff.

Transport: STARTTLS (required, not opportunistic) or implicit TLS (SMTPS), with certificate
and host name verification. Plain SMTP only with the explicit dev flag.
"""

from __future__ import annotations

import logging
import secrets
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from consumers.conventions import DEFAULT_TIMEZONE, SYSTEM_ACTOR, Role
from incidents import audit
from incidents import clocks as incident_clocks
from incidents.enums import Clock
from incidents.exceptions import IncidentError
from incidents.models import Escalation, Incident
from notifiers.enums import NoticeKind, NoticeStatus, OutboxPurpose, OutboxState
from notifiers.exceptions import ApprovalDenied, InsecureTransport, InvalidAddress, NoticeError
from notifiers.mail import build_message, parse_sender, validate_address
from notifiers.metrics import NOTICES_SENT
from notifiers.models import Notice, OutboxMessage
from notifiers.render import render_escalation
from notifiers.service import DEFAULT_MESSAGE_DOMAIN, new_message_id

log = logging.getLogger(__name__)

Security = Literal["starttls", "smtps", "plain"]
# The outbox acts in its own name, after the system actor's (`consumers.conventions`).
OUTBOX_ACTOR = f"{SYSTEM_ACTOR}-outbox"


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    security: Security
    from_address: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    allow_plaintext: bool = False
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)
    timeout: float = 30.0
    escalation_to: str = "rssi@avmup.com"
    timezone: str = DEFAULT_TIMEZONE
    message_domain: str = DEFAULT_MESSAGE_DOMAIN

    def __post_init__(self) -> None:
        if self.security == "plain" and not self.allow_plaintext:
            raise InsecureTransport(
                "plain-text SMTP refused: use smtp:// (STARTTLS) or smtps://, or set the "
                "explicit development flag (TOCSIN_SMTP_ALLOW_PLAINTEXT=true)"
            )
        parse_sender(self.from_address)
        validate_address(self.escalation_to)

    @classmethod
    def from_url(
        cls, url: str, *, from_address: str, allow_plaintext: bool = False, **kwargs: Any
    ) -> SmtpConfig:
        """`smtp://user:pass@host:587` (STARTTLS required), `smtps://host:465` (implicit
        TLS), `smtp+plain://host:1025` (development only, with `allow_plaintext`)."""
        parts = urlsplit(url)
        schemes: dict[str, tuple[Security, int]] = {
            "smtp": ("starttls", 587),
            "smtp+starttls": ("starttls", 587),
            "smtps": ("smtps", 465),
            "smtp+plain": ("plain", 25),
        }
        if parts.scheme not in schemes or not parts.hostname:
            raise NoticeError("SMTP URL: expected smtp://, smtps:// or smtp+plain://HOST[:PORT]")
        security, default_port = schemes[parts.scheme]
        return cls(
            host=parts.hostname,
            port=parts.port or default_port,
            security=security,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            from_address=from_address,
            allow_plaintext=allow_plaintext,
            **kwargs,
        )

    @classmethod
    def from_settings(cls, settings: Any) -> SmtpConfig | None:
        """From `tocsin.settings.Settings` (duck-typed); None when no SMTP URL is set."""
        if settings.smtp_url is None:
            return None
        url = settings.smtp_url.get_secret_value()
        if not url:
            return None
        return cls.from_url(
            url,
            from_address=settings.smtp_from,
            allow_plaintext=bool(settings.smtp_allow_plaintext),
            timezone=str(settings.timezone),
        )


@dataclass
class DeliveryReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    uncertain: int = 0
    escalations_queued: int = 0
    message_ids: list[str] = field(default_factory=list)

    @property
    def attempted(self) -> int:
        return self.sent + self.retried + self.failed


class _Uncertain(Exception):
    """The connection was lost while the server may have been accepting the message."""


class _Refused(Exception):
    """The server (or the transport) refused before accepting: the message was not sent."""

    def __init__(self, detail: str, *, permanent: bool) -> None:
        super().__init__(detail)
        self.permanent = permanent


def backoff(attempts: int, *, base: float = 60.0, cap: float = 3600.0) -> timedelta:
    """60 s, 120 s, 240 s … capped at one hour."""
    return timedelta(seconds=min(cap, base * 2 ** max(0, attempts - 1)))


class SmtpSession:
    """One SMTP connection for a batch; opened lazily, TLS enforced."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self.conn: smtplib.SMTP | None = None

    def _context(self) -> ssl.SSLContext:
        return self.config.ssl_context or ssl.create_default_context()

    def open(self) -> smtplib.SMTP:
        if self.conn is not None:
            return self.conn
        cfg = self.config
        try:
            conn: smtplib.SMTP
            if cfg.security == "smtps":
                conn = smtplib.SMTP_SSL(
                    cfg.host, cfg.port, timeout=cfg.timeout, context=self._context()
                )
                conn.ehlo()
            else:
                conn = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)
                conn.ehlo()
                if cfg.security == "starttls":
                    if not conn.has_extn("starttls"):
                        conn.close()
                        raise _Refused("server does not offer STARTTLS", permanent=False)
                    conn.starttls(context=self._context())
                    conn.ehlo()
            if cfg.username:
                conn.login(cfg.username, cfg.password or "")
        except _Refused:
            raise
        except smtplib.SMTPAuthenticationError as exc:
            raise _Refused(f"authentication failed ({exc.smtp_code})", permanent=False) from None
        except (OSError, smtplib.SMTPException, ssl.SSLError) as exc:
            raise _Refused(f"connection failed: {type(exc).__name__}", permanent=False) from None
        self.conn = conn
        return conn

    def send(self, sender: str, recipients: list[str], data: bytes) -> str:
        """MAIL, RCPT, DATA step by step, so that only a failure *inside* DATA is uncertain."""
        conn = self.open()
        try:
            code, resp = conn.mail(sender)
            if code != 250:
                conn.rset()
                raise _Refused(f"MAIL FROM refused: {code}", permanent=code >= 500)
            for rcpt in recipients:
                code, resp = conn.rcpt(rcpt)
                if code not in (250, 251):
                    conn.rset()
                    raise _Refused(f"RCPT TO refused: {code}", permanent=code >= 500)
        except _Refused:
            raise
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise _Refused(
                f"SMTP error before DATA: {type(exc).__name__}", permanent=False
            ) from None
        try:
            code, resp = conn.data(data)
        except smtplib.SMTPDataError as exc:
            raise _Refused(
                f"DATA refused: {exc.smtp_code}", permanent=exc.smtp_code >= 500
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise _Uncertain(f"connection lost during DATA: {type(exc).__name__}") from None
        if code != 250:  # pragma: no cover - smtplib raises SMTPDataError for these
            raise _Refused(f"DATA refused: {code}", permanent=code >= 500)
        return f"{code} {resp.decode('utf-8', 'replace')[:200]}"

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.quit()
            except (OSError, smtplib.SMTPException):
                self.conn.close()
            self.conn = None


def enqueue_escalations(
    *, session: Session, now: datetime, smtp: SmtpConfig, limit: int = 100
) -> int:
    """An outbox row per escalation not delivered and not queued yet. Not committed."""
    queued = set(
        session.scalars(
            select(OutboxMessage.escalation_id).where(OutboxMessage.escalation_id.is_not(None))
        )
    )
    count = 0
    for esc in incident_clocks.pending_escalations(session=session, limit=limit):
        if esc.id in queued:
            continue
        incident = esc.incident
        subject, text = render_escalation(
            values={
                "ref": incident.ref,
                "clock": esc.clock,
                "tenant_id": esc.tenant_id,
                "threshold_hours": esc.threshold_hours,
                "due_at": esc.due_at,
            },
            tz=smtp.timezone,
        )
        session.add(
            OutboxMessage(
                purpose=OutboxPurpose.ESCALATION.value,
                kind="escalation",
                escalation_id=esc.id,
                incident_id=incident.id,
                tenant_id=esc.tenant_id or None,
                reference=incident.ref,
                message_id=new_message_id(f"e{esc.id}", smtp.message_domain),
                recipients=[smtp.escalation_to],
                subject=subject,
                text_body=text,
                html_body=None,
                language="fr",
                state=OutboxState.PENDING.value,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )
        count += 1
    session.flush()
    return count


def _expire_claims(session: Session, now: datetime, lease: timedelta) -> list[OutboxMessage]:
    stale = list(
        session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.state == OutboxState.SENDING, OutboxMessage.claimed_at < now - lease
            )
        )
    )
    for row in stale:
        row.state = OutboxState.UNCERTAIN
        row.last_error = (
            "claim expired while sending: the server may have accepted the message; check "
            "the mail log for its Message-ID, then resolve it (sent or requeue)"
        )
        _audit_row(session, row, action="outbox.uncertain", at=now, notice_id=row.notice_id)
    return stale


def _ref(session: Session, incident_id: int) -> str:
    incident = session.get(Incident, incident_id)
    return incident.ref if incident is not None else str(incident_id)


def _audit_row(
    session: Session,
    row: OutboxMessage,
    *,
    action: str,
    at: datetime,
    actor: str = OUTBOX_ACTOR,
    **data: Any,
) -> None:
    """One audit entry about outbox `row` (its incident is the subject): the row and its
    Message-ID, then `data`."""
    audit.append(
        session=session,
        actor=actor,
        action=action,
        subject=_ref(session, row.incident_id),
        at=at,
        data={"outbox_id": row.id, "message_id": row.message_id, **data},
    )


def _claim(factory: sessionmaker[Session], row_id: int, now: datetime) -> OutboxMessage | None:
    token = secrets.token_hex(8)
    with factory() as session, session.begin():
        result = session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == row_id,
                OutboxMessage.state.in_([OutboxState.PENDING, OutboxState.RETRY]),
            )
            .values(
                state=OutboxState.SENDING.value,
                claimed_at=now,
                claim_token=token,
                attempts=OutboxMessage.attempts + 1,
            )
            .execution_options(synchronize_session=False)
        )
        if getattr(result, "rowcount", 0) != 1:
            return None
        row = session.get(OutboxMessage, row_id)
        if row is not None:
            session.expunge(row)
        return row


def _finish(
    factory: sessionmaker[Session],
    row: OutboxMessage,
    now: datetime,
    apply: Callable[[Session, OutboxMessage], None],
) -> None:
    with factory() as session, session.begin():
        current = session.get(OutboxMessage, row.id, with_for_update=True)
        if current is None or current.claim_token != row.claim_token:
            return  # another worker took over after our lease expired: leave it alone
        apply(session, current)


def _meet_customer_clock(
    session: Session, incident: Incident, tenant_id: str | None, now: datetime
) -> None:
    """Meet the customer's clock. A clock error must never undo the record of a message the
    server accepted (that would make it look unsent), so it is logged, not raised."""
    try:
        with session.begin_nested():
            incident_clocks.mark_clock_met(
                session=session,
                incident=incident,
                clock=Clock.CUSTOMER,
                at=now,
                tenant_id=tenant_id,
                actor=OUTBOX_ACTOR,
            )
    except IncidentError as exc:
        log.error(
            "customer clock not marked met",
            extra={"incident": incident.ref, "error": type(exc).__name__},
        )


def _mark_sent(reply: str, now: datetime) -> Callable[[Session, OutboxMessage], None]:
    def apply(session: Session, row: OutboxMessage) -> None:
        row.state = OutboxState.SENT
        row.sent_at = now
        row.smtp_reply = reply
        row.last_error = None
        incident = session.get(Incident, row.incident_id)
        if row.notice_id is not None:
            notice = session.get(Notice, row.notice_id)
            if notice is not None:
                notice.status = NoticeStatus.SENT
                notice.sent_at = now
                notice.updated_at = now
                if notice.kind == NoticeKind.CUSTOMER and incident is not None:
                    _meet_customer_clock(session, incident, notice.tenant_id, now)
        if row.escalation_id is not None:
            esc = session.get(Escalation, row.escalation_id)
            if esc is not None:
                esc.delivered_at = now
        _audit_row(
            session,
            row,
            action="outbox.sent",
            at=now,
            notice_id=row.notice_id,
            escalation_id=row.escalation_id,
            kind=row.kind,
            recipients=len(row.recipients),
        )

    return apply


def _mark_failed(
    detail: str, now: datetime, *, permanent: bool, max_attempts: int, outcome: list[str]
) -> Callable[[Session, OutboxMessage], None]:
    def apply(session: Session, row: OutboxMessage) -> None:
        row.last_error = detail[:500]
        row.claimed_at = None
        if permanent or row.attempts >= max_attempts:
            row.state = OutboxState.FAILED
            outcome.append("failed")
            _audit_row(
                session,
                row,
                action="outbox.failed",
                at=now,
                notice_id=row.notice_id,
                error=row.last_error,
                attempts=row.attempts,
            )
        else:
            row.state = OutboxState.RETRY
            row.next_attempt_at = now + backoff(row.attempts)
            outcome.append("retry")

    return apply


def _mark_uncertain(detail: str) -> Callable[[Session, OutboxMessage], None]:
    def apply(session: Session, row: OutboxMessage) -> None:
        row.state = OutboxState.UNCERTAIN
        row.last_error = detail[:500]

    return apply


def deliver_due(
    *,
    session_factory: sessionmaker[Session],
    smtp: SmtpConfig,
    now: datetime,
    limit: int = 50,
    lease: timedelta = timedelta(minutes=10),
    max_attempts: int = 8,
    stop: Callable[[], bool] | None = None,
) -> DeliveryReport:
    """Queue pending escalations, expire stale claims, then send what is due (each row:
    claim → commit → SMTP → record → commit). `stop` is asked before each claim: a process
    asked to stop finishes the message in hand and claims no other."""
    report = DeliveryReport()
    with session_factory() as session, session.begin():
        report.escalations_queued = enqueue_escalations(session=session, now=now, smtp=smtp)
        for stale in _expire_claims(session, now, lease):
            report.uncertain += 1
            NOTICES_SENT.labels(kind=stale.kind, result="uncertain").inc()
            log.warning("outbox message uncertain", extra={"outbox_id": stale.id})
        due_ids = list(
            session.scalars(
                select(OutboxMessage.id)
                .where(
                    OutboxMessage.state.in_([OutboxState.PENDING, OutboxState.RETRY]),
                    OutboxMessage.next_attempt_at <= now,
                )
                .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
                .limit(limit)
            )
        )
    if not due_ids:
        return report
    sender = parse_sender(smtp.from_address)
    transport = SmtpSession(smtp)
    try:
        for row_id in due_ids:
            if stop is not None and stop():
                break
            row = _claim(session_factory, row_id, now)
            if row is None:
                continue
            _deliver_one(
                session_factory, transport, smtp, sender.addr_spec, row, now, max_attempts, report
            )
    finally:
        transport.close()
    return report


def _deliver_one(
    factory: sessionmaker[Session],
    transport: SmtpSession,
    smtp: SmtpConfig,
    sender: str,
    row: OutboxMessage,
    now: datetime,
    max_attempts: int,
    report: DeliveryReport,
) -> None:
    outcome: list[str] = []
    try:
        message = build_message(
            sender=smtp.from_address,
            recipients=row.recipients,
            subject=row.subject,
            text=row.text_body,
            html=row.html_body,
            message_id=row.message_id,
            date=now,
            language=row.language,
            reference=row.reference,
            hide_recipients=row.kind == NoticeKind.DATA_SUBJECT,
        )
        data = message.as_bytes()
        reply = transport.send(sender, list(row.recipients), data)
    except InvalidAddress as exc:
        _finish(
            factory,
            row,
            now,
            _mark_failed(str(exc), now, permanent=True, max_attempts=max_attempts, outcome=outcome),
        )
    except _Refused as exc:
        _finish(
            factory,
            row,
            now,
            _mark_failed(
                str(exc), now, permanent=exc.permanent, max_attempts=max_attempts, outcome=outcome
            ),
        )
    except _Uncertain as exc:
        _finish(factory, row, now, _mark_uncertain(str(exc)))
        outcome.append("uncertain")
    else:
        _finish(factory, row, now, _mark_sent(reply, now))
        outcome.append("sent")
        report.message_ids.append(row.message_id)
    result = outcome[0] if outcome else "skipped"
    NOTICES_SENT.labels(kind=row.kind, result=result).inc()
    if result == "sent":
        report.sent += 1
    elif result == "retry":
        report.retried += 1
    elif result == "failed":
        report.failed += 1
    elif result == "uncertain":
        report.uncertain += 1
    log.info(
        "outbox delivery",
        extra={"outbox_id": row.id, "kind": row.kind, "result": result, "attempt": row.attempts},
    )


def resolve_uncertain(
    *, session: Session, outbox_id: int, sent: bool, user_email: str, user_role: str, now: datetime
) -> OutboxMessage:
    """The RSSI's decision on an `uncertain` row after checking the mail log: `sent=True`
    records it as delivered; `sent=False` requeues it (it will be sent again). Not committed.
    """
    if user_role != Role.RSSI:
        raise ApprovalDenied("only the RSSI may resolve an uncertain delivery")
    row = session.get(OutboxMessage, outbox_id)
    if row is None or row.state != OutboxState.UNCERTAIN:
        raise NoticeError(f"outbox message {outbox_id} is not uncertain")
    if sent:
        _mark_sent("confirmed by hand from the mail log", now)(session, row)
    else:
        row.state = OutboxState.RETRY
        row.next_attempt_at = now
        row.claimed_at = None
    _audit_row(session, row, action="outbox.resolved", at=now, actor=user_email, sent=sent)
    session.flush()
    return row
