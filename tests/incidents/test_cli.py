"""`tocsin incidents …`, `register export`, `audit verify`, `purge`, `clock` through
`tocsin.cli.main` against a fresh, migrated database."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import pytest
from sqlalchemy import text

from incidents import flows
from incidents.db import make_engine, session_factory, transaction
from incidents.findings_store import EvidenceEvent
from incidents.models import Customer
from tests.incidents.builders import make_finding, store_findings
from tocsin.cli import main
from tocsin.settings import get_settings


@pytest.fixture
def db_url(fresh_db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("TOCSIN_DATABASE_URL", fresh_db_url)
    get_settings.cache_clear()
    yield fresh_db_url
    get_settings.cache_clear()


def _seed(url: str) -> str:
    """One incident detected 70 h ago (its CNIL clock is due soon) over two tenants, one of
    them AVM Up's own processing (controller: the CNIL clock is AVM Up's)."""
    now = datetime.now(UTC) - timedelta(hours=70)
    engine = make_engine(url)
    with transaction(session_factory(engine)) as session:
        session.add(Customer(tenant_id="acme", name="Acme", contact_email="sec@acme.test"))
        session.add(
            Customer(
                tenant_id="globex", name="Globex", contact_email="it@globex.test", role="controller"
            )
        )
        rows = store_findings(
            session,
            [
                make_finding(
                    "f1",
                    rule_id="AUTH-002",
                    source_ips=("203.0.113.7",),
                    tenants={"acme": (30, 0, 0), "globex": (12, 0, 0)},
                    first_seen=now - timedelta(minutes=10),
                )
            ],
        )
        [inc] = flows.record_findings(session=session, findings=rows, now=now)
        session.add(
            EvidenceEvent(
                event_id=str(uuid4()),
                stream="auth",
                tenant_id="acme",
                occurred_at=now - timedelta(days=400),
                payload={},
            )
        )
        ref = inc.ref
    engine.dispose()
    return ref


def _out(capsys: pytest.CaptureFixture[str]) -> str:
    return capsys.readouterr().out


@pytest.mark.parametrize("fresh_db_url", ["sqlite", "postgresql"], indirect=True)
def test_list_and_show_json(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    ref = _seed(db_url)
    assert main(["incidents", "list", "--json"]) == 0
    [item] = json.loads(_out(capsys))
    assert item["ref"] == ref
    assert item["status"] == "detected"
    assert item["tenant_ids"] == ["acme", "globex"]
    assert item["rule_ids"] == ["AUTH-002"]
    assert item["severity_band"] == "medium"
    assert item["clock_state"] == "overdue"  # customer clocks (24 h) are past due
    detected = datetime.fromisoformat(item["detected_at"])
    assert detected.utcoffset() == timedelta(0)
    assert datetime.fromisoformat(item["cnil_due"]) - detected == timedelta(hours=72)
    assert datetime.fromisoformat(item["customer_due"]) - detected == timedelta(hours=24)
    assert item["aware_at"] == item["detected_at"]

    assert main(["incidents", "show", ref, "--json"]) == 0
    detail = json.loads(_out(capsys))
    assert {t["tenant_id"]: t["events"] for t in detail["tenants"]} == {"acme": 30, "globex": 12}
    assert [f["rule_id"] for f in detail["findings"]] == ["AUTH-002"]
    assert detail["severity"]["score"] == 2.0
    assert {c["clock"] for c in detail["clocks"]} == {"cnil", "customer"}
    assert [a["action"] for a in detail["audit"]][:2] == [
        "incident.opened",
        "incident.findings_linked",
    ]


def test_show_unknown_ref_fails(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["incidents", "show", "INC-1999-0001"]) == 1
    assert "INC-1999-0001" in capsys.readouterr().err


def test_transition_follows_the_lifecycle_and_is_audited(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ref = _seed(db_url)
    assert main(["incidents", "transition", ref, "triage", "--as", "analyst@avmup.com"]) == 0
    assert f"{ref}: detected → triage" in _out(capsys)
    assert main(["incidents", "transition", ref, "closed"]) == 1
    assert "not allowed" in capsys.readouterr().err
    assert main(["incidents", "transition", ref, "dismissed"]) == 1
    assert "reason" in capsys.readouterr().err
    assert (
        main(
            [
                "incidents",
                "transition",
                ref,
                "dismissed",
                "--reason",
                "pentest",
                "--as",
                "rssi@avmup.com",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["incidents", "show", ref, "--json"]) == 0
    detail = json.loads(_out(capsys))
    assert detail["status"] == "dismissed"
    moves = [
        (a["actor"], a["data"]["to"])
        for a in detail["audit"]
        if a["action"] == "incident.transition"
    ]
    assert moves == [("analyst@avmup.com", "triage"), ("rssi@avmup.com", "dismissed")]


def test_register_export_csv_and_html(db_url: str, tmp_path: Path) -> None:
    ref = _seed(db_url)
    out_csv, out_html = tmp_path / "register.csv", tmp_path / "register.html"
    assert main(["register", "export", "--format", "csv", "--output", str(out_csv)]) == 0
    assert main(["register", "export", "--format", "html", "--output", str(out_html)]) == 0
    with out_csv.open(newline="", encoding="utf-8") as fh:
        [row] = list(csv.DictReader(fh))
    assert row["ref"] == ref
    assert row["tenants"].startswith("acme (Acme)")
    assert ref in out_html.read_text(encoding="utf-8")


def test_audit_verify_exit_codes(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    _seed(db_url)
    assert main(["audit", "verify"]) == 0
    assert "intact" in capsys.readouterr().out
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_entries SET action = 'forged' WHERE seq = 2"))
    engine.dispose()
    assert main(["audit", "verify"]) == 1
    assert "seq=2" in capsys.readouterr().err


def test_purge_and_clock_once(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    ref = _seed(db_url)
    assert main(["purge", "--older-than-days", "180"]) == 0
    assert json.loads(_out(capsys))["deleted_evidence_events"] == 1
    assert main(["clock", "--once"]) == 0
    fired = json.loads(_out(capsys))["escalations"]
    assert sorted((e["ref"], e["clock"], e["tenant_id"], e["threshold_hours"]) for e in fired) == [
        (ref, "cnil", None, 6.0),
        (ref, "customer", "acme", 0.0),
        (ref, "customer", "globex", 0.0),
    ]
    assert main(["clock", "--once"]) == 0
    assert json.loads(_out(capsys))["escalations"] == []
    assert main(["audit", "verify"]) == 0
