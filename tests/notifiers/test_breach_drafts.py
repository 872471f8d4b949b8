"""Drafts follow the role and the RSSI's decision: processor-only incidents draft the
customer notice and never a CNIL one; AVM Up's own processing drafts the CNIL notice when
the law or the RSSI says so (an insider exfiltration despite a "low" band), and the public
communication of Art. 34(3)(c) in French and English."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from incidents import clocks
from incidents.clocks import ClockPolicy
from incidents.models import Customer, Incident
from incidents.severity import SeverityInputs
from notifiers.enums import NoticeKind, NoticeStatus
from notifiers.models import Notice, OutboxMessage
from notifiers.outbox import deliver_due
from notifiers.schemas import DraftPolicy
from tests.incidents.declaring import ACME_REPORT, STAFF_LEAK, assess, declare
from tests.notifiers.builders import DPO, NOW, ORG, RSSI, approve, complete, drafts
from tests.notifiers.conftest import SmtpServer


def _customers(session: Session) -> None:
    session.add_all(
        [
            Customer(tenant_id="acme", name="Acme Santé", contact_email="dpo@acme.test"),
            Customer(
                tenant_id="avm-own",
                name="AVM Informatique",
                contact_email="it@avmup.test",
                role="controller",
            ),
        ]
    )
    session.flush()


def _kinds(session: Session, incident_id: int) -> dict[str, Notice]:
    return {
        n.kind: n for n in session.scalars(select(Notice).where(Notice.incident_id == incident_id))
    }


def _drafted(session: Session, incident: Incident) -> dict[str, Notice]:
    """Draft under the default policy; every notice of `incident` by kind."""
    drafts(session, incident, policy=DraftPolicy())
    return _kinds(session, incident.id)


def test_processor_only_customer_notice_and_never_a_cnil_draft(db_session: Session) -> None:
    _customers(db_session)
    inc = declare(
        db_session,
        ACME_REPORT,
        now=NOW,
        data_categories=["content"],
        services=["faxbis"],
        persons=1,
        records=4,
        summary="Fax de résultats envoyé à un mauvais numéro.",
        confirmed=True,
    )
    inputs = SeverityInputs(dpc=4.0, ei=1.0, cb_confidentiality=0.25, persons=1)
    assess(db_session, inc, inputs, "health data", now=NOW, notify_cnil=True, notify_subjects=True)
    kinds = _drafted(db_session, inc)
    assert set(kinds) == {"customer"}  # the CNIL and the persons are Acme's to tell
    customer = kinds["customer"]
    assert customer.tenant_id == "acme"
    assert "Fax de résultats envoyé à un mauvais numéro." in customer.text_body
    assert "FAXBIS" in customer.text_body


def test_controller_insider_exfiltration_drafts_the_cnil_notice_despite_a_low_band(
    db_session: Session,
) -> None:
    _customers(db_session)
    summary = "A departing salesman exported the prospects' contacts to a competitor."
    inc = declare(
        db_session,
        STAFF_LEAK,
        now=NOW,
        tenant_ids=["avm-own"],
        persons=800,
        records=800,
        confirmed=True,
        summary=summary,
    )
    inputs = SeverityInputs(dpc=1.0, ei=1.0, cb_confidentiality=0.25, malicious=True, persons=800)
    row = assess(db_session, inc, inputs, "insider, intent to compete", now=NOW)
    assert row.band == "low" and row.notify_cnil and not row.recommendation_overridden
    reasons = row.rationale["recommendation"]
    assert any(
        "malicious" in r and "whatever the band (low)" in r and "Art. 33(1)" in r for r in reasons
    )
    kinds = _drafted(db_session, inc)
    assert set(kinds) == {"cnil"}  # controller tenant: no customer notice, no persons
    assert kinds["cnil"].status == NoticeStatus.DRAFT
    assert "800" in kinds["cnil"].text_body.replace("\u00a0", "").replace("\u202f", "")
    assert (
        "Violation déclarée à la suite d'un signalement d'un membre du personnel : A "
        "departing salesman exported"
    ) in kinds["cnil"].context["circumstances"]


def test_the_rssi_decision_not_to_notify_removes_the_cnil_draft_path(
    db_session: Session,
) -> None:
    _customers(db_session)
    inc = declare(db_session, STAFF_LEAK, now=NOW, persons=2, confirmed=True)
    inputs = SeverityInputs(dpc=1.0, ei=1.0, cb_confidentiality=0.5, malicious=True, persons=2)
    justification = "the two addresses were recovered before any use"
    row = assess(db_session, inc, inputs, justification, now=NOW, notify_cnil=False)
    assert row.recommendation_overridden and row.rationale["advice"]["cnil"] is True
    assert _drafted(db_session, inc) == {}


def test_disproportionate_effort_drafts_a_public_communication_in_french_and_english(
    db_session: Session,
) -> None:
    _customers(db_session)
    inc = declare(
        db_session,
        now=NOW,
        source="subprocessor_report",
        nature=["confidentiality"],
        data_categories=["identification", "electronic_identification"],
        persons=250_000,
        summary="Un prestataire a exposé l'annuaire des prospects.",
        confirmed=True,
    )
    inputs = SeverityInputs(
        dpc=3.0, ei=1.0, cb_confidentiality=0.5, malicious=True, persons=250_000
    )
    row = assess(
        db_session,
        inc,
        inputs,
        "prospects without a valid address",
        now=NOW,
        art34_exemption="c_disproportionate_effort",
        art34_justification="no contact details for most of the 250,000 prospects",
    )
    assert (row.notify_cnil, row.notify_subjects, row.notify_public) == (True, False, True)
    complete(inc)  # the facts the RSSI enters before any notice can be approved
    db_session.flush()
    for language, heading, article in (
        ("fr", "COMMUNICATION PUBLIQUE", "article 34, paragraphe 3, point c)"),
        ("en", "PUBLIC NOTICE", "Article 34(3)(c)"),
    ):
        drafts(db_session, inc, policy=DraftPolicy(default_language=language, org=ORG))
        public = _kinds(db_session, inc.id)["public"]
        assert public.language == language
        assert heading in public.text_body
        assert article in public.text_body
        assert "Un prestataire a exposé l'annuaire des prospects." in public.text_body
    kinds = _kinds(db_session, inc.id)
    assert set(kinds) == {"cnil", "public"}
    assert "[to be completed]" not in kinds["public"].text_body
    signed = approve(db_session, kinds["public"])
    assert signed.status == NoticeStatus.DRAFT  # a public notice needs the DPO too
    approved = approve(db_session, kinds["public"], "dpo")
    assert approved.status == NoticeStatus.APPROVED and approved.approved_by == RSSI
    assert approved.dpo_approved_by == DPO
    assert db_session.scalars(select(OutboxMessage)).all() == []  # published, not e-mailed
    assert NoticeKind(approved.kind) is NoticeKind.PUBLIC


def test_cnil_escalation_emails_only_for_avm_ups_own_processing(
    factory: sessionmaker[Session],
    smtp_starttls: SmtpServer,
) -> None:
    """Processor-only: the customer clock escalates, never the CNIL one (the customer's);
    AVM Up's own processing: the CNIL escalations at 48, 24 and 6 h left, as before."""
    with factory() as session, session.begin():
        _customers(session)
        processor = declare(session, ACME_REPORT, now=NOW).ref
        controller = declare(
            session, now=NOW, source="staff_report", nature=["confidentiality"]
        ).ref
    cfg = smtp_starttls.config()
    for hours in (24, 48, 66):
        at = NOW + timedelta(hours=hours)
        with factory() as session, session.begin():
            clocks.tick(session=session, now=at, policy=ClockPolicy())
        deliver_due(session_factory=factory, smtp=cfg, now=at)
    subjects = [r.message()["Subject"] for r in smtp_starttls.handler.received]
    cnil = [s for s in subjects if "notification à la CNIL" in s]
    assert sorted(cnil) == sorted(
        f"[Tocsin] {controller} – échéance dans {h} h : notification à la CNIL" for h in (48, 24, 6)
    )
    assert not [s for s in subjects if processor in s and "CNIL" in s]
    assert any(processor in s and "notification du client acme" in s for s in subjects)


def test_an_attempt_alone_drafts_no_customer_notice(db_session: Session) -> None:
    _customers(db_session)
    inc = declare(db_session, ACME_REPORT, now=NOW, nature=["attempt"], confirmed=True)
    assert drafts(db_session, inc, policy=DraftPolicy()) == []
    inputs = SeverityInputs(dpc=1.0, ei=1.0, cb_confidentiality=0.25, persons=1)
    inc.nature = ["attempt", "confidentiality"]  # qualified as a breach after all
    assess(db_session, inc, inputs, "one fax reached a stranger", now=NOW)
    written = drafts(db_session, inc, policy=DraftPolicy())
    assert [n.kind for n in written] == ["customer"]
