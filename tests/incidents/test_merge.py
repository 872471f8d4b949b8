"""A finding bridging several open incidents makes them one (docs/architecture.md §6): incidents do
not depend on the order in which findings arrive; what a person has acted on is kept."""

from __future__ import annotations

import itertools
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from detectors.finding import Finding
from incidents import audit, flows, service
from incidents.clocks import ClockPolicy
from incidents.enums import IncidentStatus
from incidents.models import AuditEntry, CorrelationKey, Incident, IncidentFinding
from tests.incidents.acting import move
from tests.incidents.builders import NOW, T0, make_finding
from tests.incidents.conftest import StoreFindings

POLICY = ClockPolicy()


def _three() -> list[Finding]:
    """`u1` at acme, an IP, and a finding naming both (password spraying that also hit u1)."""
    return [
        make_finding("fa", rule_id="ACC-006", actor_ids=("u1",), source_ips=("198.51.100.1",)),
        make_finding(
            "fb",
            rule_id="AUTH-006",
            actor_ids=("u9",),
            source_ips=("203.0.113.7",),
            tenants={"globex": (3, 0, 1)},
            first_seen=T0 + timedelta(minutes=20),
        ),
        make_finding(
            "fc",
            rule_id="AUTH-002",
            actor_ids=("u1", "u9"),
            source_ips=("203.0.113.7",),
            tenants={"acme": (4, 0, 1)},
            first_seen=T0 + timedelta(minutes=40),
        ),
    ]


def _groups(session: Session) -> tuple[set[frozenset[str]], dict[str, str]]:
    """Findings grouped by the incident that holds them; status of each dismissed one."""
    groups: dict[int, set[str]] = {}
    for incident_id, fid in session.execute(
        select(IncidentFinding.incident_id, IncidentFinding.finding_id)
    ):
        groups.setdefault(incident_id, set()).add(fid)
    dismissed = {
        i.ref: i.resolution_reason or ""
        for i in session.scalars(
            select(Incident).where(Incident.status == IncidentStatus.DISMISSED.value)
        )
    }
    return {frozenset(g) for g in groups.values()}, dismissed


def _one_batch_each(session: Session, store: StoreFindings, *findings: Finding) -> None:
    """Store and record `findings` in order, one batch each."""
    for finding in findings:
        flows.record_findings(session=session, findings=store([finding]), now=NOW)


def test_a_bridging_finding_merges_untouched_incidents(
    db_session: Session, store: StoreFindings
) -> None:
    fa, fb, fc = _three()
    merged: list[tuple[str, str]] = []
    for finding in (fa, fb, fc):  # one batch each
        flows.record_findings(
            session=db_session,
            findings=store([finding]),
            now=NOW,
            on_merge=lambda _s, gone, keep: merged.append((gone.ref, keep.ref)),
        )
    groups, dismissed = _groups(db_session)
    assert groups == {frozenset({"fa", "fb", "fc"})}
    assert merged == [("INC-2026-0002", "INC-2026-0001")]
    assert dismissed == {"INC-2026-0002": "merged into INC-2026-0001"}
    kept = service.require_by_ref(session=db_session, ref="INC-2026-0001")
    assert kept.rule_ids == ["ACC-006", "AUTH-002", "AUTH-006"]
    assert sorted(kept.tenant_ids) == ["acme", "globex"]
    # the identities moved with the findings: a later finding on u9 joins the kept incident
    keys = db_session.scalars(select(CorrelationKey.incident_id)).all()
    assert set(keys) == {kept.id}
    later = make_finding(
        "fd", actor_ids=("u9",), tenants={"globex": (1, 0, 1)}, first_seen=T0 + timedelta(hours=3)
    )
    got = flows.record_findings(session=db_session, findings=store([later]), now=NOW)
    assert [i.ref for i in got] == ["INC-2026-0001"]
    actions = [e.action for e in db_session.scalars(select(AuditEntry).order_by(AuditEntry.seq))]
    assert actions.count("incident.merged") == 1
    assert audit.verify(session=db_session).ok


def test_the_grouping_does_not_depend_on_the_arrival_order(
    db_session: Session, store: StoreFindings
) -> None:
    results = set()
    for order in itertools.permutations(_three()):
        nested = db_session.begin_nested()
        _one_batch_each(db_session, store, *order)
        groups, _ = _groups(db_session)
        results.add(frozenset(groups))
        nested.rollback()
    assert results == {frozenset({frozenset({"fa", "fb", "fc"})})}


def test_one_batch_bridging_two_new_incidents_opens_one(
    db_session: Session, store: StoreFindings
) -> None:
    got = flows.record_findings(session=db_session, findings=store(_three()), now=NOW)
    assert {i.ref for i in got} == {"INC-2026-0001"}
    assert db_session.scalar(select(func.count()).select_from(Incident)) == 1


def test_an_incident_a_person_acted_on_keeps_its_identity(
    db_session: Session, store: StoreFindings
) -> None:
    fa, fb, fc = _three()
    _one_batch_each(db_session, store, fa, fb)
    younger = service.require_by_ref(session=db_session, ref="INC-2026-0002")
    move(db_session, younger, IncidentStatus.TRIAGE, by="analyst@avmup.com")
    _one_batch_each(db_session, store, fc)
    groups, dismissed = _groups(db_session)
    assert groups == {frozenset({"fa", "fb", "fc"})}
    assert dismissed == {"INC-2026-0001": "merged into INC-2026-0002"}
    assert younger.status == IncidentStatus.TRIAGE


def test_two_incidents_people_acted_on_are_never_merged(
    db_session: Session, store: StoreFindings
) -> None:
    fa, fb, fc = _three()
    _one_batch_each(db_session, store, fa, fb)
    # the second is protected by the guard (e.g. an approved notice), the first by a person
    first = service.require_by_ref(session=db_session, ref="INC-2026-0001")
    service.add_comment(
        session=db_session,
        incident=first,
        author_email="dpo@avmup.com",
        text="looked at it",
        now=NOW,
    )
    second = service.require_by_ref(session=db_session, ref="INC-2026-0002")
    flows.record_findings(
        session=db_session,
        findings=store([fc]),
        now=NOW,
        merge_guard=lambda _s, ids: {second.id} & set(ids),
    )
    groups, dismissed = _groups(db_session)
    assert groups == {frozenset({"fa", "fc"}), frozenset({"fb"})}
    assert dismissed == {}
