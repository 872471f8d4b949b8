"""A small message catalogue: French by default, English switchable (`?lang=en`); labels of
the values the console shows; dates as people read them (local time, their language)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from accounts.messages import ENGLISH as ACCOUNT_MESSAGES
from accounts.roles import Role
from notifiers.render import day_in_words

LANGS = ("fr", "en")

MESSAGES: dict[str, dict[str, str]] = {
    "fr": {
        "app_name": "Tocsin — console RSSI",
        "skip": "Aller au contenu",
        "login": "Connexion",
        "logout": "Déconnexion",
        "email": "Adresse e-mail",
        "password": "Mot de passe",
        "sign_in": "Se connecter",
        "bad_credentials": "Identifiants incorrects.",
        "throttled": "Trop de tentatives. Réessayez dans quelques minutes.",
        "queue": "File des incidents",
        "register": "Registre des violations",
        "users": "Utilisateurs",
        "health": "État du service",
        "incident": "Incident",
        "status": "Statut",
        "severity": "Gravité",
        "tenants": "Clients",
        "deadline": "Échéance",
        "remaining": "Temps restant",
        "overdue": "En retard",
        "detected_at": "Détecté le",
        "aware_at": "Connaissance le",
        "filter": "Filtrer",
        "all": "Tous",
        "search": "Rechercher",
        "previous": "Précédent",
        "next": "Suivant",
        "page": "Page",
        "no_incidents": "Aucun incident.",
        "timeline": "Chronologie",
        "findings": "Détections",
        "evidence": "Événements de preuve",
        "clocks": "Délais",
        "clock": "Délai",
        "due": "Échéance",
        "state": "État",
        "notices": "Notifications",
        "audit": "Journal d'audit",
        "comment": "Commentaire",
        "add_comment": "Ajouter un commentaire",
        "transition": "Changer le statut",
        "reason": "Motif",
        "apply": "Appliquer",
        "severity_calc": "Calcul de gravité (ENISA 2013)",
        "dpc": "Contexte de traitement (DPC)",
        "ei": "Facilité d'identification (EI)",
        "cb_conf": "Confidentialité",
        "cb_int": "Intégrité",
        "cb_avail": "Disponibilité",
        "malicious": "Intention malveillante",
        "justification": "Justification",
        "compute": "Enregistrer l'évaluation",
        "score": "Score",
        "band": "Niveau",
        "recommendation": "Recommandation",
        "preview": "Aperçu",
        "edit": "Modifier",
        "subject": "Objet",
        "body": "Texte",
        "save": "Enregistrer",
        "approve": "Approuver",
        "reject": "Rejeter",
        "send": "Envoyer",
        "cnil_receipt": "Numéro de récépissé CNIL",
        "record": "Enregistrer",
        "kind": "Type",
        "recipient": "Destinataire",
        "version": "Version",
        "phase": "Phase",
        "actor": "Acteur",
        "action": "Action",
        "when": "Date",
        "details": "Détails",
        "export_csv": "Exporter en CSV",
        "export_html": "Version imprimable (HTML)",
        "role": "Rôle",
        "active": "Actif",
        "create_user": "Créer un utilisateur",
        "update": "Mettre à jour",
        "forbidden": "Accès refusé",
        "forbidden_text": "Votre rôle ne permet pas cette action.",
        "not_found": "Introuvable",
        "csrf_failed": "Jeton de sécurité (CSRF) manquant ou invalide.",
        "invalid_input": "Saisie invalide.",
        "invalid_email": "Adresse e-mail invalide.",
        "invalid_role": "Rôle inconnu.",
        "password_too_short": "Mot de passe trop court (12 caractères minimum).",
        "password_common": "Ce mot de passe est parmi les plus courants : choisissez-en un autre.",
        "password_weak": "Mot de passe trop facile à deviner : allongez-le (une phrase de "
        "plusieurs mots fonctionne bien).",
        "passwords_differ": "Les deux saisies du nouveau mot de passe diffèrent.",
        "password_unchanged": "Le nouveau mot de passe doit différer de l'actuel.",
        "current_password_wrong": "Mot de passe actuel incorrect.",
        "change_password": "Changer mon mot de passe",
        "current_password": "Mot de passe actuel",
        "new_password": "Nouveau mot de passe",
        "confirm_password": "Nouveau mot de passe (confirmation)",
        "password_changed": "Mot de passe changé. Vos autres sessions sont fermées.",
        "password_hint": "12 caractères au moins ; une phrase de plusieurs mots est idéale.",
        "last_admin": "Impossible : ce serait retirer le dernier administrateur actif.",
        "unknown_token": "Jeton inconnu.",
        "invalid_token_days": "Durée de validité invalide (1 à 3650 jours).",
        "user_exists": "Cet utilisateur existe déjà.",
        "unknown_user": "Utilisateur inconnu.",
        "saved": "Enregistré.",
        "database": "Base de données",
        "ok": "OK",
        "error": "Erreur",
        "version_label": "Version",
        "records": "Enregistrements",
        "subjects": "Personnes",
        "events": "Événements",
        "rule": "Règle",
        "count": "Nombre",
        "first_seen": "Première occurrence",
        "last_seen": "Dernière occurrence",
        "summary": "Résumé",
        "field": "Champ",
        "value": "Valeur",
        "language": "Langue",
        "signed_in_as": "Connecté en tant que",
        "nearest_deadline": "échéance la plus proche en premier",
        "running": "en cours",
        "due_soon": "bientôt dû",
        "met": "respecté",
        "stopped": "arrêté",
        "delivery": "Envoi",
        "none": "—",
        "reasons_for_delay": "Motifs du retard (Art. 33(1))",
        "stop_clock": "Arrêter (justifié)",
        "resume_clock": "Reprendre",
        "decision": "Décision (registre)",
    },
    "en": {
        # the accounts' errors, in the words the command line uses too
        **ACCOUNT_MESSAGES,
        "app_name": "Tocsin — CISO console",
        "skip": "Skip to content",
        "login": "Sign in",
        "logout": "Sign out",
        "email": "Email address",
        "password": "Password",
        "sign_in": "Sign in",
        "bad_credentials": "Wrong credentials.",
        "queue": "Incident queue",
        "register": "Breach register",
        "users": "Users",
        "health": "Service health",
        "incident": "Incident",
        "status": "Status",
        "severity": "Severity",
        "tenants": "Customers",
        "deadline": "Deadline",
        "remaining": "Time left",
        "overdue": "Overdue",
        "detected_at": "Detected at",
        "aware_at": "Aware at",
        "filter": "Filter",
        "all": "All",
        "search": "Search",
        "previous": "Previous",
        "next": "Next",
        "page": "Page",
        "no_incidents": "No incidents.",
        "timeline": "Timeline",
        "findings": "Findings",
        "evidence": "Evidence events",
        "clocks": "Clocks",
        "clock": "Clock",
        "due": "Due",
        "state": "State",
        "notices": "Notices",
        "audit": "Audit trail",
        "comment": "Comment",
        "add_comment": "Add a comment",
        "transition": "Change status",
        "reason": "Reason",
        "apply": "Apply",
        "severity_calc": "Severity calculator (ENISA 2013)",
        "dpc": "Data processing context (DPC)",
        "ei": "Ease of identification (EI)",
        "cb_conf": "Confidentiality",
        "cb_int": "Integrity",
        "cb_avail": "Availability",
        "malicious": "Malicious intent",
        "justification": "Justification",
        "compute": "Save assessment",
        "score": "Score",
        "band": "Band",
        "recommendation": "Recommendation",
        "preview": "Preview",
        "edit": "Edit",
        "subject": "Subject",
        "body": "Body",
        "save": "Save",
        "approve": "Approve",
        "reject": "Reject",
        "send": "Send",
        "cnil_receipt": "CNIL receipt number",
        "record": "Record",
        "kind": "Kind",
        "recipient": "Recipient",
        "version": "Version",
        "phase": "Phase",
        "actor": "Actor",
        "action": "Action",
        "when": "When",
        "details": "Details",
        "export_csv": "Export as CSV",
        "export_html": "Printable version (HTML)",
        "role": "Role",
        "active": "Active",
        "create_user": "Create a user",
        "update": "Update",
        "forbidden": "Forbidden",
        "forbidden_text": "Your role does not allow this action.",
        "not_found": "Not found",
        "csrf_failed": "Missing or invalid security (CSRF) token.",
        "invalid_input": "Invalid input.",
        "change_password": "Change my password",
        "current_password": "Current password",
        "new_password": "New password",
        "confirm_password": "New password (again)",
        "password_changed": "Password changed. Your other sessions are closed.",
        "password_hint": "At least 12 characters; a phrase of several words is ideal.",
        "saved": "Saved.",
        "database": "Database",
        "ok": "OK",
        "error": "Error",
        "version_label": "Version",
        "records": "Records",
        "subjects": "Persons",
        "events": "Events",
        "rule": "Rule",
        "count": "Count",
        "first_seen": "First seen",
        "last_seen": "Last seen",
        "summary": "Summary",
        "field": "Field",
        "value": "Value",
        "language": "Language",
        "signed_in_as": "Signed in as",
        "nearest_deadline": "nearest deadline first",
        "running": "running",
        "due_soon": "due soon",
        "met": "met",
        "stopped": "stopped",
        "delivery": "Delivery",
        "none": "—",
        "reasons_for_delay": "Reasons for the delay (Art. 33(1))",
        "stop_clock": "Stop (justified)",
        "resume_clock": "Resume",
        "decision": "Decision (register)",
    },
}


def translate(lang: str, key: str) -> str:
    """The message for `key` in `lang`, falling back to French, then to the key itself."""
    table = MESSAGES.get(lang, MESSAGES["fr"])
    return table.get(key) or MESSAGES["fr"].get(key) or key


# Labels of the values the console shows (statuses, bands, kinds…), by group. The raw values
# stay in `data-*` attributes and in the API; people read these.
LABELS: dict[str, dict[str, dict[str, str]]] = {
    "fr": {
        "status": {
            "detected": "détecté",
            "triage": "en cours d'analyse",
            "confirmed": "confirmé",
            "notified": "notifié",
            "closed": "clos",
            "dismissed": "écarté",
        },
        "severity": {
            "low": "faible",
            "medium": "moyenne",
            "high": "élevée",
            "very_high": "très élevée",
            "critical": "critique",
        },
        "notice_kind": {
            "customer": "client",
            "cnil": "CNIL",
            "data_subject": "personnes concernées",
            "public": "communication publique",
        },
        "notice_status": {
            "draft": "brouillon",
            "approved": "approuvée",
            "sent": "envoyée",
            "rejected": "rejetée",
        },
        "phase": {"initial": "initiale", "complementary": "complémentaire"},
        "clock": {"customer": "client (contrat)", "cnil": "CNIL"},
        "delivery": {
            "pending": "en attente",
            "retry": "nouvel essai prévu",
            "sending": "en cours d'envoi",
            "sent": "envoyé",
            "uncertain": "incertain (à vérifier)",
            "failed": "échec",
        },
    },
    "en": {
        "status": {
            "detected": "detected",
            "triage": "in triage",
            "confirmed": "confirmed",
            "notified": "notified",
            "closed": "closed",
            "dismissed": "dismissed",
        },
        "severity": {
            "low": "low",
            "medium": "medium",
            "high": "high",
            "very_high": "very high",
            "critical": "critical",
        },
        "notice_kind": {
            "customer": "customer",
            "cnil": "CNIL",
            "data_subject": "data subjects",
            "public": "public notice",
        },
        "notice_status": {
            "draft": "draft",
            "approved": "approved",
            "sent": "sent",
            "rejected": "rejected",
        },
        "phase": {"initial": "initial", "complementary": "complementary"},
        "clock": {"customer": "customer (contract)", "cnil": "CNIL"},
        "delivery": {
            "pending": "pending",
            "retry": "retry scheduled",
            "sending": "sending",
            "sent": "sent",
            "uncertain": "uncertain (to check)",
            "failed": "failed",
        },
    },
}

_TITLE = {
    "fr": ("{rules} sur {n} client", "{rules} sur {n} clients"),
    "en": ("{rules} on {n} tenant", "{rules} on {n} tenants"),
}


def label(lang: str, group: str, value: str | None) -> str:
    """How `value` of `group` reads in `lang` (the value itself when it has no label)."""
    if value is None:
        return ""
    table = LABELS.get(lang, LABELS["fr"]).get(group, {})
    return table.get(value) or LABELS["fr"].get(group, {}).get(value) or value


def incident_title(lang: str, rule_ids: list[str], tenants: int) -> str:
    """The automatic title of an incident (a title edited by a person is shown as written)."""
    one, many = _TITLE.get(lang, _TITLE["fr"])
    return (one if tenants == 1 else many).format(rules=", ".join(rule_ids), n=tenants)


# --- dates for people -----------------------------------------------------------------


def as_utc(value: datetime | str | None) -> datetime | None:
    """`value` (a datetime or an ISO 8601 string) as an aware UTC datetime; None when it is
    empty or unreadable. A naive value is taken as UTC (the database's convention)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def utc_iso(value: datetime | str | None) -> str:
    """Machine-readable UTC, to the second: `2026-12-01T09:21:09Z` ("" when empty)."""
    when = as_utc(value)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ") if when is not None else ""


def human_datetime(value: datetime | str | None, *, lang: str, tz: str) -> str:
    """« 1er décembre 2026 à 10 h 21 » / "1 December 2026 at 10:21", in the time zone `tz`."""
    when = as_utc(value)
    if when is None:
        return ""
    local = when.astimezone(ZoneInfo(tz))
    if lang == "en":
        return f"{day_in_words(local, 'en')} at {local:%H:%M}"
    return f"{day_in_words(local, 'fr')} à {local.hour} h {local.minute:02d}"


def local_input(value: datetime | str | None, *, tz: str) -> str:
    """The value of an `<input type="datetime-local">`: wall time in `tz`, to the minute."""
    when = as_utc(value)
    return when.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%dT%H:%M") if when else ""


def parse_local(text: str, *, tz: str) -> datetime:
    """What a person typed or picked, as an aware UTC datetime. A value without an offset
    (`<input type="datetime-local">`: `2026-12-01T10:21`) is wall time in `tz`; a value with
    one (`2026-12-01T09:21:00Z`, the API's ISO 8601) is taken as written. Raises ValueError
    on anything else."""
    when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if when.tzinfo is None:
        # fold=0: an ambiguous wall time (the autumn hour) reads as the first of the two.
        when = when.replace(tzinfo=ZoneInfo(tz))
    return when.astimezone(UTC)


# --- overview, customers, dismissal, dates ----------------------------------------------

MESSAGES["fr"].update(
    {
        "local_time": "heure de Paris",
        "invalid_date": "Date invalide : choisissez une date et une heure.",
        "choose": "— choisir —",
        "dismiss": "Écarter l'incident",
        "dismiss_reason": "Motif de l'écart (obligatoire)",
        "dismiss_confirm": "Je confirme : ce n'est pas une violation, l'incident est écarté.",
        "dismiss_unconfirmed": "Pour écarter l'incident, cochez la confirmation et donnez un motif.",
        "overview": "Vue d'ensemble",
        "as_of": "Au",
        "ov_overdue": "incidents en retard",
        "ov_due_24h": "incidents à échéance dans les 24 h",
        "ov_detected": "incidents à qualifier",
        "ov_awaiting_dpo": "notifications en attente du DPO",
        "ov_delivery": "envois en échec ou incertains",
        "customers": "Clients",
        "customer": "Client",
        "tenant_id": "Identifiant client",
        "customer_role": "Rôle d'AVM Up",
        "notify_delay": "Délai contractuel d'information",
        "hours": "heures",
        "contact": "Contact",
        "contact_hint": "plusieurs adresses séparées par ;",
        "edit_customer": "Modifier le client",
        "customer_name": "Raison sociale",
        "incidents": "Incidents",
        "notices_to_customer": "Notifications adressées au client",
        "sent_at": "Envoyée le",
        "changed_fields": "Champs modifiés",
        "field_name": "raison sociale",
        "field_contact_email": "contact",
        "field_language": "langue",
        "field_notify_delay_hours": "délai contractuel",
        "field_role": "rôle",
        "no_contract": "Aucun contrat enregistré pour ce client : le délai par défaut s'applique.",
        "invalid_tenant_id": "Identifiant client invalide.",
        "invalid_name": "Raison sociale obligatoire (255 caractères au plus).",
        "invalid_contact_email": "Adresse de contact invalide.",
        "invalid_language": "Langue inconnue.",
        "invalid_notify_delay_hours": "Délai invalide : un nombre d'heures entre 0 et 720.",
        "created": "Créé le",
    }
)
MESSAGES["en"].update(
    {
        "local_time": "Paris time",
        "invalid_date": "Invalid date: pick a date and a time.",
        "choose": "— choose —",
        "dismiss": "Dismiss the incident",
        "dismiss_reason": "Reason for dismissing (required)",
        "dismiss_confirm": "I confirm: this is not a breach, the incident is dismissed.",
        "dismiss_unconfirmed": "To dismiss the incident, tick the confirmation and give a reason.",
        "overview": "Overview",
        "as_of": "As of",
        "ov_overdue": "incidents overdue",
        "ov_due_24h": "incidents due within 24 h",
        "ov_detected": "incidents awaiting qualification",
        "ov_awaiting_dpo": "notices awaiting the DPO",
        "ov_delivery": "sends failed or uncertain",
        "customers": "Customers",
        "customer": "Customer",
        "tenant_id": "Customer id",
        "customer_role": "AVM Up's role",
        "notify_delay": "Contractual notice delay",
        "hours": "hours",
        "contact": "Contact",
        "contact_hint": "several addresses separated by ;",
        "edit_customer": "Edit the customer",
        "customer_name": "Company name",
        "incidents": "Incidents",
        "notices_to_customer": "Notices addressed to the customer",
        "sent_at": "Sent at",
        "changed_fields": "Changed fields",
        "field_name": "company name",
        "field_contact_email": "contact",
        "field_language": "language",
        "field_notify_delay_hours": "contractual delay",
        "field_role": "role",
        "no_contract": "No contract recorded for this customer: the default delay applies.",
        "invalid_tenant_id": "Invalid customer id.",
        "invalid_name": "Company name required (at most 255 characters).",
        "invalid_contact_email": "Invalid contact address.",
        "invalid_language": "Unknown language.",
        "invalid_notify_delay_hours": "Invalid delay: a number of hours between 0 and 720.",
        "created": "Created at",
    }
)
LABELS["fr"].update(
    {
        "due_filter": {"overdue": "en retard", "24h": "dans les 24 h"},
        "notice_filter": {"dpo": "en attente du DPO", "delivery": "envoi en échec ou incertain"},
        "customer_role": {
            "processor": "sous-traitant (AVM Up informe le client)",
            "controller": "responsable de traitement (AVM Up notifie la CNIL)",
        },
        "language": {"fr": "français", "en": "anglais"},
        "role": {
            Role.ANALYST: "analyste",
            Role.RSSI: "RSSI",
            Role.DPO: "DPO",
            Role.ADMIN: "administrateur",
        },
    }
)
LABELS["en"].update(
    {
        "due_filter": {"overdue": "overdue", "24h": "within 24 h"},
        "notice_filter": {"dpo": "awaiting the DPO", "delivery": "send failed or uncertain"},
        "customer_role": {
            "processor": "processor (AVM Up informs the customer)",
            "controller": "controller (AVM Up notifies the CNIL)",
        },
        "language": {"fr": "French", "en": "English"},
        "role": {
            Role.ANALYST: "analyst",
            Role.RSSI: "CISO",
            Role.DPO: "DPO",
            Role.ADMIN: "administrator",
        },
    }
)

MESSAGES["fr"].update(
    {
        "unintelligible": "Données inintelligibles pour un tiers (art. 34(3)(a))",
        "consequences": "Conséquences",
        "measures": "Mesures prises et proposées",
        "reg_title": "Nature (titre au registre)",
        "not_notified_justification": "Justification de l'absence de notification",
    }
)
MESSAGES["en"].update(
    {
        "unintelligible": "Data unintelligible to others (Art. 34(3)(a))",
        "consequences": "Consequences",
        "measures": "Measures taken and proposed",
        "reg_title": "Nature (register title)",
        "not_notified_justification": "Why it was not notified",
    }
)
LABELS["fr"].update(
    {
        "assessment_source": {
            "auto": "automatique, d'après les détections",
            "prefill": "pré-remplie, d'après les détections",
            "manual": "saisie par une personne",
        },
        "art34": {
            "a_unintelligible": "données inintelligibles (a)",
            "b_measures_taken": "mesures rendant le risque improbable (b)",
            "c_disproportionate_effort": "efforts disproportionnés (c)",
        },
        "action": {
            "clock.escalation": "relance au RSSI programmée",
            "clock.escalation_delivered": "relance au RSSI envoyée",
            "clock.met": "délai respecté",
            "clock.stopped": "délai arrêté",
            "clock.resumed": "délai repris",
            "customer.upsert": "client modifié",
            "incident.aware_at": "date de connaissance modifiée",
            "incident.comment": "commentaire",
            "incident.decision": "décision",
            "incident.findings_linked": "détections rattachées",
            "incident.merged": "incidents fusionnés",
            "incident.opened": "incident ouvert",
            "incident.created": "incident créé",
            "incident.register_fields": "champs du registre modifiés",
            "incident.transition": "changement de statut",
            "notice.approved": "notification approuvée",
            "notice.cnil_filed": "notification CNIL déposée",
            "notice.edited": "notification modifiée",
            "notice.rejected": "notification rejetée",
            "notice.send_requested": "envoi demandé",
            "outbox.failed": "envoi en échec",
            "outbox.resolved": "envoi incertain tranché",
            "outbox.sent": "notification envoyée",
            "outbox.uncertain": "envoi incertain",
            "register.exported": "registre exporté",
            "retention.purge": "purge des preuves",
            "severity.assessed": "gravité évaluée",
            "user.created": "utilisateur créé",
            "user.updated": "utilisateur modifié",
        },
    }
)
LABELS["en"].update(
    {
        "assessment_source": {
            "auto": "automatic, from the findings",
            "prefill": "pre-filled from the findings",
            "manual": "entered by a person",
        },
        "art34": {
            "a_unintelligible": "data unintelligible (a)",
            "b_measures_taken": "measures make the risk unlikely (b)",
            "c_disproportionate_effort": "disproportionate effort (c)",
        },
        "action": {
            "clock.escalation": "escalation to the CISO scheduled",
            "clock.escalation_delivered": "escalation to the CISO sent",
            "clock.met": "deadline met",
            "clock.stopped": "clock stopped",
            "clock.resumed": "clock resumed",
            "customer.upsert": "customer edited",
            "incident.aware_at": "awareness date changed",
            "incident.comment": "comment",
            "incident.decision": "decision",
            "incident.findings_linked": "findings linked",
            "incident.merged": "incidents merged",
            "incident.opened": "incident opened",
            "incident.created": "incident created",
            "incident.register_fields": "register fields edited",
            "incident.transition": "status changed",
            "notice.approved": "notice approved",
            "notice.cnil_filed": "CNIL notice filed",
            "notice.edited": "notice edited",
            "notice.rejected": "notice rejected",
            "notice.send_requested": "send requested",
            "outbox.failed": "send failed",
            "outbox.resolved": "uncertain send resolved",
            "outbox.sent": "notice sent",
            "outbox.uncertain": "send uncertain",
            "register.exported": "register exported",
            "retention.purge": "evidence purged",
            "severity.assessed": "severity assessed",
            "user.created": "user created",
            "user.updated": "user updated",
        },
    }
)

MESSAGES["fr"].update(
    {
        "summary_band": "Où en est l'incident",
        "next_action": "Prochaine action",
        "who_can": "par",
        "you_can": "vous pouvez la faire",
        "workflow": "Étapes du traitement",
        "step_qualify": "Qualifier",
        "step_assess": "Évaluer",
        "step_decide": "Décider",
        "step_notify": "Notifier",
        "step_close": "Clore",
        "na_qualify": "qualifier : violation ou simple tentative ?",
        "na_assess": "évaluer la gravité (ENISA)",
        "na_confirm": "décider : confirmer la violation ou l'écarter",
        "na_decide": "décider : notifier la CNIL, informer les personnes ?",
        "na_draft": "rédiger les notifications",
        "na_fill": "compléter {n} champ(s) marqué(s) « à compléter »",
        "na_approve": "relire et approuver {n} notification(s)",
        "na_dpo": "approbation du DPO attendue ({n})",
        "na_delivery": "vérifier {n} envoi(s) en échec ou incertain(s)",
        "na_file_cnil": "déposer la notification sur le téléservice de la CNIL et saisir le récépissé",
        "na_send": "envoyer {n} notification(s) approuvée(s)",
        "na_mark_notified": "passer l'incident au statut « notifié »",
        "na_close": "clore l'incident une fois les mesures consignées",
        "na_none": "Incident terminé : plus rien à faire.",
    }
)
MESSAGES["en"].update(
    {
        "summary_band": "Where the incident stands",
        "next_action": "Next action",
        "who_can": "by",
        "you_can": "you can do it",
        "workflow": "Workflow steps",
        "step_qualify": "Qualify",
        "step_assess": "Assess",
        "step_decide": "Decide",
        "step_notify": "Notify",
        "step_close": "Close",
        "na_qualify": "qualify: breach or attempt?",
        "na_assess": "assess the severity (ENISA)",
        "na_confirm": "decide: confirm the breach or dismiss it",
        "na_decide": "decide: notify the CNIL, tell the persons?",
        "na_draft": "draft the notices",
        "na_fill": "fill {n} field(s) marked to be completed",
        "na_approve": "review and approve {n} notice(s)",
        "na_dpo": "DPO approval awaited ({n})",
        "na_delivery": "check {n} failed or uncertain send(s)",
        "na_file_cnil": "file the notice on the CNIL's teleservice and record the receipt",
        "na_send": "send {n} approved notice(s)",
        "na_mark_notified": "move the incident to notified",
        "na_close": "close the incident once the measures are recorded",
        "na_none": "Incident finished: nothing left to do.",
    }
)

# The values a declaration chooses from (incidents.declared), as people read them.
LABELS["fr"].update(
    {
        "source": {
            "detected": "détectée par Tocsin",
            "staff_report": "signalement d'un salarié",
            "customer_report": "signalement d'un client",
            "subprocessor_report": "signalement d'un sous-traitant",
            "authority": "autorité de contrôle",
            "data_subject": "personne concernée",
            "other": "autre",
        },
        "nature": {
            "confidentiality": "confidentialité",
            "integrity": "intégrité",
            "availability": "disponibilité",
            "attempt": "tentative (incident de sécurité, sans violation de données)",
        },
        "data_category": {
            "identification": "identification (civilité, nom, téléphone)",
            "electronic_identification": "identification électronique (e-mail, IP)",
            "content": "contenu des messages, télécopies et appels",
            "security": "sécurité (mots de passe)",
        },
    }
)
LABELS["en"].update(
    {
        "source": {
            "detected": "detected by Tocsin",
            "staff_report": "staff report",
            "customer_report": "customer report",
            "subprocessor_report": "sub-processor report",
            "authority": "supervisory authority",
            "data_subject": "data subject",
            "other": "other",
        },
        "nature": {
            "confidentiality": "confidentiality",
            "integrity": "integrity",
            "availability": "availability",
            "attempt": "attempt (security incident, no personal data breach)",
        },
        "data_category": {
            "identification": "identification (title, name, phone)",
            "electronic_identification": "electronic identification (email, IP)",
            "content": "content of messages, faxes and calls",
            "security": "security (passwords)",
        },
    }
)
