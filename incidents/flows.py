"""Findings → incidents: the step the ingest pipeline runs after storing findings.

`record_findings` runs in the pipeline's transaction (flushes, never commits). Its reads per
batch are a fixed handful of queries whatever the batch size (existing links, candidate keys,
candidate incidents with their tenants, keys and assessments, customers, the linked findings
of the touched incidents); the references of the incidents it opens are reserved in one
counter update and its audit entries written in one chain append.

Concurrency: on PostgreSQL a transaction-scoped advisory lock per attacker identity makes
two replicas that see one IP at the same time open one incident; SQLite has one writer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import inspect, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, selectinload

from consumers.conventions import SYSTEM_ACTOR, aware_utc
from detectors.finding import Severity
from incidents import audit, clocks, correlation, notice_fields, service, severity
from incidents.clocks import ClockPolicy
from incidents.enums import OPEN_STATUSES, CustomerRole, IncidentSource, IncidentStatus
from incidents.exceptions import IncidentError
from incidents.findings_store import FindingRow, stored_count
from incidents.models import (
    CorrelationKey,
    Incident,
    IncidentCounter,
    IncidentFinding,
    IncidentTenant,
)

_SEVERITY_RANK = {s.value: i for i, s in enumerate(Severity)}


def format_ref(year: int, seq: int) -> str:
    return f"INC-{year:04d}-{seq:04d}"


def allocate_ref(*, session: Session, year: int) -> tuple[int, str]:
    """Next `INC-YYYY-NNNN` (see `allocate_refs`)."""
    return allocate_refs(session=session, year=year, count=1)[0]


def allocate_refs(*, session: Session, year: int, count: int) -> list[tuple[int, str]]:
    """`count` consecutive references. The counter row is updated first (`UPDATE …
    RETURNING`), which holds its row lock (PostgreSQL) or the writer lock (SQLite) until
    commit: concurrent allocators queue and never share a number."""
    if count < 1:
        return []
    bump = (
        update(IncidentCounter)
        .where(IncidentCounter.year == year)
        .values(last=IncidentCounter.last + count)
        .returning(IncidentCounter.last)
        .execution_options(synchronize_session=False)
    )
    last = session.execute(bump).scalar_one_or_none()
    if last is None:
        dialect = session.get_bind().dialect.name
        ins = postgresql.insert if dialect == "postgresql" else sqlite.insert
        session.execute(
            ins(IncidentCounter)
            .values(year=year, last=0)
            .on_conflict_do_nothing(index_elements=["year"])
        )
        last = session.execute(bump).scalar_one_or_none()
        if last is None:  # pragma: no cover - the row exists now
            raise IncidentError("could not allocate an incident reference")
    first = int(last) - count + 1
    return [(seq, format_ref(year, seq)) for seq in range(first, int(last) + 1)]


@dataclass
class _Batch:
    """In-memory view of the incidents a batch may touch. Each incident has a slot: its id
    when it exists already, a negative number while it is being opened (no id yet)."""

    incidents: dict[int, Incident] = field(default_factory=dict)
    keys: dict[str, list[tuple[CorrelationKey, int]]] = field(default_factory=dict)
    touched: dict[int, Incident] = field(default_factory=dict)
    opened: list[int] = field(default_factory=list)
    linked: dict[int, list[str]] = field(default_factory=dict)
    links: dict[int, list[IncidentFinding]] = field(default_factory=dict)  # made in this batch
    merged: list[tuple[Incident, Incident]] = field(default_factory=list)  # (absorbed, into)

    def index(self, slot: int, incident: Incident) -> None:
        self.incidents[slot] = incident
        for k in incident.keys:
            self.keys.setdefault(k.key, []).append((k, slot))


def _load(session: Session, ids: set[int]) -> list[Incident]:
    if not ids:
        return []
    return list(
        session.scalars(
            select(Incident)
            .where(Incident.id.in_(sorted(ids)))
            .options(
                selectinload(Incident.tenants),
                selectinload(Incident.keys),
                selectinload(Incident.assessments),
            )
        )
    )


def _age(slot: int) -> tuple[int, int]:
    """Oldest first: existing incidents by id, then those opened in this batch."""
    return (0, slot) if slot > 0 else (1, -slot)


def _matches(batch: _Batch, row: FindingRow, ids: list[correlation.Identity]) -> set[int]:
    """The open incidents sharing an identity with the finding within the window."""
    found: set[int] = set()
    for ident in ids:
        for key, slot in batch.keys.get(ident.key, []):
            if not batch.incidents[slot].is_open:
                continue
            if correlation.within_window(
                row.first_seen, row.last_seen, key.first_seen, key.last_seen
            ):
                found.add(slot)
    return found


def untouched(incident: Incident) -> bool:
    """Nobody has acted on the incident yet (status, title, awareness, assessment, comments,
    clocks): Tocsin may merge it into another one on its own."""
    if incident.id is None:
        return True
    return (
        incident.status == IncidentStatus.DETECTED.value
        and not incident.declared
        and not incident.title_edited
        and incident.aware_set_by is None
        and all(a.source == "auto" for a in incident.assessments)
        and not incident.decisions
        and all(f.actor == SYSTEM_ACTOR for f in incident.clock_facts)
    )


# Which incidents (by id) must keep their identity for reasons the incidents package does not
# see, e.g. a notice already approved or sent (supplied by the pipeline).
MergeGuard = Callable[[Session, Sequence[int]], set[int]]


def _new_incident(row: FindingRow, now: datetime) -> Incident:
    """An incident without its reference yet (allocated for the whole batch at once)."""
    return Incident(
        year=now.year,
        status=IncidentStatus.DETECTED.value,
        title="",
        title_edited=False,
        source=IncidentSource.DETECTED.value,
        declared=False,
        services=[],
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        detected_at=now,
        aware_at=now,
        rule_ids=[],
        nature=[],
        data_categories=[],
        finding_severity=row.severity,
        consequences="",
        measures="",
        created_at=now,
        updated_at=now,
        tenants=[],
        keys=[],
        findings=[],
        assessments=[],
        clock_facts=[],
        escalations=[],
        decisions=[],
    )


def _remember_keys(
    batch: _Batch, slot: int, row: FindingRow, ids: list[correlation.Identity]
) -> None:
    incident = batch.incidents[slot]
    mine = {k.key: k for k in incident.keys}
    for ident in ids:
        key = mine.get(ident.key)
        if key is None:
            key = CorrelationKey(
                key=ident.key, kind=ident.kind, first_seen=row.first_seen, last_seen=row.last_seen
            )
            incident.keys.append(key)
            mine[ident.key] = key
            batch.keys.setdefault(ident.key, []).append((key, slot))
            continue
        if row.first_seen < key.first_seen:
            key.first_seen = row.first_seen
        if row.last_seen > key.last_seen:
            key.last_seen = row.last_seen


def _link(session: Session, batch: _Batch, slot: int, finding_id: str, now: datetime) -> None:
    incident = batch.incidents[slot]
    link = IncidentFinding(incident_id=incident.id, finding_id=finding_id, linked_at=now)
    if "findings" in inspect(incident).unloaded:
        session.add(link)
    else:
        incident.findings.append(link)
    batch.links.setdefault(slot, []).append(link)


def _merge(
    session: Session,
    batch: _Batch,
    absorbed: int,
    into: int,
    now: datetime,
    items: list[audit.AuditItem],
) -> None:
    """Move everything of incident slot `absorbed` (untouched) into slot `into`: its findings,
    its identities, its earliest detection. A stored incident absorbed this way is dismissed
    as "merged into …" and audited; one opened in this batch simply never exists."""
    gone, keep = batch.incidents[absorbed], batch.incidents[into]
    moved = list(batch.linked.pop(absorbed, []))
    if gone.id is not None:  # so is `keep`: stored incidents are older than new ones
        moved += [
            fid
            for (fid,) in session.execute(
                select(IncidentFinding.finding_id).where(IncidentFinding.incident_id == gone.id)
            )
        ]
        session.execute(
            update(IncidentFinding)
            .where(IncidentFinding.incident_id == gone.id)
            .values(incident_id=keep.id)
            .execution_options(synchronize_session=False)
        )
    for link in batch.links.pop(absorbed, []):
        link.incident = keep
        link.incident_id = keep.id
        batch.links.setdefault(into, []).append(link)
    if gone.id is not None:
        session.expire(gone, ["findings"])
        if "findings" not in inspect(keep).unloaded:
            session.expire(keep, ["findings"])
    mine = {k.key: k for k in keep.keys}
    for key in list(gone.keys):
        entries = batch.keys.get(key.key, [])
        entries[:] = [(k, slot) for k, slot in entries if k is not key]
        same = mine.get(key.key)
        if same is None:
            key.incident = keep
            mine[key.key] = key
            entries.append((key, into))
            continue
        same.first_seen = min(same.first_seen, key.first_seen)
        same.last_seen = max(same.last_seen, key.last_seen)
        gone.keys.remove(key)
    batch.linked.setdefault(into, []).extend(moved)
    keep.detected_at = min(keep.detected_at, gone.detected_at)
    if keep.aware_set_by is None:
        keep.aware_at = min(keep.aware_at, gone.aware_at)
    keep.first_seen = min(keep.first_seen, gone.first_seen)
    keep.last_seen = max(keep.last_seen, gone.last_seen)
    batch.touched.setdefault(into, keep)
    batch.touched.pop(absorbed, None)
    del batch.incidents[absorbed]
    if gone.id is None:
        batch.opened.remove(absorbed)
        return
    reason = f"merged into {keep.ref}"
    gone.status = IncidentStatus.DISMISSED
    gone.closed_at = now
    gone.resolution_reason = reason
    gone.updated_at = now
    batch.merged.append((gone, keep))
    items.append(
        audit.AuditItem(
            actor=SYSTEM_ACTOR,
            action="incident.merged",
            subject=gone.ref,
            at=now,
            data={
                "from": IncidentStatus.DETECTED.value,
                "to": IncidentStatus.DISMISSED.value,
                "reason": reason,
                "into": keep.ref,
                "finding_ids": sorted(moved),
            },
        )
    )


def _refresh(incident: Incident, rows: list[FindingRow], now: datetime) -> bool:
    """Recompute the incident's aggregates from its findings. True if anything changed."""
    if not rows:
        return False
    per_tenant: dict[str, dict[str, int]] = {}
    spans: dict[str, tuple[datetime, datetime]] = {}
    for row in rows:
        for tenant in row.tenant_ids:
            impact = row.tenants.get(tenant) or {}
            acc = per_tenant.setdefault(tenant, {"events": 0, "records": 0, "persons": 0})
            acc["events"] += int(impact.get("events", 0))
            acc["records"] += int(impact.get("records", 0))
            acc["persons"] += int(impact.get("subjects", 0))
            lo, hi = spans.get(tenant, (row.first_seen, row.last_seen))
            spans[tenant] = (min(lo, row.first_seen), max(hi, row.last_seen))
    changed = False
    existing = {t.tenant_id: t for t in incident.tenants}
    for tenant, acc in sorted(per_tenant.items()):
        acc = {name: stored_count(n) for name, n in acc.items()}
        lo, hi = spans[tenant]
        current = existing.get(tenant)
        if current is None:
            incident.tenants.append(
                IncidentTenant(
                    tenant_id=tenant,
                    events=acc["events"],
                    records=acc["records"],
                    persons=acc["persons"],
                    first_seen=lo,
                    last_seen=hi,
                )
            )
            changed = True
            continue
        values = {
            "events": acc["events"],
            "records": acc["records"],
            "persons": acc["persons"],
            "first_seen": lo,
            "last_seen": hi,
        }
        if incident.declared:
            values.update(
                records=max(acc["records"], current.records),
                persons=max(acc["persons"], current.persons),
                first_seen=min(lo, current.first_seen),
            )
        for name, value in values.items():
            if getattr(current, name) != value:
                setattr(current, name, value)
                changed = True
    rule_ids = sorted({r.rule_id for r in rows})
    nature = notice_fields.nature_of(r.nature for r in rows)
    categories = sorted({c for r in rows for c in r.data_categories})
    if incident.declared:
        # A declared breach: what the person declared is never erased by detection.
        nature = notice_fields.nature_of([nature, incident.nature])
        categories = sorted(set(categories) | set(incident.data_categories))
    worst = max((r.severity for r in rows), key=lambda s: _SEVERITY_RANK.get(s, 0))
    first = min(r.first_seen for r in rows)
    last = max(r.last_seen for r in rows)
    if incident.declared:
        first, last = min(first, incident.first_seen), max(last, incident.last_seen)
    n_tenants = len(per_tenant)
    title = f"{', '.join(rule_ids)} on {n_tenants} tenant{'s' if n_tenants != 1 else ''}"
    values2: dict[str, object] = {
        "rule_ids": rule_ids,
        "nature": nature,
        "data_categories": categories,
        "finding_severity": worst,
        "first_seen": first,
        "last_seen": last,
    }
    if not incident.title_edited:
        values2["title"] = title  # a title edited by a person is kept
    for name, value in values2.items():
        if getattr(incident, name) != value:
            setattr(incident, name, value)
            changed = True
    if changed:
        incident.updated_at = now
    return changed


def _auto_assess(
    session: Session,
    incident: Incident,
    rows: list[FindingRow],
    roles: list[CustomerRole],
    now: datetime,
    audit_items: list[audit.AuditItem],
) -> None:
    """Pre-fill the ENISA inputs from the findings, unless a person has assessed already."""
    latest = incident.current_assessment
    if latest is not None and latest.source != "auto":
        return
    persons = stored_count(sum(t.persons for t in incident.tenants))
    inputs = severity.prefill(
        (
            severity.FindingFacts(
                rule_id=r.rule_id,
                nature=frozenset(r.nature),
                data_categories=frozenset(r.data_categories),
                subjects=r.subjects,
            )
            for r in rows
        ),
        persons=persons,
    )
    if latest is not None and (
        latest.dpc,
        latest.ei,
        latest.cb_confidentiality,
        latest.cb_integrity,
        latest.cb_availability,
        latest.malicious,
        latest.persons,
    ) == (
        inputs.dpc,
        inputs.ei,
        inputs.cb_confidentiality,
        inputs.cb_integrity,
        inputs.cb_availability,
        inputs.malicious,
        inputs.persons,
    ):
        return
    service.record_assessment(
        session=session,
        incident=incident,
        inputs=inputs,
        source="auto",
        actor=SYSTEM_ACTOR,
        justification="pre-filled from the findings",
        now=now,
        roles=roles,
        audit_items=audit_items,
    )


def _lock_identities(session: Session, keys: Sequence[str]) -> None:
    """Serialise correlation per attacker identity across replicas: on PostgreSQL a
    transaction-scoped advisory lock per key, taken in key order (no deadlock), so two workers
    seeing the same IP at once open one incident, not two. SQLite has a single writer."""
    if not keys or session.get_bind().dialect.name != "postgresql":
        return
    ids = sorted({int(k[:15], 16) for k in keys})
    session.execute(
        text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:ks AS bigint[])) AS k ORDER BY k"),
        {"ks": ids},
    )


def record_findings(
    *,
    session: Session,
    findings: Sequence[FindingRow],
    now: datetime,
    policy: ClockPolicy,
    merge_guard: MergeGuard | None = None,
    on_merge: Callable[[Session, Incident, Incident], None] | None = None,
) -> list[Incident]:
    """Attach stored findings to incidents (opening new ones as needed), refresh their
    per-tenant counts from the linked findings, pre-fill severity, audit openings and links.

    A finding that matches several open incidents joins them: untouched ones are merged
    (`_merge`), so that the incidents do not depend on the order in which findings arrive
    (replicas, rebalances, replays); `on_merge(session, absorbed, kept)` is told of each
    stored incident merged away. Incidents a person has acted on, or that `merge_guard`
    names, are never merged away.

    Idempotent: the same (or updated) rows again change nothing but derived counts.
    Returns the incidents the given findings belong to, in first-touched order.
    `policy` is accepted for symmetry with the clock functions (deadlines are computed on
    read, never stored). Flushes; never commits.
    """
    del policy  # deadlines are derived on read; kept in the signature for the pipeline
    now = aware_utc(now, "now", error=IncidentError)
    latest: dict[str, FindingRow] = {}
    for row in findings:
        latest[row.finding_id] = row
    if not latest:
        return []
    rows = sorted(latest.values(), key=lambda r: (r.first_seen, r.finding_id))
    session.flush()
    linked: dict[str, int] = dict(
        session.execute(
            select(IncidentFinding.finding_id, IncidentFinding.incident_id).where(
                IncidentFinding.finding_id.in_(list(latest))
            )
        ).all()
    )
    idents = {
        r.finding_id: correlation.identities(
            tenant_ids=r.tenant_ids,
            actor_ids=r.actor_ids,
            source_ips=r.source_ips,
            rule_id=r.rule_id,
        )
        for r in rows
    }
    all_keys = sorted({i.key for ids in idents.values() for i in ids})
    _lock_identities(session, all_keys)
    candidate_ids: set[int] = set(linked.values())
    if all_keys:
        candidate_ids |= set(
            session.scalars(
                select(CorrelationKey.incident_id)
                .join(Incident, Incident.id == CorrelationKey.incident_id)
                .where(
                    CorrelationKey.key.in_(all_keys),
                    Incident.status.in_([s.value for s in OPEN_STATUSES]),
                )
            )
        )
    batch = _Batch()
    for incident in _load(session, candidate_ids):
        batch.index(incident.id, incident)

    guarded: set[int] | None = None

    def protected(slot: int) -> bool:
        nonlocal guarded
        incident = batch.incidents[slot]
        if incident.id is None:
            return False
        if guarded is None:
            stored = [i for i in batch.incidents if i > 0]
            guarded = merge_guard(session, stored) if merge_guard is not None else set()
        return incident.id in guarded or not untouched(incident)

    items: list[audit.AuditItem] = []
    with session.no_autoflush:
        for row in rows:
            ids = idents[row.finding_id]
            current = linked.get(row.finding_id)  # linked incidents are all in the batch
            if current is not None and not batch.incidents[current].is_open:
                _remember_keys(batch, current, row, ids)  # a closed incident keeps them
                batch.touched.setdefault(current, batch.incidents[current])
                continue
            found = _matches(batch, row, ids)
            if current is not None:
                found.add(current)
            if not found:
                slot = -(len(batch.opened) + 1)
                batch.index(slot, _new_incident(row, now))
                batch.opened.append(slot)
            else:
                # The finding bridges `found`: they become one incident. One that a person
                # has acted on keeps its identity (the finding's own first); untouched ones
                # are merged into it, or into the oldest.
                kept = {s for s in found if protected(s)}
                if current is not None and current in kept:
                    slot = current
                else:
                    slot = min(kept or found, key=_age)
                for other in sorted(found - kept - {slot}, key=_age):
                    _merge(session, batch, other, slot, now, items)
                    linked.update({fid: slot for fid, s in linked.items() if s == other})
            if current is None:
                _link(session, batch, slot, row.finding_id, now)
                batch.linked.setdefault(slot, []).append(row.finding_id)
            linked[row.finding_id] = slot
            _remember_keys(batch, slot, row, ids)
            batch.touched.setdefault(slot, batch.incidents[slot])
        refs = allocate_refs(session=session, year=now.year, count=len(batch.opened))
        for slot, (seq, ref) in zip(batch.opened, refs, strict=True):
            incident = batch.incidents[slot]
            incident.seq, incident.ref = seq, ref
            session.add(incident)
    session.flush()

    touched = list(batch.touched.items())
    by_incident: dict[int, list[FindingRow]] = {i.id: [] for _, i in touched}
    for incident_id, finding in session.execute(
        select(IncidentFinding.incident_id, FindingRow)
        .join(FindingRow, FindingRow.finding_id == IncidentFinding.finding_id)
        .where(IncidentFinding.incident_id.in_(list(by_incident)))
        .order_by(IncidentFinding.id)
    ):
        by_incident[incident_id].append(finding)
    for _, incident in touched:
        _refresh(incident, by_incident[incident.id], now)
    session.flush()

    customers = clocks.load_customers(
        session=session, tenant_ids=(t for _, i in touched for t in i.tenant_ids)
    )
    opened = set(batch.opened)
    for slot, incident in touched:
        if slot in opened:
            items.append(
                audit.AuditItem(
                    actor=SYSTEM_ACTOR,
                    action="incident.opened",
                    subject=incident.ref,
                    at=now,
                    data={
                        "rule_ids": incident.rule_ids,
                        "tenant_ids": incident.tenant_ids,
                        "detected_at": incident.detected_at,
                    },
                )
            )
        if slot in batch.linked:
            items.append(
                audit.AuditItem(
                    actor=SYSTEM_ACTOR,
                    action="incident.findings_linked",
                    subject=incident.ref,
                    at=now,
                    data={"finding_ids": sorted(batch.linked[slot])},
                )
            )
        roles = [
            CustomerRole(customers[t].role) if t in customers else CustomerRole.PROCESSOR
            for t in incident.tenant_ids
        ]
        _auto_assess(session, incident, by_incident[incident.id], roles, now, items)
    audit.append_many(session=session, items=items)
    if on_merge is not None:
        for gone, keep in batch.merged:
            on_merge(session, gone, keep)
    return [incident for _, incident in touched]
