"""ORM models of incidents (docs/architecture.md §6). Tables only: logic lives in the services.

Legal deadlines are never stored: `incidents.clocks` computes them from the facts kept here
(`Incident.aware_at`, `Customer.notify_delay_hours`, `ClockFact` rows) and a `ClockPolicy`.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    delete,
    event,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.orm.attributes import get_history

from detectors.finding import Severity
from incidents.db import Base, enum_type, utcnow
from incidents.enums import (
    Art34Exemption,
    Clock,
    ClockFactKind,
    CustomerRole,
    DecisionKind,
    IncidentSource,
    IncidentStatus,
    Language,
    SeverityBand,
)

# Imported for its table: `IncidentFinding.finding_id` references `findings.finding_id`.
from incidents.findings_store import FindingRow  # noqa: F401


class Customer(Base):
    """A customer account (tenant) and the contract terms that drive its clock."""

    __tablename__ = "customers"

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    contact_email: Mapped[str] = mapped_column(String(320))
    language: Mapped[Language] = mapped_column(enum_type(Language, 2), default=Language.FR)
    notify_delay_hours: Mapped[float] = mapped_column(Float, default=24.0)
    role: Mapped[CustomerRole] = mapped_column(
        enum_type(CustomerRole, 16), default=CustomerRole.PROCESSOR
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class IncidentCounter(Base):
    """Last sequence number handed out per year, for `INC-YYYY-NNNN` references."""

    __tablename__ = "incident_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(Integer, default=0)


class Incident(Base):
    __tablename__ = "incidents"
    __table_args__ = (UniqueConstraint("year", "seq", name="uq_incidents_year_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str] = mapped_column(String(16), unique=True)
    year: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    status: Mapped[IncidentStatus] = mapped_column(
        enum_type(IncidentStatus, 16), index=True, default=IncidentStatus.DETECTED
    )
    title: Mapped[str] = mapped_column(Text, default="")
    title_edited: Mapped[bool] = mapped_column(Boolean, default=False)
    # How the breach came to light (`IncidentSource`) and, for a declared breach, what the
    # person who declared it knows: free text, the window, the services (NULL = not known
    # yet). Its approximate numbers of persons and records are `persons_estimate` and
    # `records_estimate` below (detected incidents count per tenant).
    source: Mapped[IncidentSource] = mapped_column(
        enum_type(IncidentSource, 24), default=IncidentSource.DETECTED, index=True
    )
    declared: Mapped[bool] = mapped_column(Boolean, default=False)  # opened by a person
    summary: Mapped[str] = mapped_column(Text, default="")
    occurred_from: Mapped[datetime | None] = mapped_column(nullable=True)
    occurred_to: Mapped[datetime | None] = mapped_column(nullable=True)
    discovered_at: Mapped[datetime | None] = mapped_column(nullable=True)
    services: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Facts of the breach (event time) and of its handling (wall time).
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    detected_at: Mapped[datetime] = mapped_column(index=True)
    aware_at: Mapped[datetime] = mapped_column(index=True)
    aware_justification: Mapped[str | None] = mapped_column(Text, nullable=True)
    aware_set_by: Mapped[str | None] = mapped_column(String(320), nullable=True)
    # Aggregates derived from the linked findings (from their totals, `IncidentTotal`).
    rule_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    nature: Mapped[list[str]] = mapped_column(JSON, default=list)
    data_categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    finding_severity: Mapped[Severity] = mapped_column(
        enum_type(Severity, 16), default=Severity.LOW
    )
    # Current ENISA assessment (copy of the latest `SeverityAssessment`, for queues/filters).
    severity_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    severity_band: Mapped[SeverityBand | None] = mapped_column(
        enum_type(SeverityBand, 16), nullable=True, index=True
    )
    # Register (Art. 33(5)) free text, edited by the RSSI/DPO.
    consequences: Mapped[str] = mapped_column(Text, default="")
    measures: Mapped[str] = mapped_column(Text, default="")
    not_notified_justification: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Structured notice fields (`incidents.notice_fields`): None = not entered yet, printed
    # « [à compléter] »; `measures` above holds the measures taken ("" = not entered).
    cause: Mapped[str | None] = mapped_column(String(32), nullable=True)
    origin: Mapped[str | None] = mapped_column(String(32), nullable=True)
    origin_detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    subprocessors_involved: Mapped[str | None] = mapped_column(String(8), nullable=True)
    subprocessors: Mapped[str | None] = mapped_column(Text, nullable=True)
    breach_ongoing: Mapped[str | None] = mapped_column(String(8), nullable=True)
    breach_ended_at: Mapped[datetime | None] = mapped_column(nullable=True)
    subject_categories: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    measures_proposed: Mapped[str | None] = mapped_column(Text, nullable=True)
    measures_planned: Mapped[str | None] = mapped_column(Text, nullable=True)
    measures_long_term: Mapped[str | None] = mapped_column(Text, nullable=True)
    persons_estimate: Mapped[int | None] = mapped_column(Integer, nullable=True)
    records_estimate: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # A pure attempt qualified as a breach by the RSSI (nature chosen, audited).
    qualified_nature: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    qualified_by: Mapped[str | None] = mapped_column(String(320), nullable=True)
    qualified_at: Mapped[datetime | None] = mapped_column(nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    resolution_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    tenants: Mapped[list[IncidentTenant]] = relationship(
        back_populates="incident", cascade="all, delete-orphan", order_by="IncidentTenant.tenant_id"
    )
    findings: Mapped[list[IncidentFinding]] = relationship(
        back_populates="incident", cascade="all, delete-orphan", order_by="IncidentFinding.id"
    )
    keys: Mapped[list[CorrelationKey]] = relationship(
        back_populates="incident", cascade="all, delete-orphan"
    )
    clock_facts: Mapped[list[ClockFact]] = relationship(
        back_populates="incident", cascade="all, delete-orphan", order_by="ClockFact.id"
    )
    assessments: Mapped[list[SeverityAssessment]] = relationship(
        back_populates="incident", cascade="all, delete-orphan", order_by="SeverityAssessment.id"
    )
    escalations: Mapped[list[Escalation]] = relationship(
        back_populates="incident", cascade="all, delete-orphan", order_by="Escalation.id"
    )
    decisions: Mapped[list[Decision]] = relationship(
        back_populates="incident", cascade="all, delete-orphan", order_by="Decision.id"
    )

    @property
    def is_open(self) -> bool:
        return self.status.is_open

    @property
    def tenant_ids(self) -> list[str]:
        return [t.tenant_id for t in self.tenants]

    @property
    def current_assessment(self) -> SeverityAssessment | None:
        return self.assessments[-1] if self.assessments else None


class IncidentTenant(Base):
    """An affected customer of an incident and its own approximate numbers."""

    __tablename__ = "incident_tenants"

    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    events: Mapped[int] = mapped_column(BigInteger, default=0)
    records: Mapped[int] = mapped_column(BigInteger, default=0)
    persons: Mapped[int] = mapped_column(BigInteger, default=0)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]

    incident: Mapped[Incident] = relationship(back_populates="tenants")


class IncidentFinding(Base):
    """A finding belongs to at most one incident."""

    __tablename__ = "incident_findings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    finding_id: Mapped[str] = mapped_column(
        ForeignKey("findings.finding_id", ondelete="RESTRICT"), unique=True
    )
    linked_at: Mapped[datetime] = mapped_column(default=utcnow)

    incident: Mapped[Incident] = relationship(back_populates="findings")


class CorrelationKey(Base):
    """An attacker identity seen in an incident: `(tenant, actor)` or a source IP.

    `key` is sha256 of the identity (no personal data in an index); `first_seen`/`last_seen`
    are event times, for the 24 h correlation window.
    """

    __tablename__ = "incident_keys"
    __table_args__ = (UniqueConstraint("incident_id", "key", name="uq_incident_keys_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]

    incident: Mapped[Incident] = relationship(back_populates="keys")


class IncidentTotal(Base):
    """What the findings linked to an incident add up to, kept up to date as findings are
    linked or re-emitted (`incidents.totals`, `incidents.flows`), so that correlation never
    reloads an incident's findings. `part` is "" for the whole incident, a tenant id for that
    tenant's share; `signatures` (whole incident only) counts the findings per (rule,
    severity, nature, data categories). No rows for an incident: not counted yet, the next
    correlation recomputes them from the findings."""

    __tablename__ = "incident_totals"

    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
    part: Mapped[str] = mapped_column(String(64), primary_key=True)
    findings: Mapped[int] = mapped_column(Integer)
    events: Mapped[int] = mapped_column(BigInteger)
    records: Mapped[int] = mapped_column(BigInteger)
    persons: Mapped[int] = mapped_column(BigInteger)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    signatures: Mapped[dict[str, int] | None] = mapped_column(JSON, nullable=True)


class FindingPart(Base):
    """The version of a linked finding its incident's totals count, per part (as in
    `IncidentTotal`): subtracted when a newer version of the finding is counted."""

    __tablename__ = "incident_finding_parts"
    __table_args__ = (
        Index("ix_incident_finding_parts_first", "incident_id", "part", "first_seen"),
        Index("ix_incident_finding_parts_last", "incident_id", "part", "last_seen"),
    )

    finding_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    part: Mapped[str] = mapped_column(String(64), primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    events: Mapped[int] = mapped_column(BigInteger)
    records: Mapped[int] = mapped_column(BigInteger)
    persons: Mapped[int] = mapped_column(BigInteger)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    signature: Mapped[str | None] = mapped_column(Text, nullable=True)


# Links whose finding `incidents.flows` counts in the totals itself. Any other link made,
# moved or removed (declared incidents, merges by a person, fixtures) drops the totals of the
# incidents concerned, which are then recomputed from their findings.
COUNTED_LINKS: weakref.WeakSet[IncidentFinding] = weakref.WeakSet()


def _drop_totals(connection: Connection, incident_ids: Iterable[int | None]) -> None:
    ids = sorted({i for i in incident_ids if i is not None})
    if ids:
        connection.execute(delete(IncidentTotal).where(IncidentTotal.incident_id.in_(ids)))


@event.listens_for(IncidentFinding, "after_insert")
@event.listens_for(IncidentFinding, "after_delete")
def _link_changed(_mapper: Any, connection: Connection, link: IncidentFinding) -> None:
    if link not in COUNTED_LINKS:
        _drop_totals(connection, [link.incident_id])


@event.listens_for(IncidentFinding, "before_update")
def _link_moved(_mapper: Any, connection: Connection, link: IncidentFinding) -> None:
    history = get_history(link, "incident_id")
    if history.has_changes() and link not in COUNTED_LINKS:
        _drop_totals(connection, [*history.deleted, *history.added])


class ClockFact(Base):
    """A fact about a clock: notice sent (`met`), clock `stopped` (justified) or `resumed`.

    `tenant_id` is the customer for the `customer` clock and "" for the `cnil` clock.
    Append-only: the current state is the latest fact of each (clock, tenant).
    """

    __tablename__ = "clock_facts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    clock: Mapped[Clock] = mapped_column(enum_type(Clock, 16))
    tenant_id: Mapped[str] = mapped_column(String(64), default="")
    kind: Mapped[ClockFactKind] = mapped_column(enum_type(ClockFactKind, 16))
    at: Mapped[datetime]
    justification: Mapped[str | None] = mapped_column(Text, nullable=True)
    actor: Mapped[str] = mapped_column(String(320))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)

    incident: Mapped[Incident] = relationship(back_populates="clock_facts")


class SeverityAssessment(Base):
    """One ENISA 2013 assessment (SE = DPC × EI + CB). Every version is kept."""

    __tablename__ = "severity_assessments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    dpc: Mapped[float] = mapped_column(Float)
    ei: Mapped[float] = mapped_column(Float)
    cb_confidentiality: Mapped[float] = mapped_column(Float, default=0.0)
    cb_integrity: Mapped[float] = mapped_column(Float, default=0.0)
    cb_availability: Mapped[float] = mapped_column(Float, default=0.0)
    malicious: Mapped[bool] = mapped_column(Boolean, default=False)
    score: Mapped[float] = mapped_column(Float)
    band: Mapped[SeverityBand] = mapped_column(enum_type(SeverityBand, 16))
    persons: Mapped[int] = mapped_column(BigInteger, default=0)
    unintelligible: Mapped[bool] = mapped_column(Boolean, default=False)
    notify_customer: Mapped[bool] = mapped_column(Boolean, default=True)
    notify_cnil: Mapped[bool] = mapped_column(Boolean, default=False)
    notify_subjects: Mapped[bool] = mapped_column(Boolean, default=False)
    # Art. 34(3)(c): a public communication replaces the individual one.
    notify_public: Mapped[bool] = mapped_column(Boolean, default=False)
    recommendation_overridden: Mapped[bool] = mapped_column(Boolean, default=False)
    art34_exemption: Mapped[Art34Exemption | None] = mapped_column(
        enum_type(Art34Exemption, 32), nullable=True
    )
    art34_justification: Mapped[str | None] = mapped_column(Text, nullable=True)
    source: Mapped[str] = mapped_column(String(8))  # "auto" (from findings) | "manual"
    rationale: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    justification: Mapped[str] = mapped_column(Text, default="")
    assessed_by: Mapped[str] = mapped_column(String(320))
    assessed_at: Mapped[datetime]

    incident: Mapped[Incident] = relationship(back_populates="assessments")


class Escalation(Base):
    """A deadline alert for the RSSI, fired once per (incident, clock, tenant, threshold).

    `threshold_hours` is the remaining time that triggered it (0 = overdue). The notifier
    delivers rows whose `delivered_at` is NULL and sets it.
    """

    __tablename__ = "escalations"
    __table_args__ = (
        UniqueConstraint(
            "incident_id", "clock", "tenant_id", "threshold_hours", name="uq_escalations_once"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    clock: Mapped[Clock] = mapped_column(enum_type(Clock, 16))
    tenant_id: Mapped[str] = mapped_column(String(64), default="")
    threshold_hours: Mapped[float] = mapped_column(Float)
    due_at: Mapped[datetime]
    fired_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None] = mapped_column(nullable=True, index=True)

    incident: Mapped[Incident] = relationship(back_populates="escalations")


class Decision(Base):
    """A comment or a decision (with its justification) on an incident."""

    __tablename__ = "incident_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[DecisionKind] = mapped_column(enum_type(DecisionKind, 16))
    text: Mapped[str] = mapped_column(Text)
    justification: Mapped[str | None] = mapped_column(Text, nullable=True)
    author: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime]

    incident: Mapped[Incident] = relationship(back_populates="decisions")


class AuditHead(Base):
    """The single chain-head row (`id` = 1): locked by every append to serialise writers."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    hash: Mapped[str] = mapped_column(String(64))


class AuditEntry(Base):
    """Append-only: `hash` = sha256(prev_hash + canonical JSON of the entry)."""

    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, unique=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str] = mapped_column(String(128), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
