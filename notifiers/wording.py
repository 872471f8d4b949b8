"""Standard wording put into notice contexts (measures, advice, CNIL form options).

Free text from the incident (`Incident.measures`, one measure a line) replaces the default
measures when the RSSI has written it. CNIL form options are in French: the teleservice is.
"""

from __future__ import annotations

from collections.abc import Iterable

STAFF_RULES = frozenset({"ACC-003", "ACC-004"})

_TAKEN = {
    "fr": {
        "AUTH": [
            "blocage des adresses IP à l'origine des tentatives et limitation renforcée du "
            "nombre de tentatives de connexion",
            "verrouillage préventif des comptes concernés et invalidation de leurs sessions "
            "actives",
        ],
        "ACC": [
            "suspension des accès en cause et révocation des sessions et clés d'API concernées",
            "conservation des journaux d'accès pour les besoins de l'enquête",
        ],
        "STAFF": [
            "suspension des habilitations du personnel concerné dans l'attente de l'enquête "
            "interne",
        ],
        "ALL": [
            "surveillance renforcée des comptes et des données concernés",
            "analyse approfondie de l'incident en cours par l'équipe sécurité",
        ],
    },
    "en": {
        "AUTH": [
            "blocking of the source IP addresses and stricter rate limiting of login attempts",
            "preventive locking of the accounts concerned and revocation of their sessions",
        ],
        "ACC": [
            "suspension of the accesses in question and revocation of the sessions and API "
            "keys concerned",
            "preservation of the access logs for the investigation",
        ],
        "STAFF": ["suspension of the staff member's access rights pending an internal inquiry"],
        "ALL": [
            "heightened monitoring of the accounts and data concerned",
            "in-depth analysis of the incident by the security team (in progress)",
        ],
    },
}

_PROPOSED = {
    "fr": {
        "AUTH": [
            "faire réinitialiser les mots de passe des comptes utilisateurs concernés et "
            "activer l'authentification multifacteur",
            "vérifier les connexions récentes et les actions effectuées depuis ces comptes",
        ],
        "ACC": [
            "vérifier l'historique des consultations et exports de vos données",
            "renouveler les clés d'API de votre compte si elles ont pu être exposées",
        ],
        "ALL": [
            "apprécier la nécessité de notifier la CNIL et d'informer les personnes concernées "
            "(voir le point 8)",
        ],
    },
    "en": {
        "AUTH": [
            "have the passwords of the user accounts concerned reset and enable multi-factor "
            "authentication",
            "review recent logins and the actions performed from these accounts",
        ],
        "ACC": [
            "review the history of reads and exports of your data",
            "renew your account's API keys if they may have been exposed",
        ],
        "ALL": [
            "assess whether the CNIL must be notified and the persons informed (see item 8)",
        ],
    },
}

_MEDIUM_TERM_FR = {
    "AUTH": [
        "réinitialisation des mots de passe des comptes concernés et généralisation de "
        "l'authentification multifacteur",
    ],
    "ACC": ["revue des droits d'accès aux données et renouvellement des clés d'API exposées"],
    "STAFF": ["enquête interne et rappel des règles d'accès aux données des clients"],
    "ALL": ["ajustement des règles de détection à la lumière de l'incident"],
}

_LONG_TERM_FR = [
    "revue des mécanismes d'authentification (limitation par adresse IP, CAPTCHA, "
    "authentification multifacteur)",
    "revue des habilitations et des procédures d'accès du personnel aux données",
]

_ADVICE = {
    "fr": {
        "security": [
            "changez dès maintenant votre mot de passe, ainsi que sur tout autre service où "
            "vous utilisiez le même",
            "activez l'authentification multifacteur lorsqu'elle vous est proposée",
        ],
        "contact": [
            "soyez vigilant face aux messages inattendus (courriels, SMS, appels) qui se "
            "réclament d'AVM Up ou de vos correspondants, en particulier s'ils vous demandent "
            "des informations personnelles ou un paiement",
        ],
        "ALL": [
            "ne communiquez jamais votre mot de passe : AVM Up ne vous le demandera jamais",
        ],
    },
    "en": {
        "security": [
            "change your password now, and on any other service where you used the same one",
            "enable multi-factor authentication when it is offered",
        ],
        "contact": [
            "be wary of unexpected messages (emails, text messages, calls) claiming to come "
            "from AVM Up or from your correspondents, especially if they ask for personal "
            "information or a payment",
        ],
        "ALL": ["never give out your password: AVM Up will never ask for it"],
    },
}


def _families(rule_ids: Iterable[str]) -> list[str]:
    rules = set(rule_ids)
    fams = []
    if any(r.startswith("AUTH") for r in rules):
        fams.append("AUTH")
    if any(r.startswith("ACC") for r in rules):
        fams.append("ACC")
    if rules & STAFF_RULES:
        fams.append("STAFF")
    return [*fams, "ALL"]


def lines_of(text: str) -> list[str]:
    return [line.strip(" -•\t") for line in text.splitlines() if line.strip(" -•\t")]


def measures_taken(*, language: str, rule_ids: Iterable[str], free_text: str) -> list[str]:
    if free_text.strip():
        return lines_of(free_text)
    table = _TAKEN[language]
    return [m for fam in _families(rule_ids) for m in table.get(fam, [])]


def measures_proposed(*, language: str, rule_ids: Iterable[str]) -> list[str]:
    table = _PROPOSED[language]
    return [m for fam in _families(rule_ids) for m in table.get(fam, [])]


def measures_medium_term(rule_ids: Iterable[str]) -> list[str]:
    return [m for fam in _families(rule_ids) for m in _MEDIUM_TERM_FR.get(fam, [])]


def measures_long_term() -> list[str]:
    return list(_LONG_TERM_FR)


def advice(*, language: str, data_categories: Iterable[str]) -> list[str]:
    cats = set(data_categories)
    table = _ADVICE[language]
    out: list[str] = []
    if "security" in cats:
        out += table["security"]
    if cats & {"identification", "electronic_identification", "content"}:
        out += table["contact"]
    return out + table["ALL"]


# --- CNIL form options (docs/architecture.md §10) -------------------------------------------------

ORIGIN_HACKING = "Piratage, logiciel malveillant (rançongiciel) et/ou hameçonnage"
ORIGIN_WRONG_PERSON = "Données de la mauvaise personne affichées sur le portail du client"
ORIGIN_UNKNOWN = "Ne sait pas pour l'instant"


def cnil_origin(rule_ids: Iterable[str]) -> str:
    rules = set(rule_ids)
    found: list[str] = []
    if any(r.startswith("AUTH") for r in rules) or rules & {"ACC-002", "ACC-005", "ACC-007",
                                                              "ACC-009"}:
        found.append(ORIGIN_HACKING)
    if "ACC-001" in rules:
        found.append(ORIGIN_WRONG_PERSON)
    if rules & STAFF_RULES:
        found.append("Autre (à préciser) : accès de membres du personnel à des données "
                     "personnelles sans justification établie")
    if "ACC-006" in rules:
        found.append("Autre (à préciser) : suppression ou modification massive "
                     "d'enregistrements")
    if "ACC-008" in rules:
        found.append("Autre (à préciser) : transmission de données par un canal non chiffré")
    return " ; ".join(found) or ORIGIN_UNKNOWN


def cnil_cause(rule_ids: Iterable[str]) -> str:
    rules = set(rule_ids)
    causes: list[str] = []
    if any(r.startswith("AUTH") for r in rules) or rules & {"ACC-001", "ACC-002", "ACC-007",
                                                              "ACC-009"}:
        causes.append("Acte externe malveillant")
    if rules & (STAFF_RULES | {"ACC-005", "ACC-006", "ACC-008"}):
        causes.append("Acte interne (malveillant ou accidentel : ne sait pas pour l'instant)")
    return " ; ".join(causes) or "Ne sait pas pour l'instant"


def cnil_consequences(*, natures: Iterable[str], data_categories: Iterable[str]) -> list[str]:
    nat, cats = set(natures), set(data_categories)
    out: list[str] = []
    if "confidentiality" in nat:
        out.append("Diffusion plus large que nécessaire ou non maîtrisée des données")
    if cats & {"identification", "electronic_identification"}:
        out.append("Rapprochement possible avec d'autres informations relatives aux personnes")
    if cats & {"security", "identification", "electronic_identification"}:
        out.append("Utilisation détournée possible des données")
    if "integrity" in nat:
        out.append("Falsification possible des données")
    return out or ["Ne sait pas pour l'instant"]


def cnil_harms(data_categories: Iterable[str]) -> list[str]:
    cats = set(data_categories)
    out = ["Perte de contrôle sur leurs données personnelles"]
    if "security" in cats:
        out += ["Usurpation d'identité", "Fraude"]
    if cats & {"identification", "electronic_identification"}:
        out.append("Atteinte à la vie privée")
    if "content" in cats:
        out += ["Atteinte à la vie privée", "Perte du secret professionnel"]
    return list(dict.fromkeys(out))
