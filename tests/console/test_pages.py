"""The incident pages and their forms, end to end over HTTP against a real database."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from console.i18n import LABELS
from detectors.finding import Severity
from incidents import audit as audit_chain
from incidents import service as incident_service
from notifiers.models import Notice
from tests.console.support import (
    FIELDS_FORM,
    Console,
    TestClient,
    build_console,
    draft_for,
    seed_incident,
)


def _csrf(console: Console, client: TestClient, ref: str) -> str:
    return console.csrf(client, f"/incidents/{ref}")


def test_queue_lists_nearest_deadline_first_with_countdowns(console: Console) -> None:
    now = datetime.now(UTC)
    later = seed_incident(
        console.factory,
        tenant="t-late",
        actor="a1",
        ip="198.51.100.1",
        detected=now - timedelta(hours=1),
    )
    urgent = seed_incident(
        console.factory,
        tenant="t-urgent",
        actor="a2",
        ip="198.51.100.2",
        detected=now - timedelta(hours=20),
    )
    client = console.login("analyst")
    html = client.get("/queue").text
    assert html.index(urgent) < html.index(later)
    assert html.count('class="countdown" data-deadline="') == 2
    filtered = client.get("/queue", params={"tenant": "t-late"}).text
    assert later in filtered and urgent not in filtered
    api = client.get("/api/v1/incidents").json()
    assert [i["ref"] for i in api["items"]] == [urgent, later]
    assert api["total"] == 2


def test_filtered_queue_keeps_the_deadline_order(console: Console) -> None:
    now = datetime.now(UTC)
    refs = [
        seed_incident(
            console.factory,
            tenant=f"o{n}",
            actor=f"a{n}",
            ip=f"198.51.100.{n + 30}",
            detected=now - timedelta(hours=h),
        )
        for n, h in enumerate((3, 23, 10, 1))
    ]
    client = console.login("rssi")
    token = console.csrf(client, f"/incidents/{refs[0]}")
    client.post(
        f"/incidents/{refs[0]}/transition",
        data={"to": "dismissed", "reason": "false positive", "confirm": "on", "csrf_token": token},
    )
    plain = [
        i["ref"] for i in client.get("/api/v1/incidents", params={"scope": "all"}).json()["items"]
    ]
    searched = [
        i["ref"]
        for i in client.get("/api/v1/incidents", params={"scope": "all", "q": "inc-"}).json()[
            "items"
        ]
    ]
    assert plain == [refs[1], refs[2], refs[3], refs[0]]  # closed ones last
    assert searched == plain


def test_queue_filters_by_text_band_and_tenant(console: Console) -> None:
    exfil = seed_incident(
        console.factory, tenant="globex", actor="a1", ip="198.51.100.41", rule="EXFIL-002"
    )
    auth = seed_incident(console.factory, tenant="acme", actor="a2", ip="198.51.100.42")
    client = console.login("analyst")

    def refs(**params: str) -> tuple[list[str], int]:
        body = client.get("/api/v1/incidents", params=params).json()
        return [i["ref"] for i in body["items"]], body["total"]

    assert refs(q="exfil") == ([exfil], 1)
    assert refs(q="GLOB") == ([exfil], 1)
    assert refs(q=auth.lower()) == ([auth], 1)
    assert refs(q="%") == ([], 0)
    assert refs(tenant="acme") == ([auth], 1)
    every = client.get("/api/v1/incidents").json()["items"]
    for band in ("low", "medium", "high", "very_high"):
        wanted = [i["ref"] for i in every if i["severity_band"] == band]
        assert refs(band=band) == (wanted, len(wanted))
    assert refs(band="nonsense")[1] == 2  # an unknown value is ignored
    html = client.get("/queue", params={"q": "exfil"}).text
    assert exfil in html and auth not in html
    detail = client.get(f"/api/v1/incidents/{exfil}").json()
    assert [f["rule_id"] for f in detail["findings"]] == ["EXFIL-002"]
    assert len(detail["evidence"]) == 3  # the three events the finding cites


def test_queue_paginates(console: Console) -> None:
    for n in range(3):
        seed_incident(console.factory, tenant=f"p{n}", actor=f"a{n}", ip=f"198.51.100.{n + 10}")
    client = console.login("dpo")
    page1 = client.get("/api/v1/incidents", params={"per_page": 2}).json()
    page2 = client.get("/api/v1/incidents", params={"per_page": 2, "page": 2}).json()
    assert page1["total"] == 3 and len(page1["items"]) == 2 and len(page2["items"]) == 1
    assert not {i["ref"] for i in page1["items"]} & {i["ref"] for i in page2["items"]}


@pytest.mark.parametrize("fresh_db_url", ["sqlite", "postgresql"], indirect=True)
def test_triage_comment_and_severity_are_audited(fresh_db_url: str) -> None:
    console = build_console(fresh_db_url)
    ref = seed_incident(console.factory)
    client = console.login("analyst")
    token = _csrf(console, client, ref)
    for to in ("triage", "confirmed"):
        resp = client.post(
            f"/incidents/{ref}/transition",
            data={"to": to, "reason": "", "csrf_token": token},
            follow_redirects=False,
        )
        assert resp.status_code == 303
    assert (
        client.post(
            f"/incidents/{ref}/comment",
            data={"text": "Checked with the customer", "csrf_token": token},
            follow_redirects=False,
        ).status_code
        == 303
    )
    resp = client.post(
        f"/incidents/{ref}/severity",
        data={
            "dpc": "2.0",
            "ei": "1.0",
            "cb_confidentiality": "0.5",
            "cb_integrity": "0",
            "cb_availability": "0",
            "malicious": "on",
            "persons": "40",
            "justification": "credential stuffing on a customer account",
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert resp.status_code == 303
    page = client.get(f"/incidents/{ref}").text
    assert 'id="inc-status" data-status="confirmed">confirmé<' in page
    assert 'id="sev-score">3.0<' in page
    assert "Checked with the customer" in page
    with console.factory() as session:
        actions = [e.action for e in audit_chain.entries_for(session=session, subject=ref)]
        assert audit_chain.verify(session=session).ok
    assert actions.count("incident.transition") == 2
    assert "incident.comment" in actions and "severity.assessed" in actions
    console.factory.kw["bind"].dispose()


def test_bad_input_is_reshown_with_the_message(console: Console) -> None:
    ref = seed_incident(console.factory)
    client = console.login("rssi")
    token = _csrf(console, client, ref)
    dismissed = client.post(
        f"/incidents/{ref}/transition",
        data={"to": "dismissed", "reason": "", "confirm": "on", "csrf_token": token},
    )
    assert dismissed.status_code == 409
    assert "requires a reason" in dismissed.text
    assert 'role="alert"' in dismissed.text
    aware = client.post(
        f"/incidents/{ref}/aware-at",
        data={"aware_at": "not a date", "justification": "x", "csrf_token": token},
    )
    assert aware.status_code == 422
    assert 'value="not a date"' in aware.text
    severity = client.post(
        f"/incidents/{ref}/severity",
        data={"dpc": "9", "ei": "1.0", "justification": "why", "csrf_token": token},
    )
    assert severity.status_code == 422
    with console.factory() as session:
        assert incident_service.require_by_ref(session=session, ref=ref).status == "detected"


def test_analyst_cannot_notify_through_the_page(console: Console) -> None:
    ref = seed_incident(console.factory)
    client = console.login("analyst")
    token = _csrf(console, client, ref)
    for to in ("triage", "confirmed"):
        client.post(f"/incidents/{ref}/transition", data={"to": to, "csrf_token": token})
    resp = client.post(f"/incidents/{ref}/transition", data={"to": "notified", "csrf_token": token})
    assert resp.status_code == 403


def test_rssi_edits_approves_and_rejects_notices(console: Console) -> None:
    ref = seed_incident(console.factory, severity=Severity.CRITICAL, fields=False)
    [notice_id] = draft_for(console.factory, ref)
    client = console.login("rssi")
    page = client.get(f"/incidents/{ref}").text
    assert f'id="notice-{notice_id}"' in page and 'data-status="draft"' in page
    token = _csrf(console, client, ref)
    refused = client.post(f"/notices/{notice_id}/approve", data={"csrf_token": token})
    assert refused.status_code == 422 and "[à compléter]" in refused.text
    assert 'href="#field-cause"' in refused.text  # the fields still to fill, with links
    filled = client.post(
        f"/incidents/{ref}/notice-fields",
        data={**FIELDS_FORM, "csrf_token": token},
        follow_redirects=False,
    )
    assert filled.status_code == 303
    with console.factory() as session:
        notice = session.get(Notice, notice_id)
        assert notice is not None
        body = notice.text_body
    assert "Acte externe malveillant" in body and "[à compléter]" not in body
    resp = client.post(
        f"/notices/{notice_id}/approve",
        data={
            "subject": "Violation de données — ACME",
            "text_body": body + "\nAjout du RSSI.\n",
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert resp.status_code == 303
    with console.factory() as session:
        notice = session.get(Notice, notice_id)
        assert notice is not None
        assert notice.status == "approved" and notice.edited
        assert notice.subject == "Violation de données — ACME"
        assert "Ajout du RSSI." in notice.text_body
        edited = [
            e
            for e in audit_chain.entries_for(session=session, subject=ref)
            if e.action == "notice.edited"
        ]
    assert len(edited) == 1 and "+Ajout du RSSI." in edited[0].data["diff"]
    again = client.post(
        f"/notices/{notice_id}/reject", data={"reason": "too late", "csrf_token": token}
    )
    assert again.status_code == 409


def test_dpo_reads_but_cannot_approve(console: Console) -> None:
    ref = seed_incident(console.factory, severity=Severity.CRITICAL)
    [notice_id] = draft_for(console.factory, ref)
    client = console.login("dpo")
    page = client.get(f"/incidents/{ref}").text
    assert f"/notices/{notice_id}/approve" not in page
    token = _csrf(console, client, ref)
    resp = client.post(f"/notices/{notice_id}/approve", data={"csrf_token": token})
    assert resp.status_code == 403


def test_send_without_smtp_is_refused_and_audited_nothing(console: Console) -> None:
    ref = seed_incident(console.factory, severity=Severity.CRITICAL)
    [notice_id] = draft_for(console.factory, ref)
    client = console.login("rssi")
    token = _csrf(console, client, ref)
    client.post(f"/notices/{notice_id}/approve", data={"csrf_token": token})
    resp = client.post(f"/notices/{notice_id}/send", data={"csrf_token": token})
    assert resp.status_code == 409
    assert "TOCSIN_SMTP_URL" in resp.text


def test_register_page_and_exports(console: Console) -> None:
    ref = seed_incident(console.factory)
    client = console.login("dpo")
    assert ref in client.get("/register").text
    exported = client.get("/register.csv")
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["ref"] for r in rows] == [ref]
    printable = client.get("/register/print")
    assert ref in printable.text
    assert "script-src" not in printable.headers["content-security-policy"]
    with console.factory() as session:
        exports = list(audit_chain.entries_for(session=session, subject="register"))
    assert [e.data["format"] for e in exports] == ["csv", "html"]


def test_admin_manages_users_and_bad_input_is_reshown(console: Console) -> None:
    client = console.login("admin")
    token = console.csrf(client, "/users")
    bad = client.post(
        "/users",
        data={
            "email": "not-an-email",
            "role": "rssi",
            "password": "long enough password",
            "csrf_token": token,
        },
    )
    assert bad.status_code == 422
    assert "Adresse e-mail invalide." in bad.text and 'value="not-an-email"' in bad.text
    short = client.post(
        "/users",
        data={"email": "x@avmup.test", "role": "rssi", "password": "short", "csrf_token": token},
    )
    assert short.status_code == 422 and "trop court" in short.text
    ok = client.post(
        "/users",
        data={
            "email": "New.Analyst@avmup.test",
            "role": "analyst",
            "password": "long enough password",
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert ok.status_code == 303
    users = client.get("/api/v1/users").json()
    created = next(u for u in users if u["email"] == "new.analyst@avmup.test")
    resp = client.post(
        f"/users/{created['id']}",
        data={"role": "dpo", "active": "", "csrf_token": token},
        follow_redirects=False,
    )
    assert resp.status_code == 303
    after = next(u for u in client.get("/api/v1/users").json() if u["id"] == created["id"])
    assert after["role"] == "dpo" and after["active"] is False


def test_cnil_receipt_route_reaches_the_service(console: Console) -> None:
    ref = seed_incident(console.factory, severity=Severity.CRITICAL)
    [notice_id] = draft_for(console.factory, ref)
    client = console.login("dpo")
    token = _csrf(console, client, ref)
    resp = client.post(
        f"/notices/{notice_id}/cnil-receipt", data={"receipt": "CNIL-2026-42", "csrf_token": token}
    )
    assert resp.status_code == 409  # a customer notice has no CNIL receipt
    assert "not a CNIL notice" in resp.text
    with console.factory() as session:
        kinds = set(session.scalars(select(Notice.kind)))
    assert kinds == {"customer"}


def test_rssi_stops_the_cnil_clock_and_records_a_decision(console: Console) -> None:
    ref = seed_incident(console.factory)
    client = console.login("rssi")
    token = _csrf(console, client, ref)
    refused = client.post(
        f"/incidents/{ref}/clock",
        data={"clock": "cnil", "action": "stop", "justification": "", "csrf_token": token},
    )
    assert refused.status_code == 422 and "justification" in refused.text
    stopped = client.post(
        f"/incidents/{ref}/clock",
        data={
            "clock": "cnil",
            "action": "stop",
            "csrf_token": token,
            "justification": "hashed passwords only: unlikely to result in a risk",
        },
        follow_redirects=False,
    )
    assert stopped.status_code == 303
    decided = client.post(
        f"/incidents/{ref}/decision",
        data={
            "decision": "CNIL not notified",
            "justification": "Art. 33(1) exemption",
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert decided.status_code == 303
    detail = client.get(f"/api/v1/incidents/{ref}").json()
    cnil = next(c for c in detail["clocks"] if c["clock"] == "cnil")
    assert cnil["state"] == "stopped"
    assert cnil["stop_justification"].startswith("hashed passwords only")
    assert [(c["kind"], c["text"]) for c in detail["comments"]] == [
        ("decision", "CNIL not notified")
    ]


def test_values_read_in_the_console_language(console: Console) -> None:
    ref = seed_incident(
        console.factory,
        tenant="acme",
        actor="a1",
        ip="198.51.100.61",
        rule="ACC-001",
        severity=Severity.CRITICAL,
    )
    client = console.login("rssi")
    token = console.csrf(client, f"/incidents/{ref}")
    client.post(f"/incidents/{ref}/transition", data={"to": "triage", "csrf_token": token})
    fr = client.get("/queue").text
    assert 'data-status="triage">en cours d&#39;analyse<' in fr
    band = client.get("/api/v1/incidents").json()["items"][0]["severity_band"]
    assert f">{LABELS['fr']['severity'][band]} (" in fr and "ACC-001 sur 1 client" in fr
    assert ">triage<" not in fr and "on 1 tenant" not in fr
    page = client.get(f"/incidents/{ref}").text
    assert '<option value="confirmed" >confirmé</option>' in page
    en = client.get("/queue", params={"lang": "en"}).text
    assert 'data-status="triage">in triage<' in en and "ACC-001 on 1 tenant" in en
