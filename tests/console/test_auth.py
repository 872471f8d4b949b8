"""Login, sessions, cookies, CSRF, throttling and headers against a real database."""

from __future__ import annotations

import pytest
from httpx import Response
from sqlalchemy import func, select

from accounts.models import ApiToken, LoginAttempt, User
from console import security
from console.app import create_app
from tests.console.support import (
    PASSWORD,
    SECRET,
    Console,
    TestClient,
    build_console,
    csrf_from,
    email_for,
)
from tocsin.settings import Settings


def _post_login(client: TestClient, email: str, password: str) -> Response:
    page = client.get("/login")
    resp: Response = client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )
    return resp


def test_login_sets_a_strict_secure_httponly_cookie(console: Console) -> None:
    client = console.client()
    resp = _post_login(client, email_for("rssi"), PASSWORD)
    assert resp.status_code == 303
    assert resp.headers["location"] == "/queue"
    cookie = resp.headers["set-cookie"]
    assert cookie.startswith(security.SESSION_COOKIE + "=")
    for flag in ("Secure", "HttpOnly", "SameSite=strict", "Path=/"):
        assert flag.lower() in cookie.lower(), flag
    assert client.get("/health").status_code == 200


def test_insecure_cookies_switch_drops_only_secure(fresh_db_url: str) -> None:
    console = build_console(fresh_db_url, insecure_cookies=True)
    client = console.client()
    cookie = _post_login(client, email_for("dpo"), PASSWORD).headers["set-cookie"]
    assert "secure" not in cookie.lower()
    assert "httponly" in cookie.lower()
    assert "samesite=strict" in cookie.lower()


def test_wrong_password_reshows_the_form_with_the_message(console: Console) -> None:
    resp = _post_login(console.client(), email_for("rssi"), "wrong password!!")
    assert resp.status_code == 401
    assert "Identifiants incorrects." in resp.text
    assert f'value="{email_for("rssi")}"' in resp.text


def test_login_without_or_with_wrong_csrf_is_403(console: Console) -> None:
    client = console.client()
    client.get("/login")
    missing = client.post(
        "/login", data={"email": email_for("rssi"), "password": PASSWORD}, follow_redirects=False
    )
    wrong = client.post(
        "/login",
        data={"email": email_for("rssi"), "password": PASSWORD, "csrf_token": "forged"},
        follow_redirects=False,
    )
    assert missing.status_code == 403
    assert wrong.status_code == 403
    assert "set-cookie" not in wrong.headers or "uid" not in wrong.headers["set-cookie"]
    assert client.get("/health", follow_redirects=False).status_code == 303


def test_state_change_needs_csrf_with_a_cookie_session(console: Console) -> None:
    client = console.login("admin")
    form = {"email": "new@avmup.test", "role": "analyst", "password": PASSWORD}
    assert client.post("/users", data=form, follow_redirects=False).status_code == 403
    assert (
        client.post(
            "/users", data={**form, "csrf_token": "x" * 43}, follow_redirects=False
        ).status_code
        == 403
    )
    # The token of another session is no good either.
    other = console.login("admin")
    assert (
        client.post(
            "/users", data={**form, "csrf_token": console.csrf(other)}, follow_redirects=False
        ).status_code
        == 403
    )
    ok = client.post(
        "/users", data={**form, "csrf_token": console.csrf(client)}, follow_redirects=False
    )
    assert ok.status_code == 303
    with console.factory() as session:
        assert session.scalar(select(User.role).where(User.email == "new@avmup.test")) == (
            "analyst"
        )


def test_logout_needs_csrf_and_ends_the_session(console: Console) -> None:
    client = console.login("dpo")
    assert client.post("/logout", follow_redirects=False).status_code == 403
    resp = client.post("/logout", data={"csrf_token": console.csrf(client)}, follow_redirects=False)
    assert resp.status_code == 303
    assert client.get("/health", follow_redirects=False).status_code == 303


def test_session_dies_when_the_user_is_deactivated(console: Console) -> None:
    client = console.login("analyst")
    assert client.get("/health").status_code == 200
    with console.factory.begin() as session:
        security.update_user(session=session, user_id=console.users["analyst"], active=False)
    assert client.get("/health", follow_redirects=False).status_code == 303


def test_forged_cookie_is_anonymous(console: Console) -> None:
    forged = security.SessionCodec("not-the-secret" * 4).dumps(
        {"uid": console.users["admin"], "sv": 1, "csrf": "x"}
    )
    client = console.client()
    client.cookies.set(security.SESSION_COOKIE, forged)
    assert client.get("/users", follow_redirects=False).status_code == 303


@pytest.mark.parametrize("fresh_db_url", ["sqlite", "postgresql"], indirect=True)
def test_account_throttling_is_persisted(console: Console) -> None:
    client = console.client()
    for _ in range(5):
        assert _post_login(client, email_for("rssi"), "bad password 123").status_code == 401
    blocked = _post_login(client, email_for("rssi"), PASSWORD)
    assert blocked.status_code == 429
    assert "Trop de tentatives" in blocked.text
    assert 0 < int(blocked.headers["retry-after"]) <= 900  # a slow-down, not a lock-out
    # A restart (new app on the same database) does not forget.
    app2 = create_app(
        Settings(secret_key=SECRET, database_url=console.url), session_factory=console.factory
    )
    console2 = Console(app=app2, factory=console.factory, url=console.url)
    assert _post_login(console2.client(), email_for("rssi"), PASSWORD).status_code == 429
    assert _post_login(console2.client(), email_for("dpo"), PASSWORD).status_code == 303
    with console.factory() as session:
        keys = list(session.scalars(select(LoginAttempt.key)))
    assert all(email_for("rssi") not in k for k in keys)  # keyed hashes, no address in clear


def test_ip_throttling_spans_accounts(fresh_db_url: str) -> None:
    console = build_console(fresh_db_url, throttle=security.Throttle(per_account=100, per_ip=3))
    client = console.client()
    for role in ("analyst", "dpo", "admin"):
        assert _post_login(client, email_for(role), "bad password 123").status_code == 401
    assert _post_login(client, email_for("rssi"), PASSWORD).status_code == 429


def test_security_headers_on_every_kind_of_response(console: Console) -> None:
    client = console.client()
    for resp in (
        client.get("/login"),
        client.get("/static/console.css"),
        client.get("/api/v1/openapi.json"),
        client.get("/nope"),
    ):
        csp = resp.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert resp.headers["x-content-type-options"] == "nosniff"
        assert resp.headers["referrer-policy"] == "same-origin"


def test_pages_have_no_inline_script(console: Console) -> None:
    client = console.login("admin")
    for path in ("/login", "/users", "/health"):
        html = client.get(path).text
        assert "<script>" not in html
        assert " on" + "click=" not in html
        assert '<script src="/static/console.js" defer></script>' in html


def test_bearer_token_is_stored_hashed_and_works_without_csrf(console: Console) -> None:
    secret = console.token("admin")
    with console.factory() as session:
        stored = list(session.scalars(select(ApiToken.token_hash)))
    assert stored == [security.hash_token(secret)]
    client = console.client()
    ok = client.get("/api/v1/users", headers={"Authorization": f"Bearer {secret}"})
    assert ok.status_code == 200
    assert {u["email"] for u in ok.json()} >= {email_for("admin")}
    bad = client.get("/api/v1/users", headers={"Authorization": "Bearer tcs_wrong"})
    assert bad.status_code == 401


def test_sql_looking_login_is_harmless(console: Console) -> None:
    for email in ("' OR 1=1 --", "admin@avmup.test' --", 'x"; DROP TABLE console_users; --'):
        assert _post_login(console.client(), email, "' OR '1'='1").status_code == 401
    with console.factory() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 4


def test_language_switch(console: Console) -> None:
    client = console.client()
    assert "Connexion" in client.get("/login").text
    assert "Sign in" in client.get("/login?lang=en").text
    assert 'lang="en"' in client.get("/login").text  # remembered in the session


def test_language_preference_is_kept_for_the_next_login(console: Console) -> None:
    client = console.login("dpo")
    token = client.get("/api/v1/me").json()["csrf_token"]
    resp = client.patch("/api/v1/me", json={"lang": "en"}, headers={"X-CSRF-Token": token})
    assert resp.status_code == 200 and resp.json()["lang"] == "en"
    assert (
        client.patch("/api/v1/me", json={"lang": "de"}, headers={"X-CSRF-Token": token}).status_code
        == 422
    )
    fresh = console.login("dpo")
    assert "Incident queue" in fresh.get("/queue").text
