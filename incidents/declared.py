"""Breaches declared by a person: a misdirected fax or SMS campaign, a lost laptop, a
sub-processor's or a customer's report. A declared incident follows the same clocks,
severity, register, audit and notices as a detected one; findings can be attached to it
later, and it can be merged with a detected incident (audited).

Nothing here commits: the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from consumers.conventions import is_aware
from consumers.events import Service
from incidents import audit, clocks, correlation, flows, notice_fields, service, severity
from incidents.blank import blank_incident
from incidents.enums import IncidentSource, IncidentStatus, Nature
from incidents.exceptions import InvalidDeclaration, InvalidTransition
from incidents.findings_store import FindingRow
from incidents.models import (
    CorrelationKey,
    Incident,
    IncidentFinding,
    IncidentTenant,
)

# `detected`: by AVM Up's own means outside Tocsin's rules (an antivirus, an audit...).
DECLARABLE_SOURCES = tuple(IncidentSource)
NATURES = tuple(n.value for n in Nature)
DATA_CATEGORIES = tuple(severity.CATEGORY_DPC)
SERVICES = tuple(s.value for s in Service)
# A declared breach: the circumstances are what the declarer knows (a known recipient, no
# intent established) until the RSSI assesses them.
DECLARED_PROFILE = severity.RuleProfile(
    malicious=False, confidentiality=0.25, integrity=0.25, availability=0.25
)
DECLARED = "DECLARED"
MAX_COUNT = 2_000_000_000  # approximate numbers are stored as 32-bit integers


@dataclass(frozen=True)
class Declaration:
    """What a person declares. `tenant_ids` empty = AVM Up's own processing (controller).
    Counts are approximate; None = not known yet."""

    source: IncidentSource | str
    nature: Sequence[str]
    tenant_ids: Sequence[str] = ()
    data_categories: Sequence[str] = ()
    services: Sequence[str] = ()
    persons: int | None = None
    records: int | None = None
    occurred_from: datetime | None = None
    occurred_to: datetime | None = None
    discovered_at: datetime | None = None
    aware_at: datetime | None = None
    aware_justification: str | None = None
    title: str = ""
    summary: str = ""
    confirmed: bool = False


def _utc(value: datetime | None, name: str, now: datetime) -> datetime | None:
    if value is None:
        return None
    if not is_aware(value):
        raise InvalidDeclaration(name, "a time zone is required (ISO-8601 with an offset)")
    try:
        value = value.astimezone(UTC)
    except OverflowError:
        raise InvalidDeclaration(name, "out of range") from None
    if value > now:
        raise InvalidDeclaration(name, "cannot be in the future")
    return value


def _choices(values: Iterable[str], allowed: Sequence[str], name: str) -> list[str]:
    out = sorted({str(v).strip().lower() for v in values if str(v).strip()})
    unknown = [v for v in out if v not in allowed]
    if unknown:
        raise InvalidDeclaration(
            name, f"unknown value {unknown[0]!r} (allowed: {', '.join(allowed)})"
        )
    return out


def validate(*, session: Session, declaration: Declaration, now: datetime) -> Declaration:
    """The declaration, normalised; raises `InvalidDeclaration` naming the first bad field."""
    d = declaration
    source = _source(d.source)
    nature = _choices(d.nature, NATURES, "nature")
    if not nature:
        raise InvalidDeclaration(
            "nature", "at least one of confidentiality, integrity, availability is required"
        )
    tenants = _tenants(session, d.tenant_ids)
    categories = _choices(d.data_categories, DATA_CATEGORIES, "data_categories")
    services = _choices(d.services, SERVICES, "services")
    _check_counts(d)
    times = _times(d, now)
    title = d.title.strip()
    if len(title) > 2000:
        raise InvalidDeclaration("title", "at most 2000 characters")
    return Declaration(
        source=source,
        nature=nature,
        tenant_ids=tenants,
        data_categories=categories,
        services=services,
        persons=d.persons,
        records=d.records,
        occurred_from=times.occurred_from,
        occurred_to=times.occurred_to,
        discovered_at=times.discovered_at,
        aware_at=times.aware_at,
        aware_justification=times.aware_justification,
        title=title,
        summary=d.summary.strip(),
        confirmed=d.confirmed,
    )


def _source(value: IncidentSource | str) -> IncidentSource:
    try:
        return IncidentSource(str(value).strip().lower())
    except ValueError:
        raise InvalidDeclaration(
            "source",
            f"unknown source {str(value)!r} (allowed: "
            + ", ".join(s.value for s in DECLARABLE_SOURCES)
            + ")",
        ) from None


def _tenants(session: Session, tenant_ids: Sequence[str]) -> list[str]:
    tenants = sorted({t.strip() for t in tenant_ids if t.strip()})
    known = clocks.load_customers(session=session, tenant_ids=tenants)
    for tenant in tenants:
        if tenant not in known:
            raise InvalidDeclaration("tenant_ids", f"unknown tenant {tenant!r}")
    return tenants


def _check_counts(d: Declaration) -> None:
    for name, count in (("persons", d.persons), ("records", d.records)):
        if count is not None and not 0 <= count <= MAX_COUNT:
            raise InvalidDeclaration(name, f"must be between 0 and {MAX_COUNT:,}")


@dataclass(frozen=True)
class _Times:
    occurred_from: datetime | None
    occurred_to: datetime | None
    discovered_at: datetime | None
    aware_at: datetime | None
    aware_justification: str | None


def _times(d: Declaration, now: datetime) -> _Times:
    """The declared moments in UTC, in order, and awareness with its justification."""
    occurred_from = _utc(d.occurred_from, "occurred_from", now)
    occurred_to = _utc(d.occurred_to, "occurred_to", now)
    if occurred_from and occurred_to and occurred_to < occurred_from:
        raise InvalidDeclaration("occurred_to", "is before occurred_from")
    discovered_at = _utc(d.discovered_at, "discovered_at", now)
    aware_at = _utc(d.aware_at, "aware_at", now)
    why = (d.aware_justification or "").strip() or None
    if aware_at is not None and why is None:
        raise InvalidDeclaration(
            "aware_justification",
            "required when aware_at is given (when and how AVM Up "
            "became reasonably certain of the breach)",
        )
    if discovered_at and aware_at and aware_at < discovered_at:
        raise InvalidDeclaration("aware_at", "is before discovered_at")
    return _Times(occurred_from, occurred_to, discovered_at, aware_at, why)


def _default_title(d: Declaration) -> str:
    """The summary's first line, else the declared facts as codes (shown in any language)."""
    first = d.summary.strip().splitlines()[0].strip() if d.summary.strip() else ""
    if first:
        return first if len(first) <= 120 else first[:119] + "…"
    who = ", ".join(d.tenant_ids) or "AVM Up"
    return f"{IncidentSource(d.source).value} · {', '.join(d.nature)} · {who}"


def declare(
    *, session: Session, declaration: Declaration, actor_email: str, now: datetime | None = None
) -> Incident:
    """Open an incident for a breach nobody's rule saw. Its clocks start at `aware_at` (now
    unless given, with a justification); it starts in triage (confirmed on request), is
    assessed from what was declared (ENISA inputs pre-filled, the RSSI edits them) and audited
    as `incident.declared`."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    d = validate(session=session, declaration=declaration, now=now)
    seq, ref = flows.allocate_ref(session=session, year=now.year)
    first = d.occurred_from or d.discovered_at or d.aware_at or now
    last = d.occurred_to or max(first, d.discovered_at or first)
    incident = blank_incident(
        now=now,
        ref=ref,
        year=now.year,
        seq=seq,
        status=IncidentStatus.TRIAGE.value,
        title=d.title or _default_title(d),
        title_edited=True,
        source=IncidentSource(d.source).value,
        declared=True,
        summary=d.summary,
        occurred_from=d.occurred_from,
        occurred_to=d.occurred_to,
        discovered_at=d.discovered_at,
        services=list(d.services),
        persons_estimate=d.persons,
        records_estimate=d.records,
        first_seen=first,
        last_seen=last,
        detected_at=now,
        aware_at=d.aware_at or now,
        aware_justification=d.aware_justification,
        aware_set_by=actor_email,
        rule_ids=[],
        nature=list(d.nature),
        data_categories=list(d.data_categories),
        finding_severity="low",
    )
    single = len(d.tenant_ids) == 1
    for tenant in d.tenant_ids:
        incident.tenants.append(
            IncidentTenant(
                tenant_id=tenant,
                events=0,
                records=(d.records or 0) if single else 0,
                persons=(d.persons or 0) if single else 0,
                first_seen=first,
                last_seen=last,
            )
        )
    session.add(incident)
    session.flush()
    audit.append(
        session=session,
        actor=actor_email,
        action="incident.declared",
        subject=ref,
        at=now,
        data={
            "source": incident.source,
            "tenant_ids": list(d.tenant_ids),
            "nature": list(d.nature),
            "data_categories": list(d.data_categories),
            "services": list(d.services),
            "persons": d.persons,
            "records": d.records,
            "aware_at": incident.aware_at,
            "aware_justification": d.aware_justification,
            "occurred_from": d.occurred_from,
            "occurred_to": d.occurred_to,
            "discovered_at": d.discovered_at,
        },
    )
    inputs = severity.prefill(
        [
            severity.FindingFacts(
                rule_id=DECLARED,
                nature=frozenset(d.nature),
                data_categories=frozenset(d.data_categories),
            )
        ],
        persons=d.persons or 0,
        profiles={DECLARED: DECLARED_PROFILE},
    )
    inputs = severity.with_overrides(
        inputs,
        rationale={
            **dict(inputs.rationale),
            "rules": [],
            "cb": "nature declared; intent not established until assessed",
        },
    )
    service.record_assessment(
        session=session,
        incident=incident,
        inputs=inputs,
        source="manual",
        actor=actor_email,
        justification="pre-filled from the declaration",
        now=now,
    )
    if d.confirmed:
        service.transition(
            session=session,
            incident=incident,
            to=IncidentStatus.CONFIRMED,
            actor_email=actor_email,
            now=now,
        )
    return incident


# --- findings and merges -----------------------------------------------------------------


def _absorb(incident: Incident, rows: Sequence[FindingRow], now: datetime) -> None:
    """Add what `rows` say to the incident's facts without erasing any declared fact:
    tenants and their counts (the larger), rule ids, natures, categories, time window, and
    the correlation identities (later findings of the same attacker join it)."""
    existing = {t.tenant_id: t for t in incident.tenants}
    for row in rows:
        for tenant in row.tenant_ids:
            impact = row.tenants.get(tenant) or {}
            current = existing.get(tenant)
            if current is None:
                current = IncidentTenant(
                    tenant_id=tenant,
                    events=0,
                    records=0,
                    persons=0,
                    first_seen=row.first_seen,
                    last_seen=row.last_seen,
                )
                incident.tenants.append(current)
                existing[tenant] = current
            current.events += int(impact.get("events", 0))
            current.records = max(current.records, int(impact.get("records", 0)))
            current.persons = max(current.persons, int(impact.get("subjects", 0)))
            current.first_seen = min(current.first_seen, row.first_seen)
            current.last_seen = max(current.last_seen, row.last_seen)
        keys = {k.key: k for k in incident.keys}
        for ident in correlation.identities(
            tenant_ids=row.tenant_ids,
            actor_ids=row.actor_ids,
            source_ips=row.source_ips,
            rule_id=row.rule_id,
        ):
            key = keys.get(ident.key)
            if key is None:
                key = CorrelationKey(
                    key=ident.key,
                    kind=ident.kind,
                    first_seen=row.first_seen,
                    last_seen=row.last_seen,
                )
                incident.keys.append(key)
                keys[ident.key] = key
            key.first_seen = min(key.first_seen, row.first_seen)
            key.last_seen = max(key.last_seen, row.last_seen)
    incident.rule_ids = sorted(set(incident.rule_ids) | {r.rule_id for r in rows})
    # A compromise seen anywhere wins over attempts (`attempt` stays only when alone).
    incident.nature = notice_fields.nature_of([incident.nature, *(r.nature for r in rows)])
    incident.data_categories = sorted(
        set(incident.data_categories) | {c for r in rows for c in r.data_categories}
    )
    if rows:
        incident.first_seen = min(incident.first_seen, *(r.first_seen for r in rows))
        incident.last_seen = max(incident.last_seen, *(r.last_seen for r in rows))
    incident.updated_at = now


def attach_findings(
    *,
    session: Session,
    incident: Incident,
    finding_ids: Sequence[str],
    actor_email: str,
    now: datetime | None = None,
) -> list[str]:
    """Link stored findings to `incident` (open). A finding already in another incident is
    refused (merge the incidents instead); one already here is skipped. Audited."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    if not incident.is_open:
        raise InvalidTransition(f"{incident.ref} is {incident.status}: findings cannot be added")
    wanted = sorted({f.strip() for f in finding_ids if f.strip()})
    if not wanted:
        raise InvalidDeclaration("finding_ids", "at least one finding id is required")
    rows = {
        r.finding_id: r
        for r in session.scalars(select(FindingRow).where(FindingRow.finding_id.in_(wanted)))
    }
    for fid in wanted:
        if fid not in rows:
            raise InvalidDeclaration("finding_ids", f"unknown finding {fid!r}")
    linked = dict(
        session.execute(
            select(IncidentFinding.finding_id, IncidentFinding.incident_id).where(
                IncidentFinding.finding_id.in_(wanted)
            )
        ).all()
    )
    for fid, owner in linked.items():
        if owner != incident.id:
            ref = session.scalar(select(Incident.ref).where(Incident.id == owner))
            raise InvalidDeclaration(
                "finding_ids", f"finding {fid!r} belongs to {ref}: merge the incidents instead"
            )
    new = [fid for fid in wanted if fid not in linked]
    for fid in new:
        incident.findings.append(IncidentFinding(finding_id=fid, linked_at=now))
    _absorb(incident, [rows[f] for f in new], now)
    session.flush()
    audit.append(
        session=session,
        actor=actor_email,
        action="incident.findings_linked",
        subject=incident.ref,
        at=now,
        data={"finding_ids": new, "by": "hand"},
    )
    return new


def merge(
    *,
    session: Session,
    absorbed: Incident,
    into: Incident,
    actor_email: str,
    reason: str,
    now: datetime | None = None,
) -> Incident:
    """Merge `absorbed` into `into` (both open): its findings, tenants, natures, categories,
    identities and earliest awareness move over; `absorbed` is dismissed as "merged into …".
    Audited on both incidents, with the reason."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    why = (reason or "").strip()
    if not why:
        raise InvalidDeclaration("reason", "a merge requires a reason")
    if absorbed.id == into.id:
        raise InvalidDeclaration("into", "an incident cannot be merged into itself")
    for inc in (absorbed, into):
        if not inc.is_open:
            raise InvalidTransition(f"{inc.ref} is {inc.status}: it cannot be merged")
    rows = list(
        session.scalars(
            select(FindingRow)
            .join(IncidentFinding, IncidentFinding.finding_id == FindingRow.finding_id)
            .where(IncidentFinding.incident_id == absorbed.id)
        )
    )
    moved = sorted(r.finding_id for r in rows)
    for link in list(absorbed.findings):
        absorbed.findings.remove(link)
    session.flush()
    for fid in moved:
        into.findings.append(IncidentFinding(finding_id=fid, linked_at=now))
    _absorb(into, rows, now)
    # What `absorbed` knew beyond its findings (declared facts) carries over too.
    mine = {t.tenant_id for t in into.tenants}
    for share in absorbed.tenants:
        if share.tenant_id not in mine:
            into.tenants.append(
                IncidentTenant(
                    tenant_id=share.tenant_id,
                    events=share.events,
                    records=share.records,
                    persons=share.persons,
                    first_seen=share.first_seen,
                    last_seen=share.last_seen,
                )
            )
    into.nature = notice_fields.nature_of(
        [notice_fields.effective_nature(into), notice_fields.effective_nature(absorbed)]
    )
    into.data_categories = sorted(set(into.data_categories) | set(absorbed.data_categories))
    into.services = sorted(set(into.services) | set(absorbed.services))
    into.detected_at = min(into.detected_at, absorbed.detected_at)
    if absorbed.aware_at < into.aware_at:
        into.aware_at = absorbed.aware_at
        into.aware_justification = f"earliest awareness, from {absorbed.ref}"
    into.first_seen = min(into.first_seen, absorbed.first_seen)
    into.last_seen = max(into.last_seen, absorbed.last_seen)
    previous = absorbed.status
    absorbed.status = IncidentStatus.DISMISSED
    absorbed.closed_at = now
    absorbed.resolution_reason = f"merged into {into.ref}"
    absorbed.updated_at = now
    session.flush()
    audit.append_many(
        session=session,
        items=[
            audit.AuditItem(
                actor=actor_email,
                action="incident.merged",
                subject=absorbed.ref,
                at=now,
                data={
                    "from": previous,
                    "to": IncidentStatus.DISMISSED.value,
                    "reason": f"merged into {into.ref}",
                    "into": into.ref,
                    "justification": why,
                    "finding_ids": moved,
                },
            ),
            audit.AuditItem(
                actor=actor_email,
                action="incident.absorbed",
                subject=into.ref,
                at=now,
                data={"from": absorbed.ref, "justification": why, "finding_ids": moved},
            ),
        ],
    )
    return into


__all__ = [
    "DATA_CATEGORIES",
    "DECLARABLE_SOURCES",
    "NATURES",
    "SERVICES",
    "Declaration",
    "attach_findings",
    "declare",
    "merge",
    "validate",
]
