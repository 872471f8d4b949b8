"""The overview, its queue filters, the customer pages, the status form's safe default and
the awareness date picked in Paris time: over HTTP against a real database."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from console.i18n import human_datetime
from detectors.finding import Severity
from incidents import audit as audit_chain
from incidents import service as incident_service
from incidents.db import transaction
from incidents.models import Customer
from notifiers import customers
from notifiers.models import Notice, OutboxMessage
from tests.console.support import (
    Console,
    TestClient,
    build_console,
    draft_for,
    seed_incident,
)


def _refs(html: str) -> list[str]:
    body = html.split('<table id="queue">', 1)[1] if '<table id="queue">' in html else ""
    return re.findall(r'<a href="/incidents/(INC-[0-9-]+)">', body)


def _transition(console: Console, client: TestClient, ref: str, **data: str) -> int:
    token = console.csrf(client, f"/incidents/{ref}")
    return int(
        client.post(
            f"/incidents/{ref}/transition",
            data={**data, "csrf_token": token},
            follow_redirects=False,
        ).status_code
    )


def test_dates_are_shown_in_paris_time_with_the_utc_value(console: Console) -> None:
    detected = datetime(2026, 12, 1, 9, 21, 9, 612079, tzinfo=UTC)
    ref = seed_incident(
        console.factory, detected=detected, first_seen=detected - timedelta(hours=1)
    )
    client = console.login("rssi")
    page = client.get(f"/incidents/{ref}").text
    assert (
        '<dd><time datetime="2026-12-01T09:21:09Z" title="2026-12-01 09:21 UTC">'
        "1er décembre 2026 à 10 h 21</time></dd>"
    ) in page
    assert "09:21:09.612079" not in page
    english = client.get(f"/incidents/{ref}", params={"lang": "en"}).text
    assert ">1 December 2026 at 10:21</time>" in english
    queue = client.get("/queue", params={"lang": "fr"}).text
    assert human_datetime(detected, lang="fr", tz="Europe/Paris") in queue
    assert 'data-deadline="2026-12-02T09:21:09Z"' in queue  # customer clock: 24 h


def test_awareness_is_picked_in_paris_time(console: Console) -> None:
    ref = seed_incident(console.factory)
    client = console.login("rssi")
    page = client.get(f"/incidents/{ref}").text
    assert re.search(
        r'<input id="aware_at" name="aware_at" type="datetime-local"[^>]*'
        r'value="\d{4}-\d\d-\d\dT\d\d:\d\d"',
        page,
    )
    when = (datetime.now(UTC) - timedelta(hours=2)).replace(second=0, microsecond=0)
    local = when.astimezone(ZoneInfo("Europe/Paris")).strftime("%Y-%m-%dT%H:%M")
    token = console.csrf(client, f"/incidents/{ref}")
    bad = client.post(
        f"/incidents/{ref}/aware-at",
        data={"aware_at": "demain", "justification": "call", "csrf_token": token},
    )
    assert bad.status_code == 422
    assert "Date invalide" in bad.text and 'value="demain"' in bad.text
    ok = client.post(
        f"/incidents/{ref}/aware-at",
        data={"aware_at": local, "justification": "customer call", "csrf_token": token},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    detail = client.get(f"/api/v1/incidents/{ref}").json()
    assert datetime.fromisoformat(detail["aware_at"]) == when
    # The API keeps its ISO 8601 with an offset.
    earlier = when - timedelta(hours=1)
    api = client.post(
        f"/api/v1/incidents/{ref}/aware-at",
        json={"aware_at": earlier.isoformat(), "justification": "log review"},
        headers={"X-CSRF-Token": token},
    )
    assert api.status_code == 200, api.text
    assert (
        datetime.fromisoformat(client.get(f"/api/v1/incidents/{ref}").json()["aware_at"]) == earlier
    )


def test_dismissal_is_never_a_default_and_asks_for_confirmation(console: Console) -> None:
    ref = seed_incident(console.factory)
    client = console.login("analyst")
    page = client.get(f"/incidents/{ref}").text
    select_html = page.split('<select id="to" name="to" required>', 1)[1].split("</select>")[0]
    options = re.findall(r'<option value="([^"]*)"', select_html)
    assert options == ["", "triage"]  # a neutral first option; no dismissal in this list
    assert '<input type="hidden" name="to" value="dismissed">' in page
    assert _transition(console, client, ref, to="dismissed", reason="false positive") == 422
    unconfirmed = client.post(
        f"/incidents/{ref}/transition",
        data={
            "to": "dismissed",
            "reason": "false positive",
            "csrf_token": console.csrf(client, f"/incidents/{ref}"),
        },
    )
    assert "cochez la confirmation" in unconfirmed.text
    assert "false positive</textarea>" in unconfirmed.text  # the reason is kept
    with console.factory() as session:
        assert incident_service.require_by_ref(session=session, ref=ref).status == "detected"
    assert (
        _transition(console, client, ref, to="dismissed", reason="false positive", confirm="on")
        == 303
    )
    with console.factory() as session:
        found = incident_service.require_by_ref(session=session, ref=ref)
        assert found.status == "dismissed"
        assert found.resolution_reason == "false positive"
        entries = audit_chain.entries_for(session=session, subject=ref)
    assert [e.data["to"] for e in entries if e.action == "incident.transition"] == ["dismissed"]


@pytest.mark.parametrize("fresh_db_url", ["sqlite", "postgresql"], indirect=True)
def test_overview_counts_link_to_the_filtered_queue(fresh_db_url: str) -> None:
    console = build_console(fresh_db_url)
    now = datetime.now(UTC)
    overdue = seed_incident(
        console.factory,
        tenant="t-over",
        actor="a1",
        ip="198.51.100.1",
        detected=now - timedelta(hours=30),
        severity=Severity.CRITICAL,
    )
    [urgent] = draft_for(console.factory, overdue)  # the customer notice
    soon = seed_incident(
        console.factory,
        tenant="t-soon",
        actor="a2",
        ip="198.51.100.2",
        detected=now - timedelta(hours=2),
    )
    far = seed_incident(
        console.factory,
        tenant="t-far",
        actor="a3",
        ip="198.51.100.3",
        detected=now - timedelta(hours=1),
        severity=Severity.CRITICAL,
    )
    with transaction(console.factory) as session:  # a controller with a long contract
        customers.update_customer(
            session=session,
            tenant_id="t-far",
            name="Far SA",
            contact_email="dpo@far.test",
            language="fr",
            notify_delay_hours="720",
            role="controller",
            actor_email="rssi@avmup.test",
        )
    rssi = console.login("rssi")
    assert _transition(console, rssi, far, to="triage") == 303
    token = console.csrf(rssi, f"/incidents/{far}")
    assert (
        rssi.post(
            f"/incidents/{far}/severity",
            data={
                "dpc": "2.0",
                "ei": "1.0",
                "cb_confidentiality": "0.5",
                "malicious": "on",
                "persons": "40",
                "justification": "credentials of a controller's staff",
                "csrf_token": token,
            },
            follow_redirects=False,
        ).status_code
        == 303
    )
    with console.factory() as session:
        cnil = session.scalars(select(Notice).where(Notice.kind == "cnil")).one()
    assert (
        rssi.post(
            f"/notices/{cnil.id}/approve", data={"csrf_token": token}, follow_redirects=False
        ).status_code
        == 303
    )
    # The customer notice approved, then refused for good by the relay (a 5xx).
    assert (
        rssi.post(
            f"/notices/{urgent}/approve", data={"csrf_token": token}, follow_redirects=False
        ).status_code
        == 303
    )
    with transaction(console.factory) as session:
        message = session.scalars(
            select(OutboxMessage).where(OutboxMessage.notice_id == urgent)
        ).one()
        message.state = "failed"

    page = console.login("dpo").get("/overview").text
    tiles = {
        k: (h.replace("&amp;", "&"), int(n))
        for k, h, n in re.findall(
            r'data-key="(\w+)">\s*<a href="([^"]+)"><span class="tile-count">(\d+)</span>', page
        )
    }
    assert {k: n for k, (_, n) in tiles.items()} == {
        "ov_overdue": 1,
        "ov_due_24h": 1,
        "ov_detected": 2,
        "ov_awaiting_dpo": 1,
        "ov_delivery": 1,
    }
    client = console.login("analyst")
    listed = {k: _refs(client.get(h).text) for k, (h, _) in tiles.items()}
    assert listed["ov_overdue"] == [overdue]
    assert listed["ov_due_24h"] == [soon]
    assert sorted(listed["ov_detected"]) == sorted([overdue, soon])
    assert listed["ov_awaiting_dpo"] == [far]
    assert listed["ov_delivery"] == [overdue]
    api = client.get("/api/v1/incidents", params={"due": "overdue"}).json()
    assert [i["ref"] for i in api["items"]] == [overdue] and api["total"] == 1
    api = client.get("/api/v1/incidents", params={"notices": "dpo", "scope": "all"}).json()
    assert [i["ref"] for i in api["items"]] == [far]
    # The filters combine with the others and page like the plain queue.
    assert _refs(client.get("/queue", params={"due": "overdue", "tenant": "t-soon"}).text) == []
    assert _refs(client.get("/queue", params={"due": "overdue", "notices": "delivery"}).text) == [
        overdue
    ]
    assert _refs(client.get("/queue", params={"due": "24h", "notices": "delivery"}).text) == []
    assert _refs(client.get("/queue", params={"due": "nonsense"}).text) == _refs(
        client.get("/queue").text
    )
    console.factory.kw["bind"].dispose()


def test_customer_page_shows_terms_incidents_and_notices(console: Console) -> None:
    ref = seed_incident(
        console.factory,
        tenant="acme",
        severity=Severity.CRITICAL,
        customer=("ACME <SA>", "rssi@acme.test;dpo@acme.test"),
    )
    draft_for(console.factory, ref)
    seed_incident(
        console.factory,
        tenant="globex",
        actor="g1",
        ip="198.51.100.9",
        customer=("Globex", "sec@globex.test"),
    )
    client = console.login("analyst")
    listing = client.get("/customers").text
    assert '<a href="/customers/acme">ACME &lt;SA&gt;</a>' in listing
    assert "sous-traitant (AVM Up informe le client)" in listing
    queue = client.get("/queue").text
    assert '<a href="/customers/acme">acme</a>' in queue
    resp = client.get("/customers/acme")
    assert resp.headers["cache-control"] == "no-store"  # contacts are not cached
    page = resp.text
    assert 'href="mailto:rssi@acme.test"' in page and 'href="mailto:dpo@acme.test"' in page
    assert "<dd>24 h</dd>" in page and "<dd>français</dd>" in page
    assert f'<a href="/incidents/{ref}">{ref}</a>' in page
    assert "globex" not in page.lower()  # another customer's incident is not listed
    assert 'id="customer-form"' not in page  # analysts read, the RSSI edits
    with console.factory() as session:
        notice_ids = list(session.scalars(select(Notice.id).where(Notice.tenant_id == "acme")))
    assert notice_ids and all(f"#notice-{n}" in page for n in notice_ids)
    assert client.get("/customers/nobody").status_code == 404
    assert client.get("/customers/bad%20id").status_code == 404


def test_rssi_edits_a_customer_bad_input_reshown_and_the_edit_audited(console: Console) -> None:
    ref = seed_incident(console.factory, tenant="acme")
    client = console.login("rssi")
    page = client.get("/customers/acme").text
    assert 'id="customer-form"' in page
    token = console.csrf(client, "/customers/acme")
    form = {
        "name": "ACME SA",
        "contact_email": "rssi@acme.test",
        "language": "en",
        "notify_delay_hours": "douze",
        "role": "controller",
        "csrf_token": token,
    }
    bad = client.post("/customers/acme", data=form)
    assert bad.status_code == 422
    assert "Délai invalide" in bad.text and 'value="douze"' in bad.text
    assert (
        'id="c-delay" name="notify_delay_hours" required inputmode="decimal" '
        'value="douze" aria-invalid="true"' in bad.text
    )
    worse = client.post(
        "/customers/acme",
        data={**form, "notify_delay_hours": "12", "contact_email": "not an address"},
    )
    assert worse.status_code == 422 and "Adresse de contact invalide." in worse.text
    with console.factory() as session:
        row = session.get(Customer, "acme")
        assert row is not None and row.notify_delay_hours == 24.0 and row.role == "processor"
    ok = client.post(
        "/customers/acme", data={**form, "notify_delay_hours": "12,5"}, follow_redirects=False
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/customers/acme?ok=1"
    with console.factory() as session:
        row = session.get(Customer, "acme")
        assert row is not None
        assert (row.notify_delay_hours, row.role, row.language) == (12.5, "controller", "en")
        entries = audit_chain.entries_for(session=session, subject="tenant:acme")
        assert audit_chain.verify(session=session).ok
    assert [e.action for e in entries] == ["customer.upsert"]
    assert entries[0].actor == "rssi@avmup.test"
    assert entries[0].data["changed"] == ["contact_email", "language", "notify_delay_hours", "role"]
    after = client.get("/customers/acme").text
    assert "<dd>12.5 h</dd>" in after and "responsable de traitement" in after
    assert "délai contractuel" in after  # the audited edit, listed on the page
    detail = client.get(f"/api/v1/incidents/{ref}").json()
    customer_clock = next(c for c in detail["clocks"] if c["clock"] == "customer")
    assert datetime.fromisoformat(customer_clock["due_at"]) == datetime.fromisoformat(
        detail["aware_at"]
    ) + timedelta(hours=12.5)


def test_rssi_records_the_terms_of_a_tenant_seen_only_in_incidents(console: Console) -> None:
    ref = seed_incident(console.factory, tenant="newco", customer=None)
    client = console.login("rssi")
    page = client.get("/customers/newco").text
    assert "Aucun contrat enregistré" in page and f">{ref}</a>" in page
    token = console.csrf(client, "/customers/newco")
    form = {
        "name": "NewCo",
        "contact_email": "sec@newco.test",
        "language": "fr",
        "notify_delay_hours": "48",
        "role": "processor",
        "csrf_token": token,
    }
    assert client.post("/customers/nobody", data=form).status_code == 404
    assert client.post("/customers/newco", data=form, follow_redirects=False).status_code == 303
    with console.factory() as session:
        assert session.get(Customer, "nobody") is None
        row = session.get(Customer, "newco")
        assert row is not None and row.notify_delay_hours == 48.0
    assert "<dd>48 h</dd>" in client.get("/customers/newco").text


def test_register_page_reads_in_french_and_links_customers(console: Console) -> None:
    ref = seed_incident(console.factory, tenant="acme")
    client = console.login("rssi")
    token = console.csrf(client, f"/incidents/{ref}")
    client.post(
        f"/incidents/{ref}/severity",
        data={
            "dpc": "1.0",
            "ei": "0.25",
            "persons": "1",
            "justification": "une adresse",
            "csrf_token": token,
        },
    )
    page = client.get("/register").text
    row = page.split(f'<a href="/incidents/{ref}">{ref}</a>', 1)[1].split("</tr>", 1)[0]
    assert '<a href="/customers/acme">acme</a>' in row
    assert "<td>client</td>" in row  # the recommendation: tell the customer
    text = re.sub(r"<[^>]+>", " ", row)
    assert "persons" not in text and "customer" not in text, text
