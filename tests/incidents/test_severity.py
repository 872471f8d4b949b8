"""ENISA 2013 severity (Recommendations for a methodology of the assessment of severity of
personal data breaches): SE = DPC × EI + CB, checked against hand-computed cases."""

from __future__ import annotations

import pytest

from incidents import severity
from incidents.enums import Art34Exemption, CustomerRole, SeverityBand
from incidents.exceptions import InvalidSeverityInput
from incidents.severity import FindingFacts, SeverityInputs

CONF = frozenset({"confidentiality"})


def test_enisa_2013_contact_list_leak_is_low() -> None:
    """Simple data (DPC 1), directly identifying (EI 1), no evidence of illegal processing:
    SE = 1 × 1 + 0 = 1 → low."""
    inputs = SeverityInputs(dpc=1, ei=1)
    assert severity.score(inputs) == 1.0
    assert severity.band(1.0) == SeverityBand.LOW


def test_enisa_2013_stolen_messages_by_attacker_is_high() -> None:
    """Behavioural (messages, DPC 2) × significant EI 0.75 + unknown recipients 0.5 +
    malicious 0.5: SE = 1.5 + 1 = 2.5 → medium."""
    inputs = SeverityInputs(dpc=2, ei=0.75, cb_confidentiality=0.5, malicious=True)
    assert severity.score(inputs) == 2.5
    assert severity.band(2.5) == SeverityBand.MEDIUM


def test_enisa_2013_sensitive_data_all_circumstances_is_very_high() -> None:
    """Sensitive (DPC 4) × maximum EI 1 + 0.5 + 0.5 + 0.5 + 0.5 = 6, the maximum."""
    inputs = SeverityInputs(
        dpc=4, ei=1, cb_confidentiality=0.5, cb_integrity=0.5, cb_availability=0.5, malicious=True
    )
    assert severity.score(inputs) == 6.0
    assert severity.band(6.0) == SeverityBand.VERY_HIGH


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.25, SeverityBand.LOW),
        (1.99, SeverityBand.LOW),
        (2.0, SeverityBand.MEDIUM),
        (2.99, SeverityBand.MEDIUM),
        (3.0, SeverityBand.HIGH),
        (3.99, SeverityBand.HIGH),
        (4.0, SeverityBand.VERY_HIGH),
    ],
)
def test_enisa_2013_band_boundaries(value: float, expected: SeverityBand) -> None:
    assert severity.band(value) == expected


def test_enisa_2013_inputs_outside_the_method_are_refused() -> None:
    with pytest.raises(InvalidSeverityInput):
        severity.score(SeverityInputs(dpc=5, ei=1))
    with pytest.raises(InvalidSeverityInput):
        severity.score(SeverityInputs(dpc=1, ei=0.6))
    with pytest.raises(InvalidSeverityInput):
        severity.score(SeverityInputs(dpc=1, ei=1, cb_integrity=0.3))


def test_prefill_credentials_take_the_class_of_what_they_unlock() -> None:
    """Brute force (AUTH-001, no data categories): credentials at stake → they open
    messages (behavioural, DPC 2); a password alone identifies little (EI 0.5); unknown
    recipients 0.5 + malicious 0.5: SE = 2 × 0.5 + 1 = 2 → medium."""
    inputs = severity.prefill([FindingFacts("AUTH-001", CONF, frozenset())])
    assert (inputs.dpc, inputs.ei, inputs.cb_confidentiality, inputs.malicious) == (
        2.0,
        0.5,
        0.5,
        True,
    )
    assert severity.score(inputs) == 2.0


def test_prefill_staff_without_ticket_is_known_recipient_not_malicious() -> None:
    """ACC-003 on contact data (identification: DPC 1, EI 1) with a known recipient (+0.25),
    intent not established: SE = 1 + 0.25 = 1.25 → low."""
    inputs = severity.prefill([FindingFacts("ACC-003", CONF, frozenset({"identification"}))])
    assert severity.score(inputs) == 1.25
    assert not inputs.malicious


def test_prefill_takes_the_highest_category_and_adds_integrity() -> None:
    """Mass deletion of messages (content DPC 2, EI 0.75): integrity +0.25, availability
    +0.25, confidentiality (unknown recipients) +0.5, malicious +0.5: 1.5 + 1.5 = 3 → high."""
    inputs = severity.prefill(
        [
            FindingFacts(
                "ACC-006", frozenset({"integrity", "availability"}), frozenset({"content"})
            ),
            FindingFacts("ACC-002", CONF, frozenset({"electronic_identification"})),
        ],
        persons=1200,
    )
    assert (inputs.dpc, inputs.ei) == (2.0, 0.75)
    assert (inputs.cb_integrity, inputs.cb_availability) == (0.25, 0.25)
    assert severity.score(inputs) == 3.0
    assert inputs.persons == 1200


def test_recommendation_processor_always_tells_the_customer() -> None:
    rec = severity.recommend(severity=SeverityBand.LOW, roles=[CustomerRole.PROCESSOR])
    assert (rec.notify_customer, rec.notify_cnil, rec.notify_subjects) == (True, False, False)


@pytest.mark.parametrize(
    ("band", "cnil", "subjects"),
    [
        (SeverityBand.LOW, False, False),
        (SeverityBand.MEDIUM, True, False),
        (SeverityBand.HIGH, True, True),
        (SeverityBand.VERY_HIGH, True, True),
    ],
)
def test_recommendation_as_controller(band: SeverityBand, cnil: bool, subjects: bool) -> None:
    rec = severity.recommend(severity=band, roles=["controller"])
    assert (rec.notify_customer, rec.notify_cnil, rec.notify_subjects) == (False, cnil, subjects)


def test_art34_3_exemption_lifts_the_data_subject_notice() -> None:
    rec = severity.recommend(
        severity=SeverityBand.HIGH,
        roles=["controller"],
        art34_exemption=Art34Exemption.UNINTELLIGIBLE,
    )
    assert (rec.notify_cnil, rec.notify_subjects) == (True, False)
    assert any("34(3)" in r for r in rec.reasons)
