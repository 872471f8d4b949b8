"""`tocsin incidents declare` and `tocsin incidents assess` through `tocsin.cli.main` against
a fresh, migrated database: the same JSON as the API, errors naming the field, roles checked
against the console's users."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from accounts.models import User
from incidents.db import make_engine, session_factory, transaction
from incidents.models import Customer
from tocsin.cli import main
from tocsin.settings import get_settings


@pytest.fixture
def db_url(fresh_db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("TOCSIN_DATABASE_URL", fresh_db_url)
    get_settings.cache_clear()
    engine = make_engine(fresh_db_url)
    with transaction(session_factory(engine)) as session:
        session.add_all(
            [
                Customer(tenant_id="acme", name="Acme", contact_email="dpo@acme.test"),
                User(email="rssi@avmup.com", password_hash="x", role="rssi"),
                User(email="analyst@avmup.com", password_hash="x", role="analyst"),
                User(email="dpo@avmup.com", password_hash="x", role="dpo"),
            ]
        )
    engine.dispose()
    yield fresh_db_url
    get_settings.cache_clear()


@pytest.mark.parametrize("fresh_db_url", ["sqlite", "postgresql"], indirect=True)
def test_declare_then_assess_against_the_advice(
    db_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert (
        main(
            [
                "incidents",
                "declare",
                "--tenant",
                "acme",
                "--source",
                "customer_report",
                "--nature",
                "confidentiality",
                "--category",
                "content",
                "--service",
                "smsbis",
                "--persons",
                "1200",
                "--records",
                "1200",
                "--occurred-from",
                "2026-11-30T09:00:00+01:00",
                "--summary",
                "SMS campaign sent to the wrong list",
                "--as",
                "analyst@avmup.com",
                "--json",
            ]
        )
        == 0
    )
    declared = json.loads(capsys.readouterr().out)
    ref = declared["ref"]
    assert (declared["source"], declared["tenants"], declared["persons_estimate"]) == (
        "customer_report",
        ["acme"],
        1200,
    )
    assert declared["occurred_from"] == "2026-11-30T08:00:00+00:00"
    assert declared["severity"]["advice"]["customer"] is True

    # An analyst assesses; only the RSSI may decide against the advice.
    assess = ["incidents", "assess", ref, "--dpc", "2", "--ei", "1", "--cb-confidentiality", "0.5"]
    assert (
        main([*assess, "--justification", "x", "--notify-cnil", "yes", "--as", "analyst@avmup.com"])
        == 1
    )
    assert "needs rssi" in capsys.readouterr().err
    assert (
        main(
            [
                *assess,
                "--malicious",
                "no",
                "--art34-exemption",
                "b_measures_taken",
                "--art34-justification",
                "campaign recalled",
                "--notify-subjects",
                "no",
                "--justification",
                "a wrong list, 1,200 recipients",
                "--as",
                "rssi@avmup.com",
                "--json",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert (out["band"], out["notify_customer"], out["notify_cnil"]) == ("medium", True, False)
    assert out["decided_by"] == "rssi@avmup.com"
    assert out["factors"]["exemptions"] == "b_measures_taken"
    assert main(["incidents", "show", ref, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["severity"]["assessed_by"] == "rssi@avmup.com"
    assert shown["severity"]["art34_justification"] == "campaign recalled"
    assert [a["action"] for a in shown["audit"]][:2] == ["incident.declared", "severity.assessed"]


def test_declare_errors_name_the_field_and_roles_are_checked(
    db_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    base = ["incidents", "declare", "--source", "staff_report", "--nature", "availability"]
    assert main([*base, "--tenant", "ghost", "--as", "rssi@avmup.com"]) == 1
    assert "tenant_ids: unknown tenant 'ghost'" in capsys.readouterr().err
    assert (
        main(
            [
                *base,
                "--aware-at",
                "2999-01-01T00:00:00Z",
                "--aware-justification",
                "x",
                "--as",
                "rssi@avmup.com",
            ]
        )
        == 1
    )
    assert "aware_at: cannot be in the future" in capsys.readouterr().err
    assert main([*base, "--as", "dpo@avmup.com"]) == 1
    assert "needs analyst or rssi" in capsys.readouterr().err
    assert main([*base, "--as", "rssi@avmup.com"]) == 0
    assert "declared (staff_report, triage)" in capsys.readouterr().out
