"""The notice CLI end to end on a real SQLite file and a real STARTTLS SMTP server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from accounts.models import User
from tests.notifiers.builders import THREE, build_incident, drafts
from tests.notifiers.conftest import SmtpServer
from tocsin.cli import main
from tocsin.settings import get_settings


@pytest.fixture
def cli_env(fresh_db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("TOCSIN_DATABASE_URL", fresh_db_url)
    monkeypatch.delenv("TOCSIN_SMTP_URL", raising=False)
    get_settings.cache_clear()
    yield fresh_db_url
    get_settings.cache_clear()


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _users(session: Session) -> None:
    session.add_all(
        [
            User(email="rssi@avmup.com", password_hash="x", role="rssi"),
            User(email="analyst@avmup.com", password_hash="x", role="analyst"),
        ]
    )


def _seed(factory: sessionmaker[Session]) -> str:
    with factory() as session, session.begin():
        built = build_incident(session)
        drafts(session, built.incident, now=datetime.now(UTC))
        _users(session)
        return built.incident.ref


def test_notices_cli_flow(
    cli_env: str,
    factory: sessionmaker[Session],
    tmp_path: Path,
    smtp_starttls: SmtpServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ref = _seed(factory)
    code, out, _ = _run(capsys, "notices", "list", "--json")
    rows = json.loads(out)
    assert code == 0 and len(rows) == 3
    assert {r["tenant_id"] for r in rows} == {t.tenant_id for t in THREE}
    for r in rows:
        assert {
            "id",
            "incident_ref",
            "kind",
            "phase",
            "version",
            "status",
            "tenant_id",
            "language",
        } <= set(r)
        assert (
            r["incident_ref"],
            r["kind"],
            r["phase"],
            r["version"],
            r["status"],
            r["language"],
        ) == (ref, "customer", "initial", 1, "draft", "fr")
    acme = next(r for r in rows if r["tenant_id"] == "acme-corp")

    code, out, _ = _run(capsys, "notices", "show", str(acme["id"]))
    assert code == 0 and out.startswith("Subject: [") and "Acme Industries" in out
    assert "Personnes concernées : environ 1\u00a0234" in out
    code, out, _ = _run(capsys, "notices", "show", str(acme["id"]), "--html")
    assert out.startswith("<!DOCTYPE html>")

    code, _, err = _run(capsys, "notices", "approve", str(acme["id"]), "--as", "analyst@avmup.com")
    assert code == 1 and "only the RSSI" in err
    code, _, err = _run(capsys, "notices", "approve", str(acme["id"]), "--as", "nobody@avmup.com")
    assert code == 1 and "not an active console user" in err
    code, out, _ = _run(capsys, "notices", "approve", str(acme["id"]), "--as", "rssi@avmup.com")
    assert code == 0 and "approved" in out

    monkeypatch.setenv("TOCSIN_SMTP_URL", f"smtp://127.0.0.1:{smtp_starttls.port}")
    monkeypatch.setenv("SSL_CERT_FILE", str(smtp_starttls.ca_file))
    get_settings.cache_clear()
    code, out, _ = _run(capsys, "notify", "--once")
    assert code == 0 and json.loads(out)["sent"] == 1
    assert [r.rcpt_tos for r in smtp_starttls.handler.received] == [[THREE[0].email]]
    code, out, _ = _run(capsys, "notices", "list", "--json", "--status", "sent")
    assert [r["id"] for r in json.loads(out)] == [acme["id"]]


def test_customers_cli(cli_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.csv"
    path.write_text("tenant_id,name,contact_email\nacme,Acme,dpo@acme.example\n")
    code, out, _ = _run(capsys, "customers", "import", str(path))
    assert code == 0 and json.loads(out) == {"created": 1, "updated": 0, "unchanged": 0}
    code, out, _ = _run(capsys, "customers", "list", "--json")
    assert json.loads(out) == [
        {
            "tenant_id": "acme",
            "name": "Acme",
            "contact_email": "dpo@acme.example",
            "language": "fr",
            "notify_delay_hours": 24.0,
            "role": "processor",
        }
    ]
    path.write_text("tenant_id,name,contact_email\nacme,Acme,nope\n")
    code, _, err = _run(capsys, "customers", "import", str(path))
    assert code == 1 and "line 2, column contact_email" in err


def test_notify_refuses_plaintext_url(
    cli_env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TOCSIN_SMTP_URL", "smtp+plain://127.0.0.1:25")
    get_settings.cache_clear()
    code, _, err = _run(capsys, "notify", "--once")
    assert code == 1 and "plain-text SMTP refused" in err


def test_incident_fields_and_qualify_cli(
    cli_env: str,
    factory: sessionmaker[Session],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TOCSIN_ORG__NAME", "AVM Up (AVM Informatique)")
    get_settings.cache_clear()
    with factory() as session, session.begin():
        built = build_incident(session, fields=False, status="confirmed")
        _users(session)
        ref = built.incident.ref
    code, out, _ = _run(capsys, "incidents", "fields", ref)
    assert code == 0 and json.loads(out)["values"]["cause"] is None
    code, _, err = _run(
        capsys,
        "incidents",
        "fields",
        ref,
        "--set",
        "cause=external_malicious",
        "--as",
        "analyst@avmup.com",
    )
    assert code == 1 and "only the RSSI" in err
    code, _, err = _run(
        capsys, "incidents", "fields", ref, "--set", "cause=meteor", "--as", "rssi@avmup.com"
    )
    assert code == 1 and "cause" in err
    facts = {
        "cause": "external_malicious",
        "origin": "hacking",
        "subprocessors_involved": "no",
        "breach_ongoing": "unknown",
        "measures": "comptes verrouillés;sessions révoquées",
        "measures_proposed": "vérifier les connexions",
    }
    sets = [arg for name, value in facts.items() for arg in ("--set", f"{name}={value}")]
    code, out, _ = _run(capsys, "incidents", "fields", ref, "--as", "rssi@avmup.com", *sets)
    values = json.loads(out)["values"]
    assert code == 0 and values["cause"] == "external_malicious"
    assert values["measures"] == "comptes verrouillés\nsessions révoquées"
    code, out, _ = _run(capsys, "notices", "list", "--json")
    [notice] = [r for r in json.loads(out) if r["tenant_id"] == "acme-corp"]
    code, out, _ = _run(capsys, "notices", "show", str(notice["id"]))
    assert "Cause : Acte externe malveillant" in out and "[à compléter]" not in out
    code, out, _ = _run(capsys, "notices", "approve", str(notice["id"]), "--as", "rssi@avmup.com")
    assert code == 0 and "approved" in out
    # Not an attempt: nothing to qualify.
    code, _, err = _run(
        capsys,
        "incidents",
        "qualify",
        ref,
        "--nature",
        "confidentiality",
        "--justification",
        "x",
        "--as",
        "rssi@avmup.com",
    )
    assert code == 1 and "not an attempt" in err
