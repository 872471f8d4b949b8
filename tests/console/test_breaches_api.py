"""Declaring a breach and deciding on it through the JSON API, on a fresh migrated database
with a real SMTP server on loopback (aiosmtpd, STARTTLS required, certificate from a test
CA): an RSSI declares a fax sent to the wrong number for one customer (AVM Up processor),
assesses it and decides; the customer notice is drafted, approved and delivered; the
register lists the incident with its source. Bad declarations answer 422 naming the field."""

from __future__ import annotations

import csv
import io
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller

from incidents.db import transaction
from notifiers.customers import CustomerRow, import_rows
from notifiers.outbox import SmtpConfig
from tests.console.support import Console, build_console

SENDER = "Tocsin AVM Up <securite@avmup.com>"


@dataclass
class Sink:
    received: list[bytes] = field(default_factory=list)
    rcpt: list[list[str]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(bytes(envelope.original_content or envelope.content))
        self.rcpt.append(list(envelope.rcpt_tos))
        return "250 2.0.0 queued"


@pytest.fixture
def sink_and_console(fresh_db_url: str) -> Iterator[tuple[Sink, Console]]:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sink = Sink()
    controller = Controller(
        sink, hostname="127.0.0.1", port=port, tls_context=server_ctx, require_starttls=True
    )
    controller.start()
    smtp = SmtpConfig(
        host="127.0.0.1",
        port=port,
        security="starttls",
        from_address=SENDER,
        ssl_context=client_ctx,
        timeout=10,
    )
    console = build_console(fresh_db_url, smtp=smtp)
    with transaction(console.factory) as session:
        import_rows(
            session=session,
            rows=[
                CustomerRow(
                    tenant_id="clinique-lyon",
                    name="Clinique de Lyon",
                    contact_email="dpo@clinique-lyon.test",
                    language="fr",
                    notify_delay_hours=24.0,
                    role="processor",
                ),
                CustomerRow(
                    tenant_id="avm-own",
                    name="AVM Informatique",
                    contact_email="it@avmup.test",
                    language="fr",
                    notify_delay_hours=24.0,
                    role="controller",
                ),
            ],
        )
    try:
        yield sink, console
    finally:
        controller.stop()
        console.factory.kw["bind"].dispose()


def fax_breach(now: datetime) -> dict[str, Any]:
    return {
        "tenant_ids": ["clinique-lyon"],
        "source": "customer_report",
        "nature": ["confidentiality"],
        "data_categories": ["content", "identification"],
        "services": ["faxbis"],
        "persons": 1,
        "records": 3,
        "occurred_from": (now - timedelta(hours=30)).isoformat(),
        "occurred_to": (now - timedelta(hours=30)).isoformat(),
        "discovered_at": (now - timedelta(hours=4)).isoformat(),
        "aware_at": (now - timedelta(hours=3)).isoformat(),
        "aware_justification": "the clinic confirmed the wrong number by phone",
        "title": "Fax sent to a wrong number",
        "summary": "Un compte-rendu a été télécopié à un numéro erroné par la clinique.",
    }


def _loc(resp: Any) -> list[str]:
    """The fields a 422 problem answer names (`errors[].loc`)."""
    return [str(part) for err in resp.json()["errors"] for part in err["loc"]]


def test_rssi_declares_assesses_decides_and_the_customer_is_told(
    sink_and_console: tuple[Sink, Console],
) -> None:
    sink, console = sink_and_console
    client = console.client()
    rssi = {"Authorization": f"Bearer {console.token('rssi')}"}
    analyst = {"Authorization": f"Bearer {console.token('analyst')}"}
    now = datetime.now(UTC)

    created = client.post("/api/v1/incidents", json=fax_breach(now), headers=rssi)
    assert created.status_code == 201, created.text
    inc = created.json()
    ref = inc["ref"]
    assert ref.startswith(f"INC-{now.year}-")
    assert (inc["source"], inc["status"], inc["tenants"]) == (
        "customer_report",
        "triage",
        ["clinique-lyon"],
    )
    assert inc["persons_estimate"] == 1 and inc["services"] == ["faxbis"]
    assert inc["aware_justification"] == "the clinic confirmed the wrong number by phone"
    assert inc["cnil_own"] is False  # processor only: the 72 h are the clinic's
    cnil_clock = next(c for c in inc["clocks"] if c["clock"] == "cnil")
    assert cnil_clock["informative"] is True

    # Only the RSSI decides against the advice.
    assessment = {
        "dpc": 4.0,
        "ei": 1.0,
        "cb_confidentiality": 0.25,
        "persons": 1,
        "justification": "a medical report reached one unknown fax machine",
    }
    denied = client.post(
        f"/api/v1/incidents/{ref}/severity",
        headers=analyst,
        json={**assessment, "notify_cnil": True},
    )
    assert denied.status_code == 403
    bad = client.post(
        f"/api/v1/incidents/{ref}/severity",
        headers=rssi,
        json={**assessment, "art34_exemption": "z_whatever", "art34_justification": "x"},
    )
    assert bad.status_code == 422
    decided = client.post(
        f"/api/v1/incidents/{ref}/severity",
        headers=rssi,
        json={**assessment, "notify_subjects": False},
    )
    assert decided.status_code == 200, decided.text
    body = decided.json()
    assert (body["band"], body["notify_customer"], body["notify_cnil"]) == (
        "very_high",
        True,
        False,
    )
    assert body["recommendation_overridden"] is False  # processor: the advice says so too
    assert body["advice"]["customer"] is True and body["decided_by"] == "rssi@avmup.test"
    assert body["factors"]["role"] == "processor"
    assert any("Art. 33(2)" in r for r in body["reasons"])

    fields = client.patch(
        f"/api/v1/incidents/{ref}/register-fields",
        headers=rssi,
        json={
            "consequences": "Divulgation d'un compte-rendu médical à un tiers.",
            "measures": "Le destinataire a détruit la télécopie ; numéro corrigé.",
        },
    )
    assert fields.status_code == 200
    # The structured facts a customer notice needs before it can be approved.
    entered = client.patch(
        f"/api/v1/incidents/{ref}/notice-fields",
        headers=rssi,
        json={
            "cause": "internal_accidental",
            "origin": "wrong_recipient",
            "subprocessors_involved": "no",
            "breach_ongoing": "no",
            "breach_ended_at": (now - timedelta(hours=30)).isoformat(),
            "measures_proposed": "Vérifier le numéro de télécopie avant chaque envoi.",
        },
    )
    assert entered.status_code == 200, entered.text
    moved = client.post(
        f"/api/v1/incidents/{ref}/transition", headers=rssi, json={"to": "confirmed"}
    )
    assert moved.json()["status"] == "confirmed"
    detail = client.get(f"/api/v1/incidents/{ref}", headers=rssi).json()
    kinds = {n["kind"] for n in detail["notices"]}
    assert kinds == {"customer"}  # and no CNIL draft for a processor-only incident
    notice = next(n for n in detail["notices"] if n["kind"] == "customer")
    approved = client.post(f"/api/v1/notices/{notice['id']}/approve", headers=rssi, json={})
    assert approved.status_code == 200, approved.text
    sent = client.post(f"/api/v1/notices/{notice['id']}/send", headers=rssi)
    assert sent.status_code == 200, sent.text
    assert sent.json()["report"]["sent"] == 1
    assert sink.rcpt == [["dpo@clinique-lyon.test"]]
    mail = message_from_bytes(sink.received[0], policy=policy.default)
    text = mail.get_body(preferencelist=("plain",))
    assert text is not None
    content = text.get_content()
    assert "Un compte-rendu a été télécopié à un numéro erroné par la clinique." in content
    assert ref in content

    export = client.get("/api/v1/register.csv", headers=rssi)
    rows = list(csv.DictReader(io.StringIO(export.text)))
    [row] = [r for r in rows if r["ref"] == ref]
    assert (row["source"], row["role"], row["recommendation"]) == (
        "customer_report",
        "processor",
        "customer",
    )
    assert row["decided_by"].startswith("rssi@avmup.test")
    assert row["customer_notified_at"] != ""

    audit = client.get(f"/api/v1/incidents/{ref}/audit", headers=rssi).json()
    actions = [a["action"] for a in audit]
    assert actions[0] == "incident.declared" and "severity.assessed" in actions
    assert "outbox.sent" in actions


def test_controller_insider_case_drafts_the_cnil_notice_with_its_reason(
    sink_and_console: tuple[Sink, Console],
) -> None:
    _, console = sink_and_console
    client = console.client()
    rssi = {"Authorization": f"Bearer {console.token('rssi')}"}
    created = client.post(
        "/api/v1/incidents",
        headers=rssi,
        json={
            "tenant_ids": [],
            "source": "staff_report",
            "nature": ["confidentiality"],
            "data_categories": ["identification"],
            "persons": 800,
            "records": 800,
            "confirmed": True,
            "summary": "Export of the prospects list by a departing employee.",
        },
    )
    assert created.status_code == 201, created.text
    ref = created.json()["ref"]
    assert created.json()["cnil_own"] is True
    decided = client.post(
        f"/api/v1/incidents/{ref}/severity",
        headers=rssi,
        json={
            "dpc": 1.0,
            "ei": 1.0,
            "cb_confidentiality": 0.25,
            "malicious": True,
            "persons": 800,
            "justification": "the employee joined a competitor",
        },
    )
    body = decided.json()
    assert (body["band"], body["notify_cnil"], body["notify_subjects"]) == ("low", True, False)
    assert any("whatever the band (low)" in r for r in body["reasons"])
    detail = client.get(f"/api/v1/incidents/{ref}", headers=rssi).json()
    assert {n["kind"] for n in detail["notices"]} == {"cnil"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"tenant_ids": ["no-such-customer"]}, "tenant_ids"),
        ({"aware_at": "2999-01-01T00:00:00+00:00"}, "aware_at"),
        ({"nature": []}, "nature"),
        ({"source": "rumour"}, "source"),
    ],
)
def test_bad_declarations_answer_422_naming_the_field(
    sink_and_console: tuple[Sink, Console],
    change: dict[str, Any],
    field: str,
) -> None:
    _, console = sink_and_console
    client = console.client()
    analyst = {"Authorization": f"Bearer {console.token('analyst')}"}
    resp = client.post(
        "/api/v1/incidents", headers=analyst, json={**fax_breach(datetime.now(UTC)), **change}
    )
    assert resp.status_code == 422, resp.text
    assert field in _loc(resp)
    listed = client.get("/api/v1/incidents", headers=analyst).json()
    assert listed["total"] == 0  # nothing was created


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": "fax\u0000"}, "title"),
        ({"occurred_from": "0001-01-01T00:00:00+14:00"}, "occurred_from"),
        ({"occurred_from": "2026-11-30T09:00:00"}, "occurred_from"),
        ({"persons": 10**12}, "persons"),
    ],
)
def test_hostile_declarations_answer_422(
    sink_and_console: tuple[Sink, Console],
    change: dict[str, Any],
    field: str,
) -> None:
    _, console = sink_and_console
    client = console.client()
    rssi = {"Authorization": f"Bearer {console.token('rssi')}"}
    resp = client.post(
        "/api/v1/incidents", headers=rssi, json={**fax_breach(datetime.now(UTC)), **change}
    )
    assert resp.status_code == 422, resp.text
    assert field in resp.text


def test_dpo_cannot_declare(sink_and_console: tuple[Sink, Console]) -> None:
    _, console = sink_and_console
    client = console.client()
    dpo = {"Authorization": f"Bearer {console.token('dpo')}"}
    resp = client.post("/api/v1/incidents", headers=dpo, json=fax_breach(datetime.now(UTC)))
    assert resp.status_code == 403


def test_findings_attach_later_and_a_detected_incident_merges_into_a_declared_one(
    sink_and_console: tuple[Sink, Console],
) -> None:
    from detectors.finding import Severity
    from tests.console.support import draft_for, seed_incident

    _, console = sink_and_console
    client = console.client()
    rssi = {"Authorization": f"Bearer {console.token('rssi')}"}
    detected = seed_incident(
        console.factory, tenant="clinique-lyon", actor="u-9", severity=Severity.HIGH, customer=None
    )
    ref = client.post("/api/v1/incidents", headers=rssi, json=fax_breach(datetime.now(UTC))).json()[
        "ref"
    ]
    finding_id = client.get(f"/api/v1/incidents/{detected}", headers=rssi).json()["findings"][0][
        "finding_id"
    ]
    taken = client.post(
        f"/api/v1/incidents/{ref}/findings", headers=rssi, json={"finding_ids": [finding_id]}
    )
    assert taken.status_code == 422
    assert "finding_ids" in _loc(taken) and detected in taken.text
    unknown = client.post(
        f"/api/v1/incidents/{ref}/findings", headers=rssi, json={"finding_ids": ["no-such-finding"]}
    )
    assert unknown.status_code == 422 and "finding_ids" in _loc(unknown)

    merged = client.post(
        f"/api/v1/incidents/{detected}/merge",
        headers=rssi,
        json={"into": ref, "reason": "the clinic's report explains the alert"},
    )
    assert merged.status_code == 200, merged.text
    assert merged.json() == {"ref": detected, "merged_into": ref}
    gone = client.get(f"/api/v1/incidents/{detected}", headers=rssi).json()
    kept = client.get(f"/api/v1/incidents/{ref}", headers=rssi).json()
    assert (gone["status"], gone["resolution_reason"]) == ("dismissed", f"merged into {ref}")
    assert [f["finding_id"] for f in kept["findings"]] == [finding_id]
    assert kept["source"] == "customer_report" and kept["nature"] == ["confidentiality"]
    absorbed = [a for a in kept["audit"] if a["action"] == "incident.absorbed"]
    assert absorbed and absorbed[0]["data"]["from"] == detected
    assert absorbed[0]["actor"] == "rssi@avmup.test"

    # An incident whose notice a person approved keeps its identity.
    other = seed_incident(
        console.factory,
        tenant="clinique-lyon",
        actor="u-10",
        ip="198.51.100.77",
        severity=Severity.CRITICAL,
        customer=None,
    )
    [notice_id] = draft_for(console.factory, other)
    assert (
        client.post(f"/api/v1/notices/{notice_id}/approve", headers=rssi, json={}).status_code
        == 200
    )
    refused = client.post(
        f"/api/v1/incidents/{other}/merge",
        headers=rssi,
        json={"into": ref, "reason": "same breach"},
    )
    assert refused.status_code == 409
    assert client.get(f"/api/v1/incidents/{other}", headers=rssi).json()["status"] == "detected"
