"""ORM models of the notices domain: `Notice` (every version kept) and `OutboxMessage`.

A notice is identified by (incident, kind, scope, version): `scope` is the tenant id for a
customer notice and "*" for the CNIL and data-subject notices (a NOT NULL column, so the
unique constraint holds on both backends, where NULLs are distinct).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from incidents.db import Base, enum_type, utcnow
from incidents.models import Incident
from notifiers.enums import NoticeKind, NoticePhase, NoticeStatus, OutboxPurpose, OutboxState

GLOBAL_SCOPE = "*"


class Notice(Base):
    __tablename__ = "notices"
    __table_args__ = (
        UniqueConstraint("incident_id", "kind", "scope", "version", name="uq_notices_version"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[NoticeKind] = mapped_column(enum_type(NoticeKind, 16))
    scope: Mapped[str] = mapped_column(String(64))
    tenant_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    phase: Mapped[NoticePhase] = mapped_column(enum_type(NoticePhase, 16))
    version: Mapped[int] = mapped_column(Integer)
    language: Mapped[str] = mapped_column(String(2), default="fr")
    status: Mapped[NoticeStatus] = mapped_column(
        enum_type(NoticeStatus, 16), index=True, default=NoticeStatus.DRAFT
    )
    subject: Mapped[str] = mapped_column(String(255))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str] = mapped_column(Text)
    # The render context (JSON) the draft came from: re-render, CNIL JSON export.
    context: Mapped[dict[str, Any]] = mapped_column(JSON)
    # sha256 of the material facts: a change drafts a new version (or refreshes a draft).
    fingerprint: Mapped[str] = mapped_column(String(64))
    edited: Mapped[bool] = mapped_column(Boolean, default=False)
    # The drafted subject/text/html when the RSSI edited them at approval.
    original: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    reasons_for_delay: Mapped[str | None] = mapped_column(Text, nullable=True)
    approved_by: Mapped[str | None] = mapped_column(String(320), nullable=True)
    approved_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # The DPO's signature (CNIL, data-subject and public notices need both).
    dpo_approved_by: Mapped[str | None] = mapped_column(String(320), nullable=True)
    dpo_approved_at: Mapped[datetime | None] = mapped_column(nullable=True)
    rejected_by: Mapped[str | None] = mapped_column(String(320), nullable=True)
    rejected_at: Mapped[datetime | None] = mapped_column(nullable=True)
    rejection_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(nullable=True)
    cnil_receipt: Mapped[str | None] = mapped_column(String(64), nullable=True)
    cnil_receipt_at: Mapped[datetime | None] = mapped_column(nullable=True)
    cnil_receipt_by: Mapped[str | None] = mapped_column(String(320), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    incident: Mapped[Incident] = relationship()


class OutboxMessage(Base):
    """One e-mail to deliver: a notice version or an escalation. The message is frozen at
    enqueue time (what the RSSI approved is exactly what leaves), with a stable Message-ID.
    See `notifiers.outbox` for the delivery state machine."""

    __tablename__ = "notice_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    purpose: Mapped[OutboxPurpose] = mapped_column(enum_type(OutboxPurpose, 16))
    kind: Mapped[str] = mapped_column(String(16))  # customer | data_subject | escalation
    notice_id: Mapped[int | None] = mapped_column(
        ForeignKey("notices.id", ondelete="RESTRICT"), unique=True, nullable=True
    )
    escalation_id: Mapped[int | None] = mapped_column(
        ForeignKey("escalations.id", ondelete="CASCADE"), unique=True, nullable=True
    )
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    tenant_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reference: Mapped[str] = mapped_column(String(64))  # the incident ref, for the header
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    recipients: Mapped[list[str]] = mapped_column(JSON)
    subject: Mapped[str] = mapped_column(String(255))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str | None] = mapped_column(Text, nullable=True)
    language: Mapped[str] = mapped_column(String(2), default="fr")
    state: Mapped[OutboxState] = mapped_column(
        enum_type(OutboxState, 16), index=True, default=OutboxState.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(index=True)
    claimed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    claim_token: Mapped[str | None] = mapped_column(String(32), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    smtp_reply: Mapped[str | None] = mapped_column(Text, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
