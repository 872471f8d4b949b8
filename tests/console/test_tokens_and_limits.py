"""API tokens (expiry, revocation, deactivation), the body-size limit, the last admin, the
RSSI's dismissal of a confirmed incident, the console's metrics token, the metrics host."""

from __future__ import annotations

import argparse
import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from accounts.models import ApiToken
from console import security
from console.app import create_app
from incidents import audit as audit_chain
from incidents import service as incident_service
from tests.console.support import SECRET, Console, TestClient, email_for, seed_incident
from tocsin.commands import users as users_cmd
from tocsin.settings import Settings, get_settings


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- tokens ----------------------------------------------------------------------------------


def test_an_expired_token_is_refused(console: Console) -> None:
    client = console.client()
    with console.factory.begin() as session:
        _row, old = security.create_token(
            session=session,
            email=email_for("dpo"),
            days=90,
            now=datetime.now(UTC) - timedelta(days=90, minutes=1),
        )
        _row, fresh = security.create_token(session=session, email=email_for("dpo"), days=1)
    assert client.get("/api/v1/me", headers=_bearer(old)).status_code == 401
    assert client.get("/api/v1/me", headers=_bearer(fresh)).status_code == 200
    with console.factory() as session:
        rows = {r.id: r for r in session.scalars(select(ApiToken))}
        states = sorted(security.token_state(r) for r in rows.values())
        created = min(rows.values(), key=lambda r: r.id)
    assert states == ["active", "expired"]
    assert security.token_expires_at(created) - created.created_at == timedelta(days=90)


def test_tokens_default_to_90_days(console: Console) -> None:
    with console.factory.begin() as session:
        row, _secret = security.create_token(session=session, email=email_for("rssi"))
        assert row.expires_at is not None
        assert row.expires_at - row.created_at == timedelta(days=90)


def test_admins_list_create_and_revoke_tokens_through_the_api(console: Console) -> None:
    client = console.client()
    admin = _bearer(console.token("admin"))
    created = client.post(
        "/api/v1/tokens",
        headers=admin,
        json={"email": email_for("rssi"), "name": "siem", "days": 30},
    )
    assert created.status_code == 201
    body = created.json()
    secret, token_id = body["token"], body["id"]
    assert body["state"] == "active" and body["email"] == email_for("rssi")
    assert client.get("/api/v1/incidents", headers=_bearer(secret)).status_code == 200
    listed = client.get("/api/v1/tokens", headers=admin, params={"email": email_for("rssi")}).json()
    assert [t["id"] for t in listed] == [token_id]
    assert all("token" not in t and "token_hash" not in t for t in listed)
    revoked = client.delete(f"/api/v1/tokens/{token_id}", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    assert client.get("/api/v1/incidents", headers=_bearer(secret)).status_code == 401
    assert client.delete("/api/v1/tokens/999999", headers=admin).status_code == 404
    too_long = client.post(
        "/api/v1/tokens", headers=admin, json={"email": email_for("rssi"), "days": 5000}
    )
    assert too_long.status_code == 422
    assert [e["field"] for e in too_long.json()["errors"]] == ["days"]
    unknown = client.post("/api/v1/tokens", headers=admin, json={"email": "nobody@x.test"})
    assert unknown.status_code == 404
    with console.factory() as session:
        actions = [
            e.action
            for e in audit_chain.entries_for(
                session=session, subject=f"console_user:{console.users['rssi']}"
            )
        ]
    assert actions == ["token.created", "token.revoked"]


def test_a_token_dies_with_its_users_deactivation_and_stays_dead(console: Console) -> None:
    client = console.client()
    secret = console.token("analyst")
    assert client.get("/api/v1/me", headers=_bearer(secret)).status_code == 200
    admin = _bearer(console.token("admin"))
    uid = console.users["analyst"]
    assert (
        client.patch(f"/api/v1/users/{uid}", headers=admin, json={"active": False}).status_code
        == 200
    )
    assert client.get("/api/v1/me", headers=_bearer(secret)).status_code == 401
    assert (
        client.patch(f"/api/v1/users/{uid}", headers=admin, json={"active": True}).status_code
        == 200
    )
    assert client.get("/api/v1/me", headers=_bearer(secret)).status_code == 401
    listed = client.get(
        "/api/v1/tokens", headers=admin, params={"email": email_for("analyst")}
    ).json()
    assert [t["state"] for t in listed] == ["revoked"]
    assert client.get("/api/v1/me", headers=_bearer(console.token("analyst"))).status_code == 200


@pytest.fixture
def cli_env(console: Console, monkeypatch: pytest.MonkeyPatch) -> Iterator[Console]:
    monkeypatch.setenv("TOCSIN_DATABASE_URL", console.url)
    monkeypatch.setenv("TOCSIN_SECRET_KEY", SECRET)
    get_settings.cache_clear()
    yield console
    get_settings.cache_clear()


def _cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="tocsin")
    users_cmd.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    result: int = args.func(args)
    return result


def test_token_list_and_revoke_commands(
    cli_env: Console, capsys: pytest.CaptureFixture[str]
) -> None:
    console = cli_env
    assert _cli("token", "create", email_for("dpo"), "--name", "backup", "--days", "7") == 0
    secret = capsys.readouterr().out.strip()
    client = console.client()
    assert client.get("/api/v1/me", headers=_bearer(secret)).status_code == 200
    assert _cli("token", "list", "--json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["email"], r["name"], r["state"]) for r in rows] == [
        (email_for("dpo"), "backup", "active")
    ]
    expires = datetime.fromisoformat(rows[0]["expires_at"])
    assert timedelta(days=6) < expires - datetime.now(UTC) <= timedelta(days=7)
    assert _cli("token", "revoke", str(rows[0]["id"])) == 0
    assert client.get("/api/v1/me", headers=_bearer(secret)).status_code == 401
    assert _cli("token", "list") == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert "revoked" in line and "backup" in line and secret not in line


# --- body size -------------------------------------------------------------------------------


def _small_limit_app(console: Console) -> TestClient:
    app = create_app(
        Settings(secret_key=SECRET, database_url=console.url, max_body_bytes=4096),
        session_factory=console.factory,
    )
    return TestClient(app, base_url="https://testserver")


def test_a_large_anonymous_body_is_refused_before_anything_reads_it(console: Console) -> None:
    client = _small_limit_app(console)
    big = b"email=x&password=" + b"a" * 10_000
    resp = client.post(
        "/login", content=big, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert resp.status_code == 413
    assert resp.headers["content-type"] == "application/problem+json"
    api = client.post(
        "/api/v1/users",
        content=b"{" + b" " * 10_000 + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert api.status_code == 413  # before authentication (which would answer 401)


def test_a_streamed_body_is_cut_at_the_limit(console: Console) -> None:
    client = _small_limit_app(console)

    def chunks() -> Iterator[bytes]:
        for _ in range(64):
            yield b"x" * 1024

    resp = client.post(
        "/api/v1/users", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == 413
    assert resp.json()["status"] == 413


def test_bodies_under_the_limit_work(console: Console) -> None:
    client = _small_limit_app(console)
    page = client.get("/login")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    resp = client.post(
        "/login",
        data={
            "email": email_for("rssi"),
            "password": "correct horse battery staple",
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert resp.status_code == 303


# --- last admin, dismissal -------------------------------------------------------------------


def test_the_last_admin_cannot_be_demoted_or_deactivated(console: Console) -> None:
    client = console.client()
    admin = _bearer(console.token("admin"))
    uid = console.users["admin"]
    demote = client.patch(f"/api/v1/users/{uid}", headers=admin, json={"role": "analyst"})
    assert demote.status_code == 409 and demote.json()["detail"] == "last_admin"
    off = client.patch(f"/api/v1/users/{uid}", headers=admin, json={"active": False})
    assert off.status_code == 409
    page = console.login("admin")
    form = page.post(
        f"/users/{uid}", data={"role": "analyst", "csrf_token": console.csrf(page, "/users")}
    )
    assert form.status_code == 409
    assert "dernier administrateur actif" in form.text
    # With a second admin, the first may step down.
    second = client.patch(
        f"/api/v1/users/{console.users['dpo']}", headers=admin, json={"role": "admin"}
    )
    assert second.status_code == 200
    assert (
        client.patch(f"/api/v1/users/{uid}", headers=admin, json={"role": "rssi"}).json()["role"]
        == "rssi"
    )


def test_dismissing_a_confirmed_incident_needs_the_rssi(console: Console) -> None:
    ref = seed_incident(console.factory)
    client = console.client()
    analyst = _bearer(console.token("analyst"))
    for status in ("triage", "confirmed"):
        assert (
            client.post(
                f"/api/v1/incidents/{ref}/transition", headers=analyst, json={"to": status}
            ).status_code
            == 200
        )
    refused = client.post(
        f"/api/v1/incidents/{ref}/transition",
        headers=analyst,
        json={"to": "dismissed", "reason": "false positive"},
    )
    assert refused.status_code == 403
    with console.factory() as session:
        found = incident_service.require_by_ref(session=session, ref=ref)
        assert found.status == "confirmed"
    rssi = _bearer(console.token("rssi"))
    ok = client.post(
        f"/api/v1/incidents/{ref}/transition",
        headers=rssi,
        json={"to": "dismissed", "reason": "false positive"},
    )
    assert ok.status_code == 200 and ok.json()["status"] == "dismissed"


def test_an_analyst_still_dismisses_an_unconfirmed_incident(console: Console) -> None:
    ref = seed_incident(console.factory)
    analyst = _bearer(console.token("analyst"))
    client = console.client()
    assert (
        client.post(
            f"/api/v1/incidents/{ref}/transition", headers=analyst, json={"to": "triage"}
        ).status_code
        == 200
    )
    assert (
        client.post(
            f"/api/v1/incidents/{ref}/transition",
            headers=analyst,
            json={"to": "dismissed", "reason": "test traffic"},
        ).status_code
        == 200
    )


# --- metrics ---------------------------------------------------------------------------------


def test_console_metrics_can_require_a_token(console: Console) -> None:
    app = create_app(
        Settings(
            secret_key=SECRET,
            database_url=console.url,
            metrics_token=SecretStr("prometheus-scrape-token-1234"),
        ),
        session_factory=console.factory,
    )
    client = TestClient(app, base_url="https://testserver")
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=_bearer("wrong")).status_code == 401
    ok = client.get("/metrics", headers=_bearer("prometheus-scrape-token-1234"))
    assert ok.status_code == 200 and "tocsin_console_request_seconds" in ok.text
    assert console.client().get("/metrics").status_code == 200  # no token configured


def test_metrics_host_setting() -> None:
    assert Settings(metrics_host="10.1.2.3").metrics_bind == "10.1.2.3"
    in_container = Path("/.dockerenv").exists() or Path("/run/.containerenv").exists()
    assert Settings().metrics_bind == ("0.0.0.0" if in_container else "127.0.0.1")


def test_the_metrics_server_listens_where_it_is_told() -> None:
    from tocsin.telemetry import start_metrics_server

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    start_metrics_server(port, addr="127.0.0.1")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
        assert conn.recv(64).startswith(b"HTTP/1.0 200")


def test_token_days_setting_is_the_default_validity(console: Console) -> None:
    app = create_app(
        Settings(secret_key=SECRET, database_url=console.url, token_days=10),
        session_factory=console.factory,
    )
    client = TestClient(app, base_url="https://testserver")
    created = client.post(
        "/api/v1/tokens", headers=_bearer(console.token("admin")), json={"email": email_for("dpo")}
    )
    assert created.status_code == 201
    body = created.json()
    validity = datetime.fromisoformat(body["expires_at"]) - datetime.fromisoformat(
        body["created_at"]
    )
    assert validity == timedelta(days=10)


def test_user_password_command_resets_and_ends_sessions(
    cli_env: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    console = cli_env
    client = console.login("dpo")
    assert client.get("/register").status_code == 200
    monkeypatch.setenv("TOCSIN_PASSWORD", "password1234")
    with pytest.raises(security.InvalidUserInput, match="among the most common"):
        _cli("user", "password", email_for("dpo"))
    assert client.get("/register").status_code == 200  # nothing changed
    monkeypatch.setenv("TOCSIN_PASSWORD", "brass kettle meadow signal 9")
    assert _cli("user", "password", email_for("dpo")) == 0
    assert client.get("/register", follow_redirects=False).status_code == 303
    fresh = console.client()
    page = fresh.get("/login")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    ok = fresh.post(
        "/login",
        data={
            "email": email_for("dpo"),
            "password": "brass kettle meadow signal 9",
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert ok.status_code == 303
    with pytest.raises(security.UnknownUser):
        _cli("user", "password", "nobody@avmup.test")
