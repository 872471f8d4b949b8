"""State changes requested from the console, shared by the pages and the API.

Each function checks what a role may do beyond the route's role gate (an analyst triages up
to confirmed/dismissed only), then calls the domain service, which writes the audit entry.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session, sessionmaker

from accounts.models import User
from accounts.roles import Role
from console import views
from console.deps import Forbidden
from console.errors import InvalidUserInput, SmtpNotConfigured
from consumers.conventions import is_aware
from incidents import audit as audit_chain
from incidents import service as incident_service
from incidents import severity
from incidents.enums import Art34Exemption, Clock, IncidentStatus
from incidents.exceptions import InvalidSeverityInput
from incidents.models import Incident
from notifiers import flows as notice_flows
from notifiers import outbox
from notifiers import service as notice_service
from notifiers.enums import NoticeKind, NoticeStatus
from notifiers.exceptions import InvalidNoticeTransition
from notifiers.models import Notice
from notifiers.outbox import DeliveryReport, SmtpConfig
from notifiers.schemas import DraftPolicy, NoticeEdit

ANALYST_TARGETS = frozenset(
    {IncidentStatus.TRIAGE, IncidentStatus.CONFIRMED, IncidentStatus.DISMISSED}
)


class TransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: IncidentStatus
    reason: str | None = Field(default=None, max_length=4000)


class CommentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=10000)


class SeverityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dpc: float
    ei: float
    cb_confidentiality: float = 0.0
    cb_integrity: float = 0.0
    cb_availability: float = 0.0
    malicious: bool = False
    persons: int = Field(default=0, ge=0, le=2_000_000_000)
    unintelligible: bool = False
    justification: str = Field(min_length=1, max_length=4000)
    art34_exemption: str | None = Field(default=None, max_length=32)
    art34_justification: str | None = Field(default=None, max_length=4000)
    # The RSSI's decision: None follows the advice; a value against it is recorded as such.
    notify_cnil: bool | None = None
    notify_subjects: bool | None = None


class AwareAtIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    aware_at: datetime
    justification: str = Field(min_length=1, max_length=4000)


class RegisterFieldsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(default=None, max_length=2000)
    consequences: str | None = Field(default=None, max_length=10000)
    measures: str | None = Field(default=None, max_length=10000)
    not_notified_justification: str | None = Field(default=None, max_length=10000)


class ClockIn(BaseModel):
    """Stop (justification required, e.g. Art. 33(1) 'unlikely to result in a risk') or
    resume a clock; `tenant_id` None = every customer clock."""

    model_config = ConfigDict(extra="forbid")
    clock: Clock
    stop: bool = True
    justification: str | None = Field(default=None, max_length=4000)
    tenant_id: str | None = Field(default=None, max_length=64)


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: str = Field(min_length=1, max_length=4000)
    justification: str = Field(min_length=1, max_length=10_000)


def incident(*, session: Session, ref: str) -> Incident:
    return incident_service.require_by_ref(session=session, ref=ref)


def status(value: str) -> IncidentStatus:
    """The status a form names, or the input's fault."""
    try:
        return IncidentStatus(value)
    except ValueError:
        raise InvalidUserInput("invalid_status") from None


def transition(
    *, session: Session, user: User, ref: str, data: TransitionIn, policy: DraftPolicy
) -> Incident:
    target = data.to
    if Role(user.role) == Role.ANALYST and target not in ANALYST_TARGETS:
        raise Forbidden("analysts triage up to confirmed or dismissed")
    found = incident(session=session, ref=ref)
    if (
        Role(user.role) == Role.ANALYST
        and target == IncidentStatus.DISMISSED
        and found.status == IncidentStatus.CONFIRMED
    ):
        raise Forbidden("dismissing a confirmed incident is the RSSI's decision")
    incident_service.transition(
        session=session, incident=found, to=target, actor_email=user.email, reason=data.reason
    )
    notice_flows.draft_notices(
        session=session, incident=found, now=datetime.now(UTC), policy=policy
    )
    return found


def comment(*, session: Session, user: User, ref: str, data: CommentIn) -> None:
    found = incident(session=session, ref=ref)
    incident_service.add_comment(
        session=session, incident=found, author_email=user.email, text=data.text
    )


# The ENISA inputs an assessment records (`incidents.severity.SeverityInputs`).
SEVERITY_INPUTS = (
    "dpc",
    "ei",
    "cb_confidentiality",
    "cb_integrity",
    "cb_availability",
    "malicious",
    "persons",
    "unintelligible",
)


def severity_inputs(
    source: Any, *, rationale: dict[str, Any] | None = None
) -> severity.SeverityInputs:
    """The ENISA inputs of `source` (a form, a recorded assessment: anything with their
    attributes)."""
    values = {name: getattr(source, name) for name in SEVERITY_INPUTS}
    return severity.SeverityInputs(**values, rationale=rationale or {})


def assess(
    *, session: Session, user: User, ref: str, data: SeverityIn, policy: DraftPolicy
) -> dict[str, Any]:
    found = incident(session=session, ref=ref)
    inputs = severity_inputs(data, rationale={"edited_in": "console"}).validate()
    decides = data.notify_cnil is not None or data.notify_subjects is not None
    if decides and Role(user.role) != Role.RSSI:
        raise Forbidden("only the RSSI decides who is notified")
    exemption = data.art34_exemption or None
    if exemption is not None and exemption not in {e.value for e in Art34Exemption}:
        raise InvalidSeverityInput(
            f"art34_exemption must be one of {', '.join(e.value for e in Art34Exemption)}"
        )
    row = incident_service.assess_severity(
        session=session,
        incident=found,
        inputs=inputs,
        justification=data.justification,
        actor_email=user.email,
        art34_exemption=exemption,
        art34_justification=data.art34_justification,
        notify_cnil=data.notify_cnil,
        notify_subjects=data.notify_subjects,
    )
    notice_flows.draft_notices(
        session=session, incident=found, now=datetime.now(UTC), policy=policy
    )
    return views.assessment_json(found.ref, row)


def set_aware_at(*, session: Session, user: User, ref: str, data: AwareAtIn) -> None:
    if not is_aware(data.aware_at):
        raise InvalidUserInput("naive_datetime")
    found = incident(session=session, ref=ref)
    incident_service.set_aware_at(
        session=session,
        incident=found,
        aware_at=data.aware_at.astimezone(UTC),
        justification=data.justification,
        actor_email=user.email,
    )


def _record(
    service: Callable[..., object], *, session: Session, user: User, ref: str, data: BaseModel
) -> None:
    """Record on incident `ref`, in `user`'s name, what a form sent: `data`'s fields are the
    `service`'s arguments of the same names."""
    found = incident(session=session, ref=ref)
    service(session=session, incident=found, actor_email=user.email, **data.model_dump())


def register_fields(*, session: Session, user: User, ref: str, data: RegisterFieldsIn) -> None:
    _record(incident_service.update_register_fields, session=session, user=user, ref=ref, data=data)


def clock(*, session: Session, user: User, ref: str, data: ClockIn) -> None:
    found = incident(session=session, ref=ref)
    if data.stop:
        incident_service.stop_clock(
            session=session,
            incident=found,
            clock=data.clock,
            justification=data.justification or "",
            actor_email=user.email,
            tenant_id=data.tenant_id,
        )
    else:
        incident_service.resume_clock(
            session=session,
            incident=found,
            clock=data.clock,
            actor_email=user.email,
            reason=data.justification,
            tenant_id=data.tenant_id,
        )


def decision(*, session: Session, user: User, ref: str, data: DecisionIn) -> None:
    _record(incident_service.record_decision, session=session, user=user, ref=ref, data=data)


# --- notices ---------------------------------------------------------------------------


class ApproveIn(BaseModel):
    """Approve a draft, optionally editing its subject and text first (the edit is kept as a
    diff in the audit chain)."""

    model_config = ConfigDict(extra="forbid")
    subject: str | None = Field(default=None, max_length=250)
    text_body: str | None = Field(default=None, max_length=100_000)
    reasons_for_delay: str | None = Field(default=None, max_length=10_000)
    recipients: list[str] | None = Field(default=None, max_length=10_000)


class RejectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=10_000)


class ReceiptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    receipt: str = Field(min_length=1, max_length=64)
    filed_at: datetime | None = None


def notice(*, session: Session, notice_id: int) -> Notice:
    return notice_service.get(session=session, notice_id=notice_id)


def approve(
    *, session: Session, user: User, notice_id: int, data: ApproveIn, cnil_hours: float
) -> Notice:
    found = notice(session=session, notice_id=notice_id)
    subject = data.subject.strip() if data.subject is not None else None
    text = data.text_body.replace("\r\n", "\n") if data.text_body is not None else None
    if subject == found.subject:
        subject = None
    if text is not None and text.rstrip("\n") == found.text_body.rstrip("\n"):
        text = None
    edits = NoticeEdit(subject=subject, text=text) if (subject or text) else None
    return notice_service.approve(
        session=session,
        notice=found,
        user_email=user.email,
        user_role=user.role,
        edits=edits,
        reasons_for_delay=data.reasons_for_delay or None,
        now=datetime.now(UTC),
        cnil_hours=cnil_hours,
        recipients=data.recipients,
    )


def reject(*, session: Session, user: User, notice_id: int, data: RejectIn) -> Notice:
    found = notice(session=session, notice_id=notice_id)
    return notice_service.reject(
        session=session,
        notice=found,
        user_email=user.email,
        user_role=user.role,
        reason=data.reason,
        now=datetime.now(UTC),
    )


def cnil_receipt(*, session: Session, user: User, notice_id: int, data: ReceiptIn) -> Notice:
    found = notice(session=session, notice_id=notice_id)
    now = datetime.now(UTC)
    filed = data.filed_at.astimezone(UTC) if data.filed_at and data.filed_at.tzinfo else now
    return notice_service.record_cnil_receipt(
        session=session,
        notice=found,
        receipt=data.receipt,
        user_email=user.email,
        user_role=user.role,
        filed_at=filed,
        now=now,
    )


def draft(*, session: Session, user: User, ref: str, policy: DraftPolicy) -> int:
    """(Re)draft the notices the incident calls for; returns how many were written."""
    found = incident(session=session, ref=ref)
    written = notice_flows.draft_notices(
        session=session, incident=found, now=datetime.now(UTC), policy=policy
    )
    return len(written)


def send(
    *,
    session: Session,
    factory: sessionmaker[Session],
    smtp: SmtpConfig | None,
    user: User,
    notice_id: int,
) -> DeliveryReport:
    """Deliver an approved notice now through the outbox (approval enqueued it). Commits
    `session` first: the outbox works in its own transactions."""
    found = notice(session=session, notice_id=notice_id)
    if found.kind == NoticeKind.CNIL:
        raise InvalidNoticeTransition("a CNIL notice is filed by hand: record its receipt")
    if found.status != NoticeStatus.APPROVED:
        raise InvalidNoticeTransition(f"notice {notice_id} is {found.status}: approve it first")
    if smtp is None:
        raise SmtpNotConfigured("TOCSIN_SMTP_URL is not set")
    audit_chain.append(
        session=session,
        actor=user.email,
        action="notice.send_requested",
        subject=found.incident.ref,
        data={
            "notice_id": found.id,
            "kind": found.kind,
            "version": found.version,
            "tenant_id": found.tenant_id,
        },
    )
    session.commit()
    return outbox.deliver_due(session_factory=factory, smtp=smtp, now=datetime.now(UTC))
