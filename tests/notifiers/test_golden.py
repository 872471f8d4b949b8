"""Golden files: one notice of each kind, in French and in English, as a DPO reviewed them
(`tests/notifiers/golden/`). A change in wording shows as a unified diff in the failure.

After a deliberate change, regenerate with `TOCSIN_UPDATE_GOLDEN=1` and have the new files
reviewed before committing them.
"""

from __future__ import annotations

import difflib
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from notifiers.enums import NoticePhase
from notifiers.render import render_notice
from notifiers.schemas import (
    CnilNoticeContext,
    CustomerNoticeContext,
    DataSubjectNoticeContext,
    EvidenceLine,
    NoticeContext,
)
from tests.notifiers.builders import ORG

GOLDEN = Path(__file__).resolve().parent / "golden"
T = datetime(2026, 11, 20, 8, 42, tzinfo=UTC)


def _facts(language: str) -> dict[str, Any]:
    fr = language == "fr"
    return {
        "incident_ref": "INC-2026-0042",
        "language": language,
        "phase": NoticePhase.INITIAL,
        "version": 1,
        "generated_at": T + timedelta(hours=3),
        "detected_at": T + timedelta(minutes=4),
        "aware_at": T + timedelta(hours=1),
        "first_seen": T,
        "last_seen": T + timedelta(minutes=35),
        "ongoing": True,
        "established": True,
        "natures": ["confidentiality"],
        "rule_ids": ["AUTH-003"],
        "services": ["campaign_manager"],
        "data_categories": ["identification", "electronic_identification"],
        "persons": 1840,
        "records": None,
        "reach": ["u-1842"],
        "severity_band": "medium",
        "measures_taken": [
            "mot de passe du compte réinitialisé et sessions révoquées"
            if fr
            else "account password reset and sessions revoked"
        ],
        "measures_proposed": [
            "vérifier les exports de contacts des dernières 48 heures"
            if fr
            else "review the contact exports of the last 48 hours"
        ],
        "cause": "external_malicious",
        "origin": "hacking",
        "subprocessors_involved": "no",
        "breach_ongoing": "no",
        "breach_ended_at": T + timedelta(minutes=50),
        "org": ORG,
        "next_update": T + timedelta(hours=27),
    }


def _evidence(minutes: int, interface: str, **what: Any) -> EvidenceLine:
    """What account u-1842 did from 203.0.113.5 on CAMPAIGN MANAGER, `minutes` after T."""
    return EvidenceLine(
        occurred_at=T + timedelta(minutes=minutes),
        service="campaign_manager",
        interface=interface,
        actor_id="u-1842",
        source_ip="203.0.113.5",
        **what,
    )


def customer(language: str) -> CustomerNoticeContext:
    return CustomerNoticeContext(
        **_facts(language),
        tenant_id="acme",
        customer_name="ACME SA",
        accounts=["u-1842"],
        evidence=[
            _evidence(0, "web", action="login_failure"),
            _evidence(2, "web", action="login_success"),
            _evidence(
                9,
                "api",
                operation="export",
                resource_type="contact",
                outcome="allowed",
                records=1840,
            ),
        ],
    )


def cnil(language: str) -> CnilNoticeContext:
    return CnilNoticeContext(
        **{**_facts(language), "reach": ["1"]},
        cnil_due=T + timedelta(hours=73),
        late=False,
        circumstances="Détection automatique par l'outil de surveillance Tocsin (règles "
        "AUTH-003) sur les journaux d'authentification et d'accès des services, "
        "puis qualification par l'équipe sécurité.",
        subject_categories=["prospects"],
        directly_identifiable=True,
        consequences=["Rapprochement possible avec d'autres informations relatives aux personnes"],
        harms=["Perte de contrôle sur leurs données personnelles", "Atteinte à la vie privée"],
        measures_planned=["revue des droits d'export"],
        measures_long_term=["authentification à deux facteurs pour tous les comptes"],
        data_subjects_informed="Prévue : information des personnes concernées en préparation "
        "(article 34 du RGPD)",
    )


def data_subject(language: str) -> DataSubjectNoticeContext:
    from notifiers import wording

    return DataSubjectNoticeContext(
        **{**_facts(language), "reach": ["1"]},
        account_holders=False,
        advice=wording.advice(
            language=language,
            data_categories=["identification", "electronic_identification"],
            account_holders=False,
        ),
    )


KINDS = {"customer": customer, "cnil": cnil, "data_subject": data_subject}


def _check(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("TOCSIN_UPDATE_GOLDEN") == "1":
        path.write_text(actual, encoding="utf-8")
    expected = path.read_text(encoding="utf-8") if path.exists() else ""
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                fromfile=f"golden/{name}",
                tofile="rendered",
            )
        )
        pytest.fail(f"{name} differs from its reviewed golden file:\n{diff}", pytrace=False)


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_notice_matches_its_golden_file(kind: str, language: str) -> None:
    context: NoticeContext = KINDS[kind](language)
    out = render_notice(context)
    _check(f"{kind}.{language}.txt", f"Subject: {out.subject}\n\n{out.text}")
    _check(f"{kind}.{language}.html", out.html)
