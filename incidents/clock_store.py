"""The clocks' rows (docs/architecture.md §7): the customers whose delays the deadlines
read, the clock facts (met, stopped, resumed) and the escalations, written with their audit
entries. The deadlines themselves are computed by `incidents.deadlines`. Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, selectinload

from consumers.conventions import SYSTEM_ACTOR
from incidents import audit
from incidents.deadlines import (
    ClockPolicy,
    IncidentClocks,
    due_escalations,
    fact_states,
    incident_clocks,
    utc,
)
from incidents.enums import OPEN_STATUSES, Clock, ClockFactKind
from incidents.exceptions import InvalidClockChange
from incidents.models import ClockFact, Customer, Escalation, Incident


def min_delay(*, session: Session, policy: ClockPolicy) -> timedelta:
    """A lower bound of every clock delay (`cnil`, and `customer_delay` of any customer or
    none): each due is at least `aware_at` + this. For queues that read incidents by
    `aware_at` and stop once no later one can come first."""
    floor = min(policy.cnil_delay, timedelta(hours=policy.customer_hours_default))
    hours = session.scalar(  # 0 and NULL mean the default (`customer_delay`)
        select(func.min(Customer.notify_delay_hours)).where(Customer.notify_delay_hours != 0)
    )
    return floor if hours is None else min(floor, timedelta(hours=float(hours)))


def load_customers(*, session: Session, tenant_ids: Iterable[str]) -> dict[str, Customer]:
    ids = sorted(set(tenant_ids))
    if not ids:
        return {}
    rows = session.scalars(select(Customer).where(Customer.tenant_id.in_(ids)))
    return {c.tenant_id: c for c in rows}


def clocks_for(
    *, session: Session, incident: Incident, policy: ClockPolicy, now: datetime
) -> IncidentClocks:
    customers = load_customers(session=session, tenant_ids=incident.tenant_ids)
    return incident_clocks(incident=incident, customers=customers, policy=policy, now=now)


def _record_fact(
    *,
    session: Session,
    incident: Incident,
    clock: Clock,
    tenant_id: str,
    kind: ClockFactKind,
    at: datetime,
    actor: str,
    justification: str | None,
) -> ClockFact:
    fact = ClockFact(
        incident_id=incident.id,
        clock=clock.value,
        tenant_id=tenant_id,
        kind=kind.value,
        at=at,
        actor=actor,
        justification=justification,
        recorded_at=datetime.now(UTC),
    )
    incident.clock_facts.append(fact)
    session.flush()
    audit.append(
        session=session,
        actor=actor,
        action=f"clock.{kind.value}",
        subject=incident.ref,
        data={
            "clock": clock.value,
            "tenant_id": tenant_id or None,
            "at": at,
            "justification": justification,
        },
    )
    return fact


def _tenants_for(incident: Incident, clock: Clock, tenant_id: str | None) -> list[str]:
    if clock == Clock.CNIL:
        if tenant_id:
            raise InvalidClockChange("the cnil clock is not per tenant")
        return [""]
    if tenant_id is None:
        return incident.tenant_ids
    if tenant_id not in incident.tenant_ids:
        raise InvalidClockChange(f"tenant {tenant_id!r} is not affected by {incident.ref}")
    return [tenant_id]


def mark_clock_met(
    *,
    session: Session,
    incident: Incident,
    clock: Clock | str,
    at: datetime,
    tenant_id: str | None = None,
    actor: str = SYSTEM_ACTOR,
) -> list[ClockFact]:
    """Record that the notice of `clock` was sent at `at` (called by the notifier).

    For the `customer` clock, `tenant_id` names the customer told; None means every tenant
    of the incident. Idempotent: a clock already met is left as is. Audited; not committed.
    """
    clock = Clock(clock)
    at = utc(at, "at")
    states = fact_states(incident.clock_facts)
    created = []
    for tenant in _tenants_for(incident, clock, tenant_id):
        current = states.get((clock.value, tenant))
        if current is not None and current.met_at is not None:
            continue
        created.append(
            _record_fact(
                session=session,
                incident=incident,
                clock=clock,
                tenant_id=tenant,
                kind=ClockFactKind.MET,
                at=at,
                actor=actor,
                justification=None,
            )
        )
    return created


def set_clock_stopped(
    *,
    session: Session,
    incident: Incident,
    clock: Clock | str,
    stopped: bool,
    justification: str | None,
    actor: str,
    now: datetime,
    tenant_id: str | None = None,
) -> list[ClockFact]:
    """Stop (justification required) or resume a clock. Prefer `service.stop_clock`."""
    clock = Clock(clock)
    kind = ClockFactKind.STOPPED if stopped else ClockFactKind.RESUMED
    return [
        _record_fact(
            session=session,
            incident=incident,
            clock=clock,
            tenant_id=tenant,
            kind=kind,
            at=utc(now, "now"),
            actor=actor,
            justification=justification,
        )
        for tenant in _tenants_for(incident, clock, tenant_id)
    ]


def _insert_escalation(session: Session, values: dict[str, Any]) -> int | None:
    """INSERT … ON CONFLICT DO NOTHING RETURNING id: concurrent tickers fire once."""
    dialect = session.get_bind().dialect.name
    keys = ["incident_id", "clock", "tenant_id", "threshold_hours"]
    if dialect == "postgresql":
        pg = (
            postgresql.insert(Escalation)
            .values(**values)
            .on_conflict_do_nothing(index_elements=keys)
            .returning(Escalation.id)
        )
        return session.execute(pg).scalar_one_or_none()
    lite = (
        sqlite.insert(Escalation)
        .values(**values)
        .on_conflict_do_nothing(index_elements=keys)
        .returning(Escalation.id)
    )
    return session.execute(lite).scalar_one_or_none()


def tick(*, session: Session, now: datetime, policy: ClockPolicy) -> list[Escalation]:
    """Fire the escalations due at `now` for every open incident. Restart-safe and
    idempotent (unique per incident, clock, tenant, threshold); not committed here."""
    now = utc(now, "now")
    incidents = list(
        session.scalars(
            select(Incident)
            .where(Incident.status.in_([s.value for s in OPEN_STATUSES]))
            .options(
                selectinload(Incident.tenants),
                selectinload(Incident.clock_facts),
                selectinload(Incident.escalations),
            )
        )
    )
    customers = load_customers(
        session=session, tenant_ids=(t for i in incidents for t in i.tenant_ids)
    )
    new_ids: list[int] = []
    for incident in incidents:
        if list(incident.nature) == ["attempt"] and incident.qualified_at is None:
            continue  # an attempt is no breach: no Art. 33 deadline to escalate
        clocks = incident_clocks(incident=incident, customers=customers, policy=policy, now=now)
        fired = [(e.clock, e.tenant_id, e.threshold_hours) for e in incident.escalations]
        for status, threshold in due_escalations(clocks=clocks, fired=fired, policy=policy):
            new_id = _insert_escalation(
                session,
                {
                    "incident_id": incident.id,
                    "clock": status.clock.value,
                    "tenant_id": status.tenant_id or "",
                    "threshold_hours": threshold,
                    "due_at": status.due_at,
                    "fired_at": now,
                },
            )
            if new_id is None:
                continue
            new_ids.append(new_id)
            audit.append(
                session=session,
                actor=SYSTEM_ACTOR,
                action="clock.escalation",
                subject=incident.ref,
                at=now,
                data={
                    "clock": status.clock.value,
                    "tenant_id": status.tenant_id,
                    "threshold_hours": threshold,
                    "due_at": status.due_at,
                },
            )
    if not new_ids:
        return []
    session.flush()
    rows = session.scalars(
        select(Escalation).where(Escalation.id.in_(new_ids)).order_by(Escalation.id)
    )
    return list(rows)


def pending_escalations(*, session: Session, limit: int = 100) -> list[Escalation]:
    """Escalations not delivered yet (for the notifier), oldest first."""
    return list(
        session.scalars(
            select(Escalation)
            .where(Escalation.delivered_at.is_(None))
            .order_by(Escalation.id)
            .limit(limit)
        )
    )


def mark_escalation_delivered(
    *, session: Session, escalation: Escalation, at: datetime, actor: str = SYSTEM_ACTOR
) -> bool:
    """Record that an escalation reached the RSSI (called by the notifier). Idempotent:
    returns False when it was already delivered. Audited; not committed."""
    at = utc(at, "at")
    if escalation.delivered_at is not None:
        return False
    escalation.delivered_at = at
    session.flush()
    ref = session.scalar(select(Incident.ref).where(Incident.id == escalation.incident_id))
    audit.append(
        session=session,
        actor=actor,
        action="clock.escalation_delivered",
        subject=ref or f"incident:{escalation.incident_id}",
        at=at,
        data={
            "escalation_id": escalation.id,
            "clock": escalation.clock,
            "tenant_id": escalation.tenant_id or None,
            "threshold_hours": escalation.threshold_hours,
        },
    )
    return True
