"""ENISA 2013 severity of a personal data breach: SE = DPC × EI + CB (docs/architecture.md §8).

Pure functions: `prefill` derives the inputs from findings, `score`/`band` apply the method,
`recommend` says who must be told. Inputs stay editable (with a justification) through
`incidents.service.assess_severity`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from incidents.enums import Art34Exemption, CustomerRole, SeverityBand
from incidents.exceptions import InvalidSeverityInput

DPC_VALUES = (1.0, 2.0, 3.0, 4.0)  # simple, behavioural, financial, sensitive
EI_VALUES = (0.25, 0.5, 0.75, 1.0)  # negligible, limited, significant, maximum
CB_VALUES = (0.0, 0.25, 0.5)
MALICIOUS_BONUS = 0.5

# Data category (event contract) -> ENISA data processing context.
CATEGORY_DPC: Mapping[str, float] = {
    "identification": 1.0,  # civilité, prénom, nom, téléphone: simple
    "electronic_identification": 1.0,  # email, IP, cookie: simple
    "content": 2.0,  # messages, faxes, calls, voicemail: behavioural
    # Credentials take the class of what they unlock: an account of our services opens its
    # messages, faxes and call records (behavioural).
    "security": 2.0,
}
# Data category -> ease of identification of the persons.
CATEGORY_EI: Mapping[str, float] = {
    "identification": 1.0,  # name + phone number: identifies directly (maximum)
    "electronic_identification": 0.75,  # email / IP: significant
    "content": 0.75,  # messages name their authors and recipients: significant
    "security": 0.5,  # a password alone: limited
}


@dataclass(frozen=True)
class RuleProfile:
    """How a rule's findings fill the circumstances of the breach."""

    malicious: bool = True
    # Confidentiality CB when the nature includes confidentiality: 0.5 unknown recipients
    # (an attacker), 0.25 known recipients (a named staff member), 0 exposure only.
    confidentiality: float = 0.5
    integrity: float = 0.25  # altered, possibly misused, recoverable from backups
    availability: float = 0.25  # temporary unavailability


DEFAULT_PROFILE = RuleProfile()
RULE_PROFILES: Mapping[str, RuleProfile] = {
    # Staff without a ticket / outside hours: a known recipient, intent not established.
    "ACC-003": RuleProfile(malicious=False, confidentiality=0.25),
    "ACC-004": RuleProfile(malicious=False, confidentiality=0.25),
    # No TLS: exposed, no evidence of illegal processing.
    "ACC-008": RuleProfile(malicious=False, confidentiality=0.0),
}


@dataclass(frozen=True)
class SeverityInputs:
    dpc: float
    ei: float
    cb_confidentiality: float = 0.0
    cb_integrity: float = 0.0
    cb_availability: float = 0.0
    malicious: bool = False
    persons: int = 0
    unintelligible: bool = False
    rationale: Mapping[str, Any] = field(default_factory=dict)

    def validate(self) -> SeverityInputs:
        if not 1.0 <= self.dpc <= 4.0:
            raise InvalidSeverityInput(f"dpc must be within 1..4, got {self.dpc}")
        if self.ei not in EI_VALUES:
            raise InvalidSeverityInput(f"ei must be one of {EI_VALUES}, got {self.ei}")
        for name in ("cb_confidentiality", "cb_integrity", "cb_availability"):
            if getattr(self, name) not in CB_VALUES:
                raise InvalidSeverityInput(f"{name} must be one of {CB_VALUES}")
        if self.persons < 0:
            raise InvalidSeverityInput("persons must be >= 0")
        return self

    @property
    def cb(self) -> float:
        return (self.cb_confidentiality + self.cb_integrity + self.cb_availability
                + (MALICIOUS_BONUS if self.malicious else 0.0))


def score(inputs: SeverityInputs) -> float:
    """SE = DPC × EI + CB (ENISA 2013), from 0.25 to 6."""
    inputs.validate()
    return round(inputs.dpc * inputs.ei + inputs.cb, 4)


def band(value: float) -> SeverityBand:
    """low < 2 ≤ medium < 3 ≤ high < 4 ≤ very high."""
    if value < 2:
        return SeverityBand.LOW
    if value < 3:
        return SeverityBand.MEDIUM
    if value < 4:
        return SeverityBand.HIGH
    return SeverityBand.VERY_HIGH


@dataclass(frozen=True)
class FindingFacts:
    """What `prefill` needs from one finding (decoupled from the ORM row)."""

    rule_id: str
    nature: frozenset[str]
    data_categories: frozenset[str]
    subjects: int = 0


def prefill(findings: Iterable[FindingFacts], *, persons: int = 0,
            profiles: Mapping[str, RuleProfile] = RULE_PROFILES) -> SeverityInputs:
    """ENISA inputs from an incident's findings; the rationale says where each came from.

    An authentication attack without data categories puts credentials at stake (`security`).
    """
    facts = list(findings)
    categories: set[str] = set()
    natures: set[str] = set()
    for f in facts:
        cats = set(f.data_categories)
        if not cats and f.rule_id.startswith("AUTH-"):
            cats = {"security"}
        categories |= cats
        natures |= set(f.nature)
    known = [c for c in categories if c in CATEGORY_DPC]
    dpc = max((CATEGORY_DPC[c] for c in known), default=1.0)
    ei = max((CATEGORY_EI[c] for c in known), default=0.25)
    conf = integ = avail = 0.0
    malicious = False
    for f in facts:
        prof = profiles.get(f.rule_id, DEFAULT_PROFILE)
        if "confidentiality" in f.nature:
            conf = max(conf, prof.confidentiality)
        if "integrity" in f.nature:
            integ = max(integ, prof.integrity)
        if "availability" in f.nature:
            avail = max(avail, prof.availability)
        malicious = malicious or prof.malicious
    rationale = {
        "categories": sorted(categories),
        "nature": sorted(natures),
        "rules": sorted({f.rule_id for f in facts}),
        "dpc": "highest class of the categories (credentials: what they unlock)",
        "ei": "highest identifiability of the categories",
        "cb": "nature of the findings; malicious intent for attack rules",
    }
    return SeverityInputs(dpc=dpc, ei=ei, cb_confidentiality=conf, cb_integrity=integ,
                          cb_availability=avail, malicious=malicious, persons=persons,
                          rationale=rationale).validate()


@dataclass(frozen=True)
class Recommendation:
    notify_customer: bool
    notify_cnil: bool
    notify_subjects: bool
    reasons: tuple[str, ...]


def recommend(*, severity: SeverityBand, roles: Iterable[CustomerRole | str],
              art34_exemption: Art34Exemption | str | None = None) -> Recommendation:
    """Who must be told. As processor, the customer always (Art. 33(2)); as controller,
    medium or above → CNIL (Art. 33(1)), high or above → data subjects (Art. 34) unless an
    Art. 34(3) exemption is claimed. The thresholds are a convention, not ENISA's."""
    role_set = {CustomerRole(r) for r in roles}
    reasons: list[str] = []
    customer = CustomerRole.PROCESSOR in role_set or not role_set
    if customer:
        reasons.append("processor: every breach is reported to the customer (Art. 33(2))")
    order = [SeverityBand.LOW, SeverityBand.MEDIUM, SeverityBand.HIGH, SeverityBand.VERY_HIGH]
    rank = order.index(severity)
    controller = CustomerRole.CONTROLLER in role_set
    cnil = controller and rank >= 1
    subjects = controller and rank >= 2
    if controller:
        reasons.append(
            "controller: risk " + ("≥ medium → CNIL within 72 h (Art. 33(1))" if cnil
                                   else "low → register only (Art. 33(5))")
        )
    if subjects and art34_exemption is not None:
        subjects = False
        reasons.append(f"Art. 34(3) exemption claimed: {Art34Exemption(art34_exemption).value}")
    elif subjects:
        reasons.append("controller: high risk → data subjects (Art. 34(1))")
    return Recommendation(customer, cnil, subjects, tuple(reasons))


def with_overrides(inputs: SeverityInputs, **changes: Any) -> SeverityInputs:
    """A copy of `inputs` with some values edited (validated)."""
    return replace(inputs, **changes).validate()
