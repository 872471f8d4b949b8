"""Health, metrics, OpenAPI and the API's cookie + CSRF-header flow."""

from __future__ import annotations

from tests.console.support import Console, seed_incident


def test_healthz_and_health_page(console: Console) -> None:
    client = console.client()
    probe = client.get("/healthz")
    assert probe.status_code == 200 and probe.text == "ok"
    page = console.login("admin").get("/health")
    assert page.status_code == 200
    assert 'id="db-state" class="ok"' in page.text


def test_metrics_label_routes_by_template_not_by_id(console: Console) -> None:
    ref = seed_incident(console.factory)
    client = console.login("rssi")
    client.get(f"/incidents/{ref}")
    text = client.get("/metrics").text
    assert 'route="/incidents/{ref}"' in text
    assert ref not in text
    assert 'tocsin_console_logins_total{result="success"}' in text


def test_openapi_lists_the_api_and_no_page(console: Console) -> None:
    spec = console.client().get("/api/v1/openapi.json").json()
    paths = set(spec["paths"])
    assert "/api/v1/incidents/{ref}/transition" in paths
    assert "/api/v1/notices/{notice_id}/approve" in paths
    assert not any(not p.startswith("/api/v1/") for p in paths)
    assert "TransitionIn" in spec["components"]["schemas"]


def test_api_with_a_session_cookie_needs_the_csrf_header(console: Console) -> None:
    ref = seed_incident(console.factory)
    client = console.login("analyst")
    me = client.get("/api/v1/me").json()
    assert me["role"] == "analyst" and me["csrf_token"]
    body = {"text": "looked at it"}
    assert client.post(f"/api/v1/incidents/{ref}/comments", json=body).status_code == 403
    wrong = client.post(
        f"/api/v1/incidents/{ref}/comments", json=body, headers={"X-CSRF-Token": "nope"}
    )
    assert wrong.status_code == 403
    ok = client.post(
        f"/api/v1/incidents/{ref}/comments", json=body, headers={"X-CSRF-Token": me["csrf_token"]}
    )
    assert ok.status_code == 201
    comments = client.get(f"/api/v1/incidents/{ref}").json()["comments"]
    assert [c["text"] for c in comments] == ["looked at it"]


def test_api_errors_are_json(console: Console) -> None:
    ref = seed_incident(console.factory)
    token = console.token("rssi")
    auth = {"Authorization": f"Bearer {token}"}
    client = console.client()
    missing = client.get("/api/v1/incidents/INC-1999-0001", headers=auth)
    assert missing.status_code == 404 and missing.json()["error"] == "IncidentNotFound"
    bad = client.post(f"/api/v1/incidents/{ref}/transition", headers=auth, json={"to": "closed"})
    assert bad.status_code == 409 and bad.json()["error"] == "InvalidTransition"
    invalid = client.post(
        f"/api/v1/incidents/{ref}/severity",
        headers=auth,
        json={"dpc": 2, "ei": 0.3, "justification": "x"},
    )
    assert invalid.status_code == 422
    extra = client.post(
        f"/api/v1/incidents/{ref}/transition", headers=auth, json={"to": "triage", "sneaky": 1}
    )
    assert extra.status_code == 422
