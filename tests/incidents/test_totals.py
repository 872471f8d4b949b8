"""Incident totals kept per finding version (`incidents.totals`, `incidents.flows`): always
equal to a recompute from the current findings, and correlation costs the same number of
statements whatever the size of the incident."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import event, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from detectors.finding import Nature, Severity
from incidents import flows, notice_fields, totals
from incidents.findings_store import FindingRow, stored_count
from incidents.models import Incident, IncidentFinding, IncidentTotal
from tests.incidents.builders import NOW, T0, make_finding, row_values, store_findings

RULES = ("AUTH-001", "AUTH-003", "ACC-003")
TENANTS = ("acme", "globex", "initech")
NATURES = (Nature.CONFIDENTIALITY, Nature.INTEGRITY, Nature.AVAILABILITY, Nature.ATTEMPT)
CATEGORIES = ("identification", "content", "security")
SEVERITIES = tuple(Severity)


def _version(rng: random.Random, fid: str, **extra: Any) -> Any:
    """A random version of finding `fid` (tenants, counts, window, rule, nature...)."""
    chosen = rng.sample(TENANTS, rng.randint(1, len(TENANTS)))
    start = T0 + timedelta(minutes=rng.randint(-120, 120))
    return make_finding(
        fid,
        rule_id=rng.choice(RULES),
        tenants={
            t: (rng.randint(0, 50), rng.randint(0, 9), rng.randint(0, 9)) for t in sorted(chosen)
        },
        first_seen=start,
        last_seen=start + timedelta(minutes=rng.randint(0, 90)),
        categories=frozenset(rng.sample(CATEGORIES, rng.randint(0, 2))),
        nature=frozenset(rng.sample(NATURES, rng.randint(1, 2))),
        severity=rng.choice(SEVERITIES),
        **extra,
    )


def _row(finding: Any) -> FindingRow:
    return FindingRow(**row_values(finding))


# --- pure: incremental totals equal a recompute ---------------------------------------------


def _fix(tots: totals.Totals, parts: dict[str, dict[str, totals.Part]]) -> None:
    """What the flows do for a bound given up: read it back from the counted versions."""
    for name, total in tots.items():
        if total.exact:
            continue
        mine = [p[name] for p in parts.values() if name in p]
        total.first_seen = min(p.first_seen for p in mine)
        total.last_seen = max(p.last_seen for p in mine)
        total.first_exact = total.last_exact = True


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    emissions=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 1)), min_size=1, max_size=25),
)
def test_incremental_totals_equal_a_recompute(seed: int, emissions: list[tuple[int, int]]) -> None:
    rng = random.Random(seed)
    current: dict[str, FindingRow] = {}  # finding id -> latest version
    counted: list[dict[str, dict[str, totals.Part]]] = [{}, {}]  # per incident
    tots: list[totals.Totals] = [{}, {}]
    home: dict[str, int] = {}
    for n, side in emissions:
        fid = f"f{n}"
        row = _row(_version(rng, fid))
        side = home.setdefault(fid, side)  # a finding stays in its incident
        parts = totals.parts_of(row)
        totals.replace(tots[side], counted[side].get(fid, {}), parts)
        counted[side][fid] = parts
        current[fid] = row
        _fix(tots[side], counted[side])
        mine = [r for f, r in current.items() if home[f] == side]
        assert tots[side] == totals.recompute(mine)
    # A merge adds the totals of the absorbed incident.
    for name, total in tots[1].items():
        tots[0].setdefault(name, totals.Total()).absorb(total)
    assert tots[0] == totals.recompute(current.values())


def test_a_window_given_up_is_marked_unknown() -> None:
    early = _row(make_finding("a", first_seen=T0))
    late = _row(make_finding("b", first_seen=T0 + timedelta(hours=1)))
    tots = totals.recompute([early, late])
    moved = _row(make_finding("a", first_seen=T0 + timedelta(hours=2)))
    totals.replace(tots, totals.parts_of(early), totals.parts_of(moved))
    assert not tots[totals.WHOLE].first_exact
    assert tots[totals.WHOLE].last_exact


# --- through the flows, on SQLite and PostgreSQL --------------------------------------------


def _stored_totals(session: Session, incident_id: int) -> totals.Totals:
    return flows._load_totals(session, {incident_id}).get(incident_id, {})


def _linked_rows(session: Session, incident_id: int) -> list[FindingRow]:
    return list(
        session.scalars(
            select(FindingRow)
            .join(IncidentFinding, IncidentFinding.finding_id == FindingRow.finding_id)
            .where(IncidentFinding.incident_id == incident_id)
        )
    )


def _expected(rows: list[FindingRow]) -> dict[str, Any]:
    """The incident's summary as a full recompute from its findings gives it."""
    tenants: dict[str, list[Any]] = {}
    for row in rows:
        for t in row.tenant_ids:
            impact = row.tenants.get(t) or {}
            acc = tenants.setdefault(t, [0, 0, 0, row.first_seen, row.last_seen])
            acc[0] += int(impact.get("events", 0))
            acc[1] += int(impact.get("records", 0))
            acc[2] += int(impact.get("subjects", 0))
            acc[3], acc[4] = min(acc[3], row.first_seen), max(acc[4], row.last_seen)
    rank = {s.value: i for i, s in enumerate(Severity)}
    return {
        "tenants": {
            t: (stored_count(a[0]), stored_count(a[1]), stored_count(a[2]), a[3], a[4])
            for t, a in tenants.items()
        },
        "rule_ids": sorted({r.rule_id for r in rows}),
        "nature": notice_fields.nature_of(r.nature for r in rows),
        "data_categories": sorted({c for r in rows for c in r.data_categories}),
        "finding_severity": max((r.severity for r in rows), key=lambda s: rank[s]),
        "first_seen": min(r.first_seen for r in rows),
        "last_seen": max(r.last_seen for r in rows),
    }


def _actual(incident: Incident, tenant_ids: set[str]) -> dict[str, Any]:
    return {
        "tenants": {
            t.tenant_id: (t.events, t.records, t.persons, t.first_seen, t.last_seen)
            for t in incident.tenants
            if t.tenant_id in tenant_ids
        },
        "rule_ids": incident.rule_ids,
        "nature": incident.nature,
        "data_categories": incident.data_categories,
        "finding_severity": incident.finding_severity,
        "first_seen": incident.first_seen,
        "last_seen": incident.last_seen,
    }


@pytest.mark.parametrize("seed", range(6))
def test_totals_after_inserts_and_re_emissions_equal_a_recompute(
    db_session: Session, seed: int
) -> None:
    rng = random.Random(seed)
    actor = f"attacker-{seed}"  # one identity: every version joins one incident
    incident_id = None
    for _ in range(14):
        batch = [
            _version(rng, f"t{seed}-f{rng.randint(0, 6)}", actor_ids=(actor,))
            for _ in range(rng.randint(1, 3))
        ]
        [incident] = flows.record_findings(
            session=db_session, findings=store_findings(db_session, batch), now=NOW
        )
        incident_id = incident_id or incident.id
        assert incident.id == incident_id
        rows = _linked_rows(db_session, incident_id)
        assert _stored_totals(db_session, incident_id) == totals.recompute(rows)
        expected = _expected(rows)
        assert _actual(incident, set(expected["tenants"])) == expected


def test_a_link_made_by_hand_makes_the_totals_recomputed(db_session: Session) -> None:
    [inc] = flows.record_findings(
        session=db_session,
        findings=store_findings(db_session, [make_finding("h1", actor_ids=("u9",))]),
        now=NOW,
    )
    assert _stored_totals(db_session, inc.id)
    [other] = store_findings(db_session, [make_finding("h2", tenants={"globex": (7, 1, 1)})])
    db_session.add(IncidentFinding(incident_id=inc.id, finding_id="h2"))
    db_session.flush()
    assert _stored_totals(db_session, inc.id) == {}  # dropped: not counted
    again = make_finding("h1", actor_ids=("u9",), tenants={"acme": (12, 0, 0)})
    [same] = flows.record_findings(
        session=db_session, findings=store_findings(db_session, [again]), now=NOW
    )
    rows = _linked_rows(db_session, inc.id)
    assert {r.finding_id for r in rows} == {"h1", "h2"}
    assert _stored_totals(db_session, inc.id) == totals.recompute(rows)
    assert {t.tenant_id: t.events for t in same.tenants} == {"acme": 12, "globex": 7}
    assert other.finding_id == "h2"


def test_a_merge_adds_the_totals_of_the_absorbed_incident(db_session: Session) -> None:
    first = [make_finding("m1", actor_ids=("u1",), tenants={"acme": (5, 1, 1)})]
    second = [make_finding("m2", actor_ids=("u2",), tenants={"globex": (8, 2, 2)})]
    [a] = flows.record_findings(
        session=db_session, findings=store_findings(db_session, first), now=NOW
    )
    [b] = flows.record_findings(
        session=db_session, findings=store_findings(db_session, second), now=NOW
    )
    assert a.id != b.id
    bridge = make_finding(
        "m3", actor_ids=("u1", "u2"), tenants={"acme": (1, 0, 0), "globex": (2, 0, 0)}
    )
    [kept] = flows.record_findings(
        session=db_session, findings=store_findings(db_session, [bridge]), now=NOW
    )
    assert kept.id == a.id
    assert b.status == "dismissed"
    rows = _linked_rows(db_session, kept.id)
    assert {r.finding_id for r in rows} == {"m1", "m2", "m3"}
    assert _stored_totals(db_session, kept.id) == totals.recompute(rows)
    assert _stored_totals(db_session, b.id) == {}
    assert {t.tenant_id: t.events for t in kept.tenants} == {"acme": 6, "globex": 10}


# --- statements per finding do not grow with the incident -----------------------------------


@pytest.fixture
def statements(db_engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(db_engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(db_engine, "before_cursor_execute", count)


def _attack(n: int) -> Any:
    """One finding of a long attack: one shared IP, a new account each time."""
    return make_finding(
        f"big-{n:05d}",
        actor_ids=(f"account-{n}",),
        source_ips=("203.0.113.50",),
        first_seen=T0 + timedelta(seconds=n),
    )


def _add_bulk(session: Session, first: int, last: int) -> None:
    findings = [_attack(n) for n in range(first, last)]
    session.add_all([FindingRow(**row_values(f)) for f in findings])
    session.flush()
    rows = list(
        session.scalars(
            select(FindingRow).where(FindingRow.finding_id.in_([f.finding_id for f in findings]))
        )
    )
    flows.record_findings(session=session, findings=rows, now=NOW)


def _measure(session: Session, statements: list[str], n: int) -> list[str]:
    """The statements correlation issues for one new finding, from a fresh session state
    (as each pipeline transaction has)."""
    store_findings(session, [_attack(n)])
    session.expunge_all()
    rows = [session.get_one(FindingRow, _attack(n).finding_id)]
    statements.clear()
    flows.record_findings(session=session, findings=rows, now=NOW)
    return list(statements)


def test_a_new_finding_costs_the_same_statements_in_a_large_incident(
    db_session: Session, statements: list[str]
) -> None:
    for n in range(1, 6):
        _measure(db_session, statements, n)
    small = _measure(db_session, statements, 6)
    for first in range(7, 5001, 1000):
        _add_bulk(db_session, first, min(first + 1000, 5001))
    large = _measure(db_session, statements, 5001)
    [incident_id] = set(
        db_session.scalars(
            select(IncidentFinding.incident_id).where(IncidentFinding.finding_id.like("big-%"))
        )
    )
    assert len(_linked_rows(db_session, incident_id)) == 5001
    assert len(large) <= len(small), (small, large)
    assert not [s for s in large if "JOIN findings" in s]  # the findings are never reloaded
    whole = _stored_totals(db_session, incident_id)[totals.WHOLE]
    assert whole.findings == 5001
    assert (
        db_session.scalar(
            select(IncidentTotal.findings).where(
                IncidentTotal.incident_id == incident_id, IncidentTotal.part == "acme"
            )
        )
        == 5001
    )
