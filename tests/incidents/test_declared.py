"""Declared breaches on SQLite and PostgreSQL: validation naming the field, clocks and
assessment like a detected incident, the RSSI's decision against the advice (audited),
findings attached later, merges with a detected incident."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from incidents import audit, clocks, declared, flows, register
from incidents.clocks import ClockPolicy
from incidents.declared import Declaration
from incidents.exceptions import InvalidDeclaration, InvalidSeverityInput
from incidents.findings_store import FindingRow
from incidents.models import Customer, IncidentFinding
from incidents.severity import SeverityInputs
from tests.incidents.builders import NOW, T0, make_finding, store_findings
from tests.incidents.declaring import ACME_REPORT, STAFF_LEAK, assess, declare

POLICY = ClockPolicy()
RSSI = "rssi@avmup.com"
FAX = Declaration(
    source="customer_report",
    nature=["confidentiality"],
    tenant_ids=["acme"],
    data_categories=["content", "identification"],
    services=["faxbis"],
    persons=3,
    records=12,
    occurred_from=NOW - timedelta(days=1),
    occurred_to=NOW - timedelta(days=1, minutes=-5),
    title="Fax sent to a wrong number",
    summary="A medical fax was sent to a wrong number by the customer's user.",
)


@pytest.fixture
def customers(db_session: Session) -> None:
    db_session.add_all(
        [
            Customer(
                tenant_id="acme",
                name="Acme",
                contact_email="dpo@acme.test",
                notify_delay_hours=12.0,
            ),
            Customer(
                tenant_id="avm-staff",
                name="AVM Up staff",
                contact_email="rh@avmup.test",
                role="controller",
            ),
        ]
    )
    db_session.flush()


def _acme_finding(
    session: Session, fid: str, rule_id: str, ip: str, impact: tuple[int, int, int], at: datetime
) -> list[FindingRow]:
    """Store finding `fid` of `rule_id` from `ip` on acme; impact: events, records, subjects."""
    finding = make_finding(
        fid, rule_id=rule_id, source_ips=(ip,), tenants={"acme": impact}, first_seen=at
    )
    return store_findings(session, [finding])


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"tenant_ids": ["nobody"]}, "tenant_ids"),
        ({"nature": []}, "nature"),
        ({"nature": ["exfiltration"]}, "nature"),
        ({"source": "rumour"}, "source"),
        ({"aware_at": NOW + timedelta(hours=1), "aware_justification": "x"}, "aware_at"),
        ({"aware_at": NOW - timedelta(hours=1)}, "aware_justification"),
        ({"occurred_to": NOW - timedelta(days=3)}, "occurred_to"),
        ({"data_categories": ["health"]}, "data_categories"),
        ({"persons": -1}, "persons"),
    ],
)
def test_bad_declarations_name_the_field(
    db_session: Session, customers: None, changes: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidDeclaration) as caught:
        declare(db_session, FAX, now=NOW, **changes)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")


def test_a_declared_breach_has_clocks_assessment_register_and_audit(
    db_session: Session,
    customers: None,
) -> None:
    inc = declare(db_session, FAX, now=NOW)
    assert inc.ref.startswith(f"INC-{NOW.year}-")
    assert (inc.source, inc.status, inc.aware_at, inc.aware_set_by) == (
        "customer_report",
        "triage",
        NOW,
        RSSI,
    )
    assert inc.tenant_ids == ["acme"]
    assert (inc.tenants[0].persons, inc.tenants[0].records) == (3, 12)
    cl = clocks.clocks_for(session=db_session, incident=inc, policy=POLICY, now=NOW)
    assert [c.due_at for c in cl.customers] == [NOW + timedelta(hours=12)]
    assert cl.cnil.informative  # acme: AVM Up is processor, the 72 h are acme's
    assessment = inc.current_assessment
    assert assessment is not None and assessment.source == "manual"
    assert (assessment.dpc, assessment.ei) == (2.0, 1.0)  # content; identification
    assert (assessment.notify_customer, assessment.notify_cnil) == (True, False)
    actions = [e.action for e in audit.entries_for(session=db_session, subject=inc.ref)]
    assert actions[:2] == ["incident.declared", "severity.assessed"]
    [row] = register.build_rows(session=db_session, policy=POLICY, now=NOW)
    assert (row.ref, row.source, row.role) == (inc.ref, "customer_report", "processor")
    assert (row.persons_approx, row.records_approx) == (3, 12)
    assert inc.declared and row.declared == "yes"
    assert audit.verify(session=db_session).ok


def test_a_breach_found_by_avm_ups_own_means_is_declared_with_source_detected(
    db_session: Session,
    customers: None,
) -> None:
    summary = "The antivirus quarantined altered fax archives."
    inc = declare(
        db_session, ACME_REPORT, now=NOW, source="detected", nature=["integrity"], summary=summary
    )
    assert (inc.source, inc.declared) == ("detected", True)
    assert inc.title == "The antivirus quarantined altered fax archives."
    assert not flows.untouched(inc)  # never merged away by correlation


def test_no_tenant_is_avm_ups_own_processing(db_session: Session, customers: None) -> None:
    inc = declare(db_session, STAFF_LEAK, now=NOW, persons=40, confirmed=True)
    assert inc.tenant_ids == [] and inc.status == "confirmed"
    cl = clocks.clocks_for(session=db_session, incident=inc, policy=POLICY, now=NOW)
    assert cl.cnil_own and cl.next_due == NOW + timedelta(hours=72)
    fired = clocks.tick(session=db_session, now=NOW + timedelta(hours=25), policy=POLICY)
    assert [(e.clock, e.threshold_hours) for e in fired] == [("cnil", 48.0)]
    [row] = register.build_rows(session=db_session, policy=POLICY, now=NOW)
    assert (row.role, row.persons_approx) == ("controller", 40)


def test_the_rssi_decides_against_the_advice_with_a_justification(
    db_session: Session,
    customers: None,
) -> None:
    inc = declare(db_session, STAFF_LEAK, now=NOW, tenant_ids=["avm-staff"], persons=800)
    inputs = SeverityInputs(dpc=1.0, ei=1.0, cb_confidentiality=0.25, persons=800)
    justification = "the list reached a competitor's sales team"
    row = assess(db_session, inc, inputs, justification, now=NOW, notify_cnil=True)
    assert row.band == "low" and row.notify_cnil is True
    assert row.recommendation_overridden
    assert row.rationale["advice"]["cnil"] is False  # the advice is kept beside the decision
    factors = {"data", "identifiability", "circumstances", "intent", "exemptions", "role"}
    assert set(row.rationale["factors"]) >= factors
    assert any(
        "against the advice" in r and "competitor" in r for r in row.rationale["recommendation"]
    )
    entry = audit.entries_for(session=db_session, subject=inc.ref)[-1]
    assert entry.action == "severity.assessed" and entry.actor == RSSI
    assert entry.data["advice"]["cnil"] is False and entry.data["notify"]["cnil"] is True
    [reg] = register.build_rows(session=db_session, policy=POLICY, now=NOW)
    assert reg.recommendation == "cnil"
    assert reg.advice.startswith("register only")
    assert reg.decided_by.startswith(f"{RSSI} (") and "against the advice" in reg.decided_by
    assert reg.decision_justification == "the list reached a competitor's sales team"


def test_telling_the_persons_while_claiming_an_exemption_is_refused(
    db_session: Session,
    customers: None,
) -> None:
    inc = declare(db_session, now=NOW, source="staff_report", nature=["confidentiality"], persons=5)
    inputs = SeverityInputs(dpc=3.0, ei=1.0, cb_confidentiality=0.5, persons=5)
    with pytest.raises(InvalidSeverityInput, match="notify_subjects"):
        assess(
            db_session,
            inc,
            inputs,
            "x",
            now=NOW,
            art34_exemption="b_measures_taken",
            art34_justification="accounts closed",
            notify_subjects=True,
        )


def test_findings_attach_later_and_declared_facts_survive_detection(
    db_session: Session,
    customers: None,
) -> None:
    inc = declare(db_session, FAX, now=NOW)
    _acme_finding(db_session, "f-later", "ACC-002", "198.51.100.9", (4, 30, 2), T0)
    linked = declared.attach_findings(
        session=db_session, incident=inc, finding_ids=["f-later"], actor_email=RSSI, now=NOW
    )
    assert linked == ["f-later"]
    assert inc.rule_ids == ["ACC-002"]
    assert set(inc.nature) == {"confidentiality"}
    assert (inc.tenants[0].persons, inc.tenants[0].records) == (3, 30)  # the larger
    # A later finding of the same source IP joins the declared incident by correlation and
    # never erases what was declared.
    later = T0 + timedelta(minutes=30)
    more = _acme_finding(db_session, "f-next", "ACC-002", "198.51.100.9", (1, 1, 1), later)
    [joined] = flows.record_findings(session=db_session, findings=more, now=NOW)
    assert joined.id == inc.id
    assert set(inc.data_categories) >= {"content", "identification"}
    assert inc.tenants[0].persons >= 3
    with pytest.raises(InvalidDeclaration, match="unknown finding"):
        declared.attach_findings(
            session=db_session, incident=inc, finding_ids=["nope"], actor_email=RSSI, now=NOW
        )
    actions = [e.action for e in audit.entries_for(session=db_session, subject=inc.ref)]
    assert "incident.findings_linked" in actions


def test_a_declared_incident_absorbs_a_detected_one(db_session: Session, customers: None) -> None:
    rows = _acme_finding(db_session, "f-det", "AUTH-002", "203.0.113.50", (9, 0, 0), T0)
    [detected] = flows.record_findings(
        session=db_session, findings=rows, now=NOW - timedelta(hours=2)
    )
    inc = declare(db_session, FAX, now=NOW)
    declared.merge(
        session=db_session,
        absorbed=detected,
        into=inc,
        actor_email=RSSI,
        reason="the customer's report and the alert are one breach",
        now=NOW,
    )
    assert detected.status == "dismissed"
    assert detected.resolution_reason == f"merged into {inc.ref}"
    owners = set(
        db_session.scalars(
            select(IncidentFinding.incident_id).where(IncidentFinding.finding_id == "f-det")
        )
    )
    assert owners == {inc.id}
    assert inc.aware_at == NOW - timedelta(hours=2)  # the earliest awareness
    assert "AUTH-002" in inc.rule_ids
    gone = audit.entries_for(session=db_session, subject=detected.ref)[-1]
    kept = audit.entries_for(session=db_session, subject=inc.ref)[-1]
    assert (gone.action, gone.data["into"], gone.actor) == ("incident.merged", inc.ref, RSSI)
    assert (kept.action, kept.data["from"]) == ("incident.absorbed", detected.ref)
    with pytest.raises(InvalidDeclaration, match="reason"):
        declared.merge(
            session=db_session, absorbed=inc, into=inc, actor_email=RSSI, reason=" ", now=NOW
        )


def test_attempt_only_declaration_is_registered_without_notification(
    db_session: Session,
    customers: None,
) -> None:
    at = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    inc = declare(
        db_session, now=at, source="staff_report", nature=["attempt"], tenant_ids=["acme"]
    )
    assessment = inc.current_assessment
    assert assessment is not None
    assert (assessment.notify_customer, assessment.notify_cnil) == (False, False)
    assert any("Art. 4(12)" in r for r in assessment.rationale["recommendation"])
