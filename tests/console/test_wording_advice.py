"""Every reason `recommend()` can give and every factor line `factors()` can write reads as a
sentence in French and in English: a new wording in the domain without its translation in
console/wording.py fails here."""

from __future__ import annotations

import itertools
import re

import pytest

from console import wording
from incidents.enums import Art34Exemption, CustomerRole, SeverityBand
from incidents.severity import SeverityInputs, factors, recommend

ROLE_SETS: tuple[tuple[CustomerRole, ...], ...] = (
    (),
    (CustomerRole.PROCESSOR,),
    (CustomerRole.CONTROLLER,),
    (CustomerRole.PROCESSOR, CustomerRole.CONTROLLER),
)
EXEMPTIONS: tuple[Art34Exemption | None, ...] = (None, *Art34Exemption)
NATURES: tuple[tuple[str, ...], ...] = (
    (),
    ("attempt",),
    ("confidentiality",),
    ("confidentiality", "integrity", "availability"),
    ("attempt", "integrity"),
)
CB_VALUES = (0.0, 0.25, 0.5)
# English that must not reach a French reader (the domain's own words).
ENGLISH = re.compile(
    r"\b(?:processor|controller|every breach|unintelligible|measures|persons?|register only|"
    r"data subjects|band|severity|exemption|claimed|malicious|established|none|"
    r"confidentiality|integrity|availability|attempt|nature:|role:|intent|high|medium|low|"
    r"left|control|within|without|the|and|of)\b"
)


def _inputs(
    *,
    unintelligible: bool,
    malicious: bool,
    conf: float,
    integ: float = 0.0,
    avail: float = 0.0,
    dpc: float = 2.0,
    ei: float = 0.75,
    persons: int = 12,
) -> SeverityInputs:
    return SeverityInputs(
        dpc=dpc,
        ei=ei,
        cb_confidentiality=conf,
        cb_integrity=integ,
        cb_availability=avail,
        malicious=malicious,
        persons=persons,
        unintelligible=unintelligible,
    ).validate()


def _all_reasons() -> set[str]:
    reasons: set[str] = set()
    for roles, sev, exemption, unintelligible, malicious, conf, nature in itertools.product(
        ROLE_SETS, SeverityBand, EXEMPTIONS, (False, True), (False, True), CB_VALUES, NATURES
    ):
        inputs = _inputs(unintelligible=unintelligible, malicious=malicious, conf=conf)
        rec = recommend(
            severity=sev, roles=roles, art34_exemption=exemption, inputs=inputs, nature=nature
        )
        reasons.update(rec.reasons)
    for roles, sev in itertools.product(ROLE_SETS, SeverityBand):  # no assessment inputs
        reasons.update(recommend(severity=sev, roles=roles).reasons)
    return reasons


def _all_factors() -> set[tuple[str, str]]:
    lines: set[tuple[str, str]] = set()
    for (
        roles,
        exemption,
        unintelligible,
        malicious,
        conf,
        integ,
        avail,
        nature,
    ) in itertools.product(
        ROLE_SETS,
        EXEMPTIONS,
        (False, True),
        (False, True),
        CB_VALUES,
        CB_VALUES,
        CB_VALUES,
        NATURES,
    ):
        inputs = _inputs(
            unintelligible=unintelligible, malicious=malicious, conf=conf, integ=integ, avail=avail
        )
        lines.update(
            factors(inputs=inputs, roles=roles, art34_exemption=exemption, nature=nature).items()
        )
    for dpc, ei, persons in itertools.product(
        (1.0, 2.0, 3.0, 4.0), (0.25, 0.5, 0.75, 1.0), (0, 1, 12000)
    ):
        inputs = _inputs(
            unintelligible=False, malicious=False, conf=0.0, dpc=dpc, ei=ei, persons=persons
        )
        lines.update(factors(inputs=inputs, roles=()).items())
    return lines


REASONS = sorted(_all_reasons())
FACTORS = sorted(_all_factors())


def test_the_combinations_reach_every_reason_and_factor() -> None:
    assert len(REASONS) >= 13  # each wording recommend() has, bands apart
    prefixes = {r.split(":")[0] for r in REASONS}
    assert prefixes == {
        "nature",
        "role",
        "identifiability",
        "intent and circumstances",
        "severity",
        "exemption",
    }
    assert {k for k, _ in FACTORS} == {
        "data",
        "identifiability",
        "circumstances",
        "intent",
        "exemptions",
        "role",
        "persons",
    }


@pytest.mark.parametrize("text", REASONS)
def test_every_reason_reads_in_french(text: str) -> None:
    sentence = wording.reason_sentence("fr", text)
    assert sentence is not None, f"no French wording for the reason {text!r}"
    assert sentence == wording.reason("fr", text)
    assert not ENGLISH.search(sentence), sentence
    assert re.search(r"\(art\. \d", sentence), sentence  # the article, cited
    assert sentence[0].isupper() and sentence.endswith(".")


@pytest.mark.parametrize("text", REASONS)
def test_every_reason_reads_in_english(text: str) -> None:
    sentence = wording.reason_sentence("en", text)
    assert sentence is not None, f"no English wording for the reason {text!r}"
    assert "_" not in sentence and "≥" not in sentence  # no raw values or symbols
    assert "Art. " in sentence, sentence
    assert sentence[0].isupper() and sentence.endswith(".")


@pytest.mark.parametrize(("key", "value"), FACTORS)
def test_every_factor_reads_in_french(key: str, value: str) -> None:
    sentence = wording.factor_sentence("fr", key, value)
    assert sentence is not None, f"no French wording for the factor {key}={value!r}"
    assert not ENGLISH.search(sentence), sentence
    assert "_" not in sentence and not re.search(r"\d\.\d", sentence), sentence
    assert sentence[0].isupper() and sentence.endswith(".")
    assert wording.factors("fr", {key: value}) == [(key, sentence)]


@pytest.mark.parametrize(("key", "value"), FACTORS)
def test_every_factor_reads_in_english(key: str, value: str) -> None:
    sentence = wording.factor_sentence("en", key, value)
    assert sentence is not None, f"no English wording for the factor {key}={value!r}"
    assert "_" not in sentence and sentence.endswith(".")


def test_bands_and_numbers_read_as_people_read_them() -> None:
    text = (
        "severity: band very_high (≥ high): high risk: the data subjects without undue "
        "delay (Art. 34(1))"
    )
    assert "Gravité : très élevée (élevée ou plus)" in wording.reason("fr", text)
    assert "band very high" in wording.reason("en", text)
    assert wording.factor_sentence("fr", "identifiability", "EI 0.75") == (
        "Identifiabilité : facilité d'identification (EI) 0,75."
    )
    assert wording.factor_sentence(
        "fr", "circumstances", "confidentiality +0.5; nature attempt, integrity"
    ) == (
        "Circonstances (CB) : confidentialité +0,5 ; nature de la violation : tentative, intégrité."
    )
    assert wording.factor_sentence("fr", "role", "controller + processor") == (
        "Rôle d'AVM Up : responsable de traitement et sous-traitant."
    )


def test_an_unknown_wording_is_shown_as_written() -> None:
    assert wording.reason_sentence("fr", "role: something new (Art. 99)") is None
    assert wording.reason("fr", "role: something new (Art. 99)") == (
        "role: something new (Art. 99)"
    )
    assert wording.factor_sentence("fr", "intent", "reckless") is None
    assert wording.factors("fr", {"mood": ["calm"]}) == [("mood", "mood : calm")]
    assert wording.factors("en", {"mood": "calm"}) == [("mood", "mood: calm")]
