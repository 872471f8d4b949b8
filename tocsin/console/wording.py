"""What the domain writes in its own vocabulary, read in the console's language.

The severity rationale (a mapping of factors to values), the recommendation's reasons and
the texts Tocsin writes itself (an automatic assessment's justification) are stored as the
domain produced them; the console shows them as sentences in the reader's language. A value
this module does not know is shown as it is, lists joined, never as a Python repr.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from tocsin.console.i18n import label

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
    "fr": {"identification": "identification", "security": "sécurité (mots de passe)",
           "electronic_identification": "identification électronique",
           "content": "contenu des messages", "confidentiality": "confidentialité",
           "integrity": "intégrité", "availability": "disponibilité"},
    "en": {"electronic_identification": "electronic identification",
           "security": "security (passwords)", "content": "message content"},
}
_REASONS: dict[str, list[tuple[re.Pattern[str], str]]] = {
    "fr": [
        (re.compile(r"^processor: every breach is reported to the customer \(Art\. 33\(2\)\)$"),
         "Sous-traitant : toute violation est signalée au client (art. 33(2))."),
        (re.compile(r"^controller: risk ≥ medium → CNIL within 72 h \(Art\. 33\(1\)\)$"),
         "Responsable de traitement : risque au moins moyen → CNIL sous 72 h (art. 33(1))."),
        (re.compile(r"^controller: risk low → register only \(Art\. 33\(5\)\)$"),
         "Responsable de traitement : risque faible → registre seulement (art. 33(5))."),
        (re.compile(r"^controller: high risk → data subjects \(Art\. 34\(1\)\)$"),
         "Responsable de traitement : risque élevé → personnes concernées (art. 34(1))."),
        (re.compile(r"^Art\. 34\(3\) exemption claimed: (.+)$"),
         "Exemption de l'art. 34(3) invoquée : {0}."),
        (re.compile(r"^overridden: (.+)$"), "Décision différente de la recommandation : {0}"),
    ],
}
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
            out.append(f"{key} : {_value(lang, value)}" if lang == "fr"
                       else f"{key}: {_value(lang, value)}")
        else:
            out.append(template.format(v=_value(lang, value)))
    return out


def reason(lang: str, text: str) -> str:
    """One reason of the recommendation in `lang` (as written when it is not known)."""
    for pattern, template in _REASONS.get(lang, []):
        match = pattern.match(text)
        if match:
            args = [label(lang, "art34", g) for g in match.groups()]
            return template.format(*args)
    return text


def system_text(lang: str, text: str | None) -> str:
    """A text Tocsin wrote itself (never a person's), in `lang`."""
    if not text:
        return ""
    return _SYSTEM_TEXTS.get(lang, {}).get(text, text)


_TENANT_AT_START = re.compile(r"(?:^|; )([A-Za-z0-9_-]{1,64})(?= \(|: persons)")
_RECIPIENTS = {
    "fr": {"customer": "client", "cnil": "CNIL", "data subjects": "personnes concernées",
           "register only": "registre seulement"},
}


def register_tenants(text: str) -> list[str]:
    """The tenant ids of a register row's `tenants` cell (`id (name): persons≈…; …`)."""
    return _TENANT_AT_START.findall(text or "")


def register_recommendation(lang: str, text: str) -> str:
    """A register row's recommendation (`customer, cnil`) in `lang`."""
    table = _RECIPIENTS.get(lang, {})
    return ", ".join(table.get(part, part) for part in (text or "").split(", ") if part)
