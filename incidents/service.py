"""Incident services: every change an RSSI, analyst or DPO makes goes through here and
writes its audit entry in the same transaction. Nothing here commits: the caller owns the
transaction (`incidents.db.transaction`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, selectinload

from incidents import audit, clocks, severity
from incidents.clocks import ClockPolicy
from incidents.enums import (
    OPEN_STATUSES,
    Art34Exemption,
    Clock,
    CustomerRole,
    DecisionKind,
    IncidentStatus,
    Language,
)
from incidents.exceptions import (
    IncidentNotFound,
    InvalidClockChange,
    InvalidTransition,
    JustificationRequired,
)
from incidents.models import (
    ClockFact,
    Customer,
    Decision,
    Incident,
    IncidentTenant,
    SeverityAssessment,
)

S = IncidentStatus
TRANSITIONS: dict[IncidentStatus, frozenset[IncidentStatus]] = {
    S.DETECTED: frozenset({S.TRIAGE, S.DISMISSED}),
    S.TRIAGE: frozenset({S.CONFIRMED, S.DISMISSED}),
    S.CONFIRMED: frozenset({S.NOTIFIED, S.DISMISSED}),
    S.NOTIFIED: frozenset({S.CLOSED}),
    S.CLOSED: frozenset(),
    S.DISMISSED: frozenset(),
}
REASON_REQUIRED = frozenset({S.DISMISSED})


def _aware(value: datetime, name: str = "now") -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidClockChange(f"{name}: naive datetime refused")
    return value.astimezone(UTC)


def _text(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def _require(value: str | None, what: str) -> str:
    text = _text(value)
    if text is None:
        raise JustificationRequired(f"{what} requires a justification")
    return text


# --- reads -----------------------------------------------------------------------------

def _full() -> tuple[Any, ...]:
    return (
        selectinload(Incident.tenants),
        selectinload(Incident.clock_facts),
        selectinload(Incident.assessments),
        selectinload(Incident.findings),
        selectinload(Incident.decisions),
        selectinload(Incident.escalations),
    )


def get(*, session: Session, incident_id: int) -> Incident | None:
    return session.get(Incident, incident_id)


def get_by_ref(*, session: Session, ref: str) -> Incident | None:
    stmt = select(Incident).where(Incident.ref == ref.strip().upper()).options(*_full())
    return session.scalars(stmt).one_or_none()


def require_by_ref(*, session: Session, ref: str) -> Incident:
    incident = get_by_ref(session=session, ref=ref)
    if incident is None:
        raise IncidentNotFound(f"no incident {ref!r}")
    return incident


Order = Literal["deadline", "detected", "ref"]


def _filtered(status: IncidentStatus | str | Sequence[IncidentStatus | str] | None,
              ) -> Select[Incident]:
    stmt = select(Incident)
    if status is None:
        return stmt
    wanted = [status] if isinstance(status, str) else list(status)
    return stmt.where(Incident.status.in_([IncidentStatus(s).value for s in wanted]))


def count_incidents(*, session: Session,
                    status: IncidentStatus | str | Sequence[IncidentStatus | str] | None = None,
                    ) -> int:
    sub = _filtered(status).subquery()
    return int(session.scalar(select(func.count()).select_from(sub)) or 0)


def list_incidents(*, session: Session,
                   status: IncidentStatus | str | Sequence[IncidentStatus | str] | None = None,
                   limit: int = 100, offset: int = 0, order: Order = "deadline",
                   policy: ClockPolicy | None = None,
                   now: datetime | None = None) -> list[Incident]:
    """Incidents, with tenants, clock facts and assessments loaded.

    `order="deadline"`: open clocks nearest first (overdue first), then incidents whose
    clocks are all closed, newest first. Deadlines are computed by `incidents.clocks`.
    `"detected"`: newest first. `"ref"`: by reference.
    """
    policy = policy or ClockPolicy()
    stmt = _filtered(status).options(
        selectinload(Incident.tenants), selectinload(Incident.clock_facts),
        selectinload(Incident.assessments),
    )
    if order == "detected":
        stmt = stmt.order_by(Incident.detected_at.desc(), Incident.id.desc())
        return list(session.scalars(stmt.limit(limit).offset(offset)))
    if order == "ref":
        stmt = stmt.order_by(Incident.year, Incident.seq)
        return list(session.scalars(stmt.limit(limit).offset(offset)))
    now = _aware(now or datetime.now(UTC))
    page = _deadline_page(session=session, status=status, limit=limit, offset=offset,
                          policy=policy)
    if not page:
        return []
    loaded = {i.id: i for i in session.scalars(stmt.where(Incident.id.in_(page)))}
    return [loaded[i] for i in page if i in loaded]


@dataclass(frozen=True)
class _Fact:
    id: int
    clock: str
    tenant_id: str
    kind: str
    at: datetime
    justification: str | None


def _deadline_page(*, session: Session,
                   status: IncidentStatus | str | Sequence[IncidentStatus | str] | None,
                   limit: int, offset: int, policy: ClockPolicy) -> list[int]:
    """Incident ids of one page in deadline order. Open incidents are ordered in Python from
    bare columns (three light queries); closed ones follow, newest first, paged in SQL."""
    base = _filtered(status)
    open_values = [s.value for s in OPEN_STATUSES]
    conn = session.connection()  # Core rows: no ORM overhead on thousands of tuples
    open_ids = base.with_only_columns(Incident.id).where(Incident.status.in_(open_values))
    heads = conn.execute(
        base.with_only_columns(Incident.id, Incident.aware_at)
        .where(Incident.status.in_(open_values))
    ).all()
    tenants: dict[int, list[str]] = {}
    for incident_id, tenant_id in conn.execute(
        select(IncidentTenant.incident_id, IncidentTenant.tenant_id)
        .where(IncidentTenant.incident_id.in_(open_ids))
        .order_by(IncidentTenant.incident_id, IncidentTenant.tenant_id)
    ).all():
        tenants.setdefault(incident_id, []).append(tenant_id)
    facts: dict[int, list[_Fact]] = {}
    for row in conn.execute(
        select(ClockFact.incident_id, ClockFact.id, ClockFact.clock, ClockFact.tenant_id,
               ClockFact.kind, ClockFact.at, ClockFact.justification)
        .where(ClockFact.incident_id.in_(open_ids))
    ).all():
        facts.setdefault(row[0], []).append(_Fact(*row[1:]))
    tenant_set = {t for ts in tenants.values() for t in ts}
    customers = clocks.load_customers(session=session, tenant_ids=tenant_set)
    delays = clocks.customer_delays(customers=customers, tenant_ids=tenant_set, policy=policy)
    far = datetime.max.replace(tzinfo=UTC)
    keyed: list[tuple[datetime, int]] = []
    for incident_id, aware_at in heads:
        nxt = clocks.next_open_due(
            aware_at=aware_at, tenant_ids=tenants.get(incident_id, []),
            facts=facts.get(incident_id, []), delays=delays, policy=policy,
        )
        keyed.append((far if nxt is None else nxt, incident_id))
    keyed.sort()
    page = [i for _, i in keyed[offset:offset + limit]]
    rest = limit - len(page)
    if rest > 0:
        closed = (
            base.with_only_columns(Incident.id)
            .where(Incident.status.not_in(open_values))
            .order_by(Incident.detected_at.desc(), Incident.id.desc())
            .offset(max(0, offset - len(keyed))).limit(rest)
        )
        page.extend(conn.execute(closed).scalars())
    return page


def customers_for(*, session: Session, incident: Incident) -> dict[str, Customer]:
    return clocks.load_customers(session=session, tenant_ids=incident.tenant_ids)


def upsert_customer(*, session: Session, tenant_id: str, name: str, contact_email: str,
                    actor_email: str, language: Language | str = Language.FR,
                    notify_delay_hours: float | None = None,
                    role: CustomerRole | str = CustomerRole.PROCESSOR,
                    now: datetime | None = None) -> Customer:
    """Create or update a customer's contract terms (its clock follows). Audited."""
    now = _aware(now or datetime.now(UTC))
    delay = 24.0 if notify_delay_hours is None else float(notify_delay_hours)
    if delay <= 0:
        raise InvalidClockChange("notify_delay_hours must be positive")
    values = {"name": name, "contact_email": contact_email,
              "language": Language(language).value, "notify_delay_hours": delay,
              "role": CustomerRole(role).value}
    row = session.get(Customer, tenant_id)
    if row is None:
        row = Customer(tenant_id=tenant_id, created_at=now, **values)
        session.add(row)
        changed = sorted(values)
    else:
        changed = sorted(k for k, v in values.items() if getattr(row, k) != v)
        for key in changed:
            setattr(row, key, values[key])
    session.flush()
    if changed:
        audit.append(session=session, actor=actor_email, action="customer.upsert",
                     subject=f"tenant:{tenant_id}", at=now,
                     data={"changed": changed, "notify_delay_hours": delay,
                           "role": values["role"]})
    return row


# --- lifecycle -------------------------------------------------------------------------

def allowed_transitions(status: IncidentStatus | str) -> frozenset[IncidentStatus]:
    return TRANSITIONS[IncidentStatus(status)]


def transition(*, session: Session, incident: Incident, to: IncidentStatus | str,
               actor_email: str, reason: str | None = None,
               now: datetime | None = None) -> Incident:
    """Move `incident` along the lifecycle; raises `InvalidTransition` otherwise."""
    now = _aware(now or datetime.now(UTC))
    try:
        target = IncidentStatus(to)
    except ValueError:
        raise InvalidTransition(f"unknown status {to!r}") from None
    current = IncidentStatus(incident.status)
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "none (terminal)"
        raise InvalidTransition(
            f"{incident.ref}: {current.value} → {target.value} is not allowed "
            f"(allowed: {allowed})"
        )
    why = _text(reason)
    if target in REASON_REQUIRED and why is None:
        raise InvalidTransition(f"{incident.ref}: {target.value} requires a reason")
    incident.status = target.value
    incident.updated_at = now
    if target in (S.CLOSED, S.DISMISSED):
        incident.closed_at = now
        incident.resolution_reason = why
    session.flush()
    audit.append(session=session, actor=actor_email, action="incident.transition",
                 subject=incident.ref, at=now,
                 data={"from": current.value, "to": target.value, "reason": why})
    return incident


def set_aware_at(*, session: Session, incident: Incident, aware_at: datetime,
                 justification: str, actor_email: str,
                 now: datetime | None = None) -> Incident:
    """Move the moment of awareness (EDPB 9/2022 'reasonable degree of certainty').
    Every deadline follows; a justification is required."""
    now = _aware(now or datetime.now(UTC))
    why = _require(justification, "changing aware_at")
    new = _aware(aware_at, "aware_at")
    if new > now:
        raise InvalidClockChange("aware_at cannot be in the future")
    old = incident.aware_at
    incident.aware_at = new
    incident.aware_justification = why
    incident.aware_set_by = actor_email
    incident.updated_at = now
    session.flush()
    audit.append(session=session, actor=actor_email, action="incident.aware_at",
                 subject=incident.ref, at=now,
                 data={"from": old, "to": new, "justification": why})
    return incident


def stop_clock(*, session: Session, incident: Incident, clock: Clock | str, justification: str,
               actor_email: str, now: datetime | None = None,
               tenant_id: str | None = None) -> list[ClockFact]:
    """Stop a clock (e.g. the CNIL clock when the breach is unlikely to result in a risk,
    Art. 33(1)); justification required. `tenant_id` None = every customer clock."""
    why = _require(justification, "stopping a clock")
    return clocks.set_clock_stopped(session=session, incident=incident, clock=clock,
                                    stopped=True, justification=why, actor=actor_email,
                                    now=_aware(now or datetime.now(UTC)), tenant_id=tenant_id)


def resume_clock(*, session: Session, incident: Incident, clock: Clock | str,
                 actor_email: str, reason: str | None = None, now: datetime | None = None,
                 tenant_id: str | None = None) -> list[ClockFact]:
    return clocks.set_clock_stopped(session=session, incident=incident, clock=clock,
                                    stopped=False, justification=_text(reason),
                                    actor=actor_email, now=_aware(now or datetime.now(UTC)),
                                    tenant_id=tenant_id)


# --- severity --------------------------------------------------------------------------

def _roles(session: Session, incident: Incident) -> list[CustomerRole]:
    found = customers_for(session=session, incident=incident)
    return [CustomerRole(found[t].role) if t in found else CustomerRole.PROCESSOR
            for t in incident.tenant_ids]


def record_assessment(*, session: Session, incident: Incident,
                      inputs: severity.SeverityInputs, source: Literal["auto", "manual"],
                      actor: str, justification: str, now: datetime,
                      art34_exemption: Art34Exemption | str | None = None,
                      art34_justification: str | None = None,
                      recommendation: severity.Recommendation | None = None,
                      roles: Sequence[CustomerRole] | None = None,
                      audit_items: list[audit.AuditItem] | None = None,
                      ) -> SeverityAssessment:
    """Append one assessment and make it current (used by the service and the flows).
    With `audit_items`, the audit entry is appended there for the caller to write."""
    inputs.validate()
    value = severity.score(inputs)
    band = severity.band(value)
    exemption = Art34Exemption(art34_exemption) if art34_exemption else None
    derived = severity.recommend(
        severity=band, roles=roles if roles is not None else _roles(session, incident),
        art34_exemption=exemption,
    )
    rec = recommendation or derived
    row = SeverityAssessment(
        incident_id=incident.id, dpc=inputs.dpc, ei=inputs.ei,
        cb_confidentiality=inputs.cb_confidentiality, cb_integrity=inputs.cb_integrity,
        cb_availability=inputs.cb_availability, malicious=inputs.malicious, score=value,
        band=band.value, persons=inputs.persons, unintelligible=inputs.unintelligible,
        notify_customer=rec.notify_customer, notify_cnil=rec.notify_cnil,
        notify_subjects=rec.notify_subjects, recommendation_overridden=rec != derived,
        art34_exemption=exemption.value if exemption else None,
        art34_justification=art34_justification, source=source,
        rationale={**dict(inputs.rationale), "recommendation": list(rec.reasons)},
        justification=justification, assessed_by=actor, assessed_at=now,
    )
    incident.assessments.append(row)
    incident.severity_score = value
    incident.severity_band = band.value
    incident.updated_at = now
    item = audit.AuditItem(
        actor=actor, action="severity.assessed", subject=incident.ref, at=now,
        data={"source": source, "dpc": inputs.dpc, "ei": inputs.ei,
              "cb": inputs.cb, "malicious": inputs.malicious, "score": value,
              "band": band.value, "justification": justification,
              "art34_exemption": row.art34_exemption,
              "notify": {"customer": rec.notify_customer, "cnil": rec.notify_cnil,
                         "subjects": rec.notify_subjects},
              "recommendation_overridden": row.recommendation_overridden})
    if audit_items is not None:
        audit_items.append(item)
        return row
    session.flush()
    audit.append_many(session=session, items=[item])
    return row


def assess_severity(*, session: Session, incident: Incident,
                    inputs: severity.SeverityInputs, justification: str, actor_email: str,
                    now: datetime | None = None,
                    art34_exemption: Art34Exemption | str | None = None,
                    art34_justification: str | None = None,
                    notify_customer: bool | None = None, notify_cnil: bool | None = None,
                    notify_subjects: bool | None = None) -> SeverityAssessment:
    """Edit the ENISA inputs (and optionally the recommendation) with a justification.
    An Art. 34(3) exemption needs its own justification."""
    why = _require(justification, "a severity assessment")
    if art34_exemption is not None:
        art34_justification = _require(art34_justification, "an Art. 34(3) exemption")
    roles = _roles(session, incident)
    band = severity.band(severity.score(inputs))
    derived = severity.recommend(severity=band, roles=roles, art34_exemption=art34_exemption)
    rec = severity.Recommendation(
        notify_customer=derived.notify_customer if notify_customer is None else notify_customer,
        notify_cnil=derived.notify_cnil if notify_cnil is None else notify_cnil,
        notify_subjects=derived.notify_subjects if notify_subjects is None else notify_subjects,
        reasons=derived.reasons,
    )
    if rec != derived:
        rec = severity.Recommendation(rec.notify_customer, rec.notify_cnil,
                                      rec.notify_subjects,
                                      (*derived.reasons, f"overridden: {why}"))
    return record_assessment(session=session, incident=incident, inputs=inputs,
                             source="manual", actor=actor_email, justification=why,
                             now=_aware(now or datetime.now(UTC)),
                             art34_exemption=art34_exemption,
                             art34_justification=art34_justification,
                             recommendation=rec, roles=roles)


# --- register text, comments and decisions ---------------------------------------------

def update_register_fields(*, session: Session, incident: Incident, actor_email: str,
                           now: datetime | None = None, title: str | None = None,
                           consequences: str | None = None, measures: str | None = None,
                           not_notified_justification: str | None = None) -> Incident:
    """Edit the Art. 33(5) register text (nature/title, consequences, measures, and the
    justification when not notified). Only the given fields change."""
    now = _aware(now or datetime.now(UTC))
    changes: dict[str, str | None] = {}
    for name, value in (("title", title), ("consequences", consequences),
                        ("measures", measures),
                        ("not_notified_justification", not_notified_justification)):
        if value is not None and getattr(incident, name) != value:
            setattr(incident, name, value)
            changes[name] = value
    if not changes:
        return incident
    if "title" in changes:
        incident.title_edited = True
    incident.updated_at = now
    session.flush()
    audit.append(session=session, actor=actor_email, action="incident.register_fields",
                 subject=incident.ref, at=now, data={"changed": sorted(changes)})
    return incident


def add_comment(*, session: Session, incident: Incident, author_email: str, text: str,
                now: datetime | None = None) -> Decision:
    body = _require(text, "a comment")
    now = _aware(now or datetime.now(UTC))
    row = Decision(incident_id=incident.id, kind=DecisionKind.COMMENT.value, text=body,
                   author=author_email, created_at=now)
    incident.decisions.append(row)
    session.flush()
    audit.append(session=session, actor=author_email, action="incident.comment",
                 subject=incident.ref, at=now, data={"decision_id": row.id})
    return row


def record_decision(*, session: Session, incident: Incident, actor_email: str,
                    decision: str, justification: str,
                    now: datetime | None = None) -> Decision:
    """A decision for the register (e.g. 'CNIL not notified') with its justification."""
    text = _require(decision, "a decision")
    why = _require(justification, "a decision")
    now = _aware(now or datetime.now(UTC))
    row = Decision(incident_id=incident.id, kind=DecisionKind.DECISION.value, text=text,
                   justification=why, author=actor_email, created_at=now)
    incident.decisions.append(row)
    session.flush()
    audit.append(session=session, actor=actor_email, action="incident.decision",
                 subject=incident.ref, at=now,
                 data={"decision_id": row.id, "decision": text, "justification": why})
    return row


def open_incidents_count(*, session: Session) -> int:
    return count_incidents(session=session, status=list(OPEN_STATUSES))
