"""Standard wording of the notices: the labels of the structured fields (the CNIL form's own
options, in French as the teleservice is, and in English), the advice to data subjects, and the
standard measures that the console offers as *suggestions*.

Measures are facts: a notice prints only what the RSSI entered (`Incident.measures` and the
other measure fields, one a line). The suggestions below are never printed unless ticked.
"""

from __future__ import annotations

from collections.abc import Iterable

STAFF_RULES = frozenset({"ACC-003", "ACC-004"})

_SUGGEST_TAKEN = {
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
        "CROSS": [
            "correction du défaut de cloisonnement entre comptes clients et blocage de "
            "l'accès en cause",
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
        "CROSS": [
            "fix of the separation fault between customer accounts and blocking of the "
            "access in question",
        ],
        "STAFF": ["suspension of the staff member's access rights pending an internal inquiry"],
        "ALL": [
            "heightened monitoring of the accounts and data concerned",
            "in-depth analysis of the incident by the security team (in progress)",
        ],
    },
}

_SUGGEST_PROPOSED = {
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
        "CROSS": [
            "recenser les données de votre compte qui ont pu être consultées (AVM Up vous "
            "transmet la liste dont elle dispose)",
        ],
        "ALL": [
            "apprécier la nécessité de notifier la CNIL et d'informer les personnes concernées "
            "(voir le point 9)",
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
        "CROSS": [
            "list the data of your account that may have been read (AVM Up sends you the "
            "list it holds)",
        ],
        "ALL": [
            "assess whether the supervisory authority must be notified and the persons "
            "informed (see item 9)",
        ],
    },
}

_SUGGEST_PLANNED_FR = {
    "AUTH": [
        "réinitialisation des mots de passe des comptes concernés et généralisation de "
        "l'authentification multifacteur",
    ],
    "ACC": ["revue des droits d'accès aux données et renouvellement des clés d'API exposées"],
    "STAFF": ["enquête interne et rappel des règles d'accès aux données des clients"],
    "ALL": ["ajustement des règles de détection à la lumière de l'incident"],
}

_SUGGEST_LONG_TERM_FR = {
    "AUTH": [
        "revue des mécanismes d'authentification (limitation par adresse IP, CAPTCHA, "
        "authentification multifacteur)"
    ],
    "CROSS": ["revue du cloisonnement entre comptes clients et tests d'intrusion ciblés"],
    "STAFF": ["revue des habilitations et des procédures d'accès du personnel aux données"],
    "ACC": ["revue des droits d'accès et des plafonds d'export"],
}

_ADVICE = {
    "fr": {
        "security": [
            "Changez votre mot de passe dès maintenant.",
            "Si vous utilisez le même mot de passe ailleurs, changez-le aussi.",
            "Ne donnez jamais votre mot de passe. AVM Up ne vous le demandera jamais.",
        ],
        "contact": [
            "Méfiez-vous des messages inattendus : courriels, SMS ou appels.",
            "Ne donnez pas d'informations personnelles ni de numéro de carte à un inconnu.",
            "En cas de doute, ne répondez pas et contactez-nous.",
        ],
        "content": [
            "Prévenez vos correspondants si un message ou un document vous semble sensible.",
        ],
    },
    "en": {
        "security": [
            "Change your password now.",
            "If you use the same password elsewhere, change it there too.",
            "Never give out your password. AVM Up will never ask for it.",
        ],
        "contact": [
            "Be wary of unexpected messages: emails, text messages or calls.",
            "Do not give personal information or card numbers to someone you do not know.",
            "If in doubt, do not answer and contact us.",
        ],
        "content": [
            "Warn the people you wrote to if a message or a document seems sensitive.",
        ],
    },
}


def _families(rule_ids: Iterable[str]) -> list[str]:
    rules = set(rule_ids)
    fams = []
    if any(r.startswith("AUTH") for r in rules):
        fams.append("AUTH")
    if "ACC-001" in rules:  # another customer read the data: nothing for the victim to rotate
        fams.append("CROSS")
    if any(r.startswith("ACC") and r != "ACC-001" for r in rules):
        fams.append("ACC")
    if rules & STAFF_RULES:
        fams.append("STAFF")
    return [*fams, "ALL"]


def lines_of(text: str | None) -> list[str]:
    return [line.strip(" -•\t") for line in (text or "").splitlines() if line.strip(" -•\t")]


def measures(text: str | None) -> list[str] | None:
    """The measures the RSSI entered, one a line; None when nothing was entered."""
    found = lines_of(text)
    return found or None


SUGGESTED_FIELDS = ("measures", "measures_proposed", "measures_planned", "measures_long_term")


def suggestions(*, field: str, language: str, rule_ids: Iterable[str]) -> list[str]:
    """Standard measures offered for `field`, to be ticked by the RSSI (never printed as
    such). Medium and long-term measures exist in French only (the CNIL form)."""
    fams = _families(rule_ids)
    lang = language if language in ("fr", "en") else "fr"
    if field == "measures":
        table = _SUGGEST_TAKEN[lang]
    elif field == "measures_proposed":
        table = _SUGGEST_PROPOSED[lang]
    elif field == "measures_planned":
        table = _SUGGEST_PLANNED_FR
    elif field == "measures_long_term":
        table = _SUGGEST_LONG_TERM_FR
    else:
        return []
    return [m for fam in fams for m in table.get(fam, [])]


def advice(
    *, language: str, data_categories: Iterable[str], account_holders: bool = True
) -> list[str]:
    """Advice that fits the persons: password advice only to people who hold an account and
    whose password is at stake."""
    cats = set(data_categories)
    table = _ADVICE[language]
    out: list[str] = []
    if "security" in cats and account_holders:
        out += table["security"]
    if cats & {"identification", "electronic_identification", "content"}:
        out += table["contact"]
    if "content" in cats:
        out += table["content"]
    return out


# --- CNIL form options (docs/architecture.md §10) -------------------------------------------------

TBC = {"fr": "[à compléter]", "en": "[to be completed]"}
TBC_MARKERS = tuple(TBC.values())

LABELS: dict[str, dict[str, dict[str, str]]] = {
    "fr": {
        "cause": {
            "internal_malicious": "Acte interne malveillant",
            "internal_accidental": "Acte interne accidentel",
            "external_malicious": "Acte externe malveillant",
            "external_accidental": "Acte externe accidentel",
            "unknown": "Ne sait pas pour l'instant",
        },
        "origin": {
            "lost_device": "Équipement perdu ou volé",
            "lost_paper": "Papier perdu, volé ou laissé accessible dans un endroit non sécurisé",
            "lost_mail": "Courrier perdu ou ouvert avant d'être retourné à l'envoyeur",
            "hacking": "Piratage, logiciel malveillant (rançongiciel) et/ou hameçonnage",
            "paper_disposal": "Mise au rebut de documents papier contenant des données "
            "personnelles sans destruction physique",
            "device_disposal": "Mise au rebut d'appareils numériques contenant des données "
            "personnelles sans effacement sécurisé",
            "unintended_publication": "Publication non volontaire d'informations",
            "wrong_person_displayed": "Données de la mauvaise personne affichées sur le "
            "portail du client",
            "wrong_recipient": "Données personnelles envoyées à un mauvais destinataire",
            "verbal_disclosure": "Informations personnelles divulguées de façon verbale",
            "other": "Autre",
            "unknown": "Ne sait pas pour l'instant",
        },
        "yes_no": {"yes": "Oui", "no": "Non", "unknown": "Ne sait pas pour l'instant"},
        "subject_category": {
            "customers": "Clients",
            "prospects": "Prospects",
            "employees": "Salariés",
            "officers": "Mandataires sociaux",
            "contractors": "Prestataires",
            "suppliers": "Fournisseurs",
            "vulnerable": "Personnes vulnérables",
            "unknown": "Ne sait pas pour l'instant",
        },
    },
    "en": {
        "cause": {
            "internal_malicious": "Internal malicious act",
            "internal_accidental": "Internal accidental act",
            "external_malicious": "External malicious act",
            "external_accidental": "External accidental act",
            "unknown": "Not known yet",
        },
        "origin": {
            "lost_device": "Lost or stolen device",
            "lost_paper": "Paper lost, stolen or left in an unsecured place",
            "lost_mail": "Mail lost or opened before being returned to the sender",
            "hacking": "Hacking, malware (ransomware) and/or phishing",
            "paper_disposal": "Paper containing personal data disposed of without being destroyed",
            "device_disposal": "Devices containing personal data disposed of without secure "
            "erasure",
            "unintended_publication": "Unintended publication",
            "wrong_person_displayed": "Data of the wrong person shown on the customer portal",
            "wrong_recipient": "Personal data sent to the wrong recipient",
            "verbal_disclosure": "Personal information disclosed verbally",
            "other": "Other",
            "unknown": "Not known yet",
        },
        "yes_no": {"yes": "Yes", "no": "No", "unknown": "Not known yet"},
        "subject_category": {
            "customers": "Customers",
            "prospects": "Prospects",
            "employees": "Employees",
            "officers": "Corporate officers",
            "contractors": "Service providers",
            "suppliers": "Suppliers",
            "vulnerable": "Vulnerable persons",
            "unknown": "Not known yet",
        },
    },
}


def label(language: str, vocabulary: str, key: str | None) -> str:
    """A structured value in words; « [à compléter] » when nobody entered it."""
    lang = language if language in LABELS else "fr"
    if key is None:
        return TBC[lang]
    return LABELS[lang][vocabulary].get(key, key)


# Subject categories whose persons hold an account with AVM Up's services (password advice).
ACCOUNT_HOLDERS = frozenset({"customers", "employees", "officers", "contractors"})


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
