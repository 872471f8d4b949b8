"""The DPO's signature in a real browser (headless Chromium through Playwright, uvicorn on
loopback, a fresh database): the RSSI approves a CNIL notice, which stays a draft until the
DPO approves it too; an analyst sees no approval form and is refused if it posts one."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from console.app import create_app
from incidents.db import transaction
from notifiers.flows import draft_notices
from notifiers.schemas import DraftPolicy
from tests.console.support import ORG, SECRET, build_console, email_for
from tests.e2e.browser import chromium, log_in, serving
from tests.notifiers.builders import TenantSpec, build_incident
from tocsin.settings import Settings

pytestmark = pytest.mark.browser

OWN = TenantSpec(
    "avmup-prospects",
    "AVM Up (prospects)",
    "dpo@avmup.example",
    321,
    654,
    "u-own-1",
    "192.0.2.10",
    role="controller",
    service="campaign_manager",
)


@dataclass
class Served:
    base: str
    ref: str
    cnil_id: int


@pytest.fixture
def served(fresh_db_url: str) -> Iterator[Served]:
    console = build_console(fresh_db_url)
    settings = Settings(secret_key=SECRET, database_url=fresh_db_url, org=ORG)
    with transaction(console.factory) as session:
        built = build_incident(
            session,
            tenants=[OWN],
            aware_at=datetime.now(UTC) - timedelta(hours=3),
            assessment={"notify_cnil": True, "notify_subjects": False},
        )
        [notice] = draft_notices(
            session=session,
            incident=built.incident,
            now=datetime.now(UTC),
            policy=DraftPolicy.from_settings(settings),
        )
        assert notice.kind == "cnil"
        ref, cnil_id = built.incident.ref, notice.id
    app = create_app(settings, session_factory=console.factory)
    with serving(app, console.factory) as base:
        yield Served(base=base, ref=ref, cnil_id=cnil_id)


def _login(page: Page, base: str, role: str) -> None:
    page.context.clear_cookies()
    log_in(page, base, role)


def test_dpo_approves_a_cnil_notice_after_the_rssi_and_an_analyst_cannot(
    served: Served,
) -> None:
    url = f"{served.base}/incidents/{served.ref}"
    with chromium() as browser:
        page = browser.new_context(locale="fr-FR").new_page()

        # The analyst reads the notice but has nothing to sign, and a forged post fails.
        _login(page, served.base, "analyst")
        page.goto(url)
        card = page.locator("article.notice-card[data-kind='cnil']")
        expect(card).to_have_attribute("data-status", "draft")
        expect(card.locator("form.approve-form")).to_have_count(0)
        token = page.locator("input[name='csrf_token']").first.get_attribute("value")
        forged = page.request.post(
            f"{served.base}/notices/{served.cnil_id}/approve",
            form={"csrf_token": token or ""},
            max_redirects=0,
        )
        assert forged.status == 403

        # The RSSI signs first: still a draft, the RSSI's signature shown.
        _login(page, served.base, "rssi")
        page.goto(url)
        card = page.locator("article.notice-card[data-kind='cnil']")
        expect(card.locator("textarea[name='text_body']")).to_have_attribute("readonly", "")
        card.get_by_role("button", name="Approuver").click()
        card = page.locator("article.notice-card[data-kind='cnil']")
        expect(card).to_have_attribute("data-status", "draft")
        expect(card.locator(".signature[data-role='rssi']")).to_contain_text(email_for("rssi"))
        expect(card.locator("form.approve-form")).to_have_count(0)
        expect(card.locator(".awaiting")).to_have_attribute("data-role", "dpo")

        # The DPO signs second: approved, both signatures on the notice and audited.
        _login(page, served.base, "dpo")
        page.goto(url)
        card = page.locator("article.notice-card[data-kind='cnil']")
        card.get_by_role("button", name="Approuver").click()
        card = page.locator("article.notice-card[data-kind='cnil']")
        expect(card).to_have_attribute("data-status", "approved")
        expect(card.locator(".signature[data-role='dpo']")).to_contain_text(email_for("dpo"))
        expect(card.locator(".signature[data-role='rssi']")).to_contain_text(email_for("rssi"))
        expect(page.locator("#audit")).to_contain_text("notice.signed")
        expect(page.locator("#audit")).to_contain_text("notice.approved")
