"""The detection catalogue's rules in the console's language.

A finding's summary is written by its rule, in English, when it is found
(`detectors/rules/default.yaml`). The French console shows a French title and summary per
rule id instead, built from the finding's own figures (events, records, accounts); the English
console keeps the rule's sentence. A rule the catalogue does not ship (added through
`TOCSIN_RULES`) is shown with its own summary, as its author wrote it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# rule id → (French title, French summary). Placeholders: {count} events, {records} records,
# {actor} the account (or "N comptes").
FR: dict[str, tuple[str, str]] = {
    "AUTH-001": ("Force brute", "{count} échecs de connexion sur le compte {actor}"),
    "AUTH-002": (
        "Pulvérisation de mots de passe",
        "une même source a échoué sur de nombreux comptes ({count} tentatives)",
    ),
    "AUTH-003": (
        "Prise de contrôle de compte possible",
        "le compte {actor} s'est connecté après des échecs répétés ({count} événements)",
    ),
    "AUTH-004": (
        "Connexion depuis un pays inhabituel",
        "le compte {actor} s'est connecté depuis un pays jamais vu pour lui",
    ),
    "AUTH-005": (
        "Voyage impossible",
        "deux connexions du compte {actor} trop éloignées pour le temps écoulé",
    ),
    "AUTH-006": (
        "Fatigue MFA",
        "le compte {actor} a validé l'authentification forte après des échecs "
        "répétés ({count} événements)",
    ),
    "ACC-001": (
        "Accès entre clients",
        "{actor} a atteint les données d'un autre client : {records} enregistrements "
        "en {count} accès",
    ),
    "ACC-002": (
        "Exfiltration possible",
        "{actor} a lu ou exporté {records} enregistrements, bien au-delà de son habitude",
    ),
    "ACC-003": (
        "Accès du personnel sans ticket",
        "{actor} a atteint des données de clients sans ticket de support : "
        "{records} enregistrements en {count} accès",
    ),
    "ACC-004": (
        "Accès du personnel hors des heures ouvrées",
        "{actor} a atteint des données personnelles hors des heures ouvrées : "
        "{records} enregistrements en {count} accès",
    ),
    "ACC-005": (
        "Lecture de données de sécurité",
        "{actor} a lu des identifiants ou des secrets : {records} enregistrements",
    ),
    "ACC-006": (
        "Modification massive",
        "{actor} a modifié ou supprimé {records} enregistrements en peu de temps",
    ),
    "ACC-007": (
        "Accès depuis l'extérieur de l'UE/EEE",
        "{actor} a atteint {records} enregistrements depuis un pays hors de l'EEE",
    ),
    "ACC-008": (
        "Données personnelles sans TLS",
        "{actor} : {records} enregistrements en {count} accès sur un canal non chiffré",
    ),
    "ACC-009": ("Énumération", "{actor} s'est vu refuser l'accès {count} fois"),
}


def _actor(actor_ids: Sequence[str]) -> str:
    if len(actor_ids) == 1:
        return str(actor_ids[0])
    if not actor_ids:
        return "un acteur inconnu"
    return f"{len(actor_ids)} comptes"


def finding_summary(lang: str, finding: Mapping[str, Any]) -> str:
    """The sentence a finding is shown with: « Titre : résumé » in French for the rules of
    the catalogue, the rule's own summary otherwise."""
    rule_id = str(finding.get("rule_id") or "")
    known = FR.get(rule_id)
    if lang != "fr" or known is None:
        return str(finding.get("summary") or "")
    title, template = known
    text = template.format(
        count=finding.get("count") or 0,
        records=finding.get("records") or 0,
        actor=_actor(list(finding.get("actor_ids") or ())),
    )
    return f"{title} : {text}"


def rule_title(lang: str, rule_id: str) -> str:
    """The rule's title in French (the id when it is not in the catalogue); its id in
    English, where the summary already names it."""
    known = FR.get(rule_id)
    return known[0] if lang == "fr" and known is not None else rule_id
