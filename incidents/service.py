"""Incident services: every change an RSSI, analyst or DPO makes goes through here and
writes its audit entry in the same transaction. Nothing here commits: the caller owns the
transaction (`incidents.db.transaction`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, selectinload

from consumers.conventions import aware_utc
from incidents import audit, clocks, queue, severity
from incidents.clocks import ClockPolicy
from incidents.enums import (
    OPEN_STATUSES,
    Art34Exemption,
    Clock,
    CustomerRole,
    DecisionKind,
    IncidentStatus,
    Language,
    SeverityBand,
)
from incidents.exceptions import (
    IncidentNotFound,
    InvalidClockChange,
    InvalidSeverityInput,
    InvalidTransition,
    JustificationRequired,
)
from incidents.findings_store import EvidenceEvent, FindingRow
from incidents.models import (
    ClockFact,
    Customer,
    Decision,
    Incident,
    IncidentFinding,
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
    return aware_utc(value, name, error=InvalidClockChange)


def _text(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def required_text(value: str | None, *, error: type[Exception], message: str) -> str:
    """`value` stripped of surrounding space; raises `error(message)` when nothing is left."""
    text = _text(value)
    if text is None:
        raise error(message)
    return text


def _require(value: str | None, what: str) -> str:
    return required_text(
        value, error=JustificationRequired, message=f"{what} requires a justification"
    )


def audit_change(
    *,
    session: Session,
    incident: Incident,
    actor: str,
    action: str,
    now: datetime,
    data: Mapping[str, Any],
) -> None:
    """Stamp `incident` as changed at `now`, flush, and write the audit entry of the change."""
    incident.updated_at = now
    session.flush()
    audit.append(
        session=session, actor=actor, action=action, subject=incident.ref, at=now, data=data
    )


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
StatusFilter = IncidentStatus | str | Sequence[IncidentStatus | str] | None


IdsFilter = Sequence[int] | Select[Any] | None


def _filtered(
    status: StatusFilter,
    *,
    band: SeverityBand | str | None = None,
    tenant_id: str | None = None,
    q: str | None = None,
    ids: IdsFilter = None,
) -> Select[Incident]:
    """Incidents matching every filter given. Values are bound parameters; LIKE wildcards
    in `q` are escaped. `q` searches (case-insensitively) the reference, the title, the
    rule ids of the linked findings and the tenant ids. `ids`: only these incident ids (a
    list, or a select of one column of them)."""
    stmt = select(Incident)
    if ids is not None:
        stmt = stmt.where(Incident.id.in_(ids))
    if status is not None:
        wanted = [status] if isinstance(status, str) else list(status)
        stmt = stmt.where(Incident.status.in_([IncidentStatus(s).value for s in wanted]))
    if band is not None:
        stmt = stmt.where(Incident.severity_band == SeverityBand(band).value)
    if tenant_id is not None:
        stmt = stmt.where(
            Incident.id.in_(
                select(IncidentTenant.incident_id).where(IncidentTenant.tenant_id == tenant_id)
            )
        )
    needle = (q or "").strip().lower()
    if needle:
        stmt = stmt.where(
            or_(
                func.lower(Incident.ref).contains(needle, autoescape=True),
                func.lower(Incident.title).contains(needle, autoescape=True),
                Incident.id.in_(
                    select(IncidentTenant.incident_id).where(
                        func.lower(IncidentTenant.tenant_id).contains(needle, autoescape=True)
                    )
                ),
                Incident.id.in_(
                    select(IncidentFinding.incident_id)
                    .join(FindingRow, FindingRow.finding_id == IncidentFinding.finding_id)
                    .where(func.lower(FindingRow.rule_id).contains(needle, autoescape=True))
                ),
            )
        )
    return stmt


def count_incidents(
    *,
    session: Session,
    status: StatusFilter = None,
    band: SeverityBand | str | None = None,
    tenant_id: str | None = None,
    q: str | None = None,
    ids: IdsFilter = None,
) -> int:
    """How many incidents match the filters (see `list_incidents`)."""
    sub = _filtered(status, band=band, tenant_id=tenant_id, q=q, ids=ids).subquery()
    return int(session.scalar(select(func.count()).select_from(sub)) or 0)


def list_incidents(
    *,
    session: Session,
    status: StatusFilter = None,
    limit: int = 100,
    offset: int = 0,
    order: Order = "deadline",
    policy: ClockPolicy | None = None,
    now: datetime | None = None,
    band: SeverityBand | str | None = None,
    tenant_id: str | None = None,
    q: str | None = None,
    ids: IdsFilter = None,
) -> list[Incident]:
    """Incidents, with tenants, clock facts and assessments loaded.

    Filters: `status` (one or several), `band` (current severity band), `tenant_id` (an
    affected tenant, exact), `q` (text in the reference, title, rule ids or tenant ids),
    `ids` (only these incidents).

    `order="deadline"`: open incidents by their nearest open clock (overdue first), ties by
    id; then open incidents whose clocks are all met or stopped, by id; then the others,
    newest first. Deadlines are computed by `incidents.clocks` (the paging is in
    `incidents.queue`). `"detected"`: newest first. `"ref"`: by reference. `now` is accepted
    and ignored: a due is fixed by stored facts, so the order does not depend on the time.
    """
    policy = policy or ClockPolicy()
    base = _filtered(status, band=band, tenant_id=tenant_id, q=q, ids=ids)
    stmt = base.options(
        selectinload(Incident.tenants),
        selectinload(Incident.clock_facts),
        selectinload(Incident.assessments),
    )
    if order == "detected":
        stmt = stmt.order_by(Incident.detected_at.desc(), Incident.id.desc())
        return list(session.scalars(stmt.limit(limit).offset(offset)))
    if order == "ref":
        stmt = stmt.order_by(Incident.year, Incident.seq)
        return list(session.scalars(stmt.limit(limit).offset(offset)))
    page = queue.deadline_page(
        session=session, base=base, limit=limit, offset=offset, policy=policy
    )
    if not page:
        return []
    loaded = {i.id: i for i in session.scalars(stmt.where(Incident.id.in_(page)))}
    return [loaded[i] for i in page if i in loaded]


def open_deadlines(
    *,
    session: Session,
    policy: ClockPolicy,
    status: StatusFilter = None,
    band: SeverityBand | str | None = None,
    tenant_id: str | None = None,
    q: str | None = None,
    ids: IdsFilter = None,
) -> list[tuple[datetime, int]]:
    """(nearest open deadline, id) of every open incident matching the filters that has a
    clock still running, nearest first: what the queue's deadline order is built from, for
    counts such as "overdue" or "due within 24 h"."""
    opened = _filtered(status, band=band, tenant_id=tenant_id, q=q, ids=ids).where(
        Incident.status.in_([s.value for s in OPEN_STATUSES])
    )
    keyed = queue.deadline_keys(
        session=session,
        opened=opened,
        heads=queue.heads_of(session, opened),
        delays={},
        policy=policy,
    )
    return sorted(k for k in keyed if k[0] != queue.FAR)


def get_many(*, session: Session, ids: Sequence[int]) -> list[Incident]:
    """The incidents of `ids`, in that order (unknown ids are skipped), with their tenants,
    clock facts and assessments loaded."""
    if not ids:
        return []
    loaded = {
        i.id: i
        for i in session.scalars(
            select(Incident)
            .where(Incident.id.in_(list(ids)))
            .options(
                selectinload(Incident.tenants),
                selectinload(Incident.clock_facts),
                selectinload(Incident.assessments),
            )
        )
    }
    return [loaded[i] for i in ids if i in loaded]


def findings_for(*, session: Session, incident: Incident) -> list[FindingRow]:
    """The findings linked to `incident`, oldest first (then by finding id)."""
    rows = session.scalars(
        select(FindingRow)
        .join(IncidentFinding, IncidentFinding.finding_id == FindingRow.finding_id)
        .where(IncidentFinding.incident_id == incident.id)
    )
    return sorted(rows, key=lambda r: (r.first_seen, r.finding_id))


def evidence_for(*, session: Session, incident: Incident, limit: int = 200) -> list[EvidenceEvent]:
    """The stored evidence events cited by the findings of `incident`, by time of
    occurrence: the first `limit` distinct ids cited, taking the findings oldest first.
    Events purged after their retention period are simply missing."""
    cited = session.execute(
        select(FindingRow.first_seen, FindingRow.finding_id, FindingRow.evidence)
        .join(IncidentFinding, IncidentFinding.finding_id == FindingRow.finding_id)
        .where(IncidentFinding.incident_id == incident.id)
    ).all()
    ids: dict[str, None] = {}
    for _, _, evidence in sorted(cited, key=lambda r: (r[0], r[1])):
        for event_id in evidence or []:
            ids.setdefault(str(event_id))
    wanted = list(ids)[: max(0, limit)]
    if not wanted:
        return []
    rows = session.scalars(select(EvidenceEvent).where(EvidenceEvent.event_id.in_(wanted)))
    return sorted(rows, key=lambda e: (e.occurred_at, e.event_id))


def customers_for(*, session: Session, incident: Incident) -> dict[str, Customer]:
    return clocks.load_customers(session=session, tenant_ids=incident.tenant_ids)


def upsert_customer(
    *,
    session: Session,
    tenant_id: str,
    name: str,
    contact_email: str,
    actor_email: str,
    language: Language | str = Language.FR,
    notify_delay_hours: float | None = None,
    role: CustomerRole | str = CustomerRole.PROCESSOR,
    now: datetime | None = None,
) -> Customer:
    """Create or update a customer's contract terms (its clock follows). Audited."""
    now = _aware(now or datetime.now(UTC))
    delay = 24.0 if notify_delay_hours is None else float(notify_delay_hours)
    if delay <= 0:
        raise InvalidClockChange("notify_delay_hours must be positive")
    values = {
        "name": name,
        "contact_email": contact_email,
        "language": Language(language).value,
        "notify_delay_hours": delay,
        "role": CustomerRole(role).value,
    }
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
        audit.append(
            session=session,
            actor=actor_email,
            action="customer.upsert",
            subject=f"tenant:{tenant_id}",
            at=now,
            data={"changed": changed, "notify_delay_hours": delay, "role": values["role"]},
        )
    return row


# --- lifecycle -------------------------------------------------------------------------


def allowed_transitions(status: IncidentStatus | str) -> frozenset[IncidentStatus]:
    return TRANSITIONS[IncidentStatus(status)]


def transition(
    *,
    session: Session,
    incident: Incident,
    to: IncidentStatus | str,
    actor_email: str,
    reason: str | None = None,
    now: datetime | None = None,
) -> Incident:
    """Move `incident` along the lifecycle; raises `InvalidTransition` otherwise."""
    now = _aware(now or datetime.now(UTC))
    try:
        target = IncidentStatus(to)
    except ValueError:
        raise InvalidTransition(f"unknown status {to!r}") from None
    current = incident.status
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "none (terminal)"
        raise InvalidTransition(
            f"{incident.ref}: {current.value} → {target.value} is not allowed (allowed: {allowed})"
        )
    why = _text(reason)
    if target in REASON_REQUIRED and why is None:
        raise InvalidTransition(f"{incident.ref}: {target.value} requires a reason")
    incident.status = target
    if target in (S.CLOSED, S.DISMISSED):
        incident.closed_at = now
        incident.resolution_reason = why
    audit_change(
        session=session,
        incident=incident,
        actor=actor_email,
        action="incident.transition",
        now=now,
        data={"from": current.value, "to": target.value, "reason": why},
    )
    return incident


def set_aware_at(
    *,
    session: Session,
    incident: Incident,
    aware_at: datetime,
    justification: str,
    actor_email: str,
    now: datetime | None = None,
) -> Incident:
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
    audit_change(
        session=session,
        incident=incident,
        actor=actor_email,
        action="incident.aware_at",
        now=now,
        data={"from": old, "to": new, "justification": why},
    )
    return incident


def stop_clock(
    *,
    session: Session,
    incident: Incident,
    clock: Clock | str,
    justification: str,
    actor_email: str,
    now: datetime | None = None,
    tenant_id: str | None = None,
) -> list[ClockFact]:
    """Stop a clock (e.g. the CNIL clock when the breach is unlikely to result in a risk,
    Art. 33(1)); justification required. `tenant_id` None = every customer clock."""
    why = _require(justification, "stopping a clock")
    return clocks.set_clock_stopped(
        session=session,
        incident=incident,
        clock=clock,
        stopped=True,
        justification=why,
        actor=actor_email,
        now=_aware(now or datetime.now(UTC)),
        tenant_id=tenant_id,
    )


def resume_clock(
    *,
    session: Session,
    incident: Incident,
    clock: Clock | str,
    actor_email: str,
    reason: str | None = None,
    now: datetime | None = None,
    tenant_id: str | None = None,
) -> list[ClockFact]:
    return clocks.set_clock_stopped(
        session=session,
        incident=incident,
        clock=clock,
        stopped=False,
        justification=_text(reason),
        actor=actor_email,
        now=_aware(now or datetime.now(UTC)),
        tenant_id=tenant_id,
    )


# --- severity --------------------------------------------------------------------------


def _roles(session: Session, incident: Incident) -> list[CustomerRole]:
    """The roles AVM Up holds in the incident: per tenant, from the customer's contract;
    an incident with no tenant is AVM Up's own processing (controller)."""
    if not incident.tenant_ids:
        return [CustomerRole.CONTROLLER]
    found = customers_for(session=session, incident=incident)
    return [found[t].role if t in found else CustomerRole.PROCESSOR for t in incident.tenant_ids]


def _nature(incident: Incident) -> list[str]:
    """The nature the advice reads (a qualified attempt reads as the breach it was qualified
    as; see `severity.advised_nature`)."""
    return severity.advised_nature(incident.nature, incident.qualified_nature)


def roles_of(*, session: Session, incident: Incident) -> list[CustomerRole]:
    """See `_roles`."""
    return _roles(session, incident)


def record_assessment(
    *,
    session: Session,
    incident: Incident,
    inputs: severity.SeverityInputs,
    source: Literal["auto", "manual"],
    actor: str,
    justification: str,
    now: datetime,
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
    roles = list(roles) if roles is not None else _roles(session, incident)
    derived = severity.recommend(
        severity=band,
        roles=roles,
        art34_exemption=exemption,
        inputs=inputs,
        nature=_nature(incident),
    )
    rec = recommendation or derived
    advice = {
        "customer": derived.notify_customer,
        "cnil": derived.notify_cnil,
        "subjects": derived.notify_subjects,
        "public": derived.notify_public,
        "reasons": list(derived.reasons),
    }
    factors = severity.factors(
        inputs=inputs, roles=roles, art34_exemption=exemption, nature=_nature(incident)
    )
    row = SeverityAssessment(
        incident_id=incident.id,
        dpc=inputs.dpc,
        ei=inputs.ei,
        cb_confidentiality=inputs.cb_confidentiality,
        cb_integrity=inputs.cb_integrity,
        cb_availability=inputs.cb_availability,
        malicious=inputs.malicious,
        score=value,
        band=band.value,
        persons=inputs.persons,
        unintelligible=inputs.unintelligible,
        notify_customer=rec.notify_customer,
        notify_cnil=rec.notify_cnil,
        notify_subjects=rec.notify_subjects,
        notify_public=rec.notify_public,
        recommendation_overridden=rec != derived,
        art34_exemption=exemption.value if exemption else None,
        art34_justification=art34_justification,
        source=source,
        rationale={
            **dict(inputs.rationale),
            "recommendation": list(rec.reasons),
            "factors": factors,
            "advice": advice,
        },
        justification=justification,
        assessed_by=actor,
        assessed_at=now,
    )
    incident.assessments.append(row)
    incident.severity_score = value
    incident.severity_band = band
    incident.updated_at = now
    item = audit.AuditItem(
        actor=actor,
        action="severity.assessed",
        subject=incident.ref,
        at=now,
        data={
            "source": source,
            "dpc": inputs.dpc,
            "ei": inputs.ei,
            "cb": inputs.cb,
            "malicious": inputs.malicious,
            "score": value,
            "band": band.value,
            "justification": justification,
            "art34_exemption": row.art34_exemption,
            "notify": {
                "customer": rec.notify_customer,
                "cnil": rec.notify_cnil,
                "subjects": rec.notify_subjects,
                "public": rec.notify_public,
            },
            "advice": {k: v for k, v in advice.items() if k != "reasons"},
            "recommendation_overridden": row.recommendation_overridden,
        },
    )
    if audit_items is not None:
        audit_items.append(item)
        return row
    session.flush()
    audit.append_many(session=session, items=[item])
    return row


def assess_severity(
    *,
    session: Session,
    incident: Incident,
    inputs: severity.SeverityInputs,
    justification: str,
    actor_email: str,
    now: datetime | None = None,
    art34_exemption: Art34Exemption | str | None = None,
    art34_justification: str | None = None,
    notify_customer: bool | None = None,
    notify_cnil: bool | None = None,
    notify_subjects: bool | None = None,
) -> SeverityAssessment:
    """The RSSI's assessment: the ENISA inputs (every one editable) and the decision on who
    is told, with a justification. `notify_*` left None accept the advice; a value that
    differs from it is a decision against the advice, recorded beside it with the
    justification (audited; drafts follow the decision). An Art. 34(3) exemption needs its
    own justification."""
    why = _require(justification, "a severity assessment")
    if art34_exemption is not None:
        art34_justification = _require(art34_justification, "an Art. 34(3) exemption")
        if notify_subjects:
            raise InvalidSeverityInput(
                "notify_subjects: an Art. 34(3) exemption is claimed; withdraw it to tell "
                "the data subjects"
            )
    roles = _roles(session, incident)
    band = severity.band(severity.score(inputs))
    derived = severity.recommend(
        severity=band,
        roles=roles,
        art34_exemption=art34_exemption,
        inputs=inputs,
        nature=_nature(incident),
    )
    subjects = derived.notify_subjects if notify_subjects is None else notify_subjects
    rec = severity.Recommendation(
        notify_customer=derived.notify_customer if notify_customer is None else notify_customer,
        notify_cnil=derived.notify_cnil if notify_cnil is None else notify_cnil,
        notify_subjects=subjects,
        reasons=derived.reasons,
        notify_public=derived.notify_public and not subjects,
    )
    if rec != derived:
        changed = [
            f"{name} {'yes' if mine else 'no'} (advice: {'yes' if theirs else 'no'})"
            for name, mine, theirs in (
                ("customer", rec.notify_customer, derived.notify_customer),
                ("CNIL", rec.notify_cnil, derived.notify_cnil),
                ("data subjects", rec.notify_subjects, derived.notify_subjects),
            )
            if mine != theirs
        ]
        rec = severity.Recommendation(
            rec.notify_customer,
            rec.notify_cnil,
            rec.notify_subjects,
            (
                *derived.reasons,
                f"decision of {actor_email} against the advice: {'; '.join(changed)}: {why}",
            ),
            rec.notify_public,
        )
    return record_assessment(
        session=session,
        incident=incident,
        inputs=inputs,
        source="manual",
        actor=actor_email,
        justification=why,
        now=_aware(now or datetime.now(UTC)),
        art34_exemption=art34_exemption,
        art34_justification=art34_justification,
        recommendation=rec,
        roles=roles,
    )


# --- register text, comments and decisions ---------------------------------------------


def update_register_fields(
    *,
    session: Session,
    incident: Incident,
    actor_email: str,
    now: datetime | None = None,
    title: str | None = None,
    consequences: str | None = None,
    measures: str | None = None,
    not_notified_justification: str | None = None,
) -> Incident:
    """Edit the Art. 33(5) register text (nature/title, consequences, measures, and the
    justification when not notified). Only the given fields change."""
    now = _aware(now or datetime.now(UTC))
    changes: dict[str, str | None] = {}
    for name, value in (
        ("title", title),
        ("consequences", consequences),
        ("measures", measures),
        ("not_notified_justification", not_notified_justification),
    ):
        if value is not None and getattr(incident, name) != value:
            setattr(incident, name, value)
            changes[name] = value
    if not changes:
        return incident
    if "title" in changes:
        incident.title_edited = True
    audit_change(
        session=session,
        incident=incident,
        actor=actor_email,
        action="incident.register_fields",
        now=now,
        data={"changed": sorted(changes)},
    )
    return incident


def add_comment(
    *,
    session: Session,
    incident: Incident,
    author_email: str,
    text: str,
    now: datetime | None = None,
) -> Decision:
    body = _require(text, "a comment")
    return _add_decision(
        session=session,
        incident=incident,
        kind=DecisionKind.COMMENT,
        author=author_email,
        text=body,
        justification=None,
        now=_aware(now or datetime.now(UTC)),
        action="incident.comment",
    )


def record_decision(
    *,
    session: Session,
    incident: Incident,
    actor_email: str,
    decision: str,
    justification: str,
    now: datetime | None = None,
) -> Decision:
    """A decision for the register (e.g. 'CNIL not notified') with its justification."""
    text = _require(decision, "a decision")
    why = _require(justification, "a decision")
    return _add_decision(
        session=session,
        incident=incident,
        kind=DecisionKind.DECISION,
        author=actor_email,
        text=text,
        justification=why,
        now=_aware(now or datetime.now(UTC)),
        action="incident.decision",
        audited={"decision": text, "justification": why},
    )


def _add_decision(
    *,
    session: Session,
    incident: Incident,
    kind: DecisionKind,
    author: str,
    text: str,
    justification: str | None,
    now: datetime,
    action: str,
    audited: dict[str, Any] | None = None,
) -> Decision:
    """A comment or a decision on the incident, audited with its id (and `audited`)."""
    row = Decision(
        incident_id=incident.id,
        kind=kind.value,
        text=text,
        justification=justification,
        author=author,
        created_at=now,
    )
    incident.decisions.append(row)
    session.flush()
    audit.append(
        session=session,
        actor=author,
        action=action,
        subject=incident.ref,
        at=now,
        data={"decision_id": row.id, **(audited or {})},
    )
    return row
