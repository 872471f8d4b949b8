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
from notifiers.models import Notice, OutboxMessage
from notifiers.schemas import NoticeEdit
from tests.notifiers.builders import (
    CONTROLLER,
    NOW,
    RSSI,
    THREE,
    TenantSpec,
    acting,
    approve,
    draft_one,
    drafts,
    reject,
)


def _customer_notice(session: Session) -> Notice:
    return draft_one(session, tenants=[THREE[0]])


def _outbox(session: Session) -> list[OutboxMessage]:
    return list(session.scalars(select(OutboxMessage)))


def _receipt(
    session: Session, notice: Notice, receipt: str, role: str = "rssi", by: str = RSSI
) -> Notice:
    return service.record_cnil_receipt(
        **acting(session, notice, role, by), receipt=receipt, filed_at=NOW
    )


def test_drafts_are_never_queued(db_session: Session) -> None:
    _customer_notice(db_session)
    assert _outbox(db_session) == []


@pytest.mark.parametrize("role", ["analyst", "dpo", "admin", "RSSI", ""])
def test_only_rssi_approves(db_session: Session, role: str) -> None:
    notice = _customer_notice(db_session)
    with pytest.raises(ApprovalDenied):
        approve(db_session, notice, role, by="x@avmup.com")
    with pytest.raises(ApprovalDenied):
        reject(db_session, notice, "non", role, by="x@avmup.com")
    assert notice.status == NoticeStatus.DRAFT
    assert _outbox(db_session) == []


def test_approval_queues_one_outbox_row(db_session: Session) -> None:
    notice = _customer_notice(db_session)
    approve(db_session, notice)
    [row] = _outbox(db_session)
    assert notice.status == NoticeStatus.APPROVED and notice.approved_by == RSSI
    assert row.recipients == [THREE[0].email]
    assert row.notice_id == notice.id and row.state == "pending"
    assert row.message_id.startswith("<tocsin.") and row.message_id.endswith("@tocsin.avmup.com>")
    with pytest.raises(InvalidNoticeTransition):
        approve(db_session, notice)
    assert len(_outbox(db_session)) == 1


def test_edits_are_stored_and_their_diff_audited(db_session: Session) -> None:
    notice = _customer_notice(db_session)
    drafted = notice.text_body
    edited = drafted.replace("Madame, Monsieur,", "Madame la Déléguée,\n\n<b>Urgent</b>")
    approve(
        db_session, notice, edits=NoticeEdit(subject="Objet\r\nBcc: x@evil.example", text=edited)
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
            approve(
                db_session, notice, edits=NoticeEdit(text=notice.text_body.replace(before, after))
            )
    assert notice.status == NoticeStatus.DRAFT and not notice.edited


def test_nothing_entered_means_no_approval(db_session: Session) -> None:
    notice = draft_one(db_session, tenants=[THREE[0]], fields=False)
    with pytest.raises(NoticeIncomplete, match="cause") as refused:
        approve(db_session, notice)
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
        approve(
            db_session, done, edits=NoticeEdit(text=done.text_body + "\nChiffres : [à compléter]\n")
        )


def test_missing_customer_contact_blocks_approval(db_session: Session) -> None:
    notice = draft_one(
        db_session,
        tenants=[TenantSpec("orphan", "x", "x@y.example", 1, 2, "u", "192.0.2.3")],
        customers=False,
    )
    with pytest.raises(MissingRecipient):
        approve(db_session, notice)
    assert notice.status == NoticeStatus.DRAFT


def _cnil(session: Session, *, aware_at: datetime) -> Notice:
    notice = draft_one(
        session,
        tenants=[CONTROLLER],
        aware_at=aware_at,
        assessment={"notify_cnil": True, "notify_subjects": False},
    )
    assert notice.kind == NoticeKind.CNIL
    return notice


def test_late_cnil_needs_reasons_for_delay(db_session: Session) -> None:
    aware = NOW - timedelta(hours=80)
    notice = _cnil(db_session, aware_at=aware)
    with pytest.raises(ReasonsForDelayRequired):
        approve(db_session, notice)
    with pytest.raises(ReasonsForDelayRequired):
        approve(db_session, notice, reasons_for_delay="  \r\n ")
    approve(db_session, notice, reasons_for_delay="Périmètre établi après analyse forensique")
    assert notice.status == NoticeStatus.DRAFT  # the DPO signs too
    approve(db_session, notice, "dpo")
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
        _receipt(db_session, notice, "ABC-1")
    approve(db_session, notice, "dpo")
    approve(db_session, notice)
    with pytest.raises(ApprovalDenied):
        _receipt(db_session, notice, "ABC-1", "analyst", by="a@avmup.com")
    _receipt(db_session, notice, "2026-001234")
    assert notice.status == NoticeStatus.SENT and notice.cnil_receipt == "2026-001234"
    facts = list(
        db_session.scalars(select(ClockFact).where(ClockFact.incident_id == notice.incident_id))
    )
    assert [(f.clock, f.kind) for f in facts] == [("cnil", "met")]
    assert cnil.export(notice).form["recepisse"] == "2026-001234"


def test_reject_needs_reason_and_blocks_sending(db_session: Session) -> None:
    notice = _customer_notice(db_session)
    with pytest.raises(InvalidNoticeTransition):
        reject(db_session, notice, " ")
    reject(db_session, notice, "chiffres à vérifier")
    assert notice.status == NoticeStatus.REJECTED
    with pytest.raises(InvalidNoticeTransition):
        approve(db_session, notice)
    assert _outbox(db_session) == []
    # Unchanged facts do not re-draft what the RSSI rejected.
    assert drafts(db_session, notice.incident) == []


def test_data_subject_notice_goes_to_listed_recipients_hidden(db_session: Session) -> None:
    notice = draft_one(
        db_session,
        now=datetime.now(UTC),
        tenants=[CONTROLLER],
        assessment={"notify_cnil": False, "notify_subjects": True},
    )
    assert notice.kind == NoticeKind.DATA_SUBJECT
    approve(db_session, notice, recipients=["a@example.org", "b@example.org"])
    assert _outbox(db_session) == []  # nothing leaves before the DPO signs
    approve(db_session, notice, "dpo", recipients=["a@example.org", "b@example.org"])
    [row] = _outbox(db_session)
    assert row.recipients == ["a@example.org", "b@example.org"]


def test_a_change_of_facts_after_one_signature_voids_it(db_session: Session) -> None:
    notice = _cnil(db_session, aware_at=NOW - timedelta(hours=10))
    approve(db_session, notice)
    assert notice.approved_by == RSSI and notice.status == NoticeStatus.DRAFT
    with pytest.raises(InvalidNoticeTransition, match="already signed"):
        approve(db_session, notice, "dpo", edits=NoticeEdit(subject="autre objet"))
    notice.incident.cause = "internal_accidental"  # the RSSI corrects a fact
    drafts(db_session, notice.incident)
    assert "Acte interne accidentel" in notice.text_body
    assert notice.approved_by is None and notice.status == NoticeStatus.DRAFT
    voided = db_session.scalars(
        select(AuditEntry).where(AuditEntry.action == "notice.signatures_voided")
    ).one()
    assert voided.data["roles"] == ["rssi"]
    with pytest.raises(ApprovalDenied):
        approve(db_session, notice, "analyst", by="a@avmup.com")
