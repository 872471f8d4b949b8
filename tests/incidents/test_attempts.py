"""Attempts are not breaches: pure attempts (failures only, nothing read) open incidents of
nature `attempt` that draft no notice; once the evidence shows a compromise, or once the RSSI
qualifies the attempt as a breach, the nature follows and notices are drafted."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from detectors.catalogue import load_rules
from detectors.finding import Nature, Severity
from incidents import audit, clocks, notice_fields, register, schemas
from incidents.clocks import ClockPolicy
from incidents.exceptions import InvalidIncidentInput
from incidents.flows import record_findings
from incidents.models import Incident
from notifiers.flows import draft_notices
from tests.incidents.builders import NOW, T0, make_finding, store_findings
from tests.notifiers.builders import POLICY

IP = "198.51.100.66"
RSSI = "rssi@avmup.com"
REUSED = "un compte visé a réutilisé son mot de passe"


def _nature(rule_id: str) -> frozenset[Nature]:
    [rule] = [r for r in load_rules() if r.id == rule_id]
    return frozenset(rule.nature)


def _from_ip(
    session: Session, fid: str, rule_id: str, acme: tuple[int, int, int], **more: Any
) -> Incident:
    """Record finding `fid` of `rule_id` from IP on acme's security data (events, records,
    subjects in `acme`); the incident it opens or joins."""
    finding = make_finding(
        fid,
        rule_id=rule_id,
        nature=_nature(rule_id),
        tenants={"acme": acme},
        source_ips=(IP,),
        categories=frozenset({"security"}),
        **more,
    )
    [incident] = record_findings(
        session=session, findings=store_findings(session, [finding]), now=NOW
    )
    return incident


def _spraying(session: Session) -> Incident:
    return _from_ip(
        session,
        "spray-1",
        "AUTH-002",
        (30, 0, 0),
        actor_ids=("u-1", "u-2"),
        severity=Severity.CRITICAL,
    )


def _qualify(session: Session, incident: Incident, nature: str, justification: str) -> None:
    notice_fields.qualify_breach(
        session=session,
        incident=incident,
        actor_email=RSSI,
        nature=[nature],
        justification=justification,
    )


def test_the_catalogue_calls_failures_only_attempts() -> None:
    for rule_id in ("AUTH-001", "AUTH-002", "ACC-009"):
        assert _nature(rule_id) == {Nature.ATTEMPT}, rule_id
    for rule_id in ("AUTH-003", "ACC-001", "ACC-002"):
        assert Nature.ATTEMPT not in _nature(rule_id), rule_id


def test_password_spraying_without_success_drafts_nothing(db_session: Session) -> None:
    incident = _spraying(db_session)
    assert incident.nature == ["attempt"]
    incident.status = "confirmed"  # even confirmed and critical: not a breach
    assert draft_notices(session=db_session, incident=incident, now=NOW, policy=POLICY) == []
    summary = schemas.summaries(
        session=db_session, incidents=[incident], policy=ClockPolicy(), now=NOW
    )[0]
    assert summary.model_dump(mode="json")["nature"] == ["attempt"]
    [row] = [
        r
        for r in register.build_rows(session=db_session, policy=ClockPolicy(), now=NOW)
        if r.ref == incident.ref
    ]
    assert row.nature == "attempt (security incident, no personal data breach)"


def test_a_success_after_the_spraying_makes_it_a_breach_with_drafts(
    db_session: Session,
) -> None:
    incident = _spraying(db_session)
    later = T0 + timedelta(minutes=6)
    same = _from_ip(
        db_session, "takeover-1", "AUTH-003", (8, 0, 1), actor_ids=("u-2",), first_seen=later
    )
    assert same.id == incident.id
    assert same.nature == ["confidentiality"]  # the evidence shows a compromise
    same.status = "confirmed"
    [notice] = draft_notices(session=db_session, incident=same, now=NOW, policy=POLICY)
    assert notice.kind == "customer"
    # Tocsin did not count what was read after the takeover: never « environ 0 ».
    assert "Enregistrements concernés : à déterminer" in notice.text_body
    assert "environ 0" not in notice.text_body


def test_the_rssi_qualifies_an_attempt_as_a_breach(db_session: Session) -> None:
    incident = _spraying(db_session)
    incident.status = "confirmed"
    with pytest.raises(InvalidIncidentInput, match="justification"):
        _qualify(db_session, incident, "confidentiality", " ")
    with pytest.raises(InvalidIncidentInput, match="nature"):
        _qualify(db_session, incident, "attempt", "x")
    _qualify(db_session, incident, "confidentiality", REUSED)
    assert not notice_fields.is_attempt(incident)
    [notice] = draft_notices(session=db_session, incident=incident, now=NOW, policy=POLICY)
    assert "atteinte à la confidentialité" in notice.text_body
    entries = [
        e
        for e in audit.entries_for(session=db_session, subject=incident.ref)
        if e.action == "incident.qualified_breach"
    ]
    assert entries and entries[0].data["nature"] == ["confidentiality"]
    assert (
        db_session.scalar(select(Incident.qualified_by).where(Incident.id == incident.id)) == RSSI
    )


def test_an_attempt_escalates_no_deadline_until_qualified(db_session: Session) -> None:
    incident = _spraying(db_session)
    late = incident.aware_at + timedelta(hours=80)  # every clock past due
    assert clocks.tick(session=db_session, now=late, policy=ClockPolicy()) == []
    _qualify(db_session, incident, "confidentiality", REUSED)
    fired = clocks.tick(session=db_session, now=late, policy=ClockPolicy())
    assert fired and {e.incident_id for e in fired} == {incident.id}
