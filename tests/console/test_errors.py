"""Errors by type: every domain error has an HTTP category, and the console maps categories,
never class names."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

from accounts.errors import AccountError
from console.errors import ConsoleError, LoginThrottled, http_status
from consumers.errors import CATEGORIES, Conflict, Denied, Invalid, NotFound, TocsinError
from incidents.exceptions import IncidentError, IncidentNotFound, InvalidTransition
from notifiers.exceptions import ApprovalDenied, NoticeError
from tests.console.support import Console, seed_incident

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("consumers", "detectors", "incidents", "accounts", "notifiers", "console", "tocsin")
# Roots of a package's errors: never raised themselves.
ABSTRACT = {TocsinError, IncidentError, NoticeError, ConsoleError, AccountError, *CATEGORIES}


def _all_error_classes() -> set[type[TocsinError]]:
    for name in PACKAGES:
        package = importlib.import_module(name)
        for info in pkgutil.walk_packages(package.__path__, prefix=name + "."):
            if ".migrations" not in info.name:
                importlib.import_module(info.name)
    found: set[type[TocsinError]] = set()
    todo: list[type[TocsinError]] = [TocsinError]
    while todo:
        klass = todo.pop()
        for sub in klass.__subclasses__():
            if sub not in found and sub.__module__.split(".")[0] in PACKAGES:
                found.add(sub)
                todo.append(sub)
    return found


def test_every_domain_error_has_an_http_category() -> None:
    classes = _all_error_classes()
    assert len(classes) > 30  # the walk found the packages' errors
    missing = sorted(
        f"{k.__module__}.{k.__qualname__}"
        for k in classes - ABSTRACT
        if not issubclass(k, CATEGORIES)
    )
    assert not missing, f"errors without a category: {missing}"
    for klass in classes - ABSTRACT:
        assert 400 <= klass.http_status < 600, klass


def test_the_category_decides_the_status() -> None:
    class Renamed(NotFound):  # the name says nothing; the category does
        pass

    class UnknownSomethingConflict(Invalid):
        pass

    assert http_status(Renamed("x")) == 404
    assert http_status(UnknownSomethingConflict("x")) == 422
    assert http_status(IncidentNotFound("x")) == 404
    assert http_status(InvalidTransition("x")) == 409
    assert http_status(ApprovalDenied("x")) == 403
    assert http_status(LoginThrottled("x")) == 429
    assert http_status(ValueError("x")) == 500
    assert issubclass(InvalidTransition, Conflict) and issubclass(ApprovalDenied, Denied)


def test_no_status_is_chosen_by_class_name() -> None:
    offenders = []
    pattern = re.compile(
        r"__name__\s*(==|!=|in\b)|_DOMAIN_STATUS|"
        r"\"[A-Z][A-Za-z]+(NotFound|Error|Denied)\"\s*:\s*\d{3}"
    )
    for path in (ROOT / "console").rglob("*.py"):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not offenders, offenders


def test_api_errors_are_problem_details(console: Console) -> None:
    ref = seed_incident(console.factory)
    auth = {"Authorization": f"Bearer {console.token('rssi')}"}
    client = console.client()
    missing = client.get("/api/v1/incidents/INC-1999-0001", headers=auth)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["status"] == 404 and missing.json()["title"] == "Not Found"
    conflict = client.post(
        f"/api/v1/incidents/{ref}/transition", headers=auth, json={"to": "closed"}
    )
    assert conflict.status_code == 409 and conflict.json()["status"] == 409
    invalid = client.post(f"/api/v1/incidents/{ref}/comments", headers=auth, json={})
    body = invalid.json()
    assert invalid.status_code == 422
    assert invalid.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in body["errors"]] == ["text"]
    assert "text" in body["detail"]
    anon = client.get("/api/v1/incidents")
    assert anon.status_code == 401 and anon.json()["status"] == 401
    assert anon.headers["www-authenticate"] == "Bearer"
    nowhere = client.get("/api/v1/nowhere", headers=auth)
    assert nowhere.status_code == 404 and nowhere.json()["type"] == "about:blank"


def test_openapi_documents_the_error_answers(console: Console) -> None:
    spec = console.client().get("/api/v1/openapi.json").json()
    problem = spec["components"]["schemas"]["Problem"]
    assert set(problem["required"]) >= {"title", "status", "detail"}
    operation = spec["paths"]["/api/v1/incidents/{ref}/transition"]["post"]
    for status in ("401", "403", "404", "409", "422"):
        content = operation["responses"][status]["content"]
        assert content["application/problem+json"]["schema"] == {
            "$ref": "#/components/schemas/Problem"
        }, status
    assert "HTTPValidationError" not in spec["components"]["schemas"]


def test_form_posts_to_an_unknown_incident_or_notice_are_404(console: Console) -> None:
    client = console.login("rssi")
    token = console.csrf(client)
    for path, form in (
        ("/incidents/INC-1999-0042/comment", {"text": "hello"}),
        ("/incidents/INC-1999-0042/transition", {"to": "triage"}),
        ("/incidents/INC-1999-0042/severity", {"dpc": "1", "ei": "0.5", "justification": "x"}),
        (
            "/incidents/INC-1999-0042/aware-at",
            {"aware_at": "2026-01-01T00:00", "justification": "x"},
        ),
        ("/incidents/INC-1999-0042/decision", {"decision": "x", "justification": "y"}),
        ("/notices/999999/approve", {}),
        ("/notices/999999/reject", {"reason": "x"}),
    ):
        resp = client.post(path, data={**form, "csrf_token": token}, follow_redirects=False)
        assert resp.status_code == 404, (path, resp.status_code)
        assert "rssi@avmup.test" in resp.text  # the page still knows who is signed in
