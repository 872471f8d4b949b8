"""What the domain writes in its own vocabulary, read in the console's language.

The severity rationale (a mapping of factors to values), the recommendation's reasons and
the texts Tocsin writes itself (an automatic assessment's justification) are stored as the
domain produced them; the console shows them as sentences in the reader's language. A value
this module does not know is shown as it is, lists joined, never as a Python repr.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from console.i18n import LABELS, label

_FACTORS = {
    "fr": {
        "categories": "Catégories de données concernées : {v}.",
        "nature": "Nature de la violation : {v}.",
        "rules": "Règles de détection en cause : {v}.",
        "dpc": "Contexte de traitement (DPC) : classe la plus haute des catégories "
        "(des identifiants valent ce qu'ils ouvrent).",
        "ei": "Facilité d'identification (EI) : la plus haute des catégories.",
        "cb": "Circonstances (CB) : nature des détections ; intention malveillante pour les "
        "règles d'attaque.",
        "edited_in": "Valeurs saisies dans la console.",
    },
    "en": {
        "categories": "Data categories concerned: {v}.",
        "nature": "Nature of the breach: {v}.",
        "rules": "Detection rules involved: {v}.",
        "dpc": "Data processing context (DPC): highest class of the categories (credentials "
        "count as what they unlock).",
        "ei": "Ease of identification (EI): the highest of the categories.",
        "cb": "Circumstances (CB): nature of the findings; malicious intent for attack rules.",
        "edited_in": "Values entered in the console.",
    },
}
_VALUES = {
    "fr": {
        "identification": "identification",
        "security": "sécurité (mots de passe)",
        "electronic_identification": "identification électronique",
        "content": "contenu des messages",
        "confidentiality": "confidentialité",
        "integrity": "intégrité",
        "availability": "disponibilité",
        "attempt": "tentative",
    },
    "en": {
        "electronic_identification": "electronic identification",
        "security": "security (passwords)",
        "content": "message content",
    },
}
# Each reason the recommendation can give (incidents.severity.recommend), read as a sentence:
# the factor, the value, why, and the article. A group is shown through a label group.
_Reason = tuple[re.Pattern[str], str | None, dict[str, str]]
_REASONS: list[_Reason] = [
    (
        re.compile(
            r"^nature: attempt only, no personal data reached: a security incident, not a "
            r"personal data breach \(Art\. 4\(12\)\): register only, no notification$"
        ),
        None,
        {
            "fr": "Nature : une tentative seulement, aucune donnée personnelle atteinte : c'est un "
            "incident de sécurité, pas une violation de données personnelles (art. 4(12) du "
            "RGPD) ; inscription au registre, sans notification.",
            "en": "Nature: an attempt only, no personal data reached: a security incident, not a "
            "personal data breach (GDPR Art. 4(12)); recorded in the register, no notification.",
        },
    ),
    (
        re.compile(
            r"^role: processor for the customers' data: every breach is reported to the "
            r"customer without undue delay \(Art\. 33\(2\)\)$"
        ),
        None,
        {
            "fr": "Rôle : AVM Up est sous-traitant des données de ses clients ; toute violation est "
            "signalée au client dans les meilleurs délais (art. 33(2) du RGPD).",
            "en": "Role: AVM Up processes its customers' data as a processor; each breach is "
            "reported to the customer without undue delay (GDPR Art. 33(2)).",
        },
    ),
    (
        re.compile(
            r"^role: controller \(AVM Up's own processing\): AVM Up assesses the risk and "
            r"notifies the CNIL within 72 h \(Art\. 33\(1\)\)$"
        ),
        None,
        {
            "fr": "Rôle : AVM Up est responsable de ses propres traitements ; AVM Up évalue le risque "
            "et notifie la CNIL sous 72 h (art. 33(1) du RGPD).",
            "en": "Role: AVM Up is the controller of its own processing; AVM Up assesses the risk "
            "and notifies the CNIL within 72 hours (GDPR Art. 33(1)).",
        },
    ),
    (
        re.compile(
            r"^role: processor only: the customer, as controller, decides on the CNIL and "
            r"the persons \(Art\. 33\(1\), Art\. 34\); no CNIL notice from AVM Up$"
        ),
        None,
        {
            "fr": "Rôle : AVM Up est seulement sous-traitant ; le client, responsable de traitement, "
            "décide de notifier la CNIL et d'informer les personnes (art. 33(1) et 34 du "
            "RGPD) ; AVM Up ne notifie pas la CNIL.",
            "en": "Role: AVM Up is only a processor; the customer, as controller, decides whether "
            "to notify the CNIL and inform the persons (GDPR Art. 33(1) and 34); AVM Up "
            "sends no notice to the CNIL.",
        },
    ),
    (
        re.compile(
            r"^identifiability: data unintelligible to anyone not authorised "
            r"\(state-of-the-art encryption or hashing, key or salt not compromised\): "
            r"unlikely to result in a risk: neither the CNIL \(Art\. 33\(1\)\) nor the "
            r"persons \(Art\. 34\(3\)\(a\)\)$"
        ),
        None,
        {
            "fr": "Identifiabilité : les données sont inintelligibles pour toute personne non "
            "autorisée (chiffrement ou hachage à l'état de l'art, clé ou sel non compromis) ; "
            "la violation n'est pas susceptible d'engendrer un risque : ni la CNIL (art. 33(1) "
            "du RGPD) ni les personnes (art. 34(3)(a)).",
            "en": "Identifiability: the data cannot be read by anyone not authorised "
            "(state-of-the-art encryption or hashing, key or salt not compromised); the breach "
            "is unlikely to result in a risk: neither the CNIL (GDPR Art. 33(1)) nor the "
            "persons (Art. 34(3)(a)).",
        },
    ),
    (
        re.compile(
            r"^intent and circumstances: malicious breach of confidentiality, the data left "
            r"AVM Up's control: never 'unlikely to result in a risk', whatever the band "
            r"\((\w+)\): CNIL \(Art\. 33\(1\)\)$"
        ),
        "severity",
        {
            "fr": "Intention et circonstances : atteinte malveillante à la confidentialité, les "
            "données ont échappé au contrôle d'AVM Up ; la violation ne peut pas être jugée "
            "improbable d'engendrer un risque, quelle que soit la gravité ({0}) : "
            "notification à la CNIL (art. 33(1) du RGPD).",
            "en": "Intent and circumstances: a malicious breach of confidentiality, the data left "
            "AVM Up's control; it can never be judged unlikely to result in a risk, whatever "
            "the severity band ({0}): notify the CNIL (GDPR Art. 33(1)).",
        },
    ),
    (
        re.compile(
            r"^severity: band (\w+) \(≥ medium\): a risk to the persons: CNIL within 72 h "
            r"\(Art\. 33\(1\)\)$"
        ),
        "severity",
        {
            "fr": "Gravité : {0} (moyenne ou plus) ; un risque pour les personnes : "
            "notification à la CNIL sous 72 h (art. 33(1) du RGPD).",
            "en": "Severity: band {0} (medium or above); a risk to the persons: notify the CNIL "
            "within 72 hours (GDPR Art. 33(1)).",
        },
    ),
    (
        re.compile(
            r"^severity: band low, no malicious disclosure: unlikely to result in a risk: "
            r"register only \(Art\. 33\(1\), Art\. 33\(5\)\)$"
        ),
        None,
        {
            "fr": "Gravité : faible, sans divulgation malveillante ; la violation n'est pas "
            "susceptible d'engendrer un risque : inscription au registre seulement (art. 33(1) "
            "et 33(5) du RGPD).",
            "en": "Severity: band low, no malicious disclosure; the breach is unlikely to result in "
            "a risk: recorded in the register only (GDPR Art. 33(1) and 33(5)).",
        },
    ),
    (
        re.compile(
            r"^exemption: individual communication would involve disproportionate effort: "
            r"a public communication instead \(Art\. 34\(3\)\(c\)\)$"
        ),
        None,
        {
            "fr": "Exemption : informer chaque personne exigerait des efforts disproportionnés ; une "
            "communication publique la remplace (art. 34(3)(c) du RGPD).",
            "en": "Exemption: informing each person would involve disproportionate effort; a public "
            "communication replaces it (GDPR Art. 34(3)(c)).",
        },
    ),
    (
        re.compile(
            r"^exemption: data unintelligible to unauthorised persons: no communication to "
            r"the persons \(Art\. 34\(3\)\(a\)\)$"
        ),
        None,
        {
            "fr": "Exemption : les données sont inintelligibles pour les personnes non autorisées ; "
            "pas de communication aux personnes (art. 34(3)(a) du RGPD).",
            "en": "Exemption: the data cannot be read by persons not authorised; no communication "
            "to the persons (GDPR Art. 34(3)(a)).",
        },
    ),
    (
        re.compile(
            r"^exemption: subsequent measures make the high risk no longer likely: no "
            r"communication to the persons \(Art\. 34\(3\)\(b\)\)$"
        ),
        None,
        {
            "fr": "Exemption : des dispositions prises ensuite rendent le risque élevé improbable ; "
            "pas de communication aux personnes (art. 34(3)(b) du RGPD).",
            "en": "Exemption: steps taken since make the high risk no longer likely; no "
            "communication to the persons (GDPR Art. 34(3)(b)).",
        },
    ),
    (
        re.compile(
            r"^severity: band (\w+) \(≥ high\): high risk: the data subjects without undue "
            r"delay \(Art\. 34\(1\)\)$"
        ),
        "severity",
        {
            "fr": "Gravité : {0} (élevée ou plus) ; un risque élevé : les personnes concernées "
            "sont informées dans les meilleurs délais (art. 34(1) du RGPD).",
            "en": "Severity: band {0} (high or above); a high risk: the persons concerned are told "
            "without undue delay (GDPR Art. 34(1)).",
        },
    ),
    (
        re.compile(
            r"^severity: band below high: no high risk: no communication to the persons "
            r"\(Art\. 34\(1\)\)$"
        ),
        None,
        {
            "fr": "Gravité : inférieure à élevée ; pas de risque élevé : pas de communication "
            "aux personnes (art. 34(1) du RGPD).",
            "en": "Severity: band below high; no high risk: no communication to the persons "
            "(GDPR Art. 34(1)).",
        },
    ),
    # The wording of earlier assessments, still stored.
    (
        re.compile(r"^processor: every breach is reported to the customer \(Art\. 33\(2\)\)$"),
        None,
        {"fr": "Sous-traitant : toute violation est signalée au client (art. 33(2))."},
    ),
    (
        re.compile(r"^controller: risk ≥ medium → CNIL within 72 h \(Art\. 33\(1\)\)$"),
        None,
        {"fr": "Responsable de traitement : risque au moins moyen → CNIL sous 72 h (art. 33(1))."},
    ),
    (
        re.compile(r"^controller: risk low → register only \(Art\. 33\(5\)\)$"),
        None,
        {"fr": "Responsable de traitement : risque faible → registre seulement (art. 33(5))."},
    ),
    (
        re.compile(r"^controller: high risk → data subjects \(Art\. 34\(1\)\)$"),
        None,
        {"fr": "Responsable de traitement : risque élevé → personnes concernées (art. 34(1))."},
    ),
    (
        re.compile(r"^Art\. 34\(3\) exemption claimed: (.+)$"),
        "art34",
        {"fr": "Exemption de l'art. 34(3) invoquée : {0}."},
    ),
    (
        re.compile(r"^overridden: (.+)$"),
        None,
        {"fr": "Décision différente de la recommandation : {0}"},
    ),
]

# The factors of the advice (incidents.severity.factors), each read as a sentence.
_FACTOR_TEXT = {
    "fr": {
        "data": "Données : contexte de traitement (DPC) {0}, selon la méthode ENISA 2013.",
        "identifiability": "Identifiabilité : facilité d'identification (EI) {0}.",
        "identifiability_unintelligible": "Identifiabilité : facilité d'identification (EI) "
        "{0} ; données inintelligibles pour les personnes "
        "non autorisées (art. 34(3)(a) du RGPD).",
        "circumstances": "Circonstances (CB) : {0}.",
        "circumstances_nature": "Circonstances (CB) : {0} ; nature de la violation : {1}.",
        "no_circumstances": "aucune",
        "intent_malicious": "Intention : malveillante (+0,5).",
        "intent_malicious_out": "Intention : malveillante (+0,5) ; les données ont échappé au "
        "contrôle d'AVM Up (art. 33(1) du RGPD).",
        "intent_none": "Intention : non établie.",
        "exemptions_none": "Exemption (art. 34(3) du RGPD) : aucune invoquée.",
        "exemptions": "Exemption invoquée (art. 34(3) du RGPD) : {0}.",
        "role": "Rôle d'AVM Up : {0}.",
        "role_join": " et ",
        "persons": "Personnes concernées (estimation) : {0}.",
    },
    "en": {
        "data": "Data: processing context (DPC) {0}, by the ENISA 2013 method.",
        "identifiability": "Identifiability: ease of identification (EI) {0}.",
        "identifiability_unintelligible": "Identifiability: ease of identification (EI) {0}; "
        "the data cannot be read by persons not authorised "
        "(GDPR Art. 34(3)(a)).",
        "circumstances": "Circumstances (CB): {0}.",
        "circumstances_nature": "Circumstances (CB): {0}; nature of the breach: {1}.",
        "no_circumstances": "none",
        "intent_malicious": "Intent: malicious (+0.5).",
        "intent_malicious_out": "Intent: malicious (+0.5); the data left AVM Up's control "
        "(GDPR Art. 33(1)).",
        "intent_none": "Intent: not established.",
        "exemptions_none": "Exemption (GDPR Art. 34(3)): none claimed.",
        "exemptions": "Exemption claimed (GDPR Art. 34(3)): {0}.",
        "role": "AVM Up's role: {0}.",
        "role_join": " and ",
        "persons": "Persons concerned (estimate): {0}.",
    },
}
_ROLES = {
    "fr": {"processor": "sous-traitant", "controller": "responsable de traitement"},
    "en": {"processor": "processor", "controller": "controller"},
}
_NUMBER = r"(\d+(?:\.\d+)?)"
_DATA = re.compile(rf"^DPC {_NUMBER} \(ENISA data processing context\)$")
_EI = re.compile(rf"^EI {_NUMBER}(; data unintelligible to unauthorised persons)?$")
_CB_PART = re.compile(rf"^(confidentiality|integrity|availability) \+{_NUMBER}$")
_INTENT = re.compile(r"^(malicious \(\+0\.5\)|not established)(; data left AVM Up's control)?$")
_SYSTEM_TEXTS = {
    "fr": {"pre-filled from the findings": "pré-remplie à partir des détections"},
}


def _value(lang: str, value: Any) -> str:
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(_value(lang, v) for v in value) or "—"
    if isinstance(value, Mapping):
        return "; ".join(f"{k} : {_value(lang, v)}" for k, v in value.items())
    text = str(value)
    return _VALUES.get(lang, {}).get(text, text)


def rationale(lang: str, items: Mapping[str, Any]) -> list[str]:
    """The rationale of a severity assessment as sentences."""
    table = _FACTORS.get(lang, _FACTORS["fr"])
    out: list[str] = []
    for key, value in items.items():
        template = table.get(key)
        if template is None:
            out.append(
                f"{key} : {_value(lang, value)}"
                if lang == "fr"
                else f"{key}: {_value(lang, value)}"
            )
        else:
            out.append(template.format(v=_value(lang, value)))
    return out


def reason_sentence(lang: str, text: str) -> str | None:
    """One reason of the recommendation as a sentence in `lang`, or None when the wording is
    not known."""
    for pattern, group, templates in _REASONS:
        match = pattern.match(text)
        if match:
            template = templates.get(lang)
            if template is None:
                return None
            args = [label(lang, group, g) if group else g for g in match.groups()]
            return template.format(*args)
    return None


def reason(lang: str, text: str) -> str:
    """One reason of the recommendation in `lang` (as written when it is not known)."""
    return reason_sentence(lang, text) or text


def _number(lang: str, text: str) -> str:
    value = f"{float(text):g}"
    return value.replace(".", ",") if lang == "fr" else value


def _factor_data(lang: str, table: Mapping[str, str], text: str) -> str | None:
    match = _DATA.match(text)
    return table["data"].format(_number(lang, match.group(1))) if match else None


def _factor_identifiability(lang: str, table: Mapping[str, str], text: str) -> str | None:
    match = _EI.match(text)
    if not match:
        return None
    which = "identifiability_unintelligible" if match.group(2) else "identifiability"
    return table[which].format(_number(lang, match.group(1)))


def _circumstance_parts(lang: str, head: str) -> list[str] | None:
    """The circumstances of the breach with their points, or None when one is not known."""
    parts: list[str] = []
    if head == "none":
        return parts
    for part in head.split(", "):
        found = _CB_PART.match(part)
        if not found:
            return None
        parts.append(f"{_value(lang, found.group(1))} +{_number(lang, found.group(2))}")
    return parts


def _factor_circumstances(lang: str, table: Mapping[str, str], text: str) -> str | None:
    head, _, nature = text.partition("; nature ")
    parts = _circumstance_parts(lang, head)
    if parts is None:
        return None
    cb = ", ".join(parts) or table["no_circumstances"]
    if not nature:
        return table["circumstances"].format(cb)
    return table["circumstances_nature"].format(
        cb, ", ".join(_value(lang, n) for n in nature.split(", "))
    )


def _factor_intent(lang: str, table: Mapping[str, str], text: str) -> str | None:
    match = _INTENT.match(text)
    if not match:
        return None
    if match.group(1) == "not established":
        return None if match.group(2) else table["intent_none"]
    return table["intent_malicious_out" if match.group(2) else "intent_malicious"]


def _factor_exemptions(lang: str, table: Mapping[str, str], text: str) -> str | None:
    if text == "none claimed":
        return table["exemptions_none"]
    if text in LABELS["fr"]["art34"]:
        return table["exemptions"].format(label(lang, "art34", text))
    return None


def _factor_role(lang: str, table: Mapping[str, str], text: str) -> str | None:
    roles = text.split(" + ")
    if not all(r in _ROLES[lang] for r in roles):
        return None
    return table["role"].format(table["role_join"].join(_ROLES[lang][r] for r in roles))


def _factor_persons(lang: str, table: Mapping[str, str], text: str) -> str | None:
    return table["persons"].format(text) if text.isdigit() else None


_FACTOR_SENTENCES: dict[str, Callable[[str, Mapping[str, str], str], str | None]] = {
    "data": _factor_data,
    "identifiability": _factor_identifiability,
    "circumstances": _factor_circumstances,
    "intent": _factor_intent,
    "exemptions": _factor_exemptions,
    "role": _factor_role,
    "persons": _factor_persons,
}


def factor_sentence(lang: str, key: str, value: Any) -> str | None:
    """One factor of the advice (`incidents.severity.factors`) as a sentence in `lang`, or
    None when the wording is not known."""
    table = _FACTOR_TEXT.get(lang)
    sentence = _FACTOR_SENTENCES.get(key)
    if table is None or sentence is None:
        return None
    return sentence(lang, table, str(value))


def factors(lang: str, items: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The factors of the advice as (factor, sentence), a factor not known shown as written."""
    sep = " : " if lang == "fr" else ": "
    return [
        (key, factor_sentence(lang, key, value) or f"{key}{sep}{_value(lang, value)}")
        for key, value in items.items()
    ]


def system_text(lang: str, text: str | None) -> str:
    """A text Tocsin wrote itself (never a person's), in `lang`."""
    if not text:
        return ""
    return _SYSTEM_TEXTS.get(lang, {}).get(text, text)


_TENANT_AT_START = re.compile(r"(?:^|; )([A-Za-z0-9_-]{1,64})(?= \(|: persons)")
_RECIPIENTS = {
    "fr": {
        "customer": "client",
        "cnil": "CNIL",
        "data subjects": "personnes concernées",
        "register only": "registre seulement",
    },
}


def register_tenants(text: str) -> list[str]:
    """The tenant ids of a register row's `tenants` cell (`id (name): persons≈…; …`)."""
    return _TENANT_AT_START.findall(text or "")


def register_recommendation(lang: str, text: str) -> str:
    """A register row's recommendation (`customer, cnil`) in `lang`."""
    table = _RECIPIENTS.get(lang, {})
    return ", ".join(table.get(part, part) for part in (text or "").split(", ") if part)


_REGISTER_NATURES = {
    "fr": {
        "attempt (security incident, no personal data breach)": "tentative (incident de sécurité, sans violation de données personnelles)"
    },
}


def register_nature(lang: str, text: str) -> str:
    """A register row's nature (`C/I`, or the attempt's label) in `lang`."""
    table = _REGISTER_NATURES.get(lang, {})
    return "/".join(table.get(part, part) for part in (text or "").split("/"))
