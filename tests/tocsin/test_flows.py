"""The pipeline's sink: findings → incidents → drafts, with incidents merged by correlation."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from detectors.finding import Severity
from incidents import notice_fields
from incidents import service as incident_service
from incidents.enums import IncidentStatus
from notifiers import service as notice_service
from notifiers.enums import NoticeStatus
from notifiers.flows import draft_notices
from notifiers.models import Notice
from notifiers.schemas import DraftPolicy, NoticeEdit
from tests.incidents.builders import NOW, T0, make_finding, store_findings
from tocsin.flows import make_sink
from tocsin.settings import load_settings

CRITICAL = Severity.CRITICAL  # drafted at once (TOCSIN_DRAFT_ON_CRITICAL)


def _findings():  # type: ignore[no-untyped-def]
    return [
        make_finding(
            "fa",
            rule_id="ACC-001",
            actor_ids=("u1",),
            source_ips=("198.51.100.1",),
            tenants={"acme": (2, 40, 30)},
            severity=CRITICAL,
        ),
        make_finding(
            "fb",
            rule_id="ACC-001",
            actor_ids=("u9",),
            source_ips=("203.0.113.7",),
            tenants={"globex": (3, 50, 20)},
            severity=CRITICAL,
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


def _notices(session: Session) -> list[tuple[str, str | None, str, str | None]]:
    rows = session.scalars(select(Notice).order_by(Notice.id))
    return [(n.incident.ref, n.tenant_id, n.status, n.rejection_reason) for n in rows]


def test_a_merged_incident_takes_its_drafts_with_it(db_session: Session) -> None:
    sink = make_sink(load_settings(demo=True))
    for finding in _findings():  # one batch each
        sink(db_session, store_findings(db_session, [finding]), NOW)
    gone = incident_service.require_by_ref(session=db_session, ref="INC-2026-0002")
    assert (gone.status, gone.resolution_reason) == ("dismissed", "merged into INC-2026-0001")
    assert _notices(db_session) == [
        ("INC-2026-0001", "acme", NoticeStatus.DRAFT, None),
        ("INC-2026-0002", "globex", NoticeStatus.REJECTED, "incident merged into INC-2026-0001"),
        ("INC-2026-0001", "globex", NoticeStatus.DRAFT, None),
    ]


def test_an_incident_with_an_approved_notice_is_not_merged_away(db_session: Session) -> None:
    sink = make_sink(load_settings(demo=True))
    incident_service.upsert_customer(
        session=db_session,
        tenant_id="globex",
        name="Globex",
        contact_email="rgpd@globex.example",
        actor_email="dpo@avmup.com",
        now=NOW,
    )
    fa, fb, fc = _findings()
    sink(db_session, store_findings(db_session, [fa]), NOW)
    sink(db_session, store_findings(db_session, [fb]), NOW)
    draft = db_session.scalars(select(Notice).where(Notice.tenant_id == "globex")).one()
    # The RSSI enters the facts the notice prints, then approves it.
    notice_fields.update(
        session=db_session,
        incident=draft.incident,
        actor_email="rssi@avmup.com",
        now=NOW,
        changes={
            "cause": "external_malicious",
            "origin": "hacking",
            "subprocessors_involved": "no",
            "breach_ongoing": "unknown",
            "measures": "comptes verrouillés",
            "measures_proposed": "vérifier les connexions récentes",
        },
    )
    draft_notices(
        session=db_session,
        incident=draft.incident,
        now=NOW,
        policy=DraftPolicy.from_settings(load_settings(org={"name": "AVM Up"})),
    )
    # No evidence was kept for these findings: the RSSI completes services and categories.
    completed = draft.text_body.replace("[à compléter]", "FAXBIS, identification")
    notice_service.approve(
        session=db_session,
        notice=draft,
        user_email="rssi@avmup.com",
        user_role="rssi",
        edits=NoticeEdit(text=completed),
        reasons_for_delay=None,
        now=NOW,
    )
    sink(db_session, store_findings(db_session, [fc]), NOW)
    first = incident_service.require_by_ref(session=db_session, ref="INC-2026-0001")
    second = incident_service.require_by_ref(session=db_session, ref="INC-2026-0002")
    # the approved one keeps its identity: the other (untouched) one is merged into it
    assert first.status == IncidentStatus.DISMISSED
    assert first.resolution_reason == "merged into INC-2026-0002"
    assert second.status == IncidentStatus.DETECTED
    assert sorted(second.tenant_ids) == ["acme", "globex"]
