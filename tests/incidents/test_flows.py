"""Correlation of findings into incidents (docs/architecture.md §6), on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from incidents import audit, flows, service
from incidents.clocks import ClockPolicy
from incidents.db import make_engine, session_factory, transaction
from incidents.enums import IncidentStatus
from incidents.models import AuditEntry, Incident, IncidentFinding, SeverityAssessment
from tests.incidents.builders import NOW, T0, make_finding, store_findings
from tests.incidents.conftest import StoreFindings

POLICY = ClockPolicy()


def _count(session: Session, model: type[object]) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_same_tenant_and_actor_within_24h_joins_one_incident(
    db_session: Session, store: StoreFindings
) -> None:
    a = make_finding("f1", actor_ids=("u1",), source_ips=("203.0.113.7",))
    b = make_finding(
        "f2",
        rule_id="AUTH-003",
        actor_ids=("u1",),
        source_ips=("198.51.100.9",),
        first_seen=T0 + timedelta(hours=23),
    )
    first = flows.record_findings(session=db_session, findings=store([a]), now=NOW)
    second = flows.record_findings(
        session=db_session, findings=store([b]), now=NOW + timedelta(hours=23)
    )
    assert [i.ref for i in first] == ["INC-2026-0001"]
    assert [i.ref for i in second] == ["INC-2026-0001"]
    incident = second[0]
    assert incident.rule_ids == ["AUTH-001", "AUTH-003"]
    assert incident.tenants[0].events == 20
    assert incident.detected_at == NOW
    assert incident.aware_at == NOW
    assert incident.status == IncidentStatus.DETECTED


def test_beyond_24h_or_other_actor_opens_new_incidents(
    db_session: Session, store: StoreFindings
) -> None:
    a = make_finding("f1", actor_ids=("u1",))
    late = make_finding(
        "f2", actor_ids=("u1",), first_seen=T0 + timedelta(minutes=5, hours=24, seconds=1)
    )
    other = make_finding("f3", actor_ids=("u2",))
    rows = store([a, late, other])
    got = flows.record_findings(session=db_session, findings=rows, now=NOW)
    assert sorted(i.ref for i in got) == ["INC-2026-0001", "INC-2026-0002", "INC-2026-0003"]
    assert _count(db_session, Incident) == 3


def test_same_actor_id_in_another_tenant_is_not_the_same_attacker(
    db_session: Session, store: StoreFindings
) -> None:
    a = make_finding("f1", actor_ids=("admin",), tenants={"acme": (1, 0, 0)})
    b = make_finding("f2", actor_ids=("admin",), tenants={"globex": (1, 0, 0)})
    got = flows.record_findings(session=db_session, findings=store([a, b]), now=NOW)
    assert len({i.id for i in got}) == 2


def test_one_ip_across_tenants_is_one_incident_with_each_tenants_counts(
    db_session: Session, store: StoreFindings
) -> None:
    spray = make_finding(
        "f1",
        rule_id="AUTH-002",
        source_ips=("203.0.113.7",),
        tenants={"acme": (30, 0, 0), "globex": (12, 0, 0)},
    )
    read = make_finding(
        "f2",
        rule_id="ACC-001",
        source_ips=("203.0.113.7",),
        tenants={"initech": (4, 250, 40)},
        categories=frozenset({"identification"}),
        first_seen=T0 + timedelta(hours=2),
    )
    flows.record_findings(session=db_session, findings=store([spray]), now=NOW)
    got = flows.record_findings(session=db_session, findings=store([read]), now=NOW)
    assert len(got) == 1
    counts = {t.tenant_id: (t.events, t.records, t.persons) for t in got[0].tenants}
    assert counts == {"acme": (30, 0, 0), "globex": (12, 0, 0), "initech": (4, 250, 40)}
    assert got[0].tenant_ids == ["acme", "globex", "initech"]
    assert _count(db_session, Incident) == 1


def test_findings_of_one_batch_correlate_with_each_other(
    db_session: Session, store: StoreFindings
) -> None:
    rows = store(
        [
            make_finding(
                f"f{i}",
                source_ips=("192.0.2.1",),
                tenants={f"t{i}": (i + 1, 0, 0)},
                first_seen=T0 + timedelta(minutes=i),
            )
            for i in range(5)
        ]
    )
    got = flows.record_findings(session=db_session, findings=rows, now=NOW)
    assert len({i.id for i in got}) == 1
    assert [t.events for t in got[0].tenants] == [1, 2, 3, 4, 5]


def test_closed_incidents_are_not_joined(db_session: Session, store: StoreFindings) -> None:
    [inc] = flows.record_findings(
        session=db_session,
        findings=store([make_finding("f1", actor_ids=("u1",))]),
        now=NOW,
    )
    service.transition(
        session=db_session,
        incident=inc,
        to="dismissed",
        actor_email="rssi@avmup.com",
        reason="test traffic",
        now=NOW,
    )
    [again] = flows.record_findings(
        session=db_session,
        findings=store([make_finding("f2", actor_ids=("u1",))]),
        now=NOW,
    )
    assert again.id != inc.id
    assert again.ref == "INC-2026-0002"


def test_replay_changes_nothing_and_updates_only_derived_counts(
    db_session: Session, store: StoreFindings
) -> None:
    f1 = make_finding("f1", actor_ids=("u1",), tenants={"acme": (10, 5, 2)})
    rows = store([f1])
    [inc] = flows.record_findings(session=db_session, findings=rows, now=NOW)
    audits = _count(db_session, AuditEntry)
    assessments = _count(db_session, SeverityAssessment)
    # Same rows again, twice: nothing new.
    for _ in range(2):
        again = flows.record_findings(
            session=db_session, findings=rows, now=NOW + timedelta(minutes=1)
        )
        assert [i.id for i in again] == [inc.id]
    assert _count(db_session, AuditEntry) == audits
    assert _count(db_session, SeverityAssessment) == assessments
    assert _count(db_session, IncidentFinding) == 1
    assert inc.tenants[0].events == 10
    # The detector re-emits the finding with larger current aggregates: counts follow
    # (derived from the findings, not incremented).
    updated = make_finding("f1", actor_ids=("u1",), tenants={"acme": (25, 9, 3)}, count=3)
    flows.record_findings(session=db_session, findings=store([updated]), now=NOW)
    flows.record_findings(session=db_session, findings=store([updated]), now=NOW)
    db_session.expire_all()
    fresh = service.get_by_ref(session=db_session, ref=inc.ref)
    assert fresh is not None
    assert (fresh.tenants[0].events, fresh.tenants[0].records, fresh.tenants[0].persons) == (
        25,
        9,
        3,
    )
    assert _count(db_session, Incident) == 1
    assert audit.verify(session=db_session).ok


def test_opening_is_audited_and_severity_prefilled(
    db_session: Session, store: StoreFindings
) -> None:
    f = make_finding(
        "f1",
        rule_id="ACC-001",
        actor_ids=("u1",),
        categories=frozenset({"identification", "content"}),
        tenants={"acme": (3, 120, 80)},
    )
    [inc] = flows.record_findings(session=db_session, findings=store([f]), now=NOW)
    actions = [e.action for e in audit.entries_for(session=db_session, subject=inc.ref)]
    assert actions == ["incident.opened", "incident.findings_linked", "severity.assessed"]
    assessment = inc.current_assessment
    assert assessment is not None
    # DPC 2 (content: behavioural) × EI 1 (identification) + conf 0.5 + malicious 0.5 = 3.
    assert (assessment.dpc, assessment.ei, assessment.score) == (2.0, 1.0, 3.0)
    assert assessment.persons == 80
    assert inc.severity_band == "high"
    assert assessment.source == "auto"


def test_query_count_does_not_grow_with_the_batch(
    db_session: Session, store: StoreFindings
) -> None:
    """No N+1: a batch of 1 and a batch of 30 findings cost the same number of SELECTs."""
    bind = db_session.connection()
    selects: list[str] = []

    def _count_selects(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)

    small = store([make_finding("s0", actor_ids=("x0",), source_ips=("192.0.2.200",))])
    big = store(
        [
            make_finding(
                f"b{i}",
                actor_ids=(f"y{i}",),
                source_ips=(f"198.51.100.{i}",),
                tenants={f"t{i % 3}": (1, 0, 0)},
            )
            for i in range(30)
        ]
    )
    event.listen(bind, "before_cursor_execute", _count_selects)
    try:
        flows.record_findings(session=db_session, findings=small, now=NOW)
        n_small = len(selects)
        selects.clear()
        flows.record_findings(session=db_session, findings=big, now=NOW)
        n_big = len(selects)
    finally:
        event.remove(bind, "before_cursor_execute", _count_selects)
    assert n_big <= n_small + 2, (n_small, n_big)


def test_refs_are_sequential_per_year(db_session: Session, store: StoreFindings) -> None:
    rows = store([make_finding(f"f{i}", actor_ids=(f"u{i}",)) for i in range(3)])
    got = flows.record_findings(session=db_session, findings=rows, now=NOW)
    assert sorted(i.ref for i in got) == ["INC-2026-0001", "INC-2026-0002", "INC-2026-0003"]
    next_year = store([make_finding("g1", actor_ids=("z",))])
    [inc] = flows.record_findings(
        session=db_session, findings=next_year, now=NOW.replace(year=2027)
    )
    assert inc.ref == "INC-2027-0001"


@pytest.mark.parametrize("fresh_db_url", ["sqlite", "postgresql"], indirect=True)
def test_refs_allocated_concurrently_are_unique_and_gapless(fresh_db_url: str) -> None:
    engine = make_engine(fresh_db_url)
    factory = session_factory(engine)
    errors: list[BaseException] = []

    def worker(w: int) -> None:
        try:
            for i in range(4):
                with transaction(factory) as session:
                    rows = store_findings(
                        session, [make_finding(f"w{w}-{i}", actor_ids=(f"a{w}-{i}",))]
                    )
                    flows.record_findings(session=session, findings=rows, now=NOW)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    with transaction(factory) as session:
        refs = sorted(session.scalars(select(Incident.ref)))
        intact = audit.verify(session=session).ok
    engine.dispose()
    assert errors == []
    assert refs == [f"INC-2026-{n:04d}" for n in range(1, 13)]
    assert intact


@pytest.mark.parametrize("fresh_db_url", ["sqlite", "postgresql"], indirect=True)
def test_two_workers_seeing_one_ip_at_once_open_one_incident(fresh_db_url: str) -> None:
    engine = make_engine(fresh_db_url)
    factory = session_factory(engine)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def worker(w: int) -> None:
        try:
            barrier.wait(timeout=30)  # SQLite serialises writers: meet before, not inside
            with transaction(factory) as session:
                rows = store_findings(
                    session,
                    [
                        make_finding(
                            f"w{w}", source_ips=("203.0.113.66",), tenants={f"t{w}": (w + 1, 0, 0)}
                        )
                    ],
                )
                flows.record_findings(session=session, findings=rows, now=NOW)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    with transaction(factory) as session:
        incidents = list(session.scalars(select(Incident)))
        tenants = sorted(incidents[0].tenant_ids) if incidents else []
    engine.dispose()
    assert errors == []
    assert len(incidents) == 1
    assert tenants == ["t0", "t1", "t2", "t3"]


def test_findings_without_actor_or_ip_group_by_tenant_and_rule(
    db_session: Session, store: StoreFindings
) -> None:
    rows = store(
        [
            make_finding("n1", rule_id="ACC-008", first_seen=T0),
            make_finding("n2", rule_id="ACC-008", first_seen=T0 + timedelta(hours=3)),
            make_finding("n3", rule_id="ACC-004", first_seen=T0 + timedelta(hours=3)),
        ]
    )
    got = flows.record_findings(session=db_session, findings=rows, now=NOW)
    by_rule = {tuple(i.rule_ids) for i in got}
    assert by_rule == {("ACC-008",), ("ACC-004",)}
    assert _count(db_session, Incident) == 2
