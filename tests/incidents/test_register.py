"""Breach register export (Art. 33(5)) and evidence retention (both backends)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from uuid import uuid4

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from incidents import audit, clocks, flows, register, retention, service
from incidents.clocks import ClockPolicy
from incidents.findings_store import EvidenceEvent, FindingRow
from incidents.models import Customer, Incident, IncidentFinding
from tests.incidents.acting import decide, move
from tests.incidents.builders import NOW, T0, make_finding, store_findings

POLICY = ClockPolicy()
RSSI = "rssi@avmup.com"


def _two_incidents(session: Session) -> tuple[Incident, Incident]:
    session.add(Customer(tenant_id="acme", name="Acme <b>SA</b>", contact_email="sec@acme.test"))
    rows = store_findings(
        session,
        [
            make_finding(
                "f1",
                rule_id="ACC-001",
                actor_ids=("u1",),
                tenants={"acme": (3, 120, 80)},
                categories=frozenset({"identification", "content"}),
            ),
            make_finding(
                "f2", rule_id="AUTH-001", actor_ids=("u2",), tenants={"globex": (40, 0, 0)}
            ),
        ],
    )
    a, b = sorted(
        flows.record_findings(session=session, findings=rows, now=NOW),
        key=lambda i: i.ref,
    )
    service.update_register_fields(
        session=session,
        incident=a,
        actor_email=RSSI,
        consequences='=HYPERLINK("http://evil")',
        measures="<script>alert(1)</script> sessions revoked",
        now=NOW,
    )
    clocks.mark_clock_met(
        session=session, incident=a, clock="customer", at=NOW + timedelta(hours=3)
    )
    move(session, b, "dismissed", "load test by the customer")
    decide(session, b, "not notified", "no personal data reached")
    return a, b


def test_csv_lists_every_incident_with_register_fields(db_session: Session) -> None:
    a, b = _two_incidents(db_session)
    text = register.export(session=db_session, fmt="csv", policy=POLICY, now=NOW)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["ref"] for r in rows] == [a.ref, b.ref]
    first, second = rows
    assert first["persons_approx"] == "80"
    assert first["records_approx"] == "120"
    assert first["data_categories"] == "content identification"
    assert first["nature"] == "C"
    assert first["customer_notified_at"] == (NOW + timedelta(hours=3)).isoformat()
    assert first["cnil_due"] == (NOW + timedelta(hours=72)).isoformat()
    assert first["consequences"].startswith("'=")  # CSV formula injection neutralised
    assert "Acme <b>SA</b>" in first["tenants"]
    assert second["status"] == "dismissed"
    assert second["resolution_reason"] == "load test by the customer"
    assert "no personal data reached" in second["decisions"]
    assert set(register.FIELDS) <= set(first)


def test_html_is_printable_and_escaped(db_session: Session) -> None:
    a, b = _two_incidents(db_session)
    html = register.export(session=db_session, fmt="html", policy=POLICY, now=NOW)
    assert html.startswith("<!doctype html>")
    assert a.ref in html
    assert b.ref in html
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Acme &lt;b&gt;SA&lt;/b&gt;" in html
    assert "@media print" in html


def test_purge_deletes_old_evidence_only_and_is_audited(db_session: Session) -> None:
    a, _ = _two_incidents(db_session)
    for days in (200, 190, 10):
        db_session.add(
            EvidenceEvent(
                event_id=str(uuid4()),
                stream="access",
                tenant_id="acme",
                occurred_at=T0 - timedelta(days=days),
                payload={"records": 1},
            )
        )
    db_session.flush()
    deleted = retention.purge(session=db_session, older_than=T0 - timedelta(days=180), actor=RSSI)
    assert deleted == 2
    remaining = db_session.scalar(select(func.count()).select_from(EvidenceEvent))
    assert remaining == 1
    for model in (Incident, FindingRow, IncidentFinding):
        assert (db_session.scalar(select(func.count()).select_from(model)) or 0) >= 2
    last = audit.entries_for(session=db_session, subject="evidence")[-1]
    assert (last.action, last.data["deleted"], last.actor) == ("retention.purge", 2, RSSI)
    assert a.ref in register.export(session=db_session, fmt="csv", policy=POLICY, now=NOW)
