"""Findings → incidents: the step the ingest pipeline runs after storing findings.

`record_findings` runs in the pipeline's transaction (flushes, never commits). Its work per
batch does not grow with the incidents it touches: a fixed handful of queries whatever the
batch size or the incidents' sizes (existing links, candidate keys, candidate incidents with
their tenants and assessments, the correlation keys the batch names, the incidents' totals,
the counted versions of the batch's findings, customers). An incident's findings are never
reloaded: what its summary needs is kept as totals (`incidents.totals`, tables
`incident_totals` and `incident_finding_parts`) that each new or re-emitted finding updates
by its difference. Totals missing (an incident declared or changed by hand, or older than
the totals) are recomputed once from the incident's findings. The references of the
incidents it opens are reserved in one counter update and its audit entries written in one
chain append.

Concurrency: on PostgreSQL a transaction-scoped advisory lock per attacker identity makes
two replicas that see one IP at the same time open one incident, and one per candidate
incident makes their totals change one transaction at a time; SQLite has one writer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, inspect, select, text, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from consumers.conventions import SYSTEM_ACTOR, aware_utc
from incidents import audit, clocks, correlation, notice_fields, service, severity, totals
from incidents.enums import OPEN_STATUSES, CustomerRole, IncidentSource, IncidentStatus
from incidents.exceptions import IncidentError
from incidents.findings_store import FindingRow, stored_count
from incidents.models import (
    COUNTED_LINKS,
    CorrelationKey,
    FindingPart,
    Incident,
    IncidentCounter,
    IncidentFinding,
    IncidentTenant,
    IncidentTotal,
    SeverityAssessment,
)
from incidents.totals import Part, Summary, TenantShare, Totals

# Namespace of the per-incident advisory locks (the two-key form of `pg_advisory_xact_lock`).
_INCIDENT_LOCK = 0x70C5


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

    guard: MergeGuard | None = None
    guarded: set[int] | None = None  # what `guard` protects, asked once, when first needed
    incidents: dict[int, Incident] = field(default_factory=dict)
    keys: dict[str, list[tuple[CorrelationKey, int]]] = field(default_factory=dict)
    own_keys: dict[int, dict[str, CorrelationKey]] = field(default_factory=dict)
    touched: dict[int, Incident] = field(default_factory=dict)
    opened: list[int] = field(default_factory=list)
    link_of: dict[str, int] = field(default_factory=dict)  # finding id -> slot
    was_linked: set[str] = field(default_factory=set)  # linked before this batch
    linked: dict[int, list[str]] = field(default_factory=dict)
    links: dict[int, list[IncidentFinding]] = field(default_factory=dict)  # made in this batch
    merged: list[tuple[Incident, Incident]] = field(default_factory=list)  # (absorbed, into)
    totals: dict[int, Totals] = field(default_factory=dict)
    stale: set[int] = field(default_factory=set)  # slots whose totals are recomputed
    changed: dict[int, set[str]] = field(default_factory=dict)  # slot -> parts changed
    dropped: set[int] = field(default_factory=set)  # incident ids whose totals rows go

    def index(self, slot: int, incident: Incident, keys: Iterable[CorrelationKey]) -> None:
        self.incidents[slot] = incident
        own = self.own_keys.setdefault(slot, {})
        for k in keys:
            own[k.key] = k
            self.keys.setdefault(k.key, []).append((k, slot))


# Which incidents (by id) must keep their identity for reasons the incidents package does not
# see, e.g. a notice already approved or sent (supplied by the pipeline).
MergeGuard = Callable[[Session, Sequence[int]], set[int]]


# --- loading -------------------------------------------------------------------------------


def _open_with_keys(session: Session, keys: Sequence[str]) -> set[int]:
    if not keys:
        return set()
    return set(
        session.scalars(
            select(CorrelationKey.incident_id)
            .join(Incident, Incident.id == CorrelationKey.incident_id)
            .where(
                CorrelationKey.key.in_(keys),
                Incident.status.in_([s.value for s in OPEN_STATUSES]),
            )
        )
    )


def _load(session: Session, ids: set[int]) -> list[Incident]:
    """The candidate incidents with their tenants and their current assessment."""
    if not ids:
        return []
    loaded = list(
        session.scalars(
            select(Incident)
            .where(Incident.id.in_(sorted(ids)))
            .options(selectinload(Incident.tenants))
        )
    )
    _current_assessments(session, [i for i in loaded if "assessments" in inspect(i).unloaded])
    return loaded


def _current_assessments(session: Session, incidents: Sequence[Incident]) -> None:
    """Give each incident its current assessment, not its whole history (a new automatic one
    is added whenever the findings change the ENISA inputs: it grows with the incident).
    Correlation reads only the current one, and whether all are automatic: automatic ones
    never follow a manual one, so the current one tells; an incident where that would not
    hold keeps its whole history (loaded when read)."""
    if not incidents:
        return
    a = SeverityAssessment
    ids = sorted(i.id for i in incidents)
    latest = select(func.max(a.id)).where(a.incident_id.in_(ids)).group_by(a.incident_id)
    current = {x.incident_id: x for x in session.scalars(select(a).where(a.id.in_(latest)))}
    manual = set(
        session.scalars(
            select(a.incident_id).where(a.incident_id.in_(ids), a.source != "auto").distinct()
        )
    )
    for incident in incidents:
        now_auto = incident.id not in current or current[incident.id].source == "auto"
        if incident.id in manual and now_auto:
            continue
        history = [current[incident.id]] if incident.id in current else []
        set_committed_value(incident, "assessments", history)


def _load_keys(
    session: Session, ids: set[int], keys: Sequence[str]
) -> dict[int, list[CorrelationKey]]:
    """The candidates' correlation keys among `keys` (never all the keys of an incident)."""
    out: dict[int, list[CorrelationKey]] = {}
    if not ids or not keys:
        return out
    for key in session.scalars(
        select(CorrelationKey).where(
            CorrelationKey.incident_id.in_(sorted(ids)), CorrelationKey.key.in_(keys)
        )
    ):
        out.setdefault(key.incident_id, []).append(key)
    return out


def _load_totals(session: Session, ids: set[int]) -> dict[int, Totals]:
    """The stored totals of these incidents (an incident without totals is absent)."""
    out: dict[int, Totals] = {}
    if not ids:
        return out
    t = IncidentTotal
    for row in session.execute(
        select(
            t.incident_id,
            t.part,
            t.findings,
            t.events,
            t.records,
            t.persons,
            t.first_seen,
            t.last_seen,
            t.signatures,
        ).where(t.incident_id.in_(sorted(ids)))
    ):
        out.setdefault(row.incident_id, {})[row.part] = totals.Total(
            findings=row.findings,
            events=row.events,
            records=row.records,
            persons=row.persons,
            first_seen=row.first_seen,
            last_seen=row.last_seen,
            signatures=dict(row.signatures or {}),
        )
    # Totals without their whole part are incomplete: recomputed as if absent.
    return {i: parts for i, parts in out.items() if totals.WHOLE in parts}


def _load_parts(session: Session, finding_ids: Sequence[str]) -> dict[str, dict[str, Part]]:
    """The counted versions of these findings (what their incidents' totals hold of them)."""
    out: dict[str, dict[str, Part]] = {}
    p = FindingPart
    for row in session.execute(
        select(
            p.finding_id,
            p.part,
            p.events,
            p.records,
            p.persons,
            p.first_seen,
            p.last_seen,
            p.signature,
        ).where(p.finding_id.in_(list(finding_ids)))
    ):
        out.setdefault(row.finding_id, {})[row.part] = Part(
            events=row.events,
            records=row.records,
            persons=row.persons,
            first_seen=row.first_seen,
            last_seen=row.last_seen,
            signature=row.signature,
        )
    return out


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


def _lock_incidents(session: Session, ids: set[int]) -> None:
    """On PostgreSQL, one transaction at a time changes an incident's totals: a
    transaction-scoped advisory lock per candidate incident, in id order, taken before its
    totals are read."""
    if not ids or session.get_bind().dialect.name != "postgresql":
        return
    session.execute(
        text(
            "SELECT pg_advisory_xact_lock(CAST(:ns AS integer), k)"
            " FROM unnest(CAST(:ks AS integer[])) AS k ORDER BY k"
        ),
        {"ns": _INCIDENT_LOCK, "ks": sorted(ids)},
    )


def _prepare(
    session: Session, batch: _Batch, rows: Sequence[FindingRow], keys: Sequence[str]
) -> dict[str, dict[str, Part]]:
    """Load the candidate incidents of the batch into `batch`; return the counted versions
    of the batch's findings."""
    fids = [r.finding_id for r in rows]
    batch.link_of = dict(
        session.execute(
            select(IncidentFinding.finding_id, IncidentFinding.incident_id).where(
                IncidentFinding.finding_id.in_(fids)
            )
        ).all()
    )
    batch.was_linked = set(batch.link_of)
    _lock_identities(session, keys)
    candidates = set(batch.link_of.values()) | _open_with_keys(session, keys)
    _lock_incidents(session, candidates)
    loaded = _load(session, candidates)
    their_keys = _load_keys(session, candidates, keys)
    stored = _load_totals(session, candidates)
    for incident in loaded:
        batch.index(incident.id, incident, their_keys.get(incident.id, []))
        if incident.id in stored:
            batch.totals[incident.id] = stored[incident.id]
        else:
            batch.stale.add(incident.id)
    return _load_parts(session, fids)


# --- placing findings ----------------------------------------------------------------------


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


def _protected(session: Session, batch: _Batch, slot: int) -> bool:
    """The incident must keep its identity: a person acted on it, or the guard names it."""
    incident = batch.incidents[slot]
    if incident.id is None:
        return False
    if batch.guarded is None:
        stored = [i for i in batch.incidents if i > 0]
        batch.guarded = batch.guard(session, stored) if batch.guard is not None else set()
    return incident.id in batch.guarded or not untouched(incident)


def _attach_key(session: Session, incident: Incident, key: CorrelationKey) -> None:
    if incident.id is None:
        incident.keys.append(key)
    else:  # appended without loading the stored incident's keys: there may be many
        key.incident = incident
        session.add(key)


def _remember_keys(
    session: Session, batch: _Batch, slot: int, row: FindingRow, ids: list[correlation.Identity]
) -> None:
    mine = batch.own_keys.setdefault(slot, {})
    for ident in ids:
        key = mine.get(ident.key)
        if key is None:
            key = CorrelationKey(
                key=ident.key, kind=ident.kind, first_seen=row.first_seen, last_seen=row.last_seen
            )
            _attach_key(session, batch.incidents[slot], key)
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
    COUNTED_LINKS.add(link)  # its finding is counted in the totals here
    if "findings" in inspect(incident).unloaded:
        session.add(link)
    else:
        incident.findings.append(link)
    batch.links.setdefault(slot, []).append(link)


def _choose(
    session: Session,
    batch: _Batch,
    row: FindingRow,
    ids: list[correlation.Identity],
    current: int | None,
    now: datetime,
    items: list[audit.AuditItem],
) -> int:
    """The slot of the incident the (open) finding belongs to: a new one when it matches
    none. A finding that bridges several incidents makes them one: one that a person has
    acted on keeps its identity (the finding's own first); untouched ones are merged into
    it, or into the oldest."""
    found = _matches(batch, row, ids)
    if current is not None:
        found.add(current)
    if not found:
        slot = -(len(batch.opened) + 1)
        batch.index(slot, _new_incident(row, now), [])
        batch.opened.append(slot)
        batch.totals[slot] = {}
        return slot
    kept = {s for s in found if _protected(session, batch, s)}
    slot = current if current is not None and current in kept else min(kept or found, key=_age)
    for other in sorted(found - kept - {slot}, key=_age):
        _merge(session, batch, other, slot, now, items)
        batch.link_of.update({fid: slot for fid, s in batch.link_of.items() if s == other})
    return slot


def _place(
    session: Session,
    batch: _Batch,
    row: FindingRow,
    ids: list[correlation.Identity],
    now: datetime,
    items: list[audit.AuditItem],
) -> None:
    """Put one finding in its incident (linked already, matched, or new)."""
    current = batch.link_of.get(row.finding_id)  # linked incidents are all in the batch
    if current is not None and not batch.incidents[current].is_open:
        _remember_keys(session, batch, current, row, ids)  # a closed incident keeps them
        batch.touched.setdefault(current, batch.incidents[current])
        return
    slot = _choose(session, batch, row, ids, current, now, items)
    if current is None:
        _link(session, batch, slot, row.finding_id, now)
        batch.linked.setdefault(slot, []).append(row.finding_id)
    batch.link_of[row.finding_id] = slot
    _remember_keys(session, batch, slot, row, ids)
    batch.touched.setdefault(slot, batch.incidents[slot])


def _open_new(session: Session, batch: _Batch, now: datetime) -> None:
    """Give the incidents opened in this batch their references, and store them."""
    refs = allocate_refs(session=session, year=now.year, count=len(batch.opened))
    for slot, (seq, ref) in zip(batch.opened, refs, strict=True):
        incident = batch.incidents[slot]
        incident.seq, incident.ref = seq, ref
        session.add(incident)


# --- merges --------------------------------------------------------------------------------


def _move_links(session: Session, batch: _Batch, absorbed: int, into: int) -> list[str]:
    """Move the findings of `absorbed` to `into`; the ids of the stored ones moved."""
    gone, keep = batch.incidents[absorbed], batch.incidents[into]
    moved: list[str] = []
    if gone.id is not None:  # so is `keep`: stored incidents are older than new ones
        moved = list(
            session.scalars(
                select(IncidentFinding.finding_id).where(IncidentFinding.incident_id == gone.id)
            )
        )
        for model in (IncidentFinding, FindingPart):
            session.execute(
                update(model)
                .where(model.incident_id == gone.id)
                .values(incident_id=keep.id)
                .execution_options(synchronize_session=False)
            )
    for link in batch.links.pop(absorbed, []):
        link.incident = keep
        link.incident_id = keep.id
        batch.links.setdefault(into, []).append(link)
    if gone.id is not None:
        for incident in (gone, keep):
            unloaded = inspect(incident).unloaded
            session.expire(incident, [n for n in ("findings", "keys") if n not in unloaded])
    return moved


def _keys_of(session: Session, batch: _Batch, slot: int) -> list[CorrelationKey]:
    """All the correlation keys of the incident in `slot` (a merge moves them all)."""
    own = dict(batch.own_keys.get(slot, {}))
    incident = batch.incidents[slot]
    if incident.id is not None:
        for key in session.scalars(
            select(CorrelationKey).where(CorrelationKey.incident_id == incident.id)
        ):
            own.setdefault(key.key, key)
    return list(own.values())


def _move_keys(session: Session, batch: _Batch, absorbed: int, into: int) -> None:
    """Give `into` the keys of `absorbed`; a key both have keeps the wider window."""
    gone, keep = batch.incidents[absorbed], batch.incidents[into]
    theirs = _keys_of(session, batch, absorbed)
    mine = batch.own_keys.setdefault(into, {})
    if keep.id is not None:
        wanted = [k.key for k in theirs if k.key not in mine]
        for key in session.scalars(
            select(CorrelationKey).where(
                CorrelationKey.incident_id == keep.id, CorrelationKey.key.in_(wanted)
            )
        ):
            mine.setdefault(key.key, key)
    for key in theirs:
        entries = batch.keys.get(key.key, [])
        entries[:] = [(k, slot) for k, slot in entries if k is not key]
        same = mine.get(key.key)
        if same is None:
            if gone.id is None:
                gone.keys.remove(key)
            _attach_key(session, keep, key)
            mine[key.key] = key
            entries.append((key, into))
            continue
        same.first_seen = min(same.first_seen, key.first_seen)
        same.last_seen = max(same.last_seen, key.last_seen)
        _drop_key(session, gone, key)
    batch.own_keys.pop(absorbed, None)


def _drop_key(session: Session, gone: Incident, key: CorrelationKey) -> None:
    if gone.id is None:
        gone.keys.remove(key)
    elif inspect(key).persistent:
        session.delete(key)
    else:
        session.expunge(key)


def _move_totals(batch: _Batch, absorbed: int, into: int) -> None:
    """`into` counts what `absorbed` counted (recomputed if either was not counted)."""
    theirs = batch.totals.pop(absorbed, None)
    gone = batch.incidents[absorbed]
    if gone.id is not None:
        batch.dropped.add(gone.id)
    ours = batch.totals.get(into)
    if theirs is None or ours is None or absorbed in batch.stale:
        batch.stale.discard(absorbed)
        batch.stale.add(into)
        batch.totals.pop(into, None)
        return
    for name, total in theirs.items():
        ours.setdefault(name, totals.Total()).absorb(total)
    batch.changed.setdefault(into, set()).update(theirs)


def _dismiss(
    batch: _Batch,
    gone: Incident,
    keep: Incident,
    moved: list[str],
    now: datetime,
    items: list[audit.AuditItem],
) -> None:
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


def _merge(
    session: Session,
    batch: _Batch,
    absorbed: int,
    into: int,
    now: datetime,
    items: list[audit.AuditItem],
) -> None:
    """Move everything of incident slot `absorbed` (untouched) into slot `into`: its findings,
    its identities, its totals, its earliest detection. A stored incident absorbed this way
    is dismissed as "merged into …" and audited; one opened in this batch simply never
    exists."""
    gone, keep = batch.incidents[absorbed], batch.incidents[into]
    moved = list(batch.linked.pop(absorbed, [])) + _move_links(session, batch, absorbed, into)
    _move_keys(session, batch, absorbed, into)
    _move_totals(batch, absorbed, into)
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
    _dismiss(batch, gone, keep, moved, now, items)


# --- counting ------------------------------------------------------------------------------


def _part_values(
    finding_id: str, incident_id: int, parts: Mapping[str, Part]
) -> list[dict[str, Any]]:
    return [
        {
            "finding_id": finding_id,
            "part": name,
            "incident_id": incident_id,
            "events": stored_count(p.events),
            "records": stored_count(p.records),
            "persons": stored_count(p.persons),
            "first_seen": p.first_seen,
            "last_seen": p.last_seen,
            "signature": p.signature,
        }
        for name, p in parts.items()
    ]


def _count_batch(
    session: Session, batch: _Batch, rows: Sequence[FindingRow], old: Mapping[str, dict[str, Part]]
) -> None:
    """Swap, in the totals of their incidents, each finding's counted version for the new
    one, and store the new versions as counted."""
    values: list[dict[str, Any]] = []
    for row in rows:
        slot = batch.link_of[row.finding_id]
        if slot in batch.stale:
            continue  # recomputed from all its findings below
        parts = totals.parts_of(row)
        counted = old.get(row.finding_id, {}) if row.finding_id in batch.was_linked else {}
        changed = totals.replace(batch.totals[slot], counted, parts)
        batch.changed.setdefault(slot, set()).update(changed)
        values += _part_values(row.finding_id, batch.incidents[slot].id, parts)
    session.execute(
        delete(FindingPart)
        .where(FindingPart.finding_id.in_([r.finding_id for r in rows]))
        .execution_options(synchronize_session=False)
    )
    if values:
        session.execute(insert(FindingPart), values)


def _fix_windows(session: Session, batch: _Batch) -> None:
    """Read back the window bounds a re-emitted finding gave up (rare: a finding's window
    only shrinks when a detector narrows it)."""
    for slot in sorted(batch.touched):
        loose = sorted(n for n, t in batch.totals.get(slot, {}).items() if not t.exact)
        if not loose:
            continue
        p = FindingPart
        for name, lo, hi in session.execute(
            select(p.part, func.min(p.first_seen), func.max(p.last_seen))
            .where(p.incident_id == batch.incidents[slot].id, p.part.in_(loose))
            .group_by(p.part)
        ):
            total = batch.totals[slot][name]
            total.first_seen, total.last_seen = lo, hi
            total.first_exact = total.last_exact = True


def _recount(session: Session, batch: _Batch) -> None:
    """Totals of the touched incidents that had none, from all their findings (once)."""
    stale = {batch.incidents[s].id: s for s in sorted(batch.stale) if s in batch.touched}
    if not stale:
        return
    rows: dict[int, list[FindingRow]] = {i: [] for i in stale}
    for incident_id, row in session.execute(
        select(IncidentFinding.incident_id, FindingRow)
        .join(FindingRow, FindingRow.finding_id == IncidentFinding.finding_id)
        .where(IncidentFinding.incident_id.in_(list(stale)))
        .order_by(IncidentFinding.id)
    ):
        rows[incident_id].append(row)
    linked = select(IncidentFinding.finding_id).where(IncidentFinding.incident_id.in_(list(stale)))
    session.execute(
        delete(FindingPart)
        .where(FindingPart.finding_id.in_(linked))
        .execution_options(synchronize_session=False)
    )
    values: list[dict[str, Any]] = []
    for incident_id, slot in stale.items():
        batch.totals[slot] = totals.recompute(rows[incident_id])
        batch.changed[slot] = set(batch.totals[slot])
        batch.dropped.add(incident_id)
        for row in rows[incident_id]:
            values += _part_values(row.finding_id, incident_id, totals.parts_of(row))
    if values:
        session.execute(insert(FindingPart), values)


def _total_values(incident_id: int, name: str, total: totals.Total) -> dict[str, Any]:
    return {
        "incident_id": incident_id,
        "part": name,
        "findings": total.findings,
        "events": stored_count(total.events),
        "records": stored_count(total.records),
        "persons": stored_count(total.persons),
        "first_seen": total.first_seen,
        "last_seen": total.last_seen,
        "signatures": dict(sorted(total.signatures.items())) if name == totals.WHOLE else None,
    }


def _write_totals(session: Session, batch: _Batch) -> None:
    """Store the parts of the totals that changed (delete, then insert their new rows)."""
    gone: list[tuple[int, str]] = []
    values: list[dict[str, Any]] = []
    for slot, names in sorted(batch.changed.items()):
        if slot not in batch.incidents:
            continue  # merged away
        incident_id = batch.incidents[slot].id
        for name in sorted(names):
            gone.append((incident_id, name))
            total = batch.totals.get(slot, {}).get(name)
            if total is not None:
                values.append(_total_values(incident_id, name, total))
    t = IncidentTotal
    if batch.dropped:
        session.execute(
            delete(t)
            .where(t.incident_id.in_(sorted(batch.dropped)))
            .execution_options(synchronize_session=False)
        )
    if gone:
        session.execute(
            delete(t)
            .where(tuple_(t.incident_id, t.part).in_(gone))
            .execution_options(synchronize_session=False)
        )
    if values:
        session.execute(insert(t), values)


def _count(
    session: Session, batch: _Batch, rows: Sequence[FindingRow], old: Mapping[str, dict[str, Part]]
) -> None:
    _count_batch(session, batch, rows, old)
    _fix_windows(session, batch)
    _recount(session, batch)
    _write_totals(session, batch)


# --- the incident's summary ----------------------------------------------------------------


def _set_all(target: object, values: Mapping[str, object]) -> bool:
    changed = False
    for name, value in values.items():
        if getattr(target, name) != value:
            setattr(target, name, value)
            changed = True
    return changed


def _tenant_values(
    incident: Incident, current: IncidentTenant, share: TenantShare
) -> dict[str, object]:
    values: dict[str, object] = {
        "events": share.events,
        "records": share.records,
        "persons": share.persons,
        "first_seen": share.first_seen,
        "last_seen": share.last_seen,
    }
    if incident.declared:  # what the person declared is never erased by detection
        values.update(
            records=max(share.records, current.records),
            persons=max(share.persons, current.persons),
            first_seen=min(share.first_seen, current.first_seen),
        )
    return values


def _refresh_tenants(incident: Incident, shares: Mapping[str, TenantShare]) -> bool:
    changed = False
    existing = {t.tenant_id: t for t in incident.tenants}
    for tenant, share in sorted(shares.items()):
        current = existing.get(tenant)
        if current is None:
            incident.tenants.append(
                IncidentTenant(
                    tenant_id=tenant,
                    events=share.events,
                    records=share.records,
                    persons=share.persons,
                    first_seen=share.first_seen,
                    last_seen=share.last_seen,
                )
            )
            changed = True
            continue
        changed = _set_all(current, _tenant_values(incident, current, share)) or changed
    return changed


def _refresh_fields(incident: Incident, summary: Summary) -> bool:
    nature, categories = summary.nature, summary.data_categories
    first, last = summary.first_seen, summary.last_seen
    if incident.declared:
        # A declared breach: what the person declared is never erased by detection.
        nature = notice_fields.nature_of([nature, incident.nature])
        categories = sorted(set(categories) | set(incident.data_categories))
        first, last = min(first, incident.first_seen), max(last, incident.last_seen)
    values: dict[str, object] = {
        "rule_ids": summary.rule_ids,
        "nature": nature,
        "data_categories": categories,
        "finding_severity": summary.finding_severity,
        "first_seen": first,
        "last_seen": last,
    }
    if not incident.title_edited:  # a title edited by a person is kept
        n = len(summary.tenants)
        values["title"] = f"{', '.join(summary.rule_ids)} on {n} tenant{'s' if n != 1 else ''}"
    return _set_all(incident, values)


def _refresh(incident: Incident, summary: Summary | None, now: datetime) -> bool:
    """Write what the incident's findings say on it. True if anything changed."""
    if summary is None:
        return False
    changed = _refresh_tenants(incident, summary.tenants)
    changed = _refresh_fields(incident, summary) or changed
    if changed:
        incident.updated_at = now
    return changed


def _auto_assess(
    session: Session,
    incident: Incident,
    facts: list[severity.FindingFacts],
    roles: list[CustomerRole],
    now: datetime,
    audit_items: list[audit.AuditItem],
) -> None:
    """Pre-fill the ENISA inputs from the findings, unless a person has assessed already."""
    latest = incident.current_assessment
    if latest is not None and latest.source != "auto":
        return
    persons = stored_count(sum(t.persons for t in incident.tenants))
    inputs = severity.prefill(facts, persons=persons)
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


def _audit_items(
    batch: _Batch, slot: int, incident: Incident, now: datetime
) -> list[audit.AuditItem]:
    items: list[audit.AuditItem] = []
    if slot in batch.opened:
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
    return items


def _report(
    session: Session,
    batch: _Batch,
    summaries: Mapping[int, Summary | None],
    now: datetime,
    items: list[audit.AuditItem],
) -> None:
    """Audit the openings and links of the touched incidents; pre-fill their severity."""
    customers = clocks.load_customers(
        session=session, tenant_ids=(t for i in batch.touched.values() for t in i.tenant_ids)
    )
    for slot, incident in batch.touched.items():
        items += _audit_items(batch, slot, incident, now)
        roles = [
            CustomerRole(customers[t].role) if t in customers else CustomerRole.PROCESSOR
            for t in incident.tenant_ids
        ]
        summary = summaries[slot]
        facts = summary.facts if summary is not None else []
        _auto_assess(session, incident, facts, roles, now, items)


def _identities(row: FindingRow) -> list[correlation.Identity]:
    return correlation.identities(
        tenant_ids=row.tenant_ids,
        actor_ids=row.actor_ids,
        source_ips=row.source_ips,
        rule_id=row.rule_id,
    )


def record_findings(
    *,
    session: Session,
    findings: Sequence[FindingRow],
    now: datetime,
    merge_guard: MergeGuard | None = None,
    on_merge: Callable[[Session, Incident, Incident], None] | None = None,
) -> list[Incident]:
    """Attach stored findings to incidents (opening new ones as needed), bring their totals,
    per-tenant counts and summary up to date with the new versions of the findings, pre-fill
    severity, audit openings and links.

    A finding that matches several open incidents joins them: untouched ones are merged
    (`_merge`), so that the incidents do not depend on the order in which findings arrive
    (replicas, rebalances, replays); `on_merge(session, absorbed, kept)` is told of each
    stored incident merged away. Incidents a person has acted on, or that `merge_guard`
    names, are never merged away.

    Idempotent: the same (or updated) rows again change nothing but derived counts.
    Returns the incidents the given findings belong to, in first-touched order. Deadlines
    are derived on read, never stored. Flushes; never commits.
    """
    now = aware_utc(now, "now", error=IncidentError)
    latest = {row.finding_id: row for row in findings}
    if not latest:
        return []
    rows = sorted(latest.values(), key=lambda r: (r.first_seen, r.finding_id))
    session.flush()
    idents = {r.finding_id: _identities(r) for r in rows}
    batch = _Batch(guard=merge_guard)
    old = _prepare(session, batch, rows, sorted({i.key for ids in idents.values() for i in ids}))
    items: list[audit.AuditItem] = []
    with session.no_autoflush:
        for row in rows:
            _place(session, batch, row, idents[row.finding_id], now, items)
        _open_new(session, batch, now)
    session.flush()
    _count(session, batch, rows, old)
    summaries = {slot: totals.summarize(batch.totals.get(slot, {})) for slot in batch.touched}
    for slot, incident in batch.touched.items():
        _refresh(incident, summaries[slot], now)
    session.flush()
    _report(session, batch, summaries, now, items)
    audit.append_many(session=session, items=items)
    if on_merge is not None:
        for gone, keep in batch.merged:
            on_merge(session, gone, keep)
    return list(batch.touched.values())
