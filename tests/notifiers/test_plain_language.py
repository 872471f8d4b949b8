"""Art. 34(2): the data-subject notice speaks clear and plain language. No jargon from a list
of terms DPOs flag, no time-zone codes, short sentences, a French (and English) readability
score (French), only the data this processing holds, and advice that fits the persons."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import textstat

from notifiers import wording
from notifiers.enums import NoticePhase
from notifiers.render import render_notice
from notifiers.schemas import DataSubjectNoticeContext
from tests.notifiers.builders import ORG

T = datetime(2026, 11, 20, 8, 42, tzinfo=UTC)

JARGON = {
    "fr": [
        "exfiltration",
        "rapprochement",
        "révocation",
        "clé d'api",
        "clés d'api",
        "session",
        "utc",
        "authentification multifacteur",
        "force brute",
        "pulvérisation",
        "hameçonnage",
        "phishing",
        "adresse ip",
        "cookie",
        "journaux",
        "logs",
        "règle",
        "auth-",
        "acc-",
        "tenant",
        "sous-traitant",
        "article 33",
        "rgpd",
        "violation",
        "confidentialité",
        "intégrité",
        "données d'identification électronique",
        "responsable du traitement",
    ],
    "en": [
        "exfiltration",
        "correlation",
        "revocation",
        "api key",
        "session",
        "utc",
        "multi-factor",
        "brute force",
        "spraying",
        "phishing",
        "ip address",
        "cookie",
        "logs",
        "rule",
        "auth-",
        "acc-",
        "tenant",
        "processor",
        "article 33",
        "gdpr",
        "breach",
        "confidentiality",
        "integrity",
        "controller",
    ],
}
# Flesch reading ease (French: Kandel & Moles' adaptation): 60 and above reads as plain.
MIN_EASE = 60.0
MAX_AVERAGE_WORDS = 14.0
MAX_WORDS = 22

CASES = [
    # (rules, data categories, persons hold an account with the services)
    (["AUTH-003"], ["identification", "electronic_identification", "security"], True),
    (["ACC-002"], ["identification", "electronic_identification"], False),  # a contact file
    (["ACC-001", "ACC-006"], ["content", "identification"], True),
]


def _notice(language: str, rules: list[str], categories: list[str], holders: bool) -> str:
    measures = {
        "fr": ["Nous avons bloqué l'accès en cause.", "Nous surveillons vos données."],
        "en": ["We blocked the access in question.", "We are watching your data."],
    }
    ctx = DataSubjectNoticeContext(
        incident_ref="INC-2026-0042",
        language=language,
        phase=NoticePhase.INITIAL,
        version=1,
        generated_at=T,
        detected_at=T,
        aware_at=T,
        first_seen=T,
        last_seen=T + timedelta(hours=30),
        ongoing=True,
        established=True,
        natures=["confidentiality"],
        rule_ids=rules,
        services=["campaign_manager"],
        data_categories=categories,
        persons=120,
        records=None,
        reach=["1"],
        measures_taken=measures[language],
        breach_ongoing="yes",
        org=ORG,
        account_holders=holders,
        advice=wording.advice(
            language=language, data_categories=categories, account_holders=holders
        ),
    )
    return render_notice(ctx).text


def _sentences(text: str) -> list[str]:
    body = "\n".join(
        line
        for line in text.splitlines()
        if line.strip()
        and not line.isupper()
        and "@" not in line
        and not line.startswith(("Référence", "Reference", "AVM Up"))
    )
    parts = re.split(r"(?<=[.!?])\s+|\n+", body)
    return [p.strip(" -") for p in parts if len(p.split()) > 1]


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize(("rules", "categories", "holders"), CASES)
def test_data_subject_notice_is_plain(
    language: str, rules: list[str], categories: list[str], holders: bool
) -> None:
    text = _notice(language, rules, categories, holders)
    lower = text.lower()
    flagged = [term for term in JARGON[language] if re.search(rf"\b{re.escape(term)}", lower)]
    assert not flagged, f"jargon in the {language} data-subject notice: {flagged}"
    assert not re.search(r"\(UTC[+-]\d\d:\d\d\)|\d{1,2}:\d{2}", text)  # no times, no zones
    sentences = _sentences(text)
    lengths = [len(s.split()) for s in sentences]
    assert max(lengths) <= MAX_WORDS, max(zip(lengths, sentences, strict=True))
    assert sum(lengths) / len(lengths) <= MAX_AVERAGE_WORDS
    if language == "fr":  # the English syllable counter needs a corpus download
        textstat.set_lang("fr")
        ease = textstat.flesch_reading_ease(" ".join(sentences))
        assert ease >= MIN_EASE, f"reading ease {ease:.0f} < {MIN_EASE:.0f}"


@pytest.mark.parametrize("language", ["fr", "en"])
def test_prospects_without_an_account_get_no_password_advice(language: str) -> None:
    contact_file = _notice(
        language, ["ACC-002"], ["identification", "electronic_identification"], False
    )
    accounts = _notice(language, ["AUTH-003"], ["security", "identification"], True)
    word = "mot de passe" if language == "fr" else "password"
    assert word not in contact_file.lower()
    assert word in accounts.lower()
    # Only the data this processing holds: an e-mail address, not IP addresses or cookies.
    assert ("adresse e-mail" if language == "fr" else "email address") in contact_file
    assert "ip" not in re.findall(r"\b\w+\b", contact_file.lower())


def test_the_jargon_check_catches_the_old_wording() -> None:
    old = (
        "Entre le 20 novembre 2026 à 09:42 (UTC+01:00) et le 21 novembre, exfiltration "
        "possible, rapprochement de données de connexion, révocation des sessions et clés "
        "d'API."
    )
    assert [t for t in JARGON["fr"] if t in old.lower()]
    assert re.search(r"\(UTC[+-]\d\d:\d\d\)", old)
