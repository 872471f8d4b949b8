"""Accessibility and the guided workflow in a real browser. axe-core (the npm package,
installed by `make axe` into var/npm) injected into headless Chromium must report no serious
or critical violation on the queue, an incident, the overview and the customer pages; the
pages work from the keyboard (skip link, the dismissal panel). The RSSI then follows the
next-action banner of an incident from qualification to closure, the notice going out
through a real SMTP server (STARTTLS, test CA), one screenshot per step.

`TOCSIN_AXE_JS` points at another axe.min.js; without one the test fails with the command
that installs it (never skips).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from detectors.finding import Severity
from notifiers.outbox import SmtpConfig
from tests.console.support import build_console, draft_for
from tests.console.support import seed_incident as seed
from tests.e2e.browser import Sink, chromium, log_in, serving, smtp_server

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
AXE = Path(
    os.environ.get(
        "TOCSIN_AXE_JS", ROOT / "var" / "npm" / "node_modules" / "axe-core" / "axe.min.js"
    )
)
SHOTS = ROOT / "artifacts" / "screenshots"
BLOCKING = ("serious", "critical")


@pytest.fixture
def sink() -> Iterator[tuple[Sink, SmtpConfig]]:
    with smtp_server("Tocsin <securite@avmup.com>") as pair:
        yield pair


@pytest.fixture
def site(fresh_db_url: str, sink: tuple[Sink, SmtpConfig]) -> Iterator[tuple[str, str]]:
    """The console on loopback with incidents of every urgency; (base URL, an incident)."""
    # The app as the other console tests build it (their settings), on loopback over HTTP.
    console = build_console(fresh_db_url, insecure_cookies=True, smtp=sink[1])
    now = datetime.now(UTC)
    late = seed(
        console.factory,
        tenant="acme",
        actor="a1",
        ip="203.0.113.5",
        severity=Severity.CRITICAL,
        detected=now - timedelta(hours=30),
        user_agent="<script>alert(1)</script>",
    )
    seed(
        console.factory,
        tenant="globex",
        actor="g1",
        ip="198.51.100.9",
        detected=now - timedelta(hours=20),
        customer=("Globex SARL", "sec@globex.test"),
    )
    seed(
        console.factory,
        tenant="initech",
        actor="i1",
        ip="198.51.100.10",
        customer=("Initech", "sec@initech.test"),
    )
    draft_for(console.factory, late)
    with serving(console.app, console.factory) as base:
        yield base, late


def _audit(page: Page, name: str) -> list[str]:
    """axe-core's serious and critical violations on the page, one line each."""
    result: dict[str, Any] = page.evaluate(
        "async () => await axe.run(document, {resultTypes: ['violations']})"
    )
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"a11y-{name}.png"), full_page=True)
    return [
        f"{name}: {v['id']} ({v['impact']}) {v['help']} — "
        + "; ".join(n["target"][0] for n in v["nodes"][:3])
        for v in result["violations"]
        if v.get("impact") in BLOCKING
    ]


def test_axe_finds_no_serious_violation_and_the_keyboard_works(site: tuple[str, str]) -> None:
    assert AXE.is_file(), f"{AXE} is missing: run `make axe` (npm install axe-core@4)"
    base, ref = site
    with chromium() as browser:
        context = browser.new_context(locale="fr-FR")
        # Injected by the browser before the page's own scripts: the page's CSP stays.
        context.add_init_script(path=str(AXE))
        page = context.new_page()
        log_in(page, base)
        assert page.evaluate("typeof axe") == "object"
        # The audit sees what it must: an unlabelled field and an image without text.
        page.set_content(
            '<html lang="fr"><head><title>t</title></head><body><main>'
            '<h1>t</h1><img src="data:,"><input name="x"></main></body></html>'
        )
        found = " ".join(_audit(page, "control"))
        assert "image-alt" in found and "label" in found, found

        violations: list[str] = []
        for name, path in (
            ("queue", "/queue"),
            ("overview", "/overview"),
            ("incident", f"/incidents/{ref}"),
            ("customers", "/customers"),
            ("customer", "/customers/acme"),
        ):
            page.goto(base + path)
            expect(page.locator("main h1")).to_be_visible()
            violations += _audit(page, name)
        assert not violations, "\n".join(violations)

        # The keyboard: the first Tab reaches the skip link, which leads to the content.
        page.goto(base + "/overview")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.className") == "skip"
        page.keyboard.press("Enter")
        expect(page).to_have_url(base + "/overview#main")
        # Every count is a link reached by Tab, in reading order.
        tiles = page.locator("#overview a")
        expect(tiles).to_have_count(5)
        tiles.first.focus()
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.closest('li').dataset.key") == "ov_due_24h"

        # Dismissing, from the keyboard: the panel opens with Enter, asks first.
        page.goto(base + f"/incidents/{ref}")
        summary = page.locator("details.dismiss > summary")
        summary.focus()
        page.keyboard.press("Enter")
        reason = page.get_by_label("Motif de l'écart (obligatoire)")
        expect(reason).to_be_visible()
        reason.fill("faux positif")
        page.locator("details.dismiss button.danger").click()
        # The browser refuses the form until the confirmation is ticked.
        expect(page).to_have_url(base + f"/incidents/{ref}")
        expect(page.locator("#inc-status")).to_have_attribute("data-status", "detected")
        page.get_by_label("Je confirme").check()
        page.locator("details.dismiss button.danger").click()
        expect(page.locator("#inc-status")).to_have_attribute("data-status", "dismissed")
        violations = _audit(page, "incident-dismissed")
        assert not violations, "\n".join(violations)


def test_rssi_follows_the_next_action_from_qualification_to_closure(
    site: tuple[str, str], sink: tuple[Sink, SmtpConfig]
) -> None:
    base, ref = site
    with chromium() as browser:
        page = browser.new_context(locale="fr-FR").new_page()
        log_in(page, base)
        page.get_by_role("link", name="Vue d'ensemble").click()
        page.locator("li[data-key='ov_overdue'] a").click()
        page.get_by_role("link", name=ref).click()
        expect(page).to_have_url(base + f"/incidents/{ref}")
        banner = page.locator("#next-action")
        seen: list[str] = []

        def step(action: str) -> None:
            expect(banner).to_have_attribute("data-action", action)
            seen.append(action)
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(
                path=str(SHOTS / f"workflow-{len(seen):02d}-{action}.png"), full_page=True
            )
            banner.get_by_role("link").click()  # the banner leads to where it is done

        def move(to: str) -> None:
            page.locator("#to").select_option(to)
            page.locator("#status button[type=submit]").first.click()

        step("qualify")
        move("triage")
        # The steps are links, reached from the keyboard: Enter on "Évaluer" opens its
        # panel; each panel's title is a control of its own (Enter folds and unfolds it).
        page.locator("#summary .steps a[aria-current='step']").focus()
        page.keyboard.press("Enter")
        expect(page).to_have_url(re.compile(r"#step-assess$"))
        expect(page.locator("#step-assess")).to_have_attribute("open", "")
        expect(page.locator("#step-close")).not_to_have_attribute("open", "")
        page.locator("#step-close > summary").focus()
        page.keyboard.press("Enter")
        expect(page.locator("#step-close")).to_have_attribute("open", "")
        page.keyboard.press("Enter")
        expect(page.locator("#step-close")).not_to_have_attribute("open", "")
        step("assess")
        form = page.locator("#severity form")
        form.locator("select[name=cb_confidentiality]").select_option("0.5")
        form.get_by_label("Justification").fill("comptes clients compromis")
        form.get_by_role("button", name="Enregistrer l'évaluation").click()
        step("confirm")
        move("confirmed")
        step("approve")
        card = page.locator("article.notice-card[data-kind='customer']")
        card.get_by_role("button", name="Approuver").click()
        step("send")
        page.locator("article.notice-card[data-kind='customer']").get_by_role(
            "button", name="Envoyer"
        ).click()
        expect(
            page.locator("article.notice-card[data-kind='customer'] .delivery")
        ).to_have_attribute("data-state", "sent")
        step("mark_notified")
        move("notified")
        step("close")
        move("closed")
        expect(banner).to_have_attribute("data-action", "none")
        expect(page.locator("#summary [aria-current]")).to_have_count(0)
        page.screenshot(path=str(SHOTS / "workflow-99-closed.png"), full_page=True)
    assert seen == ["qualify", "assess", "confirm", "approve", "send", "mark_notified", "close"]
    assert len(sink[0].received) == 1  # the customer notice, once
