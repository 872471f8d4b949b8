"""Every route and API endpoint, for every role and for an anonymous caller.

The expected table is the access policy written out by hand; the routes are enumerated from
the application, so a new route without an entry here fails `test_every_route_is_covered`.
Allowed roles must never get 401/403 or a redirect to the login page; every other role gets
exactly 403; anonymous callers get a redirect to /login (pages) or 401 (API).
State-changing calls send a valid CSRF token and an empty or harmless body, and target
objects that do not exist, so the matrix changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from console import security
from detectors.finding import Severity
from tests.console.support import SECRET, Console, draft_for, seed_incident

A, R, D, M = "analyst", "rssi", "dpo", "admin"
EVERYONE = frozenset({A, R, D, M})
READERS = frozenset({A, R, D})
TRIAGE = frozenset({A, R})
RSSI = frozenset({R})
REGISTER = frozenset({R, D})
SIGNERS = frozenset({R, D})  # the DPO co-signs CNIL, data-subject and public notices
ADMIN = frozenset({M})
PUBLIC = "public"
CSRF_ONLY = "csrf-only"

EXPECTED: dict[tuple[str, str], frozenset[str] | str] = {
    ("GET", "/"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): CSRF_ONLY,
    ("POST", "/logout"): CSRF_ONLY,
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("MOUNT", "/static"): PUBLIC,
    ("GET", "/api/v1/openapi.json"): PUBLIC,
    ("GET", "/health"): EVERYONE,
    ("GET", "/account/password"): EVERYONE,
    ("POST", "/account/password"): EVERYONE,
    ("GET", "/users"): ADMIN,
    ("POST", "/users"): ADMIN,
    ("POST", "/users/{user_id}"): ADMIN,
    ("GET", "/queue"): READERS,
    ("GET", "/incidents/{ref}"): READERS,
    ("POST", "/incidents/{ref}/transition"): TRIAGE,
    ("POST", "/incidents/{ref}/comment"): READERS,
    ("POST", "/incidents/{ref}/severity"): TRIAGE,
    ("POST", "/incidents/{ref}/aware-at"): RSSI,
    ("POST", "/incidents/{ref}/register-fields"): REGISTER,
    ("POST", "/incidents/{ref}/clock"): RSSI,
    ("POST", "/incidents/{ref}/decision"): RSSI,
    ("POST", "/incidents/{ref}/draft-notices"): RSSI,
    ("GET", "/notices/{notice_id}/preview"): READERS,
    ("POST", "/notices/{notice_id}/approve"): SIGNERS,
    ("POST", "/notices/{notice_id}/reject"): SIGNERS,
    ("POST", "/incidents/{ref}/notice-fields"): RSSI,
    ("POST", "/incidents/{ref}/qualify"): RSSI,
    ("POST", "/notices/{notice_id}/send"): RSSI,
    ("POST", "/notices/{notice_id}/cnil-receipt"): REGISTER,
    ("GET", "/register"): REGISTER,
    ("GET", "/overview"): READERS,
    ("GET", "/customers"): READERS,
    ("GET", "/customers/{tenant_id}"): READERS,
    ("POST", "/customers/{tenant_id}"): RSSI,
    ("GET", "/register.csv"): REGISTER,
    ("GET", "/register/print"): REGISTER,
    ("GET", "/api/v1/me"): EVERYONE,
    ("PATCH", "/api/v1/me"): EVERYONE,
    ("GET", "/api/v1/health"): EVERYONE,
    ("GET", "/api/v1/incidents"): READERS,
    ("GET", "/api/v1/incidents/{ref}"): READERS,
    ("GET", "/api/v1/incidents/{ref}/audit"): READERS,
    ("POST", "/api/v1/incidents/{ref}/transition"): TRIAGE,
    ("POST", "/api/v1/incidents/{ref}/comments"): READERS,
    ("POST", "/api/v1/incidents/{ref}/severity"): TRIAGE,
    ("POST", "/api/v1/incidents/{ref}/aware-at"): RSSI,
    ("PATCH", "/api/v1/incidents/{ref}/register-fields"): REGISTER,
    ("POST", "/api/v1/incidents/{ref}/clock"): RSSI,
    ("POST", "/api/v1/incidents/{ref}/decisions"): RSSI,
    ("POST", "/api/v1/incidents/{ref}/draft-notices"): RSSI,
    ("GET", "/api/v1/notices/{notice_id}"): READERS,
    ("POST", "/api/v1/notices/{notice_id}/approve"): SIGNERS,
    ("POST", "/api/v1/notices/{notice_id}/reject"): SIGNERS,
    ("GET", "/api/v1/incidents/{ref}/notice-fields"): READERS,
    ("PATCH", "/api/v1/incidents/{ref}/notice-fields"): RSSI,
    ("POST", "/api/v1/incidents/{ref}/qualify"): RSSI,
    ("POST", "/api/v1/notices/{notice_id}/send"): RSSI,
    ("POST", "/api/v1/notices/{notice_id}/cnil-receipt"): REGISTER,
    ("GET", "/api/v1/register"): REGISTER,
    ("GET", "/api/v1/register.csv"): REGISTER,
    ("GET", "/api/v1/users"): ADMIN,
    ("POST", "/api/v1/users"): ADMIN,
    ("PATCH", "/api/v1/users/{user_id}"): ADMIN,
    ("GET", "/api/v1/tokens"): ADMIN,
    ("POST", "/api/v1/tokens"): ADMIN,
    ("DELETE", "/api/v1/tokens/{token_id}"): ADMIN,
    ("GET", "/declare"): TRIAGE,
    ("POST", "/declare"): TRIAGE,
    ("POST", "/incidents/{ref}/assess"): TRIAGE,
    ("POST", "/incidents/{ref}/findings"): TRIAGE,
    ("POST", "/incidents/{ref}/merge"): TRIAGE,
    ("POST", "/api/v1/incidents"): TRIAGE,
    ("POST", "/api/v1/incidents/{ref}/findings"): TRIAGE,
    ("POST", "/api/v1/incidents/{ref}/merge"): TRIAGE,
}


def app_routes(app: FastAPI) -> Iterator[tuple[str, str]]:
    """(method, path) of every route, including those of included routers and mounts."""
    for route in app.routes:
        contexts = getattr(route, "effective_route_contexts", None)
        if contexts is not None:  # an included router (FastAPI >= 0.16x)
            for ctx in contexts():
                for method in sorted(getattr(ctx.original_route, "methods", None) or ()):
                    if method != "HEAD":
                        yield method, ctx.path
            continue
        methods = getattr(route, "methods", None)
        path = str(getattr(route, "path", ""))
        if methods is None:
            yield "MOUNT", path
            continue
        for method in sorted(methods):
            if method != "HEAD":
                yield method, path


def test_every_route_is_covered(console: Console) -> None:
    found = set(app_routes(console.app))
    assert found == set(EXPECTED), (
        f"routes without a matrix entry: {sorted(found - set(EXPECTED))}; "
        f"stale entries: {sorted(set(EXPECTED) - found)}"
    )


def _concrete(path: str, ref: str, notice_id: int) -> str:
    return (
        path.replace("{ref}", ref)
        .replace("{notice_id}", str(notice_id))
        .replace("{user_id}", "999999")
        .replace("{token_id}", "999999")
        .replace("{tenant_id}", "acme")
        .replace("/static", "/static/console.css")
    )


def _call(console: Console, client: Any, method: str, path: str, cookie: str | None) -> Any:
    client.cookies.clear()
    headers: dict[str, str] = {}
    if cookie is not None:
        headers["Cookie"] = f"{security.SESSION_COOKIE}={cookie}"
        data = security.SessionCodec(SECRET).loads(cookie)
        assert data is not None
        headers["X-CSRF-Token"] = data["csrf"]
    if method == "GET":
        return client.get(path, headers=headers, follow_redirects=False)
    if path.startswith("/api/"):
        return client.request(method, path, headers=headers, json={}, follow_redirects=False)
    return client.request(method, path, headers=headers, data={}, follow_redirects=False)


@pytest.fixture
def sessions(console: Console) -> dict[str, str]:
    cookies = {}
    for role in (A, R, D, M):
        client = console.login(role)
        value = client.cookies.get(security.SESSION_COOKIE)
        assert value
        cookies[role] = value
    return cookies


@pytest.mark.parametrize("fresh_db_url", ["sqlite", "postgresql"], indirect=True)
def test_route_role_matrix(console: Console, sessions: dict[str, str]) -> None:
    ref = seed_incident(console.factory, severity=Severity.CRITICAL)
    notice_ids = draft_for(console.factory, ref)
    assert notice_ids, "a critical incident of a processor's customer drafts a notice"
    client = console.client()
    failures: list[str] = []
    for (method, path), allowed in sorted(EXPECTED.items()):
        # Reads target real objects; writes target a notice that does not exist.
        url = _concrete(path, ref, notice_ids[0] if method == "GET" else 999999)
        http_method = "GET" if method == "MOUNT" else method
        is_api = path.startswith("/api/") and path != "/api/v1/openapi.json"
        anon = _call(console, client, http_method, url, None)
        if allowed == PUBLIC:
            if anon.status_code >= 400:
                failures.append(f"anonymous {method} {path}: {anon.status_code}")
            continue
        if allowed == CSRF_ONLY:
            if anon.status_code != 403:
                failures.append(f"anonymous {method} {path} without CSRF: {anon.status_code}")
            continue
        if is_api:
            if anon.status_code != 401:
                failures.append(f"anonymous {method} {path}: {anon.status_code} != 401")
        elif anon.status_code != 303 or anon.headers.get("location") != "/login":
            failures.append(f"anonymous {method} {path}: {anon.status_code} not to /login")
        for role, cookie in sessions.items():
            resp = _call(console, client, http_method, url, cookie)
            if role in allowed:
                denied = resp.status_code in (401, 403) or (
                    resp.status_code == 303 and resp.headers.get("location") == "/login"
                )
                if denied:
                    failures.append(f"{role} {method} {path}: denied ({resp.status_code})")
                elif method == "GET" and resp.status_code != 200:
                    failures.append(f"{role} {method} {path}: {resp.status_code} != 200")
            elif resp.status_code != 403:
                failures.append(f"{role} {method} {path}: {resp.status_code} != 403")
    assert not failures, "\n".join(failures)


def test_bearer_tokens_follow_the_same_roles(console: Console) -> None:
    ref = seed_incident(console.factory)
    client = console.client()
    tokens = {role: console.token(role) for role in (A, D, M)}
    for role, token in tokens.items():
        auth = {"Authorization": f"Bearer {token}"}
        queue = client.get("/api/v1/incidents", headers=auth)
        users = client.get("/api/v1/users", headers=auth)
        register = client.get("/api/v1/register", headers=auth)
        assert queue.status_code == (200 if role in READERS else 403), role
        assert users.status_code == (200 if role in ADMIN else 403), role
        assert register.status_code == (200 if role in REGISTER else 403), role
    # An analyst may confirm but not move an incident to notified.
    auth = {"Authorization": f"Bearer {tokens[A]}"}
    assert (
        client.post(
            f"/api/v1/incidents/{ref}/transition", headers=auth, json={"to": "triage"}
        ).status_code
        == 200
    )
    assert (
        client.post(
            f"/api/v1/incidents/{ref}/transition", headers=auth, json={"to": "confirmed"}
        ).status_code
        == 200
    )
    notified = client.post(
        f"/api/v1/incidents/{ref}/transition", headers=auth, json={"to": "notified"}
    )
    assert notified.status_code == 403
    detail = client.get(f"/api/v1/incidents/{ref}", headers=auth).json()
    assert detail["status"] == "confirmed"
