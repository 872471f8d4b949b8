"""Tables written by the ingest pipeline: findings, evidence events, partition checkpoints.

A finding row always holds the *last* version a detector emitted for its `finding_id`
(the detector re-emits current aggregates, never increments), so upserting the same
emissions twice — a replay after a crash — leaves the table unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, LargeBinary, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from consumers.events import Event
from detectors.finding import Finding, Severity
from incidents.db import Base, enum_type, utcnow

# The largest count a 64-bit column holds. Sums of records, persons and events are stored
# saturated at this value (`stored_count`): far beyond any real breach, never an overflow.
MAX_STORED_COUNT = 2**63 - 1


def stored_count(value: int) -> int:
    """`value` bounded to what the count columns hold (0 … `MAX_STORED_COUNT`)."""
    return min(max(value, 0), MAX_STORED_COUNT)


class FindingRow(Base):
    __tablename__ = "findings"

    finding_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(32), index=True)
    severity: Mapped[Severity] = mapped_column(enum_type(Severity, 16))
    nature: Mapped[list[str]] = mapped_column(JSON)
    tenant_ids: Mapped[list[str]] = mapped_column(JSON)
    tenants: Mapped[dict[str, dict[str, int]]] = mapped_column(JSON)  # TenantImpact by tenant
    group_key: Mapped[str] = mapped_column(String(512))
    actor_ids: Mapped[list[str]] = mapped_column(JSON)
    source_ips: Mapped[list[str]] = mapped_column(JSON)
    data_categories: Mapped[list[str]] = mapped_column(JSON)
    records: Mapped[int] = mapped_column(BigInteger)
    subjects: Mapped[int] = mapped_column(BigInteger)
    count: Mapped[int] = mapped_column(BigInteger)
    first_seen: Mapped[datetime] = mapped_column(index=True)
    last_seen: Mapped[datetime]
    evidence: Mapped[list[str]] = mapped_column(JSON)
    summary: Mapped[str] = mapped_column(Text)
    stored_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    def to_finding(self) -> Finding:
        return Finding.model_validate(
            {
                "finding_id": self.finding_id,
                "rule_id": self.rule_id,
                "severity": self.severity,
                "nature": self.nature,
                "tenant_ids": self.tenant_ids,
                "tenants": self.tenants,
                "group_key": self.group_key,
                "actor_ids": self.actor_ids,
                "source_ips": self.source_ips,
                "data_categories": self.data_categories,
                "records": self.records,
                "subjects": self.subjects,
                "count": self.count,
                "first_seen": self.first_seen,
                "last_seen": self.last_seen,
                "evidence": self.evidence,
                "summary": self.summary,
            }
        )


class EvidenceEvent(Base):
    """The fields of an event cited as evidence. Purged after the retention period."""

    __tablename__ = "evidence_events"

    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    stream: Mapped[str] = mapped_column(String(16))
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    occurred_at: Mapped[datetime] = mapped_column(index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    stored_at: Mapped[datetime] = mapped_column(default=utcnow)


class PartitionCheckpoint(Base):
    """Where a partition's processing stands: the next offset to read and the detector and
    dedup state as of just before it. Written in the same transaction as the findings."""

    __tablename__ = "partition_checkpoints"

    consumer_group: Mapped[str] = mapped_column(String(255), primary_key=True)
    topic: Mapped[str] = mapped_column(String(255), primary_key=True)
    partition: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    next_offset: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class PartitionStateEntry(Base):
    """One key of a partition's detector state (an open finding, slot "o", or a kind's
    per-key state, slot "k"), written when it changed, in the transaction of its checkpoint.
    `seq` orders the keys of one map (least recently touched first)."""

    __tablename__ = "partition_state_entries"

    consumer_group: Mapped[str] = mapped_column(String(255), primary_key=True)
    topic: Mapped[str] = mapped_column(String(255), primary_key=True)
    partition: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    rule_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    slot: Mapped[str] = mapped_column(String(1), primary_key=True)
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    value: Mapped[bytes] = mapped_column(LargeBinary)


def _values(finding: Finding) -> dict[str, Any]:
    data = finding.model_dump(mode="json")
    # Canonical order: a repartitioned stream receives its events in an order that depends
    # on how upstream partitions interleave, so lists are stored sorted, not as they came.
    for key in ("nature", "data_categories", "tenant_ids", "actor_ids", "source_ips", "evidence"):
        data[key] = sorted(data[key])
    data["tenants"] = dict(sorted(data["tenants"].items()))
    data["first_seen"] = finding.first_seen
    data["last_seen"] = finding.last_seen
    for key in ("records", "subjects", "count"):
        data[key] = stored_count(data[key])
    return data


def upsert_findings(*, session: Session, findings: Sequence[Finding]) -> list[FindingRow]:
    """Insert or overwrite findings by id (last emission wins). Returns the rows whose content
    changed (new or updated), in input order, de-duplicated."""
    latest: dict[str, Finding] = {}
    for finding in findings:
        latest[finding.finding_id] = finding
    if not latest:
        return []
    existing = {
        row.finding_id: row
        for row in session.scalars(
            select(FindingRow).where(FindingRow.finding_id.in_(list(latest)))
        )
    }
    changed: list[FindingRow] = []
    now = utcnow()
    for fid, finding in latest.items():
        values = _values(finding)
        row = existing.get(fid)
        if row is None:
            row = FindingRow(**values, stored_at=now, updated_at=now)
            session.add(row)
            changed.append(row)
            continue
        diff = {k: v for k, v in values.items() if _column_value(row, k) != v}
        if diff:
            for key, value in diff.items():
                setattr(row, key, value)
            row.updated_at = now
            changed.append(row)
    session.flush()
    return changed


def _column_value(row: FindingRow, key: str) -> Any:
    return getattr(row, key)


def store_evidence(*, session: Session, events: Iterable[tuple[str, Event]]) -> int:
    """Store evidence events (stream, event) not stored yet. Returns how many were new."""
    by_id = {str(ev.event_id): (stream, ev) for stream, ev in events}
    if not by_id:
        return 0
    known = set(
        session.scalars(select(EvidenceEvent.event_id).where(EvidenceEvent.event_id.in_(by_id)))
    )
    new = 0
    for eid, (stream, ev) in by_id.items():
        if eid in known:
            continue
        session.add(
            EvidenceEvent(
                event_id=eid,
                stream=stream,
                tenant_id=ev.tenant_id,
                occurred_at=ev.occurred_at,
                payload=ev.model_dump(mode="json"),
            )
        )
        new += 1
    session.flush()
    return new
