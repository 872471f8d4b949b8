"""The console in a real browser: headless Chromium (Playwright driving /usr/bin/chromium)
against uvicorn on loopback, a fresh database and a real SMTP sink (aiosmtpd, STARTTLS
required, certificate from a test CA).

Story: the RSSI logs in, opens the most urgent incident from the queue, edits and approves
the customer notice, sends it (the e-mail reaches the SMTP server), then exports the
register. Screenshots go to artifacts/screenshots/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from console import security
from console.app import create_app
from detectors.finding import Severity
from notifiers.outbox import SmtpConfig
from tests.console.support import (
    ORG,
    PASSWORD,
    SECRET,
    build_console,
    draft_for,
    email_for,
    seed_incident,
)
from tests.e2e.browser import Sink, chromium, log_in, serving, smtp_server
from tocsin.settings import Settings

pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
SENDER = "Tocsin AVM Up <securite@avmup.com>"


@pytest.fixture
def smtp_sink() -> Iterator[tuple[Sink, SmtpConfig]]:
    with smtp_server(SENDER) as pair:
        yield pair


@dataclass
class Served:
    base: str
    ref_urgent: str
    ref_other: str


@pytest.fixture
def served(fresh_db_url: str, smtp_sink: tuple[Sink, SmtpConfig]) -> Iterator[Served]:
    console = build_console(fresh_db_url)  # users of every role, on the real schema
    now = datetime.now(UTC)
    other = seed_incident(
        console.factory,
        tenant="globex",
        actor="g-user",
        ip="198.51.100.9",
        severity=Severity.CRITICAL,
        detected=now - timedelta(hours=2),
        customer=("Globex SARL", "securite@globex.test"),
    )
    urgent = seed_incident(
        console.factory,
        tenant="acme",
        actor="a-user",
        ip="203.0.113.5",
        severity=Severity.CRITICAL,
        detected=now - timedelta(hours=21),
        user_agent="<script>alert('ua')</script>",
        customer=("ACME SA", "rssi@acme.test"),
    )
    draft_for(console.factory, urgent)
    draft_for(console.factory, other)
    settings = Settings(secret_key=SECRET, database_url=fresh_db_url, org=ORG)
    app = create_app(settings, session_factory=console.factory, smtp=smtp_sink[1])
    with serving(app, console.factory) as base:
        yield Served(base=base, ref_urgent=urgent, ref_other=other)


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"console-{name}.png"), full_page=True)


def test_rssi_approves_and_sends_the_most_urgent_notice(
    served: Served, smtp_sink: tuple[Sink, SmtpConfig], tmp_path: Path
) -> None:
    sink = smtp_sink[0]
    console_errors: list[str] = []
    with chromium() as browser:
        context = browser.new_context(accept_downloads=True, locale="fr-FR")
        page = context.new_page()
        page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
        page.on("dialog", lambda d: console_errors.append(f"dialog: {d.message}"))

        # Anonymous → login page.
        page.goto(served.base + "/queue")
        expect(page).to_have_url(served.base + "/login")
        page.get_by_label("Adresse e-mail").fill(email_for("rssi"))
        page.get_by_label("Mot de passe").fill(PASSWORD)
        shot(page, "01-login")
        page.get_by_role("button", name="Se connecter").click()
        expect(page).to_have_url(served.base + "/queue")
        cookies = {c["name"]: c for c in context.cookies()}
        session_cookie = cookies[security.SESSION_COOKIE]  # `__Host-`: HTTPS-only, host
        assert session_cookie["httpOnly"] and session_cookie["secure"]
        assert session_cookie["sameSite"] == "Strict"

        # The queue: most urgent first, live countdown ticking.
        rows = page.locator("#queue tbody tr")
        expect(rows).to_have_count(2)
        first_link = rows.nth(0).get_by_role("link", name=re.compile(r"^INC-"))
        expect(first_link).to_have_text(served.ref_urgent)
        countdown = rows.nth(0).locator(".countdown")
        expect(countdown).to_have_text(re.compile(r"^\d{2}:\d{2}:\d{2}$"))
        before = countdown.text_content()
        page.wait_for_timeout(1200)
        assert countdown.text_content() != before
        shot(page, "02-queue")

        # The incident: hostile user agent shown as text; the customer notice drafted.
        first_link.click()
        expect(page).to_have_url(served.base + f"/incidents/{served.ref_urgent}")
        expect(page.get_by_role("heading", level=1)).to_contain_text(served.ref_urgent)
        # The case file is folded: its findings and evidence open with one click.
        expect(page.locator("details.evidence").first).to_be_hidden()
        page.locator("#more-findings > summary").click()
        page.locator("details.evidence").first.locator("summary").click()
        expect(page.locator("details.evidence").first).to_contain_text(
            "<script>alert('ua')</script>"
        )
        card = page.locator("article.notice-card[data-kind='customer']")
        expect(card).to_have_attribute("data-status", "draft")
        # The notice's HTML part as the e-mail shows it, in a sandboxed frame; the text
        # part one click away.
        preview = card.locator("iframe.mail-preview")
        expect(preview).to_have_attribute("sandbox", "")
        preview.scroll_into_view_if_needed()  # loaded lazily, when it comes into view
        expect(card.frame_locator("iframe.mail-preview").locator("body")).to_contain_text(
            served.ref_urgent
        )
        expect(card.locator("details.text-part pre")).to_be_hidden()
        card.locator("details.text-part > summary").click()
        expect(card.locator("details.text-part pre")).to_be_visible()
        body = card.locator("textarea[name='text_body']")
        edited = body.input_value() + "\nNous restons à votre disposition. — Le RSSI\n"
        body.fill(edited)
        card.locator("input[name='subject']").fill("Violation de données — ACME SA")
        shot(page, "03-incident-edit")
        card.get_by_role("button", name="Approuver").click()
        expect(page.locator("p.notice[role='status']")).to_be_visible()
        card = page.locator("article.notice-card[data-kind='customer']")
        expect(card).to_have_attribute("data-status", "approved")
        shot(page, "04-approved")

        # Send: the outbox delivers through STARTTLS to the sink.
        card.get_by_role("button", name="Envoyer").click()
        card = page.locator("article.notice-card[data-kind='customer']")
        expect(card).to_have_attribute("data-status", "sent")
        expect(card.locator(".delivery")).to_have_attribute("data-state", "sent")
        expect(card.locator(".delivery")).to_have_text("envoyé")
        shot(page, "05-sent")
        assert len(sink.received) == 1
        mail = message_from_bytes(sink.received[0], policy=policy.default)
        assert mail["Subject"] == "Violation de données — ACME SA"
        assert sink.rcpt[0] == ["rssi@acme.test"]
        text = mail.get_body(preferencelist=("plain",))
        assert text is not None
        assert "Nous restons à votre disposition. — Le RSSI" in text.get_content()
        assert "Globex" not in text.get_content()  # isolation between customers
        expect(page.locator("#audit")).to_contain_text("notice.approved")
        expect(page.locator("#audit")).to_contain_text("outbox.sent")

        # The register, and its CSV export as a real download.
        page.get_by_role("link", name="Registre des violations").click()
        expect(page.locator("#register tbody tr")).to_have_count(2)
        shot(page, "06-register")
        with page.expect_download() as info:
            page.locator("#export-csv").click()
        download = info.value
        target = tmp_path / download.suggested_filename
        download.save_as(str(target))
        exported = target.read_text(encoding="utf-8")
        assert exported.splitlines()[0].startswith("ref,")
        assert served.ref_urgent in exported and served.ref_other in exported

        # English on request.
        page.goto(served.base + "/queue?lang=en")
        expect(page.get_by_role("heading", level=1)).to_contain_text("Incident queue")
        shot(page, "07-queue-en")
    csp = [e for e in console_errors if "Content Security Policy" in e or "dialog" in e]
    assert not csp, csp


@pytest.fixture
def served_declare(fresh_db_url: str, smtp_sink: tuple[Sink, SmtpConfig]) -> Iterator[str]:
    """The console with one processor customer and no incident yet."""
    from incidents.db import transaction
    from notifiers.customers import CustomerRow, import_rows

    console = build_console(fresh_db_url)
    with transaction(console.factory) as session:
        import_rows(
            session=session,
            rows=[
                CustomerRow(
                    tenant_id="clinique-lyon",
                    name="Clinique de Lyon",
                    contact_email="dpo@clinique-lyon.test",
                    language="fr",
                    notify_delay_hours=24.0,
                    role="processor",
                )
            ],
        )
    settings = Settings(secret_key=SECRET, database_url=fresh_db_url, org=ORG)
    app = create_app(settings, session_factory=console.factory, smtp=smtp_sink[1])
    with serving(app, console.factory) as base:
        yield base


def test_rssi_declares_a_misdirected_fax_decides_and_tells_the_customer(
    served_declare: str, smtp_sink: tuple[Sink, SmtpConfig], tmp_path: Path
) -> None:
    """Story: the RSSI declares a fax sent to a wrong number for one customer (AVM Up is its
    processor), sees the advice, assesses and decides, approves and sends the customer
    notice, then finds the incident and its source in the register export."""
    base, sink = served_declare, smtp_sink[0]
    with chromium() as browser:
        context = browser.new_context(accept_downloads=True, locale="fr-FR")
        page = context.new_page()
        log_in(page, base)

        # The form: an empty nature is refused and the form comes back as typed.
        page.get_by_role("link", name="Déclarer une violation").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Déclarer une violation")
        page.locator("#d-tenants").fill("clinique-lyon")
        page.locator("#d-source").select_option("customer_report")
        page.locator("#d-summary").fill(
            "Un compte-rendu a été télécopié à un numéro erroné par la clinique."
        )
        page.locator("#d-submit").click()
        expect(page.locator("#form-error")).to_contain_text("nature")
        expect(page.locator("#d-tenants")).to_have_value("clinique-lyon")
        form = page.locator("#declare-form")
        form.locator("input[name='nature'][value='confidentiality']").check()
        form.locator("input[name='data_categories'][value='content']").check()
        form.locator("input[name='services'][value='faxbis']").check()
        page.locator("#d-persons").fill("1")
        page.locator("#d-records").fill("3")
        form.locator("input[name='confirmed']").check()
        shot(page, "declare-01-form")
        page.locator("#d-submit").click()
        expect(page).to_have_url(re.compile(r"/incidents/INC-\d{4}-\d{4}\?ok=1$"))
        ref = page.url.split("/incidents/")[1].split("?")[0]
        expect(page.locator("#declared [data-source]")).to_have_attribute(
            "data-source", "customer_report"
        )
        expect(page.locator("#declared [data-source]")).to_have_text("signalement d'un client")
        # The steps: the band's links open each one (qualify holds the clocks).
        page.locator("#summary a[href='#step-qualify']").click()
        expect(page.locator("[data-informative='1']")).to_be_visible()
        page.locator("#summary a[href='#step-decide']").click()
        expect(page.locator("#advice-row td[data-advice-customer]")).to_have_text("oui")

        # Assess: health data sent to one unknown fax; the RSSI follows the advice.
        assess = page.locator("#assess-form")
        assess.locator("select[name='dpc']").select_option("4.0")
        assess.locator("select[name='ei']").select_option("1.0")
        assess.locator("select[name='cb_confidentiality']").select_option("0.25")
        page.locator("#assess-justification").fill("compte-rendu médical, un destinataire")
        shot(page, "declare-02-assess")
        assess.get_by_role("button").click()
        expect(page.locator("#decision-row")).to_have_attribute("data-overridden", "no")
        expect(page.locator("#decision-row td[data-decision-cnil]")).to_have_text("non")
        expect(page.locator("#factors [data-factor='role']")).to_have_attribute(
            "data-value", "processor"
        )
        expect(page.locator("#factors [data-factor='role']")).to_contain_text("sous-traitant")
        page.locator("#summary a[href='#step-close']").click()
        page.locator("#reg-meas").fill("Télécopie détruite par le destinataire.")
        page.locator("#reg-cons").fill("Divulgation d'un compte-rendu à un tiers.")
        page.locator("#register form button[type='submit']").click()
        # The facts a customer notice prints, entered before it can be approved.
        facts = page.locator("#notice-fields-form")
        facts.locator("#field-cause").select_option("internal_accidental")
        facts.locator("#field-origin").select_option("wrong_recipient")
        facts.locator("#field-subprocessors_involved").select_option("no")
        facts.locator("#field-breach_ongoing").select_option("no")
        facts.locator("#field-breach_ended_at").fill(
            datetime.now(UTC).replace(microsecond=0).isoformat()
        )
        facts.locator("#field-measures_proposed").fill(
            "Vérifier le numéro de télécopie avant chaque envoi."
        )
        facts.get_by_role("button", name="Appliquer").click()
        expect(page.locator("#notice-fields-form #field-cause")).to_have_value(
            "internal_accidental"
        )

        # The customer notice: drafted, approved, sent to the SMTP sink.
        expect(page.locator("article.notice-card[data-kind='cnil']")).to_have_count(0)
        card = page.locator("article.notice-card[data-kind='customer']")
        expect(card).to_have_attribute("data-status", "draft")
        card.get_by_role("button", name="Approuver").click()
        card = page.locator("article.notice-card[data-kind='customer']")
        expect(card).to_have_attribute("data-status", "approved")
        card.get_by_role("button", name="Envoyer").click()
        card = page.locator("article.notice-card[data-kind='customer']")
        expect(card).to_have_attribute("data-status", "sent")
        shot(page, "declare-03-sent")
        assert sink.rcpt == [["dpo@clinique-lyon.test"]]
        mail = message_from_bytes(sink.received[0], policy=policy.default)
        text = mail.get_body(preferencelist=("plain",))
        assert text is not None
        assert "télécopié à un numéro erroné" in text.get_content()

        # The register lists it, with its source.
        page.get_by_role("link", name="Registre des violations").click()
        with page.expect_download() as info:
            page.locator("#export-csv").click()
        target = tmp_path / info.value.suggested_filename
        info.value.save_as(str(target))
        exported = target.read_text(encoding="utf-8")
        [line] = [row for row in exported.splitlines() if row.startswith(ref)]
        assert "customer_report" in line
