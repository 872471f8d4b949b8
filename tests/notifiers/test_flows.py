"""Drafting: tenant isolation, idempotence, complementary versions, controller notices."""

from __future__ import annotations

import html
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from incidents.models import IncidentTenant
from notifiers.enums import NoticeKind, NoticeStatus
from notifiers.models import Notice
from tests.notifiers.builders import (
    CONTROLLER,
    NOW,
    POLICY,
    THREE,
    add_evidence,
    approve,
    build_incident,
    drafts,
)


def _fmt(n: int) -> str:
    return f"{n:,}".replace(",", "\u00a0")


def _read(
    event_id: str,
    reader: tuple[str, str, str],
    source_ip: str,
    interface: str,
    records: int,
    resource: tuple[str, str],
) -> dict[str, Any]:
    """A FAXBIS read by `reader` (tenant, actor id, actor kind) of `resource` (type, tenant)."""
    tenant_id, actor, kind = reader
    return {
        "event_id": event_id,
        "service": "faxbis",
        "tenant_id": tenant_id,
        "actor": {"id": actor, "kind": kind},
        "source_ip": source_ip,
        "interface": interface,
        "operation": "read",
        "records": records,
        "resource": {"type": resource[0], "tenant_id": resource[1]},
    }


def test_three_customers_three_isolated_notices(db_session: Session) -> None:
    built = build_incident(db_session)
    notices = drafts(db_session, built.incident)
    assert sorted(n.tenant_id or "" for n in notices) == sorted(t.tenant_id for t in THREE)
    assert {n.kind for n in notices} == {"customer"}
    for notice in notices:
        own = next(t for t in THREE if t.tenant_id == notice.tenant_id)
        parts = [
            notice.subject,
            notice.text_body,
            html.unescape(notice.html_body),
            str(notice.context),
        ]
        assert own.name in notice.subject
        for part in parts[1:3]:
            assert own.name in part
            assert _fmt(own.persons) in part and _fmt(own.records) in part
        assert own.actor in notice.text_body and own.ip in notice.text_body
        for other in THREE:
            if other is own:
                continue
            for part in parts:
                for secret in (
                    other.tenant_id,
                    other.name,
                    other.actor,
                    other.ip,
                    _fmt(other.persons),
                    _fmt(other.records),
                    str(other.persons),
                    str(other.records),
                ):
                    assert secret not in part, (notice.tenant_id, secret)
            for finding in built.findings:
                if other.tenant_id in finding.tenant_ids:
                    for event_id in finding.evidence:
                        assert event_id not in str(notice.context)


def test_redrafting_is_idempotent(db_session: Session) -> None:
    built = build_incident(db_session)
    first = drafts(db_session, built.incident)
    again = drafts(db_session, built.incident, now=NOW + timedelta(minutes=5))
    assert len(first) == 3
    assert again == []
    count = len(
        list(db_session.scalars(select(Notice).where(Notice.incident_id == built.incident.id)))
    )
    assert count == 3


def test_nothing_drafted_before_confirmation_unless_critical(db_session: Session) -> None:
    triage = build_incident(db_session, status="triage", severity="high")
    assert drafts(db_session, triage.incident) == []
    critical = build_incident(db_session, status="detected", severity="critical")
    assert len(drafts(db_session, critical.incident)) == 3
    off = POLICY.model_copy(update={"draft_on_critical": False})
    other = build_incident(db_session, status="detected", severity="critical")
    assert drafts(db_session, other.incident, policy=off) == []
    dismissed = build_incident(db_session, status="dismissed")
    assert drafts(db_session, dismissed.incident) == []


def _share(session: Session, incident_id: int, tenant_id: str) -> IncidentTenant:
    row = session.get(IncidentTenant, (incident_id, tenant_id))
    assert row is not None
    return row


def test_changes_refresh_draft_then_make_complementary_version(db_session: Session) -> None:
    spec = THREE[0]
    built = build_incident(db_session, tenants=[spec])
    incident = built.incident
    [v1] = drafts(db_session, incident)
    # Still a draft: new numbers refresh it in place.
    _share(db_session, incident.id, spec.tenant_id).persons = 1500
    db_session.flush()
    [same] = drafts(db_session, incident)
    assert same.id == v1.id and same.version == 1
    assert "environ 1\u00a0500" in same.text_body
    # Approved: the next change is a complementary version 2; version 1 is kept as approved.
    approve(db_session, v1)
    _share(db_session, incident.id, spec.tenant_id).persons = 4321
    db_session.flush()
    [v2] = drafts(db_session, incident)
    assert (v2.version, v2.phase, v2.status) == (2, "complementary", "draft")
    assert "environ 4\u00a0321" in v2.text_body
    assert "notification complémentaire (version 2)" in v2.subject
    db_session.refresh(v1)
    assert v1.status == NoticeStatus.APPROVED and "environ 1\u00a0500" in v1.text_body


def test_controller_role_drafts_cnil_and_data_subject(db_session: Session) -> None:
    built = build_incident(
        db_session,
        tenants=[THREE[0], CONTROLLER],
        assessment={"notify_cnil": True, "notify_subjects": True},
    )
    notices = drafts(db_session, built.incident)
    kinds = sorted((n.kind, n.tenant_id or "") for n in notices)
    assert kinds == [("cnil", ""), ("customer", THREE[0].tenant_id), ("data_subject", "")]
    cnil = next(n for n in notices if n.kind == NoticeKind.CNIL)
    # Only the controller tenant's numbers feed the CNIL notice.
    assert "personnes concernées : environ 321" in cnil.text_body
    assert "enregistrements concernés : environ 654" in cnil.text_body
    assert _fmt(THREE[0].persons) not in cnil.text_body


def test_no_cnil_when_assessment_does_not_recommend(db_session: Session) -> None:
    built = build_incident(
        db_session,
        tenants=[CONTROLLER],
        assessment={"notify_cnil": False, "notify_subjects": False},
    )
    assert drafts(db_session, built.incident) == []
    exempt = build_incident(
        db_session,
        tenants=[CONTROLLER],
        assessment={
            "notify_cnil": True,
            "notify_subjects": True,
            "art34_exemption": "a_unintelligible",
            "art34_justification": "chiffrement AES-256",
        },
    )
    notices = drafts(db_session, exempt.incident)
    assert [n.kind for n in notices] == ["cnil"]
    assert "chiffrement AES-256" in notices[0].text_body


def test_staff_and_cross_tenant_evidence_is_redacted(db_session: Session) -> None:
    built = build_incident(db_session, tenants=[THREE[0]])
    own = THREE[0].tenant_id
    events = [
        _read(
            "e-staff",
            (own, "staff-jdupont", "staff_support"),
            "10.9.9.9",
            "support_console",
            3,
            ("fax", own),
        ),
        _read(
            "e-cross",
            ("other-tenant", "u-other-1", "customer_user"),
            "10.8.8.8",
            "api",
            4,
            ("fax", own),
        ),
    ]
    for ev in events:
        add_evidence(db_session, built, ev, 0)
    db_session.flush()
    [notice] = drafts(db_session, built.incident)
    for secret in ("staff-jdupont", "10.9.9.9", "other-tenant", "u-other-1", "10.8.8.8"):
        assert secret not in notice.text_body and secret not in notice.html_body
    assert "consultation de télécopies, par un membre du personnel d'AVM Up" in notice.text_body
    assert "console du support d'AVM Up" in notice.text_body
    # The customer whose data was read is told so from its side, never who read it.
    assert "depuis le compte d'un autre client d'AVM Up" in notice.text_body
    assert "cloisonnement entre comptes clients" in notice.text_body
    assert "4 enregistrement(s)" in notice.text_body  # the event is listed, redacted


def test_organisation_settings_refresh_drafts_but_never_renotify(db_session: Session) -> None:
    built = build_incident(db_session, tenants=[THREE[0]])
    bare = POLICY.model_copy(update={"org": POLICY.org.model_copy(update={"name": None})})
    [draft] = drafts(db_session, built.incident, policy=bare)
    assert "[à compléter]" in draft.text_body
    [same] = drafts(db_session, built.incident)
    assert same.id == draft.id and "[à compléter]" not in same.text_body
    approve(db_session, same)
    renamed = POLICY.model_copy(
        update={"org": POLICY.org.model_copy(update={"dpo_phone": "+33 4 99 99 99 99"})}
    )
    assert drafts(db_session, built.incident, policy=renamed) == []


def test_the_reading_customer_gets_a_neutral_notice_without_the_owner(
    db_session: Session,
) -> None:
    reader, owner = THREE[0], THREE[1]
    built = build_incident(db_session, tenants=[reader, owner])
    event = _read(
        "e-read-across",
        (reader.tenant_id, reader.actor, "customer_user"),
        reader.ip,
        "web",
        9,
        ("contact", owner.tenant_id),
    )
    add_evidence(db_session, built, event, 0, 1)
    db_session.flush()
    notices = {n.tenant_id: n for n in drafts(db_session, built.incident)}
    to_reader, to_owner = notices[reader.tenant_id], notices[owner.tenant_id]
    assert "ne relèvent pas de votre compte" in to_reader.text_body
    for secret in (owner.tenant_id, owner.name, owner.actor, owner.ip):
        assert secret not in to_reader.text_body and secret not in to_reader.html_body
    assert "depuis le compte d'un autre client d'AVM Up" in to_owner.text_body
    for secret in (reader.tenant_id, reader.name, reader.actor, reader.ip):
        assert secret not in to_owner.text_body and secret not in to_owner.html_body
