"""Clocks on stored incidents (SQLite and PostgreSQL): per-tenant customer deadlines,
aware_at moved, stopped and met clocks, escalations fired once across restarts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from incidents import audit, clocks, flows, service
from incidents.clocks import ClockPolicy
from incidents.db import make_engine, session_factory, transaction
from incidents.enums import Clock, ClockState
from incidents.exceptions import InvalidClockChange, JustificationRequired
from incidents.models import Customer, Escalation, Incident
from tests.incidents.acting import move, set_aware, stop
from tests.incidents.builders import NOW, make_finding, store_findings

POLICY = ClockPolicy()


def _incident(session: Session, now: datetime = NOW, globex_role: str = "processor") -> Incident:
    session.add_all(
        [
            Customer(
                tenant_id="acme",
                name="Acme",
                contact_email="sec@acme.test",
                notify_delay_hours=12.0,
            ),
            Customer(
                tenant_id="globex", name="Globex", contact_email="dpo@globex.test", role=globex_role
            ),
        ]
    )
    rows = store_findings(
        session,
        [
            make_finding(
                "f1", source_ips=("203.0.113.7",), tenants={"acme": (5, 0, 0), "globex": (3, 0, 0)}
            )
        ],
    )
    [incident] = flows.record_findings(session=session, findings=rows, now=now)
    return incident


# globex's contract, its customer delay raised to 48 h.
GLOBEX_48H: dict[str, Any] = {
    "tenant_id": "globex",
    "name": "Globex",
    "contact_email": "dpo@globex.test",
    "notify_delay_hours": 48,
    "role": "processor",
}


def _upsert(session: Session, **contract: Any) -> None:
    """Create or change a customer's contract as the administrator, at `NOW`."""
    service.upsert_customer(session=session, actor_email="admin@avmup.com", now=NOW, **contract)


def test_each_tenant_has_its_own_customer_due_and_the_incident_the_earliest_open(
    db_session: Session,
) -> None:
    inc = _incident(db_session)
    cl = clocks.clocks_for(session=db_session, incident=inc, policy=POLICY, now=NOW)
    dues = {c.tenant_id: c.due_at for c in cl.customers}
    assert dues == {"acme": NOW + timedelta(hours=12), "globex": NOW + timedelta(hours=24)}
    assert cl.customer_due == NOW + timedelta(hours=12)
    assert cl.cnil.due_at == NOW + timedelta(hours=72)
    clocks.mark_clock_met(
        session=db_session,
        incident=inc,
        clock=Clock.CUSTOMER,
        at=NOW + timedelta(hours=2),
        tenant_id="acme",
    )
    cl = clocks.clocks_for(
        session=db_session, incident=inc, policy=POLICY, now=NOW + timedelta(hours=3)
    )
    states = {c.tenant_id: c.state for c in cl.customers}
    assert states == {"acme": ClockState.MET, "globex": ClockState.RUNNING}
    assert cl.customer_due == NOW + timedelta(hours=24)
    assert cl.next_due == NOW + timedelta(hours=24)


def test_mark_clock_met_is_idempotent_and_audited(db_session: Session) -> None:
    inc = _incident(db_session)
    first = clocks.mark_clock_met(
        session=db_session, incident=inc, clock="cnil", at=NOW + timedelta(hours=80)
    )
    again = clocks.mark_clock_met(
        session=db_session, incident=inc, clock="cnil", at=NOW + timedelta(hours=90)
    )
    assert len(first) == 1
    assert again == []
    cl = clocks.clocks_for(
        session=db_session, incident=inc, policy=POLICY, now=NOW + timedelta(hours=100)
    )
    assert cl.cnil.state == ClockState.MET
    assert cl.cnil.met_at == NOW + timedelta(hours=80)
    assert cl.cnil.late is True
    actions = [e.action for e in audit.entries_for(session=db_session, subject=inc.ref)]
    assert actions.count("clock.met") == 1
    with pytest.raises(InvalidClockChange):
        clocks.mark_clock_met(
            session=db_session, incident=inc, clock="customer", at=NOW, tenant_id="initech"
        )


def test_moving_aware_at_moves_every_deadline_and_needs_a_justification(
    db_session: Session,
) -> None:
    inc = _incident(db_session)
    earlier = NOW - timedelta(hours=30)
    with pytest.raises(JustificationRequired):
        set_aware(db_session, inc, earlier, "  ")
    with pytest.raises(InvalidClockChange):
        set_aware(db_session, inc, NOW + timedelta(hours=1), "x")
    set_aware(db_session, inc, earlier, "customer phoned the support desk the day before")
    cl = clocks.clocks_for(session=db_session, incident=inc, policy=POLICY, now=NOW)
    assert cl.cnil.due_at == earlier + timedelta(hours=72)
    assert {c.tenant_id: c.state for c in cl.customers} == {
        "acme": ClockState.OVERDUE,
        "globex": ClockState.OVERDUE,
    }
    last = audit.entries_for(session=db_session, subject=inc.ref)[-1]
    assert last.action == "incident.aware_at"
    assert last.data["to"] == earlier.isoformat()


def test_stopped_clock_needs_justification_and_never_escalates(db_session: Session) -> None:
    inc = _incident(db_session)
    with pytest.raises(JustificationRequired):
        stop(db_session, inc, "cnil", "")
    stop(db_session, inc, "cnil", "processor only: the customers notify the CNIL")
    late = NOW + timedelta(hours=100)
    cl = clocks.clocks_for(session=db_session, incident=inc, policy=POLICY, now=late)
    assert cl.cnil.state == ClockState.STOPPED
    fired = clocks.tick(session=db_session, now=late, policy=POLICY)
    assert {e.clock for e in fired} == {"customer"}
    service.resume_clock(
        session=db_session, incident=inc, clock="cnil", actor_email="rssi@avmup.com", now=late
    )
    cl = clocks.clocks_for(session=db_session, incident=inc, policy=POLICY, now=late)
    assert cl.cnil.state == ClockState.OVERDUE


@pytest.mark.parametrize("fresh_db_url", ["sqlite", "postgresql"], indirect=True)
def test_escalations_fire_once_across_restarts(fresh_db_url: str) -> None:
    def run(now: datetime) -> list[tuple[str, str, float]]:
        engine = make_engine(fresh_db_url)  # a new process: new engine, new session
        try:
            with transaction(session_factory(engine)) as session:
                fired = clocks.tick(session=session, now=now, policy=POLICY)
                return [(e.clock, e.tenant_id, e.threshold_hours) for e in fired]
        finally:
            engine.dispose()

    engine = make_engine(fresh_db_url)
    with transaction(session_factory(engine)) as session:
        _incident(session, globex_role="controller")  # AVM Up's own data: its CNIL clock
    engine.dispose()

    assert run(NOW + timedelta(hours=5)) == []
    # acme's contract says 12 h: exactly 6 h left.
    assert run(NOW + timedelta(hours=6)) == [("customer", "acme", 6.0)]
    assert run(NOW + timedelta(hours=6)) == []
    assert run(NOW + timedelta(hours=12)) == []
    assert run(NOW + timedelta(hours=12, seconds=1)) == [("customer", "acme", 0.0)]
    assert run(NOW + timedelta(hours=18)) == [("customer", "globex", 6.0)]
    # Exactly 48 h left on the CNIL clock; globex is due this very second, not overdue.
    assert run(NOW + timedelta(hours=24)) == [("cnil", "", 48.0)]
    assert run(NOW + timedelta(hours=24, seconds=1)) == [("customer", "globex", 0.0)]
    assert run(NOW + timedelta(hours=48)) == [("cnil", "", 24.0)]
    assert run(NOW + timedelta(hours=66)) == [("cnil", "", 6.0)]
    assert run(NOW + timedelta(hours=72)) == []
    assert run(NOW + timedelta(hours=72, seconds=1)) == [("cnil", "", 0.0)]
    assert run(NOW + timedelta(hours=200)) == []

    engine = make_engine(fresh_db_url)
    with transaction(session_factory(engine)) as session:
        total = session.scalar(select(func.count()).select_from(Escalation))
        pending = clocks.pending_escalations(session=session)
        verified = audit.verify(session=session)
    engine.dispose()
    assert total == 8
    assert len(pending) == 8
    assert all(e.delivered_at is None for e in pending)
    assert verified.ok


def test_processor_only_cnil_clock_is_the_customers_and_never_escalates(
    db_session: Session,
) -> None:
    inc = _incident(db_session)  # acme and globex: AVM Up is their processor
    cl = clocks.clocks_for(
        session=db_session, incident=inc, policy=POLICY, now=NOW + timedelta(hours=30)
    )
    assert cl.cnil.informative and not cl.cnil_own
    assert cl.cnil.due_at == NOW + timedelta(hours=72)  # shown, for information
    assert cl.next_due == NOW + timedelta(hours=12)  # the customers' clocks only
    fired: list[tuple[str, str, float]] = []
    for hours in (24, 30, 48, 66, 72.5, 100):
        fired += [
            (e.clock, e.tenant_id, e.threshold_hours)
            for e in clocks.tick(
                session=db_session, now=NOW + timedelta(hours=hours), policy=POLICY
            )
        ]
    assert [f for f in fired if f[0] == "cnil"] == []
    assert {f[1] for f in fired} == {"acme", "globex"}


def test_controller_tenant_makes_the_cnil_clock_avm_ups(db_session: Session) -> None:
    inc = _incident(db_session, globex_role="controller")
    cl = clocks.clocks_for(session=db_session, incident=inc, policy=POLICY, now=NOW)
    assert cl.cnil_own and not cl.cnil.informative
    fired = clocks.tick(session=db_session, now=NOW + timedelta(hours=24), policy=POLICY)
    assert ("cnil", 48.0) in {(e.clock, e.threshold_hours) for e in fired}


def test_tick_with_naive_time_is_refused(db_session: Session) -> None:
    with pytest.raises(InvalidClockChange):
        clocks.tick(session=db_session, now=datetime(2026, 1, 1), policy=POLICY)


def test_tick_ignores_closed_incidents(db_session: Session) -> None:
    inc = _incident(db_session)
    move(db_session, inc, "dismissed", "false positive")
    assert clocks.tick(session=db_session, now=NOW + timedelta(days=5), policy=POLICY) == []


def test_escalation_delivery_is_recorded_once(db_session: Session) -> None:
    inc = _incident(db_session)
    [esc] = clocks.tick(session=db_session, now=NOW + timedelta(hours=6), policy=POLICY)
    assert (esc.clock, esc.tenant_id, esc.threshold_hours) == ("customer", "acme", 6.0)
    assert clocks.pending_escalations(session=db_session) == [esc]
    at = NOW + timedelta(hours=6, minutes=1)
    assert clocks.mark_escalation_delivered(session=db_session, escalation=esc, at=at)
    assert not clocks.mark_escalation_delivered(session=db_session, escalation=esc, at=at)
    assert esc.delivered_at == at
    assert clocks.pending_escalations(session=db_session) == []
    actions = [e.action for e in audit.entries_for(session=db_session, subject=inc.ref)]
    assert actions.count("clock.escalation_delivered") == 1
    assert actions.count("clock.escalation") == 1


def test_customer_contract_change_moves_its_clock(db_session: Session) -> None:
    inc = _incident(db_session)
    _upsert(db_session, **GLOBEX_48H)
    cl = clocks.clocks_for(session=db_session, incident=inc, policy=POLICY, now=NOW)
    assert {c.tenant_id: c.due_at for c in cl.customers}["globex"] == NOW + timedelta(hours=48)
    entries = audit.entries_for(session=db_session, subject="tenant:globex")
    assert [e.data["changed"] for e in entries] == [["notify_delay_hours"]]
    _upsert(db_session, **GLOBEX_48H)
    assert len(audit.entries_for(session=db_session, subject="tenant:globex")) == 1
    with pytest.raises(InvalidClockChange):
        _upsert(db_session, tenant_id="x", name="X", contact_email="x@x.test", notify_delay_hours=0)


def test_stored_aware_at_across_paris_dst_keeps_72_real_hours(db_session: Session) -> None:
    """Awareness set in Paris local time the day before the spring change: stored in UTC,
    read back, the CNIL deadline is 72 real hours later (13:00 local, not 12:00)."""
    paris = ZoneInfo("Europe/Paris")
    inc = _incident(db_session, now=datetime(2026, 3, 29, 9, 0, tzinfo=UTC))
    aware_local = datetime(2026, 3, 28, 12, 0, tzinfo=paris)
    set_aware(
        db_session,
        inc,
        aware_local,
        "first customer report",
        now=datetime(2026, 3, 29, 9, 0, tzinfo=UTC),
    )
    db_session.expire_all()
    fresh = service.get_by_ref(session=db_session, ref=inc.ref)
    assert fresh is not None
    assert fresh.aware_at == datetime(2026, 3, 28, 11, 0, tzinfo=UTC)
    due = datetime(2026, 3, 31, 13, 0, tzinfo=paris)
    at_due = clocks.clocks_for(session=db_session, incident=fresh, policy=POLICY, now=due)
    assert at_due.cnil.due_at == due
    assert at_due.cnil.state == ClockState.DUE_SOON
    after = clocks.clocks_for(
        session=db_session, incident=fresh, policy=POLICY, now=due + timedelta(microseconds=1)
    )
    assert after.cnil.state == ClockState.OVERDUE
