"""Sessions held server-side, throttling without lock-out, secret keys and passwords, against
a real database through the real application."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from httpx import Response
from sqlalchemy import select, update

from accounts.models import ConsoleSession, User
from console import security
from console.app import create_app
from consumers.errors import ConfigError
from incidents import audit as audit_chain
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

ROOT = Path(__file__).resolve().parents[2]
NEW_PASSWORD = "quartz lantern orbit mosaic 42"


def _client(console: Console, ip: str, port: int = 40000) -> TestClient:
    return TestClient(console.app, base_url="https://testserver", client=(ip, port))


def _login(
    client: TestClient, email: str, password: str, headers: dict[str, str] | None = None
) -> Response:
    page = client.get("/login", headers=headers)
    resp: Response = client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": csrf_from(page.text)},
        headers=headers,
        follow_redirects=False,
    )
    return resp


def _replay(console: Console, cookie: str) -> TestClient:
    """A new client (another machine) holding a copy of the cookie."""
    thief = console.client()
    thief.cookies.set(security.SESSION_COOKIE, cookie)
    return thief


# --- sessions --------------------------------------------------------------------------------


@pytest.mark.parametrize("fresh_db_url", ["sqlite", "postgresql"], indirect=True)
def test_a_cookie_replayed_after_logout_is_refused(console: Console) -> None:
    client = console.login("rssi")
    cookie = client.cookies.get(security.SESSION_COOKIE)
    assert cookie and client.get("/queue").status_code == 200
    csrf = console.csrf(client)
    assert _replay(console, cookie).get("/queue", follow_redirects=False).status_code == 200
    assert (
        client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    )
    thief = _replay(console, cookie)
    assert thief.get("/queue", follow_redirects=False).headers["location"] == "/login"
    # Writes too, through the API with the cookie's own CSRF token.
    api = thief.get("/api/v1/me")
    assert api.status_code == 401
    write = thief.patch("/api/v1/me", json={"lang": "en"}, headers={"X-CSRF-Token": csrf})
    assert write.status_code == 401
    with console.factory() as session:
        rows = list(session.scalars(select(ConsoleSession)))
    assert len(rows) == 1 and rows[0].revoked_at is not None


def test_cookie_name_has_the_host_prefix_only_when_secure(fresh_db_url: str) -> None:
    secure = build_console(fresh_db_url)
    resp = _login(secure.client(), email_for("dpo"), PASSWORD)
    assert resp.headers["set-cookie"].startswith("__Host-tocsin_session=")
    assert "domain=" not in resp.headers["set-cookie"].lower()
    plain = create_app(
        Settings(secret_key=SECRET, database_url=fresh_db_url),
        session_factory=secure.factory,
        insecure_cookies=True,
    )
    resp = _login(TestClient(plain, base_url="https://testserver"), email_for("dpo"), PASSWORD)
    assert resp.headers["set-cookie"].startswith("tocsin_session=")


def test_a_session_older_than_its_absolute_lifetime_is_refused(console: Console) -> None:
    client = console.login("analyst")
    for _ in range(3):  # activity does not move the start of the session
        assert client.get("/queue").status_code == 200
    with console.factory.begin() as session:
        row = session.scalars(select(ConsoleSession)).one()
        started = row.created_at
        # 7 h 59 min ago and used a minute ago: still alive.
        session.execute(
            update(ConsoleSession).values(
                created_at=datetime.now(UTC) - timedelta(hours=7, minutes=59),
                last_seen_at=datetime.now(UTC) - timedelta(minutes=1),
            )
        )
    assert started <= datetime.now(UTC)
    assert client.get("/queue", follow_redirects=False).status_code == 200
    with console.factory.begin() as session:
        session.execute(
            update(ConsoleSession).values(
                created_at=datetime.now(UTC) - timedelta(hours=8, seconds=1),
                last_seen_at=datetime.now(UTC),
            )
        )
    resp = client.get("/queue", follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == "/login"
    assert client.get("/api/v1/me").status_code == 401


def test_an_idle_session_ends_and_activity_is_recorded(console: Console) -> None:
    client = console.login("dpo")
    with console.factory.begin() as session:
        session.execute(
            update(ConsoleSession).values(last_seen_at=datetime.now(UTC) - timedelta(minutes=20))
        )
    assert client.get("/register").status_code == 200  # 20 min idle: fine, and recorded
    with console.factory() as session:
        seen = session.scalars(select(ConsoleSession.last_seen_at)).one()
    assert datetime.now(UTC) - seen < timedelta(minutes=5)
    with console.factory.begin() as session:
        session.execute(
            update(ConsoleSession).values(last_seen_at=datetime.now(UTC) - timedelta(minutes=31))
        )
    assert client.get("/register", follow_redirects=False).status_code == 303


def test_lifetime_and_idle_timeout_come_from_the_settings(fresh_db_url: str) -> None:
    console = build_console(fresh_db_url)
    app = create_app(
        Settings(
            secret_key=SECRET, database_url=fresh_db_url, session_hours=1, session_idle_minutes=5
        ),
        session_factory=console.factory,
    )
    client = TestClient(app, base_url="https://testserver")
    assert _login(client, email_for("rssi"), PASSWORD).status_code == 303
    with console.factory.begin() as session:
        session.execute(
            update(ConsoleSession).values(created_at=datetime.now(UTC) - timedelta(minutes=61))
        )
    assert client.get("/queue", follow_redirects=False).status_code == 303


def test_password_change_page_revokes_the_other_sessions(console: Console) -> None:
    client = console.login("rssi")
    other = console.login("rssi")  # the same person on another machine
    old_cookie = client.cookies.get(security.SESSION_COOKIE)
    assert old_cookie
    page = client.get("/account/password")
    assert page.status_code == 200 and 'autocomplete="new-password"' in page.text
    token = csrf_from(page.text)
    missing = client.post(
        "/account/password",
        data={"current": PASSWORD, "new": NEW_PASSWORD, "confirm": NEW_PASSWORD},
        follow_redirects=False,
    )
    assert missing.status_code == 403  # CSRF
    wrong = client.post(
        "/account/password",
        data={
            "current": "not my password",
            "new": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
            "csrf_token": token,
        },
    )
    assert wrong.status_code == 422 and "Mot de passe actuel incorrect." in wrong.text
    weak = client.post(
        "/account/password",
        data={
            "current": PASSWORD,
            "new": "password1234",
            "confirm": "password1234",
            "csrf_token": token,
        },
    )
    assert weak.status_code == 422 and "parmi les plus courants" in weak.text
    differ = client.post(
        "/account/password",
        data={
            "current": PASSWORD,
            "new": NEW_PASSWORD,
            "confirm": NEW_PASSWORD + "!",
            "csrf_token": token,
        },
    )
    assert differ.status_code == 422 and "diffèrent" in differ.text
    ok = client.post(
        "/account/password",
        data={
            "current": PASSWORD,
            "new": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert ok.status_code == 303
    assert "Vos autres sessions sont fermées." in client.get(ok.headers["location"]).text
    assert client.get("/queue", follow_redirects=False).status_code == 200  # a fresh session
    assert client.cookies.get(security.SESSION_COOKIE) != old_cookie
    assert other.get("/queue", follow_redirects=False).status_code == 303
    assert _replay(console, old_cookie).get("/queue", follow_redirects=False).status_code == 303
    assert _login(console.client(), email_for("rssi"), PASSWORD).status_code == 401
    assert _login(console.client(), email_for("rssi"), NEW_PASSWORD).status_code == 303
    with console.factory() as session:
        actions = [
            e.action
            for e in audit_chain.entries_for(
                session=session, subject=f"console_user:{console.users['rssi']}"
            )
        ]
        stored = session.scalars(
            select(User.password_hash).where(User.id == console.users["rssi"])
        ).one()
    assert actions.count("user.password_changed") == 1
    assert NEW_PASSWORD not in stored


def test_deactivation_ends_the_sessions(console: Console) -> None:
    client = console.login("analyst")
    with console.factory.begin() as session:
        security.update_user(session=session, user_id=console.users["analyst"], active=False)
        security.update_user(session=session, user_id=console.users["analyst"], active=True)
    # Reactivated, but the old session stays dead: a new login is needed.
    assert client.get("/queue", follow_redirects=False).status_code == 303
    assert console.login("analyst").get("/queue").status_code == 200


# --- login throttling ------------------------------------------------------------------------


@pytest.mark.parametrize("fresh_db_url", ["sqlite", "postgresql"], indirect=True)
def test_the_rssi_logs_in_after_20_failures_from_another_source(console: Console) -> None:
    attacker = _client(console, "203.0.113.66")
    codes = [
        _login(attacker, email_for("rssi"), f"guess number {i}").status_code for i in range(20)
    ]
    assert codes[:5] == [401] * 5 and set(codes[5:]) == {429}
    # Even the right password is refused from the source that failed...
    assert _login(attacker, email_for("rssi"), PASSWORD).status_code == 429
    # ...never from the RSSI's own address.
    rssi = _client(console, "192.0.2.10")
    assert _login(rssi, email_for("rssi"), PASSWORD).status_code == 303
    assert rssi.get("/queue").status_code == 200


def test_slow_down_is_progressive_and_has_no_lock_out(console: Console) -> None:
    throttle = security.Throttle()
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def attempt(at: datetime, password: str, ip: str = "198.51.100.1") -> str:
        with console.factory.begin() as session:
            try:
                user = security.authenticate(
                    session=session,
                    secret_key=SECRET,
                    email=email_for("dpo"),
                    password=password,
                    ip=ip,
                    throttle=throttle,
                    now=at,
                )
            except security.LoginThrottled as exc:
                return f"wait {exc.retry_after}"
        return "ok" if user else "bad"

    at = start
    assert [attempt(at + timedelta(seconds=i), "wrong one") for i in range(5)] == ["bad"] * 5
    at += timedelta(seconds=4)
    waits = []
    for _ in range(4):
        at += timedelta(seconds=1)
        refused = attempt(at, PASSWORD)
        assert refused.startswith("wait ")
        waits.append(int(refused.split()[1]))
        at += timedelta(seconds=waits[-1])
        assert attempt(at, "still wrong") == "bad"  # allowed once the wait is over
    assert waits[1] > waits[0] and waits[2] > waits[1]  # doubling
    assert max(waits) <= int(throttle.window.total_seconds())
    # The account is being attacked: a clean source still gets in at once, and once the
    # wait is over the failing source gets in with the right password too.
    assert attempt(at + timedelta(seconds=1), PASSWORD, ip="192.0.2.44") == "ok"
    later = at + throttle.window + timedelta(seconds=1)
    assert attempt(later, PASSWORD) == "ok"


def test_x_forwarded_for_counts_only_from_a_trusted_proxy(
    fresh_db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    console = build_console(fresh_db_url, trusted_proxies=["10.0.0.0/8"])
    proxy = _client(console, "10.0.0.2")
    attacker = {"X-Forwarded-For": "203.0.113.66"}
    for _ in range(20):
        _login(proxy, email_for("rssi"), "wrong password!!", headers=attacker)
    assert _login(proxy, email_for("rssi"), PASSWORD, headers=attacker).status_code == 429
    # The attacker cannot pose as someone else: the proxy appends the real address last.
    spoofed = {"X-Forwarded-For": "192.0.2.10, 203.0.113.66"}
    assert _login(proxy, email_for("rssi"), PASSWORD, headers=spoofed).status_code == 429
    rssi = {"X-Forwarded-For": "192.0.2.10"}
    assert _login(proxy, email_for("rssi"), PASSWORD, headers=rssi).status_code == 303
    # From an untrusted peer the header is ignored: the peer address is the source.
    direct = _client(console, "198.51.100.3")
    for _ in range(5):
        _login(direct, email_for("dpo"), "wrong password!!", headers=rssi)
    assert _login(direct, email_for("dpo"), PASSWORD, headers=rssi).status_code == 429
    assert _login(proxy, email_for("dpo"), PASSWORD, headers=rssi).status_code == 303
    # The operator hears about the ignored header once, without any address.
    warnings = [r.getMessage() for r in caplog.records if "X-Forwarded-For" in r.getMessage()]
    assert len(warnings) == 1 and "--trusted-proxy" in warnings[0]
    assert "198.51.100.3" not in warnings[0] and "192.0.2.10" not in warnings[0]


def test_client_address_rules() -> None:
    proxies = security.parse_proxies(["10.0.0.0/8", "::1"])
    assert security.client_address("10.1.1.1", "198.51.100.7", proxies) == "198.51.100.7"
    assert (
        security.client_address("10.1.1.1", "1.2.3.4, 198.51.100.7, 10.2.2.2", proxies)
        == "198.51.100.7"
    )
    assert security.client_address("198.51.100.9", "1.2.3.4", proxies) == "198.51.100.9"
    assert security.client_address("::1", "2001:db8::5", proxies) == "2001:db8::5"
    assert security.client_address("10.1.1.1", None, proxies) == "10.1.1.1"
    with pytest.raises(ConfigError, match="--trusted-proxy"):
        security.parse_proxies(["not-an-address"])


# --- secret key ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key", ["changeme", "change-me", "", "short-but-random-9f8e", "k" * 48, "ab" * 20, "CHANGEME"]
)
def test_start_up_refuses_a_weak_secret_key(key: str, fresh_db_url: str) -> None:
    with pytest.raises(ConfigError) as info:
        create_app(Settings(secret_key=key, database_url=fresh_db_url))
    message = str(info.value)
    assert message.startswith("TOCSIN_SECRET_KEY: ")
    assert "secrets.token_urlsafe(48)" in message


def test_tocsin_console_refuses_changeme(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "TOCSIN_SECRET_KEY": "changeme",
        "TOCSIN_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        "HOME": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-m", "tocsin.cli", "console", "--port", "1"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "TOCSIN_SECRET_KEY" in done.stderr and "token_urlsafe" in done.stderr
    assert "changeme" not in done.stderr  # the value itself is never echoed


def test_a_random_key_is_accepted(fresh_db_url: str) -> None:
    import secrets

    app = create_app(Settings(secret_key=secrets.token_urlsafe(32), database_url=fresh_db_url))
    assert app.state.secret_key


# --- passwords -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "password, reason",
    [
        ("aaaaaaaaaaaa", "password_common"),
        ("password1234", "password_common"),
        ("Azertyuiop123", "password_common"),
        ("short", "password_too_short"),
        ("new@avmup.test", "password_weak"),
        ("qwertyqwerty", "password_weak"),
    ],
)
def test_weak_passwords_are_refused(console: Console, password: str, reason: str) -> None:
    with console.factory() as session, pytest.raises(security.InvalidUserInput) as info:
        security.create_user(
            session=session, email="new@avmup.test", password=password, role="analyst"
        )
    assert str(info.value) == reason


def test_the_users_page_reshows_a_weak_password_with_the_message(console: Console) -> None:
    client = console.login("admin")
    resp = client.post(
        "/users",
        data={
            "email": "new@avmup.test",
            "role": "analyst",
            "password": "password1234",
            "csrf_token": console.csrf(client),
        },
    )
    assert resp.status_code == 422
    assert "Ce mot de passe est parmi les plus courants" in resp.text
    assert 'value="new@avmup.test"' in resp.text


def test_old_attempts_and_sessions_are_purged_at_login(console: Console) -> None:
    from accounts.models import LoginAttempt

    _login(console.client(), email_for("dpo"), "wrong password!!")
    console.login("dpo")
    long_ago = datetime.now(UTC) - timedelta(days=2)
    with console.factory.begin() as session:
        session.execute(update(LoginAttempt).values(at=long_ago))
        session.execute(update(ConsoleSession).values(created_at=long_ago))
    _login(console.client(), email_for("rssi"), "wrong password!!")
    with console.factory() as session:
        attempts = list(session.scalars(select(LoginAttempt.at)))
        sessions = list(session.scalars(select(ConsoleSession)))
    assert len(attempts) == 3 and all(a > long_ago for a in attempts)  # the new one only
    assert sessions == []


def test_signing_in_again_ends_the_previous_session(console: Console) -> None:
    client = console.login("rssi")
    first = client.cookies.get(security.SESSION_COOKIE)
    assert first
    console.login("rssi", client)
    assert client.cookies.get(security.SESSION_COOKIE) != first
    assert client.get("/queue").status_code == 200
    assert _replay(console, first).get("/queue", follow_redirects=False).status_code == 303


def test_a_cookie_forged_with_the_real_key_is_still_anonymous(console: Console) -> None:
    codec = security.SessionCodec(SECRET)
    for payload in (
        {"uid": console.users["rssi"], "sv": 1, "csrf": "x"},
        {"sid": "guessed-session-id", "csrf": "x"},
    ):
        forged = _replay(console, codec.dumps(payload))
        assert forged.get("/queue", follow_redirects=False).status_code == 303
        assert forged.get("/api/v1/me").status_code == 401
