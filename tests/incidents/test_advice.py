"""The recommendation around the ENISA score: what a breach is (Art. 4(12)), the role
(Art. 33(1) and (2)), unintelligible data, malicious disclosure, the Art. 34(3) exemptions,
and the factors of the rationale."""

from __future__ import annotations

import pytest

from incidents import severity
from incidents.enums import Art34Exemption, CustomerRole, SeverityBand
from incidents.severity import SeverityInputs

HIGH = SeverityInputs(dpc=3.0, ei=1.0, cb_confidentiality=0.5, malicious=True, persons=900)
INSIDER = SeverityInputs(dpc=1.0, ei=1.0, cb_confidentiality=0.25, malicious=True)


def test_an_attempt_alone_is_registered_and_never_notified() -> None:
    for roles in ([CustomerRole.PROCESSOR], [CustomerRole.CONTROLLER]):
        rec = severity.recommend(
            severity=SeverityBand.HIGH, roles=roles, inputs=HIGH, nature=["attempt"]
        )
        assert (rec.notify_customer, rec.notify_cnil, rec.notify_subjects, rec.notify_public) == (
            False,
            False,
            False,
            False,
        )
        assert len(rec.reasons) == 1 and "Art. 4(12)" in rec.reasons[0]
    mixed = severity.recommend(
        severity=SeverityBand.HIGH,
        roles=[CustomerRole.CONTROLLER],
        inputs=HIGH,
        nature=["attempt", "confidentiality"],
    )
    assert (mixed.notify_cnil, mixed.notify_subjects) == (True, True)


def test_processor_only_tells_the_customer_never_the_cnil_whatever_the_facts() -> None:
    rec = severity.recommend(
        severity=SeverityBand.VERY_HIGH,
        roles=[CustomerRole.PROCESSOR],
        inputs=HIGH,
        nature=["confidentiality"],
    )
    assert (rec.notify_customer, rec.notify_cnil, rec.notify_subjects) == (True, False, False)
    assert any("Art. 33(2)" in r for r in rec.reasons)
    assert any("no CNIL notice from AVM Up" in r for r in rec.reasons)


def test_malicious_disclosure_is_never_unlikely_to_result_in_a_risk() -> None:
    assert severity.band(severity.score(INSIDER)) is SeverityBand.LOW
    rec = severity.recommend(
        severity=SeverityBand.LOW,
        roles=[CustomerRole.CONTROLLER],
        inputs=INSIDER,
        nature=["confidentiality"],
    )
    assert (rec.notify_cnil, rec.notify_subjects) == (True, False)
    # Exposure without disclosure (CB 0) or without intent: the band decides.
    exposed = severity.with_overrides(INSIDER, cb_confidentiality=0.0)
    accident = severity.with_overrides(INSIDER, malicious=False)
    for inputs in (exposed, accident):
        quiet = severity.recommend(
            severity=SeverityBand.LOW,
            roles=["controller"],
            inputs=inputs,
            nature=["confidentiality"],
        )
        assert quiet.notify_cnil is False


def test_unintelligible_data_is_unlikely_to_result_in_a_risk_even_when_malicious() -> None:
    hashed = severity.with_overrides(HIGH, unintelligible=True)
    rec = severity.recommend(
        severity=SeverityBand.VERY_HIGH,
        roles=["controller"],
        inputs=hashed,
        nature=["confidentiality"],
    )
    assert (rec.notify_cnil, rec.notify_subjects, rec.notify_public) == (False, False, False)
    assert any("Art. 34(3)(a)" in r and "unintelligible" in r for r in rec.reasons)


@pytest.mark.parametrize(
    ("exemption", "article"),
    [
        (Art34Exemption.UNINTELLIGIBLE, "Art. 34(3)(a)"),
        (Art34Exemption.RISK_NO_LONGER_LIKELY, "Art. 34(3)(b)"),
    ],
)
def test_art34_3_a_and_b_remove_the_data_subject_communication(
    exemption: Art34Exemption,
    article: str,
) -> None:
    rec = severity.recommend(
        severity=SeverityBand.VERY_HIGH,
        roles=["controller"],
        inputs=HIGH,
        nature=["confidentiality"],
        art34_exemption=exemption,
    )
    assert (rec.notify_cnil, rec.notify_subjects, rec.notify_public) == (True, False, False)
    assert any(article in r for r in rec.reasons)


def test_art34_3_c_replaces_it_with_a_public_communication() -> None:
    rec = severity.recommend(
        severity=SeverityBand.VERY_HIGH,
        roles=["controller"],
        inputs=HIGH,
        nature=["confidentiality"],
        art34_exemption=Art34Exemption.DISPROPORTIONATE_EFFORT,
    )
    assert (rec.notify_cnil, rec.notify_subjects, rec.notify_public) == (True, False, True)
    assert any("Art. 34(3)(c)" in r and "public communication" in r for r in rec.reasons)
    # Below high risk there is nothing to replace.
    low = severity.recommend(
        severity=SeverityBand.MEDIUM,
        roles=["controller"],
        inputs=INSIDER,
        nature=["confidentiality"],
        art34_exemption=Art34Exemption.DISPROPORTIONATE_EFFORT,
    )
    assert low.notify_public is False


def test_both_roles_tell_the_customer_and_the_cnil() -> None:
    rec = severity.recommend(
        severity=SeverityBand.MEDIUM,
        roles=[CustomerRole.PROCESSOR, CustomerRole.CONTROLLER],
        inputs=INSIDER,
        nature=["confidentiality"],
    )
    assert (rec.notify_customer, rec.notify_cnil) == (True, True)


def test_the_rationale_lists_every_factor() -> None:
    factors = severity.factors(
        inputs=INSIDER,
        roles=["controller"],
        art34_exemption=Art34Exemption.RISK_NO_LONGER_LIKELY,
        nature=["confidentiality"],
    )
    assert set(factors) >= {
        "data",
        "identifiability",
        "circumstances",
        "intent",
        "exemptions",
        "role",
    }
    assert factors["intent"].startswith("malicious") and "left" in factors["intent"]
    assert factors["exemptions"] == "b_measures_taken"
    assert factors["role"] == "controller"
    assert "confidentiality +0.25" in factors["circumstances"]
