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
        return (
            self.cb_confidentiality
            + self.cb_integrity
            + self.cb_availability
            + (MALICIOUS_BONUS if self.malicious else 0.0)
        )


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


def prefill(
    findings: Iterable[FindingFacts],
    *,
    persons: int = 0,
    profiles: Mapping[str, RuleProfile] = RULE_PROFILES,
) -> SeverityInputs:
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
    return SeverityInputs(
        dpc=dpc,
        ei=ei,
        cb_confidentiality=conf,
        cb_integrity=integ,
        cb_availability=avail,
        malicious=malicious,
        persons=persons,
        rationale=rationale,
    ).validate()


@dataclass(frozen=True)
class Recommendation:
    """Who must be told, and why: each reason names its factor and its article."""

    notify_customer: bool
    notify_cnil: bool
    notify_subjects: bool
    reasons: tuple[str, ...]
    notify_public: bool = False


_ORDER = (SeverityBand.LOW, SeverityBand.MEDIUM, SeverityBand.HIGH, SeverityBand.VERY_HIGH)
BREACH_NATURES = frozenset({"confidentiality", "integrity", "availability"})
ATTEMPT = "attempt"


def is_attempt_only(nature: Iterable[str]) -> bool:
    """Nature `attempt` alone: a security incident that reached no personal data."""
    found = set(nature)
    return ATTEMPT in found and not found & BREACH_NATURES


def advised_nature(nature: Iterable[str], qualified: Iterable[str] | None) -> list[str]:
    """The nature the advice reads: the RSSI's qualification of a pure attempt as a breach
    (`notice_fields.qualify_breach`), else the nature the evidence (or the declaration)
    shows."""
    found = list(nature)
    if found == [ATTEMPT] and qualified:
        return list(qualified)
    return found


def left_control(inputs: SeverityInputs) -> bool:
    """A malicious breach of confidentiality where the data reached someone (ENISA CB
    confidentiality > 0: disclosed to known or unknown recipients)."""
    return inputs.malicious and inputs.cb_confidentiality > 0


def recommend(
    *,
    severity: SeverityBand,
    roles: Iterable[CustomerRole | str],
    art34_exemption: Art34Exemption | str | None = None,
    inputs: SeverityInputs | None = None,
    nature: Iterable[str] = (),
) -> Recommendation:
    """Who must be told. ENISA gives the score; the law decides around it.

    - Nature `attempt` alone: not a personal data breach (Art. 4(12)): register only.
    - Processor (the customers' data): the customer, for every breach (Art. 33(2)).
    - Controller (AVM Up's own processing): the CNIL unless the breach is unlikely to result
      in a risk (Art. 33(1)). Data unintelligible to anyone unauthorised is; a malicious breach
      of confidentiality where the data left AVM Up's control never is, whatever the band;
      otherwise a low band is, medium or above is not.
    - Controller and high risk (band high or above): the data subjects (Art. 34(1)), unless
      Art. 34(3)(a) or (b); under (c) a public communication replaces them.
    """
    role_set = {CustomerRole(r) for r in roles}
    rank = _ORDER.index(SeverityBand(severity))
    reasons: list[str] = []
    if is_attempt_only(nature):
        reasons.append(
            "nature: attempt only, no personal data reached: a security incident, "
            "not a personal data breach (Art. 4(12)): register only, no notification"
        )
        return Recommendation(False, False, False, tuple(reasons))
    customer = CustomerRole.PROCESSOR in role_set or not role_set
    controller = CustomerRole.CONTROLLER in role_set
    if customer:
        reasons.append(
            "role: processor for the customers' data: every breach is reported "
            "to the customer without undue delay (Art. 33(2))"
        )
    if controller:
        reasons.append(
            "role: controller (AVM Up's own processing): AVM Up assesses the risk "
            "and notifies the CNIL within 72 h (Art. 33(1))"
        )
    else:
        reasons.append(
            "role: processor only: the customer, as controller, decides on the CNIL "
            "and the persons (Art. 33(1), Art. 34); no CNIL notice from AVM Up"
        )
    unintelligible = inputs is not None and inputs.unintelligible
    malicious_out = inputs is not None and left_control(inputs)
    cnil = subjects = public = False
    if controller:
        if unintelligible:
            reasons.append(
                "identifiability: data unintelligible to anyone not authorised "
                "(state-of-the-art encryption or hashing, key or salt not "
                "compromised): unlikely to result in a risk: neither the CNIL "
                "(Art. 33(1)) nor the persons (Art. 34(3)(a))"
            )
        elif malicious_out:
            cnil = True
            reasons.append(
                "intent and circumstances: malicious breach of confidentiality, the "
                "data left AVM Up's control: never 'unlikely to result in a risk', "
                f"whatever the band ({SeverityBand(severity).value}): CNIL "
                "(Art. 33(1))"
            )
        elif rank >= 1:
            cnil = True
            reasons.append(
                f"severity: band {SeverityBand(severity).value} (≥ medium): a risk "
                "to the persons: CNIL within 72 h (Art. 33(1))"
            )
        else:
            reasons.append(
                "severity: band low, no malicious disclosure: unlikely to result in "
                "a risk: register only (Art. 33(1), Art. 33(5))"
            )
        if rank >= 2 and not unintelligible:
            exemption = Art34Exemption(art34_exemption) if art34_exemption else None
            if exemption is Art34Exemption.DISPROPORTIONATE_EFFORT:
                public = True
                reasons.append(
                    "exemption: individual communication would involve "
                    "disproportionate effort: a public communication instead "
                    "(Art. 34(3)(c))"
                )
            elif exemption is Art34Exemption.UNINTELLIGIBLE:
                reasons.append(
                    "exemption: data unintelligible to unauthorised persons: no "
                    "communication to the persons (Art. 34(3)(a))"
                )
            elif exemption is Art34Exemption.RISK_NO_LONGER_LIKELY:
                reasons.append(
                    "exemption: subsequent measures make the high risk no longer "
                    "likely: no communication to the persons (Art. 34(3)(b))"
                )
            else:
                subjects = True
                reasons.append(
                    f"severity: band {SeverityBand(severity).value} (≥ high): high "
                    "risk: the data subjects without undue delay (Art. 34(1))"
                )
        elif not unintelligible:
            reasons.append(
                "severity: band below high: no high risk: no communication to the "
                "persons (Art. 34(1))"
            )
    return Recommendation(customer, cnil, subjects, tuple(reasons), public)


def factors(
    *,
    inputs: SeverityInputs,
    roles: Iterable[CustomerRole | str],
    art34_exemption: Art34Exemption | str | None = None,
    nature: Iterable[str] = (),
) -> dict[str, str]:
    """The factors of the rationale, each in one line: data, identifiability, circumstances,
    intent, exemptions, role (ENISA 2013 for the first four, GDPR for the last two)."""
    role_set = sorted({CustomerRole(r).value for r in roles}) or ["processor"]
    circumstances = []
    for name, value in (
        ("confidentiality", inputs.cb_confidentiality),
        ("integrity", inputs.cb_integrity),
        ("availability", inputs.cb_availability),
    ):
        if value:
            circumstances.append(f"{name} +{value:g}")
    found = sorted(set(nature))
    return {
        "data": f"DPC {inputs.dpc:g} (ENISA data processing context)",
        "identifiability": (
            f"EI {inputs.ei:g}"
            + ("; data unintelligible to unauthorised persons" if inputs.unintelligible else "")
        ),
        "circumstances": (", ".join(circumstances) or "none")
        + (f"; nature {', '.join(found)}" if found else ""),
        "intent": ("malicious (+0.5)" if inputs.malicious else "not established")
        + ("; data left AVM Up's control" if left_control(inputs) else ""),
        "exemptions": (
            Art34Exemption(art34_exemption).value if art34_exemption else "none claimed"
        ),
        "role": " + ".join(role_set),
        "persons": str(inputs.persons),
    }


def with_overrides(inputs: SeverityInputs, **changes: Any) -> SeverityInputs:
    """A copy of `inputs` with some values edited (validated)."""
    return replace(inputs, **changes).validate()
