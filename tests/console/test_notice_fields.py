"""Nothing invented: every notice kind drafted for an incident with nothing entered prints
« [à compléter] » in each unknown field and cannot be approved; the RSSI enters the facts
through the API, the RSSI and the DPO sign, and the CNIL JSON export equals what was entered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from detectors.finding import Nature, Severity
from incidents.db import transaction
from incidents.flows import record_findings
from notifiers import cnil
from notifiers.flows import draft_notices
from notifiers.models import Notice
from notifiers.schemas import DraftPolicy
from tests.console.support import ORG, Console
from tests.incidents.builders import make_finding, store_findings
from tests.notifiers.builders import THREE, TenantSpec, build_incident
from tocsin.settings import Settings

PROSPECTS = TenantSpec(
    "avmup-prospects",
    "AVM Up (prospects)",
    "dpo@avmup.example",
    321,
    654,
    "u-own-1",
    "192.0.2.10",
    role="controller",
    service="campaign_manager",
)
ENDED = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)
ENTERED: dict[str, Any] = {
    "cause": "external_malicious",
    "origin": "hacking",
    "subprocessors_involved": "no",
    "breach_ongoing": "no",
    "breach_ended_at": ENDED.isoformat(),
    "subject_categories": ["prospects"],
    "measures": "mot de passe du compte réinitialisé\nsessions du compte révoquées",
    "measures_proposed": "vérifier les exports de contacts récents",
    "measures_planned": "revue des droits d'export",
    "measures_long_term": "authentification à deux facteurs pour tous les comptes",
}


def _drafts(console: Console) -> dict[str, int]:
    with transaction(console.factory) as session:
        built = build_incident(
            session,
            tenants=[THREE[0], PROSPECTS],
            fields=False,
            aware_at=datetime.now(UTC) - timedelta(hours=2),
            assessment={"notify_cnil": True, "notify_subjects": True},
        )
        notices = draft_notices(
            session=session,
            incident=built.incident,
            now=datetime.now(UTC) - timedelta(hours=1),
            policy=DraftPolicy.from_settings(Settings(org=ORG)),
        )
        return {n.kind: n.id for n in notices} | {"ref": built.incident.ref}  # type: ignore[dict-item]


def _text(console: Console, notice_id: int) -> str:
    with console.factory() as session:
        notice = session.get(Notice, notice_id)
        assert notice is not None
        return notice.text_body


@pytest.mark.parametrize("fresh_db_url", ["sqlite", "postgresql"], indirect=True)
def test_unknowns_block_approval_until_entered_then_export_equals_fields(
    console: Console,
) -> None:
    ids = _drafts(console)
    ref = str(ids["ref"])
    assert set(ids) == {"customer", "cnil", "data_subject", "ref"}
    customer, cnil_text, subjects = (
        _text(console, ids[k]) for k in ("customer", "cnil", "data_subject")
    )
    for line in (
        "Origine : [à compléter]",
        "Cause : [à compléter]",
        "Sous-traitants d'AVM Up impliqués : [à compléter]",
        "Violation en cours : [à compléter]",
    ):
        assert line in customer, line
    assert "7. MESURES PRISES PAR AVM UP\n   - [à compléter]" in customer
    assert "8. MESURES PROPOSÉES À VOTRE ORGANISATION\n   - [à compléter]" in customer
    assert "3. ORIGINE DE L'INCIDENT\n   [à compléter]" in cnil_text
    assert "5. CAUSE DE L'INCIDENT\n   [à compléter]" in cnil_text
    assert "6. SOUS-TRAITANTS IMPLIQUÉS\n   [à compléter]" in cnil_text
    assert "Catégories : [à compléter]" in cnil_text
    assert "Violation en cours : [à compléter]" in cnil_text
    for part in ("Mesures immédiates :", "Mesures à moyen terme :", "Mesures à long terme :"):
        assert f"{part}\n   - [à compléter]" in cnil_text, part
    assert "CE QUE NOUS AVONS FAIT\n   - [à compléter]" in subjects
    # Nothing printed as done that nobody entered.
    for text in (customer, cnil_text, subjects):
        assert "verrouillage préventif" not in text and "CAPTCHA" not in text
        assert "Acte externe malveillant" not in text

    client = console.client()
    rssi = {"Authorization": f"Bearer {console.token('rssi')}"}
    dpo = {"Authorization": f"Bearer {console.token('dpo')}"}
    analyst = {"Authorization": f"Bearer {console.token('analyst')}"}
    for kind in ("customer", "cnil", "data_subject"):
        refused = client.post(f"/api/v1/notices/{ids[kind]}/approve", headers=rssi, json={})
        assert refused.status_code == 422, kind
        assert "cause" in refused.text or "measures_taken" in refused.text, kind
    listed = client.get(f"/api/v1/notices/{ids['cnil']}", headers=rssi).json()
    assert {
        "cause",
        "origin",
        "subprocessors_involved",
        "subject_categories",
        "measures_taken",
        "breach_ongoing",
    } <= set(listed["missing"])

    assert (
        client.patch(
            f"/api/v1/incidents/{ref}/notice-fields", headers=analyst, json=ENTERED
        ).status_code
        == 403
    )
    bad = client.patch(
        f"/api/v1/incidents/{ref}/notice-fields", headers=rssi, json={"cause": "aliens"}
    )
    assert bad.status_code == 422 and "cause" in bad.text
    entered = client.patch(f"/api/v1/incidents/{ref}/notice-fields", headers=rssi, json=ENTERED)
    assert entered.status_code == 200, entered.text
    for kind in ("customer", "cnil", "data_subject"):
        assert "[à compléter]" not in _text(console, ids[kind]), kind

    # Customer notice: the RSSI alone. CNIL: the RSSI then the DPO. Data subjects: the DPO
    # then the RSSI. An analyst signs nothing.
    assert (
        client.post(f"/api/v1/notices/{ids['cnil']}/approve", headers=analyst, json={}).status_code
        == 403
    )
    assert (
        client.post(f"/api/v1/notices/{ids['customer']}/approve", headers=dpo, json={}).status_code
        == 403
    )
    ok = client.post(f"/api/v1/notices/{ids['customer']}/approve", headers=rssi, json={})
    assert ok.status_code == 200 and ok.json()["status"] == "approved", ok.text
    half = client.post(f"/api/v1/notices/{ids['cnil']}/approve", headers=rssi, json={})
    assert half.json()["status"] == "draft" and half.json()["approved_by"] == "rssi@avmup.test"
    twice = client.post(f"/api/v1/notices/{ids['cnil']}/approve", headers=rssi, json={})
    assert twice.status_code == 409
    done = client.post(f"/api/v1/notices/{ids['cnil']}/approve", headers=dpo, json={})
    assert done.json()["status"] == "approved"
    assert done.json()["dpo_approved_by"] == "dpo@avmup.test"
    first = client.post(f"/api/v1/notices/{ids['data_subject']}/approve", headers=dpo, json={})
    assert first.json()["status"] == "draft"
    second = client.post(f"/api/v1/notices/{ids['data_subject']}/approve", headers=rssi, json={})
    assert second.json()["status"] == "approved"

    audit = client.get(f"/api/v1/incidents/{ref}/audit", headers=rssi).json()
    signed = [
        (a["actor"], a["data"]["role"])
        for a in audit
        if a["action"] == "notice.signed" and a["data"]["notice_id"] == ids["cnil"]
    ]
    assert signed == [("rssi@avmup.test", "rssi"), ("dpo@avmup.test", "dpo")]
    register = client.get("/api/v1/register", headers=rssi).json()
    [row] = [r for r in register if r["ref"] == ref]
    assert "cnil v1: RSSI rssi@avmup.test" in row["notice_signatures"]
    assert "DPO dpo@avmup.test" in row["notice_signatures"]

    with console.factory() as session:
        notice = session.get(Notice, ids["cnil"])
        assert notice is not None
        form = cnil.export(notice).form
    assert form["cause"] == "Acte externe malveillant"
    assert form["origine"] == "Piratage, logiciel malveillant (rançongiciel) et/ou hameçonnage"
    assert form["sous_traitants_impliques"] == "Non"
    assert form["faits"]["en_cours"] == "Non"
    assert form["faits"]["date_fin"] == ENDED.isoformat()
    assert form["personnes_concernees"]["categories"] == ["Prospects"]
    assert form["mesures"] == {
        "immediates": ["mot de passe du compte réinitialisé", "sessions du compte révoquées"],
        "moyen_terme": ["revue des droits d'export"],
        "long_terme": ["authentification à deux facteurs pour tous les comptes"],
    }
    assert form["organisme"]["siren"] == ORG.siren
    assert form["organisme"]["dpo"]["nom"] == ORG.dpo_name
    assert form["validation"]["rssi"]["par"] == "rssi@avmup.test"
    assert form["validation"]["dpo"]["par"] == "dpo@avmup.test"


def test_cnil_text_cannot_contradict_its_fields(console: Console) -> None:
    ids = _drafts(console)
    client = console.client()
    rssi = {"Authorization": f"Bearer {console.token('rssi')}"}
    client.patch(f"/api/v1/incidents/{ids['ref']}/notice-fields", headers=rssi, json=ENTERED)
    text = _text(console, ids["cnil"]).replace(
        "Acte externe malveillant", "Ne sait pas pour l'instant"
    )
    edited = client.post(
        f"/api/v1/notices/{ids['cnil']}/approve", headers=rssi, json={"text_body": text}
    )
    assert edited.status_code == 409 and "fields" in edited.text
    assert "Acte externe malveillant" in _text(console, ids["cnil"])


def test_attempts_in_the_api_and_their_qualification(console: Console) -> None:
    finding = make_finding(
        "spray-api",
        rule_id="AUTH-002",
        nature=frozenset({Nature.ATTEMPT}),
        tenants={"acme": (30, 0, 0)},
        source_ips=("198.51.100.77",),
        severity=Severity.CRITICAL,
    )
    with transaction(console.factory) as session:
        [incident] = record_findings(
            session=session,
            findings=store_findings(session, [finding]),
            now=datetime.now(UTC),
        )
        ref = incident.ref
    client = console.client()
    rssi = {"Authorization": f"Bearer {console.token('rssi')}"}
    analyst = {"Authorization": f"Bearer {console.token('analyst')}"}
    assert client.get(f"/api/v1/incidents/{ref}", headers=rssi).json()["nature"] == ["attempt"]
    [item] = client.get("/api/v1/incidents", headers=rssi).json()["items"]
    assert item["nature"] == ["attempt"]
    assert (
        client.post(f"/api/v1/incidents/{ref}/draft-notices", headers=rssi).json()["written"] == 0
    )
    body = {"nature": ["confidentiality"], "justification": "un compte a été ouvert"}
    assert (
        client.post(f"/api/v1/incidents/{ref}/qualify", headers=analyst, json=body).status_code
        == 403
    )
    missing = client.post(
        f"/api/v1/incidents/{ref}/qualify", headers=rssi, json={"nature": ["confidentiality"]}
    )
    assert missing.status_code == 422 and "justification" in missing.text
    done = client.post(f"/api/v1/incidents/{ref}/qualify", headers=rssi, json=body)
    assert done.status_code == 200
    assert done.json()["qualified_nature"] == ["confidentiality"]
    fields = client.get(f"/api/v1/incidents/{ref}/notice-fields", headers=analyst).json()
    assert fields["attempt"] is False and fields["qualified"]["by"] == "rssi@avmup.test"
    assert fields["suggestions"]["measures"]  # standard measures offered, to be ticked
    notices = client.get(f"/api/v1/incidents/{ref}", headers=rssi).json()["notices"]
    assert [n["kind"] for n in notices] == ["customer"]  # drafted once qualified
