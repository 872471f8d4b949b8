"""Rendering: French and English parts, StrictUndefined, overrides, injection inertness."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from notifiers.enums import NoticePhase
from notifiers.exceptions import TemplateError
from notifiers.render import fmt_int, render_notice
from notifiers.schemas import (
    CnilNoticeContext,
    CustomerNoticeContext,
    DataSubjectNoticeContext,
    DraftPolicy,
    EvidenceLine,
    Organisation,
    missing_fields,
)
from tests.notifiers.builders import ORG
from tocsin.settings import Organisation as SettingsOrg
from tocsin.settings import Settings

T = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
EVIL = "<script>alert(1)</script>{{7*7}}\r\nBcc: victim@example.com"


def base(**over: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "incident_ref": "INC-2026-0042",
        "phase": NoticePhase.INITIAL,
        "version": 1,
        "generated_at": T,
        "detected_at": T,
        "aware_at": T,
        "first_seen": T,
        "last_seen": T + timedelta(hours=1),
        "ongoing": True,
        "established": True,
        "natures": ["confidentiality"],
        "rule_ids": ["AUTH-003"],
        "services": ["faxbis"],
        "data_categories": ["security", "identification"],
        "persons": 12345,
        "records": 67890,
        "measures_taken": ["mesure A"],
        "measures_proposed": ["mesure B"],
        "org": ORG,
    }
    values.update(over)
    return values


def customer(**over: Any) -> CustomerNoticeContext:
    values = base(tenant_id="acme-corp", customer_name="Acme Industries")
    values.update(over)
    return CustomerNoticeContext(**values)


def test_customer_notice_french_has_the_art33_items() -> None:
    out = render_notice(customer())
    assert out.subject == (
        "[INC-2026-0042] Violation de données personnelles – Acme Industries – "
        "notification initiale"
    )
    for part in (out.text, html.unescape(out.html)):
        assert "article 33, paragraphe 2, du rgpd" in part.lower()
        assert "environ 12\u00a0345" in part  # persons, French grouping
        assert "environ 67\u00a0890" in part  # records
        assert "FAXBIS" in part
        assert "dpo@avmup.com" in part and "rssi@avmup.com" in part
        assert "20 novembre 2026 à 10:00 (UTC+01:00)" in part  # Europe/Paris
        assert "mesure A" in part and "mesure B" in part
        assert "Prochaine mise à jour".upper() in part.upper()
    assert out.html.startswith("<!DOCTYPE html>")


def test_customer_notice_english() -> None:
    out = render_notice(customer(language="en"))
    assert "Personal data breach" in out.subject
    assert "Article 33(2) GDPR" in out.text
    assert "about 12,345" in out.text and "about 12,345" in out.html
    assert "Dear Sir or Madam" in out.html


def test_complementary_subject_names_the_version() -> None:
    out = render_notice(customer(phase=NoticePhase.COMPLEMENTARY, version=3))
    assert out.subject.endswith("notification complémentaire (version 3)")
    assert "complète et remplace" in out.text


def test_cnil_notice_sections_and_late_reasons() -> None:
    ctx = CnilNoticeContext(
        **base(),
        cnil_due=T + timedelta(hours=72),
        late=True,
        reasons_for_delay="Analyse forensique nécessaire",
        origin="hacking",
        cause="external_malicious",
        circumstances="Détection automatique",
        subject_categories=["customers"],
        directly_identifiable=True,
        consequences=["Utilisation détournée possible des données"],
        harms=["Fraude"],
        measures_long_term=["revue"],
        data_subjects_informed="Prévue",
        subprocessors_involved="no",
    )
    out = render_notice(ctx)
    for label in (
        "ORIGINE DE L'INCIDENT",
        "NATURE DE LA VIOLATION",
        "CAUSE DE L'INCIDENT",
        "PERSONNES CONCERNÉES",
        "MESURES PRISES OU ENVISAGÉES",
        "MOTIFS DU RETARD",
        "Analyse forensique nécessaire",
        "DÉPASSÉE",
        "Acte externe malveillant",
        "Piratage, logiciel malveillant",
        "Clients",
    ):
        assert label in out.text
    assert "MOTIFS DU RETARD" in out.html
    assert "Analyse forensique nécessaire" in out.html


def test_data_subject_notice_gives_advice_and_contacts() -> None:
    ctx = DataSubjectNoticeContext(**base(), advice=["Changez votre mot de passe."])
    out = render_notice(ctx)
    assert "La loi nous demande de vous prévenir" in out.text
    assert "Changez votre mot de passe." in out.text
    assert "Changez votre mot de passe." in out.html
    assert "privacy@avmup.com" in out.text


def test_missing_template_field_fails_loudly(tmp_path: Path) -> None:
    folder = tmp_path / "acme-corp" / "fr"
    folder.mkdir(parents=True)
    (folder / "customer.subject.txt").write_text("{{ n.no_such_field }}")
    with pytest.raises(TemplateError, match="no_such_field"):
        render_notice(customer(), override_dir=tmp_path)


def test_per_customer_override_folder(tmp_path: Path) -> None:
    folder = tmp_path / "acme-corp" / "fr"
    folder.mkdir(parents=True)
    (folder / "customer.subject.txt").write_text("Objet convenu pour {{ n.customer_name }}")
    assert render_notice(customer(), override_dir=tmp_path).subject == (
        "Objet convenu pour Acme Industries"
    )
    other = customer(tenant_id="globex", customer_name="Globex")
    assert "Violation de données" in render_notice(other, override_dir=tmp_path).subject


def test_injection_is_inert_in_every_part() -> None:
    ctx = customer(
        customer_name=EVIL,
        tenant_id="acme-corp",
        accounts=[EVIL],
        evidence=[
            EvidenceLine(
                occurred_at=T,
                service="faxbis",
                interface="web",
                action="login_success",
                actor_id=EVIL,
                source_ip="192.0.2.1",
                user_agent=EVIL,
            )
        ],
    )
    out = render_notice(ctx)
    assert "\r" not in out.subject and "\n" not in out.subject
    assert "<script>" not in out.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out.html
    for part in (out.subject, out.text, out.html):
        assert "49" not in part.replace("2026", "")  # {{7*7}} never evaluated
        assert "{{7*7}}" in part
        assert "\r" not in part
    # The CRLF became a space: the would-be header stays inside one text line.
    assert all(not line.startswith("Bcc:") for line in out.text.splitlines())


def test_french_number_format() -> None:
    assert fmt_int(1234567) == "1\u00a0234\u00a0567"
    assert fmt_int(1234567, "en") == "1,234,567"


def test_organisation_comes_from_settings_and_missing_values_are_to_complete() -> None:
    bare = render_notice(customer(org=Organisation()))
    assert "(DPO) : [à compléter]" in bare.text and "dpo@avmup.com" not in bare.text
    bare_missing = missing_fields("customer", customer(org=Organisation()).model_dump(mode="json"))
    assert [m for m in bare_missing if m.startswith("TOCSIN_")] == [
        "TOCSIN_ORG__NAME",
        "TOCSIN_ORG__DPO_EMAIL",
        "TOCSIN_ORG__RSSI_EMAIL",
    ]
    configured = DraftPolicy.from_settings(Settings(org=SettingsOrg(name="AVM Up SAS")))
    out = render_notice(customer(org=configured.org))
    assert "AVM Up SAS" in out.text and "dpo@avmup.com" in out.text  # the settings' default
    assert not [
        m
        for m in missing_fields("customer", customer(org=configured.org).model_dump(mode="json"))
        if m.startswith("TOCSIN_")
    ]
    cnil_missing = missing_fields("cnil", {"org": configured.org.model_dump()})
    assert {
        "TOCSIN_ORG__SIREN",
        "TOCSIN_ORG__ADDRESS",
        "TOCSIN_ORG__REPRESENTATIVE",
        "TOCSIN_ORG__DPO_NAME",
        "TOCSIN_ORG__DPO_PHONE",
    } <= set(cnil_missing)


def test_standard_measures_are_suggestions_that_fit_the_incident() -> None:
    from notifiers import wording

    cross = wording.suggestions(field="measures_proposed", language="fr", rule_ids=["ACC-001"])
    assert cross and not any("clés d'API" in m for m in cross)  # the victim rotates nothing
    export = wording.suggestions(field="measures_proposed", language="fr", rule_ids=["ACC-002"])
    assert any("clés d'API" in m for m in export)
    staff = wording.suggestions(field="measures_long_term", language="fr", rule_ids=["ACC-003"])
    assert not any("CAPTCHA" in m for m in staff)
    assert any(
        "CAPTCHA" in m
        for m in wording.suggestions(
            field="measures_long_term", language="fr", rule_ids=["AUTH-003"]
        )
    )
    # Suggestions are never printed: a draft without entered measures says « à compléter ».
    out = render_notice(customer(measures_taken=None, rule_ids=["AUTH-003"]))
    assert "7. MESURES PRISES PAR AVM UP\n   - [à compléter]" in out.text
