"""Lifecycle, severity edits, comments and decisions through the service (both backends)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from incidents import audit, clocks, flows, service
from incidents.clocks import ClockPolicy
from incidents.enums import IncidentStatus
from incidents.exceptions import InvalidTransition, JustificationRequired
from incidents.findings_store import EvidenceEvent
from incidents.models import ClockFact, Customer, Incident, IncidentTenant
from incidents.severity import SeverityInputs
from tests.incidents.acting import decide, move, set_aware
from tests.incidents.builders import NOW, make_finding, store_findings
from tests.incidents.declaring import assess

POLICY = ClockPolicy()
RSSI = "rssi@avmup.com"


def _incident(session: Session, fid: str = "f1", actor: str = "u1") -> Incident:
    rows = store_findings(session, [make_finding(fid, actor_ids=(actor,))])
    [incident] = flows.record_findings(session=session, findings=rows, now=NOW)
    return incident


def test_full_lifecycle_is_audited_with_who_when_why(db_session: Session) -> None:
    inc = _incident(db_session)
    path = ["triage", "confirmed", "notified", "closed"]
    for i, status in enumerate(path):
        move(db_session, inc, status, f"step {i}", now=NOW + timedelta(hours=i))
    assert inc.status == IncidentStatus.CLOSED
    assert inc.closed_at == NOW + timedelta(hours=3)
    assert inc.resolution_reason == "step 3"
    moves = [
        (e.data["from"], e.data["to"], e.actor, e.data["reason"])
        for e in audit.entries_for(session=db_session, subject=inc.ref)
        if e.action == "incident.transition"
    ]
    assert moves == [
        ("detected", "triage", RSSI, "step 0"),
        ("triage", "confirmed", RSSI, "step 1"),
        ("confirmed", "notified", RSSI, "step 2"),
        ("notified", "closed", RSSI, "step 3"),
    ]


@pytest.mark.parametrize(
    ("start", "to"),
    [
        ([], "confirmed"),
        ([], "closed"),
        ([], "notified"),
        (["triage"], "detected"),
        (["triage", "confirmed", "notified"], "dismissed"),
        ([], "bogus"),
    ],
)
def test_illegal_transitions_raise(db_session: Session, start: list[str], to: str) -> None:
    inc = _incident(db_session)
    for status in start:
        move(db_session, inc, status)
    before = len(audit.entries_for(session=db_session, subject=inc.ref))
    with pytest.raises(InvalidTransition):
        move(db_session, inc, to, "r")
    assert len(audit.entries_for(session=db_session, subject=inc.ref)) == before


def test_dismissal_requires_a_reason(db_session: Session) -> None:
    inc = _incident(db_session)
    with pytest.raises(InvalidTransition, match="reason"):
        move(db_session, inc, "dismissed", "   ")
    assert inc.status == IncidentStatus.DETECTED
    move(db_session, inc, "dismissed", "penetration test agreed with the customer")
    assert inc.status == IncidentStatus.DISMISSED
    with pytest.raises(InvalidTransition):
        move(db_session, inc, "triage")


def test_manual_assessment_overrides_auto_and_keeps_history(db_session: Session) -> None:
    db_session.add(
        Customer(
            tenant_id="acme",
            name="AVM Informatique",
            contact_email="dpo@avmup.com",
            role="controller",
        )
    )
    inc = _incident(db_session)
    assert inc.current_assessment is not None
    assert inc.current_assessment.source == "auto"
    with pytest.raises(JustificationRequired):
        assess(db_session, inc, SeverityInputs(dpc=2, ei=1), "", now=NOW)
    row = assess(
        db_session,
        inc,
        SeverityInputs(dpc=3, ei=1, cb_confidentiality=0.5, malicious=True),
        "invoices were in the exported documents",
        now=NOW,
        art34_exemption="a_unintelligible",
        art34_justification="AES-256 at rest, key safe",
    )
    # ENISA 2013: 3 × 1 + 0.5 + 0.5 = 4 → very high; controller → CNIL; 34(3)(a) claimed.
    assert (row.score, row.band) == (4.0, "very_high")
    assert (row.notify_cnil, row.notify_subjects) == (True, False)
    assert (inc.severity_score, inc.severity_band) == (4.0, "very_high")
    assert [a.source for a in inc.assessments] == ["auto", "manual"]
    # New findings do not overwrite a person's assessment.
    rows = store_findings(
        db_session, [make_finding("f2", actor_ids=("u1",), categories=frozenset({"content"}))]
    )
    flows.record_findings(session=db_session, findings=rows, now=NOW)
    assert inc.current_assessment is row


def test_recommendation_override_needs_the_justification_and_is_flagged(
    db_session: Session,
) -> None:
    inc = _incident(db_session)
    row = assess(
        db_session,
        inc,
        SeverityInputs(dpc=1, ei=0.25),
        "DPO asks to notify the CNIL anyway",
        now=NOW,
        notify_cnil=True,
    )
    assert row.notify_cnil is True
    assert row.recommendation_overridden is True
    assert row.band == "low"


def test_comments_decisions_and_register_fields_are_audited(db_session: Session) -> None:
    inc = _incident(db_session)
    service.add_comment(
        session=db_session,
        incident=inc,
        author_email="dpo@avmup.com",
        text="Customer informed by phone",
        now=NOW,
    )
    with pytest.raises(JustificationRequired):
        decide(db_session, inc, "CNIL not notified", "")
    decide(db_session, inc, "CNIL not notified", "unlikely to result in a risk: no data read")
    service.update_register_fields(
        session=db_session,
        incident=inc,
        actor_email=RSSI,
        title="Credential stuffing on the web portal",
        measures="per-IP rate limit, CAPTCHA",
        now=NOW,
    )
    assert [d.kind for d in inc.decisions] == ["comment", "decision"]
    actions = [e.action for e in audit.entries_for(session=db_session, subject=inc.ref)]
    assert actions[-3:] == ["incident.comment", "incident.decision", "incident.register_fields"]
    assert inc.title_edited is True
    # A later finding keeps the edited title.
    rows = store_findings(db_session, [make_finding("f2", rule_id="AUTH-003", actor_ids=("u1",))])
    flows.record_findings(session=db_session, findings=rows, now=NOW)
    assert inc.title == "Credential stuffing on the web portal"
    assert inc.rule_ids == ["AUTH-001", "AUTH-003"]


def test_list_orders_by_nearest_open_deadline(db_session: Session) -> None:
    a = _incident(db_session, "f1", "u1")
    b = _incident(db_session, "f2", "u2")
    c = _incident(db_session, "f3", "u3")
    set_aware(db_session, b, NOW - timedelta(hours=5), "earlier report")
    move(db_session, c, "dismissed", "duplicate")
    refs = [i.ref for i in service.list_incidents(session=db_session, now=NOW, limit=10)]
    assert refs == [b.ref, a.ref, c.ref]
    open_only = service.list_incidents(session=db_session, status=["detected"], now=NOW)
    assert [i.ref for i in open_only] == [b.ref, a.ref]
    assert service.count_incidents(session=db_session, status="dismissed") == 1
    assert [
        i.ref for i in service.list_incidents(session=db_session, limit=1, offset=1, now=NOW)
    ] == [a.ref]
    assert [
        i.ref for i in service.list_incidents(session=db_session, limit=5, offset=1, now=NOW)
    ] == [a.ref, c.ref]
    assert [
        i.ref for i in service.list_incidents(session=db_session, limit=5, offset=2, now=NOW)
    ] == [c.ref]
    clocks.mark_clock_met(session=db_session, incident=b, clock="cnil", at=NOW)
    clocks.mark_clock_met(session=db_session, incident=b, clock="customer", at=NOW)
    # b has no open clock left: after a (which has), still before the closed c.
    assert [i.ref for i in service.list_incidents(session=db_session, now=NOW)] == [
        a.ref,
        b.ref,
        c.ref,
    ]
    assert service.get_by_ref(session=db_session, ref=a.ref.lower()) is a


def test_list_filters_by_band_tenant_and_text(db_session: Session) -> None:
    a = _incident(db_session, "f1", "u1")
    rows = store_findings(
        db_session,
        [make_finding("f2", rule_id="EXFIL-009", actor_ids=("u2",), tenants={"globex": (3, 0, 0)})],
    )
    [b] = flows.record_findings(session=db_session, findings=rows, now=NOW)
    assess(db_session, b, SeverityInputs(dpc=4, ei=1), "health data", now=NOW)
    assert b.severity_band == "very_high" and a.severity_band != "very_high"

    def refs(
        *, band: str | None = None, tenant_id: str | None = None, q: str | None = None
    ) -> list[str]:
        found = [
            i.ref
            for i in service.list_incidents(
                session=db_session, now=NOW, band=band, tenant_id=tenant_id, q=q
            )
        ]
        assert service.count_incidents(
            session=db_session, band=band, tenant_id=tenant_id, q=q
        ) == len(found)
        return found

    assert refs(band="very_high") == [b.ref]
    assert refs(tenant_id="globex") == [b.ref]
    assert refs(tenant_id="glob") == []  # exact tenant, not a prefix
    assert refs(q="exfil-0") == [b.ref]  # a rule id, any case
    assert refs(q="LOBE") == [b.ref]  # part of a tenant id
    assert refs(q=a.ref.lower()) == [a.ref]
    assert refs(q="%") == [] and refs(q="_") == []  # LIKE wildcards are plain text
    assert refs(q="' OR 1=1 --") == []
    assert sorted(refs(q="  ")) == sorted([a.ref, b.ref])  # blank: no text filter
    assert refs(band="very_high", tenant_id="acme") == []
    with pytest.raises(ValueError):
        service.list_incidents(session=db_session, band="huge")


def test_findings_and_evidence_of_an_incident(db_session: Session) -> None:
    first = make_finding("f1", actor_ids=("u1",)).model_copy(update={"evidence": ("e3", "e1")})
    later = make_finding("f2", actor_ids=("u1",), first_seen=NOW).model_copy(
        update={"evidence": ("e1", "e2", "gone")}
    )
    rows = store_findings(db_session, [later, first])
    [inc] = flows.record_findings(session=db_session, findings=rows, now=NOW)
    other = _incident(db_session, "f9", "u9")
    for n, eid in enumerate(("e1", "e2", "e3")):
        db_session.add(
            EvidenceEvent(
                event_id=eid,
                stream="auth",
                tenant_id="acme",
                occurred_at=NOW - timedelta(minutes=n),
                payload={"n": n},
            )
        )
    db_session.flush()
    assert [f.finding_id for f in service.findings_for(session=db_session, incident=inc)] == [
        "f1",
        "f2",
    ]
    assert [f.finding_id for f in service.findings_for(session=db_session, incident=other)] == [
        "f9"
    ]
    # Oldest by occurrence first; "gone" was purged; the limit keeps the first ids cited.
    got = service.evidence_for(session=db_session, incident=inc)
    assert [e.event_id for e in got] == ["e3", "e2", "e1"]
    assert [
        e.event_id for e in service.evidence_for(session=db_session, incident=inc, limit=2)
    ] == ["e3", "e1"]
    assert service.evidence_for(session=db_session, incident=other) == []


def _full_deadline_order(session: Session, incidents: list[Incident]) -> list[int]:
    """The queue order computed the slow way: every clock of every incident."""
    customers = clocks.load_customers(
        session=session, tenant_ids=(t for i in incidents for t in i.tenant_ids)
    )
    far = datetime.max.replace(tzinfo=UTC)
    opened, closed = [], []
    for inc in incidents:
        if inc.is_open:
            nxt = clocks.incident_clocks(
                incident=inc, customers=customers, policy=POLICY, now=NOW
            ).next_due
            opened.append((nxt or far, inc.id))
        else:
            closed.append(inc)
    closed.sort(key=lambda i: (i.detected_at, i.id), reverse=True)
    return [i for _, i in sorted(opened)] + [i.id for i in closed]


def test_deadline_queue_matches_the_full_computation(db_session: Session) -> None:
    """Varied data: equal and spread aware_at, customers with short, long, zero or no
    contractual delay, met, stopped and resumed clocks, open incidents without open clocks,
    closed ones; every page must be the one the full computation gives."""
    rng = random.Random(7)
    delays = {"c1": 1.0, "c2": 12.0, "c3": 48.0, "c4": 100.0, "c0": 0.0}  # c0: default
    db_session.add_all(
        Customer(tenant_id=t, name=t, contact_email=f"sec@{t}.test", notify_delay_hours=h)
        for t, h in delays.items()
    )
    tenant_pool = [*delays, "nocontract1", "nocontract2"]
    statuses = ["detected", "triage", "confirmed", "notified"] * 2 + ["closed", "dismissed"]
    made: list[Incident] = []
    for n in range(900):
        # Within 20 h, so that the contractual delays reorder them; some share aware_at.
        aware = NOW - timedelta(
            minutes=rng.choice([0, 30, 90]) if n % 5 == 0 else rng.randrange(0, 1200)
        )
        inc = Incident(
            ref=f"INC-2099-{n:04d}",
            year=2099,
            seq=n,
            title="q",
            status=rng.choice(statuses),
            first_seen=aware,
            last_seen=aware,
            detected_at=aware - timedelta(minutes=rng.randrange(0, 600)),
            aware_at=aware,
        )
        inc.tenants = [
            IncidentTenant(tenant_id=t, first_seen=aware, last_seen=aware)
            for t in rng.sample(tenant_pool, rng.randrange(0, 4))
        ]
        db_session.add(inc)
        made.append(inc)
    db_session.flush()
    for inc in made:
        for _ in range(rng.choice([0, 0, 0, 1, 2, 3])):
            clock = rng.choice(["cnil", "customer"])
            if clock == "customer" and not inc.tenant_ids:
                continue
            db_session.add(
                ClockFact(
                    incident_id=inc.id,
                    clock=clock,
                    tenant_id="" if clock == "cnil" else rng.choice(inc.tenant_ids),
                    kind=rng.choice(["met", "stopped", "stopped", "resumed"]),
                    at=NOW - timedelta(minutes=rng.randrange(0, 600)),
                    justification="why",
                    actor=RSSI,
                    recorded_at=NOW,
                )
            )
    # Some open incidents with every clock closed.
    for inc in made[::37]:
        for tenant in ["", *inc.tenant_ids]:
            db_session.add(
                ClockFact(
                    incident_id=inc.id,
                    clock="customer" if tenant else "cnil",
                    tenant_id=tenant,
                    kind="met",
                    at=NOW,
                    actor=RSSI,
                    recorded_at=NOW,
                )
            )
    db_session.flush()
    db_session.expire_all()
    every = list(
        db_session.scalars(
            select(Incident)
            .where(Incident.year == 2099)
            .options(selectinload(Incident.tenants), selectinload(Incident.clock_facts))
        )
    )
    expected = _full_deadline_order(db_session, every)
    assert len(expected) == 900

    def ids(**kwargs: Any) -> list[int]:
        return [i.id for i in service.list_incidents(session=db_session, now=NOW, **kwargs)]

    assert ids(limit=1000) == expected
    for limit, offset in [
        (1, 0),
        (50, 0),
        (50, 50),
        (20, 100),
        (7, 300),
        (100, 400),
        (50, 700),
        (50, 890),
        (10, 900),
        (0, 5),
    ]:
        assert ids(limit=limit, offset=offset) == expected[offset : offset + limit], (limit, offset)
    open_ids = [i.id for i in every if i.is_open]
    open_order = [i for i in expected if i in open_ids]
    open_statuses = ["detected", "triage", "confirmed", "notified"]
    assert ids(status=open_statuses, limit=30, offset=60) == open_order[60:90]
    with_c1 = {i.id for i in every if "c1" in i.tenant_ids}
    assert ids(tenant_id="c1", limit=1000) == [i for i in expected if i in with_c1]
    assert ids(tenant_id="c1", limit=20, offset=5) == [i for i in expected if i in with_c1][5:25]


def test_deadline_queue_reads_past_incidents_aware_earlier_but_due_later(
    db_session: Session,
) -> None:
    """The first 256 incidents by aware_at are due in 1.5 h; the next ones, aware minutes
    later, are due in 1 h: they come first, so the queue must not stop at the first read."""
    db_session.add_all(
        [
            Customer(tenant_id="slow", name="s", contact_email="s@s.test", notify_delay_hours=1.5),
            Customer(tenant_id="fast", name="f", contact_email="f@f.test", notify_delay_hours=1),
        ]
    )
    start = NOW - timedelta(hours=10)
    for n in range(356):
        early = n < 256
        aware = start + timedelta(seconds=n if early else 300 + n)
        inc = Incident(
            ref=f"INC-2098-{n:04d}",
            year=2098,
            seq=n,
            title="q",
            status="triage",
            first_seen=aware,
            last_seen=aware,
            detected_at=aware,
            aware_at=aware,
        )
        inc.tenants = [
            IncidentTenant(tenant_id="slow" if early else "fast", first_seen=aware, last_seen=aware)
        ]
        db_session.add(inc)
    db_session.flush()
    page = service.list_incidents(session=db_session, now=NOW, limit=50)
    assert [i.ref for i in page] == [f"INC-2098-{n:04d}" for n in range(256, 306)]
    page = service.list_incidents(session=db_session, now=NOW, limit=50, offset=90)
    assert [i.ref for i in page] == [f"INC-2098-{n:04d}" for n in (*range(346, 356), *range(0, 40))]
