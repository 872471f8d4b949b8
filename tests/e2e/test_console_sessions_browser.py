"""Sessions and throttling in a real browser: headless Chromium against uvicorn on loopback
and a fresh database. A cookie taken from the browser is replayed from elsewhere (httpx)
after logout and after a password change; a session past its absolute lifetime sends the
browser back to the login page; the RSSI gets in with the right password while an attacker
behind the same reverse proxy has failed 20 times."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from accounts.models import ConsoleSession
from console import security
from console.app import create_app
from tests.console.support import PASSWORD, SECRET, build_console, email_for
from tests.e2e.browser import chromium, log_in, serving
from tocsin.settings import Settings

pytestmark = pytest.mark.browser

NEW_PASSWORD = "granite harbour violet engine 77"


@dataclass
class Served:
    base: str
    factory: sessionmaker[Session]


@pytest.fixture
def served(fresh_db_url: str) -> Iterator[Served]:
    console = build_console(fresh_db_url)
    # Loopback plays the reverse proxy: its X-Forwarded-For names the client.
    app = create_app(
        Settings(secret_key=SECRET, database_url=fresh_db_url),
        session_factory=console.factory,
        trusted_proxies=["127.0.0.1"],
    )
    with serving(app, console.factory) as base:
        yield Served(base=base, factory=console.factory)


@pytest.fixture
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def _cookie(page: Page) -> str:
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    return cookies[security.SESSION_COOKIE]


def _replay(base: str, cookie: str) -> httpx.Response:
    return httpx.get(
        base + "/queue",
        cookies={security.SESSION_COOKIE: cookie},
        follow_redirects=False,
        timeout=10,
    )


def test_a_cookie_replayed_after_logout_or_password_change_is_refused(
    served: Served, browser: Browser
) -> None:
    page = browser.new_context(locale="fr-FR").new_page()
    log_in(page, served.base, "rssi")
    stolen = _cookie(page)
    assert _replay(served.base, stolen).status_code == 200
    page.get_by_role("button", name="Déconnexion").click()
    expect(page).to_have_url(served.base + "/login")
    replayed = _replay(served.base, stolen)
    assert replayed.status_code == 303 and replayed.headers["location"] == "/login"

    # A password change closes every other session, and keeps this browser signed in.
    log_in(page, served.base, "rssi")
    before = _cookie(page)
    page.get_by_role("link", name="Changer mon mot de passe").click()
    page.get_by_label("Mot de passe actuel").fill(PASSWORD)
    page.get_by_label("Nouveau mot de passe", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Nouveau mot de passe (confirmation)").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Changer mon mot de passe").click()
    expect(page.get_by_role("status")).to_contain_text("Vos autres sessions sont fermées")
    assert _replay(served.base, before).status_code == 303
    page.goto(served.base + "/queue")
    expect(page).to_have_url(served.base + "/queue")


def test_a_session_past_its_absolute_lifetime_goes_back_to_login(
    served: Served, browser: Browser
) -> None:
    page = browser.new_context(locale="fr-FR").new_page()
    log_in(page, served.base, "dpo")
    with served.factory.begin() as session:
        session.execute(
            update(ConsoleSession).values(
                created_at=datetime.now(UTC) - timedelta(hours=8, minutes=1)
            )
        )
    page.reload()
    expect(page).to_have_url(served.base + "/login")


def test_the_rssi_gets_in_after_20_failures_from_another_source(
    served: Served, browser: Browser
) -> None:
    with httpx.Client(base_url=served.base, timeout=10) as attacker:
        forwarded = {"X-Forwarded-For": "203.0.113.66"}
        codes = []
        for i in range(21):
            form = attacker.get("/login", headers=forwarded)
            token = form.text.split('name="csrf_token" value="')[1].split('"')[0]
            # A `Secure` cookie over plain HTTP on loopback: httpx keeps it out of its jar.
            jar = {"Cookie": f"{security.SESSION_COOKIE}={form.cookies[security.SESSION_COOKIE]}"}
            codes.append(
                attacker.post(
                    "/login",
                    headers={**forwarded, **jar},
                    data={
                        "email": email_for("rssi"),
                        "password": PASSWORD if i == 20 else f"guess {i} of many",
                        "csrf_token": token,
                    },
                ).status_code
            )
    assert codes[:5] == [401] * 5 and codes[-1] == 429  # even the right one, from there
    page = browser.new_context(locale="fr-FR").new_page()
    log_in(page, served.base, "rssi")
    expect(page.get_by_role("heading", level=1)).to_contain_text("File des incidents")
