"""Every page, rendered as a user meets it, scanned for what a person should never read: an
ISO timestamp with microseconds, a Python list or dict repr, an English sentence in the
French console."""

from __future__ import annotations

import html
import re

import pytest

from detectors.finding import Severity
from tests.console.support import Console, draft_for, seed_incident

MICROSECONDS = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d\.\d+")
PYTHON_REPR = re.compile(r"\[\s*'|\{\s*'[^']*'\s*:|\[\]|\{\}|(?<![\w-])None(?![\w-])")
# English that leaked into French pages before: recommendation reasons, the automatic
# assessment's justification, the rationale, register labels.
ENGLISH = (
    "processor:",
    "controller:",
    "pre-filled",
    "register only",
    "unintelligible",
    "Consequences",
    "measures",
    "persons≈",
    "highest class",
    "categories:",
    "every breach",
    "data subjects",
    "Justification: ",
    "(UTC, ISO",
    # the detection catalogue's own summaries (English, written when found)
    "Brute force",
    "failed logins",
    "login failures",
    "Password spraying",
    "account takeover",
    "Staff access",
    "without ticket",
    "accesses",
    "tenant(s)",
    "of tenant",
    "threshold",
    "confidentiality",
)


def _visible(page: str, *, code: bool = True) -> str:
    """The text a person reads: no tags (so no attribute values), no <script> or <style>
    bodies, entities decoded; without the <code> records (the audit trail's stored data,
    kept as written) when `code` is false."""
    page = re.sub(r"<(script|style)\b.*?</\1>", "", page, flags=re.S)
    if not code:
        page = re.sub(r"<code\b.*?</code>", "", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def _problems(path: str, page: str) -> list[str]:
    text = _visible(page)
    found = [f"{path}: microseconds {m.group(0)!r}" for m in MICROSECONDS.finditer(text)]
    found += [
        f"{path}: Python repr near {text[max(0, m.start() - 40) : m.end() + 40]!r}"
        for m in PYTHON_REPR.finditer(text)
    ]
    prose = _visible(page, code=False)
    found += [f"{path}: English {word!r}" for word in ENGLISH if word in prose]
    return found


def _busy_console(console: Console) -> dict[str, str]:
    """Incidents in several states, with assessments, notices, comments and decisions."""
    untouched = seed_incident(
        console.factory,
        tenant="acme",
        actor="a1",
        ip="198.51.100.1",
        severity=Severity.CRITICAL,
        summary=(
            "Brute force: 12 failed logins on account a1 of tenant acme (threshold 10 in 5 min)"
        ),
    )
    staff = seed_incident(
        console.factory,
        tenant="acme",
        actor="support-7",
        ip="198.51.100.4",
        rule="ACC-003",
        summary=(
            "Staff access without ticket: support-7 reached data of 1 "
            "tenant(s): 40 records in 3 accesses"
        ),
    )
    draft_for(console.factory, untouched)
    worked = seed_incident(
        console.factory,
        tenant="globex",
        actor="g1",
        ip="198.51.100.2",
        severity=Severity.CRITICAL,
        customer=("Globex", "sec@globex.test"),
    )
    client = console.login("rssi")
    token = console.csrf(client, f"/incidents/{worked}")

    def post(path: str, **data: str) -> None:
        resp = client.post(path, data={**data, "csrf_token": token}, follow_redirects=False)
        assert resp.status_code == 303, (path, resp.status_code)

    post(f"/incidents/{worked}/transition", to="triage", reason="checking")
    post(
        f"/incidents/{worked}/severity",
        dpc="2.0",
        ei="1.0",
        cb_confidentiality="0.5",
        malicious="on",
        persons="12",
        justification="comptes clients compromis",
    )
    post(f"/incidents/{worked}/comment", text="Client prévenu par téléphone")
    post(
        f"/incidents/{worked}/decision",
        decision="Informer le client",
        justification="sous-traitant",
    )
    post(
        f"/incidents/{worked}/clock",
        clock="cnil",
        action="stop",
        justification="sous-traitant : la CNIL relève du client",
    )
    dismissed = seed_incident(console.factory, tenant="acme", actor="a3", ip="198.51.100.3")
    post(f"/incidents/{dismissed}/transition", to="dismissed", reason="faux positif", confirm="on")
    return {"untouched": untouched, "worked": worked, "dismissed": dismissed, "staff": staff}


@pytest.mark.parametrize("fresh_db_url", ["sqlite"], indirect=True)
def test_no_page_shows_raw_values_in_french(console: Console) -> None:
    refs = _busy_console(console)
    rssi = console.login("rssi")
    pages = [
        "/queue",
        "/queue?scope=all",
        "/overview",
        "/register",
        "/customers",
        "/customers/acme",
        "/customers/globex",
        "/health",
        *(f"/incidents/{ref}" for ref in refs.values()),
    ]
    problems: list[str] = []
    for path in pages:
        resp = rssi.get(path)
        assert resp.status_code == 200, path
        assert '<html lang="fr">' in resp.text
        problems += _problems(path, resp.text)
    for path in pages:  # in English: no microseconds and no repr either
        resp = rssi.get(path, params={"lang": "en"})
        assert '<html lang="en">' in resp.text
        problems += [p for p in _problems(f"{path} (en)", resp.text) if "English" not in p]
    admin = console.login("admin")
    for path in ("/users", "/health"):
        resp = admin.get(path)
        assert resp.status_code == 200, path
        problems += _problems(f"{path} (admin)", resp.text)
    assert not problems, "\n".join(problems)


def test_the_scan_catches_what_it_looks_for() -> None:
    assert _problems("x", "<td>2026-12-01T09:21:09.612079+00:00</td>")
    assert _problems("x", "<li>categories: [&#39;identification&#39;]</li>")
    assert _problems("x", "<td>{&#39;a&#39;: 1}</td>")
    assert _problems("x", "<p>processor: every breach is reported</p>")
    assert not _problems("x", '<code>{"from": "detected"}</code><p>1er décembre 2026</p>')
    assert _problems("x", "<td>Brute force: 12 failed logins on account a1</td>")
