"""Approval rules: only the RSSI, edits diffed into the audit chain, late CNIL needs reasons,
nothing queued without approval, CNIL receipt meets the clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from incidents.models import AuditEntry, ClockFact
from notifiers import cnil, service
from notifiers.enums import NoticeKind, NoticeStatus
from notifiers.exceptions import (
    ApprovalDenied,
    InvalidNoticeTransition,
    MissingRecipient,
    NoticeIncomplete,
    ReasonsForDelayRequired,
)
from notifiers.flows import draft_notices
from notifiers.models import Notice, OutboxMessage
from notifiers.schemas import NoticeEdit
from tests.notifiers.builders import POLICY, T0, THREE, TenantSpec, build_incident

NOW = T0 + timedelta(hours=3)
DPO = "dpo@avmup.com"
RSSI = "rssi@avmup.com"
CONTROLLER = TenantSpec(
    "avm-own",
    "AVM Informatique",
    "it@avmup.com",
    321,
    654,
    "u-avm-1",
    "192.0.2.10",
    role="controller",
)


def _customer_notice(session: Session) -> Notice:
    built = build_incident(session, tenants=[THREE[0]])
    [notice] = draft_notices(session=session, incident=built.incident, now=NOW, policy=POLICY)
    return notice


def _outbox(session: Session) -> list[OutboxMessage]:
    return list(session.scalars(select(OutboxMessage)))


def test_drafts_are_never_queued(db_session: Session) -> None:
    _customer_notice(db_session)
    assert _outbox(db_session) == []


@pytest.mark.parametrize("role", ["analyst", "dpo", "admin", "RSSI", ""])
def test_only_rssi_approves(db_session: Session, role: str) -> None:
    notice = _customer_notice(db_session)
    with pytest.raises(ApprovalDenied):
        service.approve(
            session=db_session,
            notice=notice,
            user_email="x@avmup.com",
            user_role=role,
            edits=None,
            reasons_for_delay=None,
            now=NOW,
        )
    with pytest.raises(ApprovalDenied):
        service.reject(
            session=db_session,
            notice=notice,
            user_email="x@avmup.com",
            user_role=role,
            reason="non",
            now=NOW,
        )
    assert notice.status == NoticeStatus.DRAFT
    assert _outbox(db_session) == []


def test_approval_queues_one_outbox_row(db_session: Session) -> None:
    notice = _customer_notice(db_session)
    service.approve(
        session=db_session,
        notice=notice,
        user_email=RSSI,
        user_role="rssi",
        edits=None,
        reasons_for_delay=None,
        now=NOW,
    )
    [row] = _outbox(db_session)
    assert notice.status == NoticeStatus.APPROVED and notice.approved_by == RSSI
    assert row.recipients == [THREE[0].email]
    assert row.notice_id == notice.id and row.state == "pending"
    assert row.message_id.startswith("<tocsin.") and row.message_id.endswith("@tocsin.avmup.com>")
    with pytest.raises(InvalidNoticeTransition):
        service.approve(
            session=db_session,
            notice=notice,
            user_email=RSSI,
            user_role="rssi",
            edits=None,
            reasons_for_delay=None,
            now=NOW,
        )
    assert len(_outbox(db_session)) == 1


def test_edits_are_stored_and_their_diff_audited(db_session: Session) -> None:
    notice = _customer_notice(db_session)
    drafted = notice.text_body
    edited = drafted.replace("Madame, Monsieur,", "Madame la Déléguée,\n\n<b>Urgent</b>")
    service.approve(
        session=db_session,
        notice=notice,
        user_email=RSSI,
        user_role="rssi",
        edits=NoticeEdit(subject="Objet\r\nBcc: x@evil.example", text=edited),
        reasons_for_delay=None,
        now=NOW,
    )
    assert notice.edited is True
    assert notice.original is not None and notice.original["text"] == drafted
    assert notice.subject == "Objet Bcc: x@evil.example"
    assert "Madame la Déléguée" in notice.text_body
    assert "&lt;b&gt;Urgent&lt;/b&gt;" in notice.html_body and "<b>" not in notice.html_body
    entry = db_session.scalars(select(AuditEntry).where(AuditEntry.action == "notice.edited")).one()
    assert entry.actor == RSSI
    assert "-Madame, Monsieur," in entry.data["diff"]
    assert "+Madame la Déléguée," in entry.data["diff"]
    [row] = _outbox(db_session)
    assert row.text_body == notice.text_body and row.subject == notice.subject


def test_an_edit_cannot_contradict_the_incident_fields(db_session: Session) -> None:
    notice = _customer_notice(db_session)
    assert "Cause : Acte externe malveillant" in notice.text_body
    for before, after in (
        ("Cause : Acte externe malveillant", "Cause : Acte interne accidentel"),
        ("- sessions du compte révoquées", "- rien n'a été fait"),
    ):
        with pytest.raises(InvalidNoticeTransition, match="incident's fields"):
            service.approve(
                session=db_session,
                notice=notice,
                user_email=RSSI,
                user_role="rssi",
                edits=NoticeEdit(text=notice.text_body.replace(before, after)),
                reasons_for_delay=None,
                now=NOW,
            )
    assert notice.status == NoticeStatus.DRAFT and not notice.edited


def test_nothing_entered_means_no_approval(db_session: Session) -> None:
    built = build_incident(db_session, tenants=[THREE[0]], fields=False)
    [notice] = draft_notices(session=db_session, incident=built.incident, now=NOW, policy=POLICY)
    with pytest.raises(NoticeIncomplete, match="cause") as refused:
        service.approve(
            session=db_session,
            notice=notice,
            user_email=RSSI,
            user_role="rssi",
            edits=None,
            reasons_for_delay=None,
            now=NOW,
        )
    for name in (
        "measures_taken",
        "measures_proposed",
        "origin",
        "subprocessors_involved",
        "breach_ongoing",
    ):
        assert name in str(refused.value)
    # A « [à compléter] » typed back into an otherwise complete notice blocks it too.
    done = _customer_notice(db_session)
    with pytest.raises(NoticeIncomplete, match="text"):
        service.approve(
            session=db_session,
            notice=done,
            user_email=RSSI,
            user_role="rssi",
            edits=NoticeEdit(text=done.text_body + "\nChiffres : [à compléter]\n"),
            reasons_for_delay=None,
            now=NOW,
        )


def test_missing_customer_contact_blocks_approval(db_session: Session) -> None:
    built = build_incident(
        db_session,
        tenants=[TenantSpec("orphan", "x", "x@y.example", 1, 2, "u", "192.0.2.3")],
        customers=False,
    )
    [notice] = draft_notices(session=db_session, incident=built.incident, now=NOW, policy=POLICY)
    with pytest.raises(MissingRecipient):
        service.approve(
            session=db_session,
            notice=notice,
            user_email=RSSI,
            user_role="rssi",
            edits=None,
            reasons_for_delay=None,
            now=NOW,
        )
    assert notice.status == NoticeStatus.DRAFT


def _cnil(session: Session, *, aware_at: datetime) -> Notice:
    built = build_incident(
        session,
        tenants=[CONTROLLER],
        aware_at=aware_at,
        assessment={"notify_cnil": True, "notify_subjects": False},
    )
    [notice] = draft_notices(session=session, incident=built.incident, now=NOW, policy=POLICY)
    assert notice.kind == NoticeKind.CNIL
    return notice


def test_late_cnil_needs_reasons_for_delay(db_session: Session) -> None:
    aware = NOW - timedelta(hours=80)
    notice = _cnil(db_session, aware_at=aware)
    with pytest.raises(ReasonsForDelayRequired):
        service.approve(
            session=db_session,
            notice=notice,
            user_email=RSSI,
            user_role="rssi",
            edits=None,
            reasons_for_delay=None,
            now=NOW,
        )
    with pytest.raises(ReasonsForDelayRequired):
        service.approve(
            session=db_session,
            notice=notice,
            user_email=RSSI,
            user_role="rssi",
            edits=None,
            reasons_for_delay="  \r\n ",
            now=NOW,
        )
    service.approve(
        session=db_session,
        notice=notice,
        user_email=RSSI,
        user_role="rssi",
        edits=None,
        reasons_for_delay="Périmètre établi après analyse forensique",
        now=NOW,
    )
    assert notice.status == NoticeStatus.DRAFT  # the DPO signs too
    service.approve(
        session=db_session,
        notice=notice,
        user_email=DPO,
        user_role="dpo",
        edits=None,
        reasons_for_delay=None,
        now=NOW,
    )
    assert notice.status == NoticeStatus.APPROVED
    assert "Périmètre établi après analyse forensique" in notice.text_body
    assert "Périmètre établi après analyse forensique" in notice.html_body
    assert _outbox(db_session) == []  # filed by hand, never e-mailed
    export = cnil.export(notice)
    assert export.form["hors_delai"] is True
    assert export.form["motifs_du_retard"] == "Périmètre établi après analyse forensique"
    assert export.form["personnes_concernees"]["nombre_approximatif"] == 321


def test_cnil_in_time_needs_no_reasons_and_receipt_meets_clock(db_session: Session) -> None:
    notice = _cnil(db_session, aware_at=NOW - timedelta(hours=10))
    with pytest.raises(InvalidNoticeTransition):
        service.record_cnil_receipt(
            session=db_session,
            notice=notice,
            receipt="ABC-1",
            user_email=RSSI,
            user_role="rssi",
            filed_at=NOW,
            now=NOW,
        )
    service.approve(
        session=db_session,
        notice=notice,
        user_email=DPO,
        user_role="dpo",
        edits=None,
        reasons_for_delay=None,
        now=NOW,
    )
    service.approve(
        session=db_session,
        notice=notice,
        user_email=RSSI,
        user_role="rssi",
        edits=None,
        reasons_for_delay=None,
        now=NOW,
    )
    with pytest.raises(ApprovalDenied):
        service.record_cnil_receipt(
            session=db_session,
            notice=notice,
            receipt="ABC-1",
            user_email="a@avmup.com",
            user_role="analyst",
            filed_at=NOW,
            now=NOW,
        )
    service.record_cnil_receipt(
        session=db_session,
        notice=notice,
        receipt="2026-001234",
        user_email=RSSI,
        user_role="rssi",
        filed_at=NOW,
        now=NOW,
    )
    assert notice.status == NoticeStatus.SENT and notice.cnil_receipt == "2026-001234"
    facts = list(
        db_session.scalars(select(ClockFact).where(ClockFact.incident_id == notice.incident_id))
    )
    assert [(f.clock, f.kind) for f in facts] == [("cnil", "met")]
    assert cnil.export(notice).form["recepisse"] == "2026-001234"


def test_reject_needs_reason_and_blocks_sending(db_session: Session) -> None:
    notice = _customer_notice(db_session)
    with pytest.raises(InvalidNoticeTransition):
        service.reject(
            session=db_session,
            notice=notice,
            user_email=RSSI,
            user_role="rssi",
            reason=" ",
            now=NOW,
        )
    service.reject(
        session=db_session,
        notice=notice,
        user_email=RSSI,
        user_role="rssi",
        reason="chiffres à vérifier",
        now=NOW,
    )
    assert notice.status == NoticeStatus.REJECTED
    with pytest.raises(InvalidNoticeTransition):
        service.approve(
            session=db_session,
            notice=notice,
            user_email=RSSI,
            user_role="rssi",
            edits=None,
            reasons_for_delay=None,
            now=NOW,
        )
    assert _outbox(db_session) == []
    # Unchanged facts do not re-draft what the RSSI rejected.
    assert draft_notices(session=db_session, incident=notice.incident, now=NOW, policy=POLICY) == []


def test_data_subject_notice_goes_to_listed_recipients_hidden(db_session: Session) -> None:
    built = build_incident(
        db_session, tenants=[CONTROLLER], assessment={"notify_cnil": False, "notify_subjects": True}
    )
    [notice] = draft_notices(
        session=db_session, incident=built.incident, now=datetime.now(UTC), policy=POLICY
    )
    assert notice.kind == NoticeKind.DATA_SUBJECT
    service.approve(
        session=db_session,
        notice=notice,
        user_email=RSSI,
        user_role="rssi",
        edits=None,
        reasons_for_delay=None,
        now=NOW,
        recipients=["a@example.org", "b@example.org"],
    )
    assert _outbox(db_session) == []  # nothing leaves before the DPO signs
    service.approve(
        session=db_session,
        notice=notice,
        user_email=DPO,
        user_role="dpo",
        edits=None,
        reasons_for_delay=None,
        now=NOW,
        recipients=["a@example.org", "b@example.org"],
    )
    [row] = _outbox(db_session)
    assert row.recipients == ["a@example.org", "b@example.org"]


def test_a_change_of_facts_after_one_signature_voids_it(db_session: Session) -> None:
    notice = _cnil(db_session, aware_at=NOW - timedelta(hours=10))
    service.approve(
        session=db_session,
        notice=notice,
        user_email=RSSI,
        user_role="rssi",
        edits=None,
        reasons_for_delay=None,
        now=NOW,
    )
    assert notice.approved_by == RSSI and notice.status == NoticeStatus.DRAFT
    with pytest.raises(InvalidNoticeTransition, match="already signed"):
        service.approve(
            session=db_session,
            notice=notice,
            user_email=DPO,
            user_role="dpo",
            edits=NoticeEdit(subject="autre objet"),
            reasons_for_delay=None,
            now=NOW,
        )
    notice.incident.cause = "internal_accidental"  # the RSSI corrects a fact
    draft_notices(session=db_session, incident=notice.incident, now=NOW, policy=POLICY)
    assert "Acte interne accidentel" in notice.text_body
    assert notice.approved_by is None and notice.status == NoticeStatus.DRAFT
    voided = db_session.scalars(
        select(AuditEntry).where(AuditEntry.action == "notice.signatures_voided")
    ).one()
    assert voided.data["roles"] == ["rssi"]
    with pytest.raises(ApprovalDenied):
        service.approve(
            session=db_session,
            notice=notice,
            user_email="a@avmup.com",
            user_role="analyst",
            edits=None,
            reasons_for_delay=None,
            now=NOW,
        )
