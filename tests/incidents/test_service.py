"""Lifecycle, severity edits, comments and decisions through the service (both backends)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from incidents import audit, clocks, flows, service
from incidents.clocks import ClockPolicy
from incidents.enums import IncidentStatus
from incidents.exceptions import InvalidTransition, JustificationRequired
from incidents.models import Customer, Incident
from incidents.severity import SeverityInputs
from tests.incidents.builders import NOW, make_finding, store_findings

POLICY = ClockPolicy()
RSSI = "rssi@avmup.com"


def _incident(session: Session, fid: str = "f1", actor: str = "u1") -> Incident:
    rows = store_findings(session, [make_finding(fid, actor_ids=(actor,))])
    [incident] = flows.record_findings(session=session, findings=rows, now=NOW, policy=POLICY)
    return incident


def test_full_lifecycle_is_audited_with_who_when_why(db_session: Session) -> None:
    inc = _incident(db_session)
    path = ["triage", "confirmed", "notified", "closed"]
    for i, status in enumerate(path):
        service.transition(session=db_session, incident=inc, to=status, actor_email=RSSI,
                           reason=f"step {i}", now=NOW + timedelta(hours=i))
    assert inc.status == IncidentStatus.CLOSED
    assert inc.closed_at == NOW + timedelta(hours=3)
    assert inc.resolution_reason == "step 3"
    moves = [(e.data["from"], e.data["to"], e.actor, e.data["reason"])
             for e in audit.entries_for(session=db_session, subject=inc.ref)
             if e.action == "incident.transition"]
    assert moves == [("detected", "triage", RSSI, "step 0"),
                     ("triage", "confirmed", RSSI, "step 1"),
                     ("confirmed", "notified", RSSI, "step 2"),
                     ("notified", "closed", RSSI, "step 3")]


@pytest.mark.parametrize(("start", "to"), [
    ([], "confirmed"), ([], "closed"), ([], "notified"), (["triage"], "detected"),
    (["triage", "confirmed", "notified"], "dismissed"), ([], "bogus"),
])
def test_illegal_transitions_raise(db_session: Session, start: list[str], to: str) -> None:
    inc = _incident(db_session)
    for status in start:
        service.transition(session=db_session, incident=inc, to=status, actor_email=RSSI,
                           now=NOW)
    before = len(audit.entries_for(session=db_session, subject=inc.ref))
    with pytest.raises(InvalidTransition):
        service.transition(session=db_session, incident=inc, to=to, actor_email=RSSI,
                           reason="r", now=NOW)
    assert len(audit.entries_for(session=db_session, subject=inc.ref)) == before


def test_dismissal_requires_a_reason(db_session: Session) -> None:
    inc = _incident(db_session)
    with pytest.raises(InvalidTransition, match="reason"):
        service.transition(session=db_session, incident=inc, to="dismissed", actor_email=RSSI,
                           reason="   ", now=NOW)
    assert inc.status == IncidentStatus.DETECTED
    service.transition(session=db_session, incident=inc, to="dismissed", actor_email=RSSI,
                       reason="penetration test agreed with the customer", now=NOW)
    assert inc.status == IncidentStatus.DISMISSED
    with pytest.raises(InvalidTransition):
        service.transition(session=db_session, incident=inc, to="triage", actor_email=RSSI,
                           now=NOW)


def test_manual_assessment_overrides_auto_and_keeps_history(db_session: Session) -> None:
    db_session.add(Customer(tenant_id="acme", name="AVM Informatique",
                            contact_email="dpo@avmup.com", role="controller"))
    inc = _incident(db_session)
    assert inc.current_assessment is not None
    assert inc.current_assessment.source == "auto"
    with pytest.raises(JustificationRequired):
        service.assess_severity(session=db_session, incident=inc,
                                inputs=SeverityInputs(dpc=2, ei=1), justification="",
                                actor_email=RSSI, now=NOW)
    row = service.assess_severity(
        session=db_session, incident=inc,
        inputs=SeverityInputs(dpc=3, ei=1, cb_confidentiality=0.5, malicious=True),
        justification="invoices were in the exported documents", actor_email=RSSI, now=NOW,
        art34_exemption="a_unintelligible", art34_justification="AES-256 at rest, key safe",
    )
    # ENISA 2013: 3 × 1 + 0.5 + 0.5 = 4 → very high; controller → CNIL; 34(3)(a) claimed.
    assert (row.score, row.band) == (4.0, "very_high")
    assert (row.notify_cnil, row.notify_subjects) == (True, False)
    assert (inc.severity_score, inc.severity_band) == (4.0, "very_high")
    assert [a.source for a in inc.assessments] == ["auto", "manual"]
    # New findings do not overwrite a person's assessment.
    rows = store_findings(db_session, [make_finding("f2", actor_ids=("u1",),
                                                    categories=frozenset({"content"}))])
    flows.record_findings(session=db_session, findings=rows, now=NOW, policy=POLICY)
    assert inc.current_assessment is row


def test_recommendation_override_needs_the_justification_and_is_flagged(
    db_session: Session,
) -> None:
    inc = _incident(db_session)
    row = service.assess_severity(session=db_session, incident=inc,
                                  inputs=SeverityInputs(dpc=1, ei=0.25),
                                  justification="DPO asks to notify the CNIL anyway",
                                  actor_email=RSSI, now=NOW, notify_cnil=True)
    assert row.notify_cnil is True
    assert row.recommendation_overridden is True
    assert row.band == "low"


def test_comments_decisions_and_register_fields_are_audited(db_session: Session) -> None:
    inc = _incident(db_session)
    service.add_comment(session=db_session, incident=inc, author_email="dpo@avmup.com",
                        text="Customer informed by phone", now=NOW)
    with pytest.raises(JustificationRequired):
        service.record_decision(session=db_session, incident=inc, actor_email=RSSI,
                                decision="CNIL not notified", justification="", now=NOW)
    service.record_decision(session=db_session, incident=inc, actor_email=RSSI,
                            decision="CNIL not notified",
                            justification="unlikely to result in a risk: no data read",
                            now=NOW)
    service.update_register_fields(session=db_session, incident=inc, actor_email=RSSI,
                                   title="Credential stuffing on the web portal",
                                   measures="per-IP rate limit, CAPTCHA", now=NOW)
    assert [d.kind for d in inc.decisions] == ["comment", "decision"]
    actions = [e.action for e in audit.entries_for(session=db_session, subject=inc.ref)]
    assert actions[-3:] == ["incident.comment", "incident.decision",
                            "incident.register_fields"]
    assert inc.title_edited is True
    # A later finding keeps the edited title.
    rows = store_findings(db_session, [make_finding("f2", rule_id="AUTH-003",
                                                    actor_ids=("u1",))])
    flows.record_findings(session=db_session, findings=rows, now=NOW, policy=POLICY)
    assert inc.title == "Credential stuffing on the web portal"
    assert inc.rule_ids == ["AUTH-001", "AUTH-003"]


def test_list_orders_by_nearest_open_deadline(db_session: Session) -> None:
    a = _incident(db_session, "f1", "u1")
    b = _incident(db_session, "f2", "u2")
    c = _incident(db_session, "f3", "u3")
    service.set_aware_at(session=db_session, incident=b, aware_at=NOW - timedelta(hours=5),
                         justification="earlier report", actor_email=RSSI, now=NOW)
    service.transition(session=db_session, incident=c, to="dismissed", actor_email=RSSI,
                       reason="duplicate", now=NOW)
    refs = [i.ref for i in service.list_incidents(session=db_session, now=NOW, limit=10)]
    assert refs == [b.ref, a.ref, c.ref]
    open_only = service.list_incidents(session=db_session, status=["detected"], now=NOW)
    assert [i.ref for i in open_only] == [b.ref, a.ref]
    assert service.count_incidents(session=db_session, status="dismissed") == 1
    assert [i.ref for i in service.list_incidents(session=db_session, limit=1, offset=1,
                                                  now=NOW)] == [a.ref]
    assert [i.ref for i in service.list_incidents(session=db_session, limit=5, offset=1,
                                                  now=NOW)] == [a.ref, c.ref]
    assert [i.ref for i in service.list_incidents(session=db_session, limit=5, offset=2,
                                                  now=NOW)] == [c.ref]
    clocks.mark_clock_met(session=db_session, incident=b, clock="cnil", at=NOW)
    clocks.mark_clock_met(session=db_session, incident=b, clock="customer", at=NOW)
    # b has no open clock left: after a (which has), still before the closed c.
    assert [i.ref for i in service.list_incidents(session=db_session, now=NOW)] == [
        a.ref, b.ref, c.ref]
    assert service.get_by_ref(session=db_session, ref=a.ref.lower()) is a
