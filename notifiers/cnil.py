"""CNIL export: a printable HTML page and the JSON of the teleservice's form fields.

The CNIL notification is filed by hand on the teleservice (there is no API): the RSSI prints
or copies these, files the notification, then records the receipt number
(`service.record_cnil_receipt`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from notifiers import wording
from notifiers.enums import NoticeKind
from notifiers.exceptions import InvalidNoticeTransition
from notifiers.models import Notice
from notifiers.schemas import CnilNoticeContext
from notifiers.service import signatures

NATURE_FR = {
    "confidentiality": "Perte de confidentialité",
    "integrity": "Perte d'intégrité",
    "availability": "Perte de disponibilité",
}
CATEGORY_FR = {
    "identification": "Nom, prénom, civilité, coordonnées (numéro de téléphone)",
    "security": "Données de connexion : mots de passe",
    "electronic_identification": "Coordonnées (adresse électronique), adresse IP, cookies",
    "content": "Contenu des communications et documents (peut comporter des données sensibles)",
}
UNKNOWN_FR = "Ne sait pas pour l'instant"


@dataclass(frozen=True)
class CnilExport:
    html: str
    form: dict[str, Any]


def _label(vocabulary: str, key: str | None) -> str | None:
    """The form's wording of an entered answer; None (to complete) when nothing was entered."""
    return None if key is None else wording.label("fr", vocabulary, key)


def form_fields(
    context: CnilNoticeContext, *, reasons_for_delay: str | None = None, receipt: str | None = None
) -> dict[str, Any]:
    """The teleservice's sections (docs/architecture.md §10), French keys, JSON-ready values."""
    reasons = reasons_for_delay or context.reasons_for_delay
    # Rendered from the same structured fields as the notice's text and HTML. None = not
    # entered yet (the notice cannot be approved while one remains).
    org = context.org
    ongoing = context.breach_ongoing
    origin = _label("origin", context.origin)
    if context.origin == "other" and context.origin_detail:
        origin = f"Autre : {context.origin_detail}"
    involved = _label("yes_no", context.subprocessors_involved)
    return {
        "reference_interne": context.incident_ref,
        "type_notification": "initiale" if context.phase == "initial" else "complementaire",
        "version": context.version,
        "numero_notification_initiale": context.previous_receipt,
        "recepisse": receipt,
        "echeance_72h": context.cnil_due.isoformat(),
        "hors_delai": context.late,
        "motifs_du_retard": reasons,
        "organisme": {
            "raison_sociale": org.name,
            "siren": org.siren,
            "adresse": org.address,
            "representant_legal": org.representative,
            "dpo": {"nom": org.dpo_name, "courriel": org.dpo_email, "telephone": org.dpo_phone},
            "contact": org.rssi_email,
        },
        "faits": {
            "caractere": "etabli" if context.established else "suppose",
            "date_decouverte": context.detected_at.isoformat(),
            "date_prise_de_connaissance": context.aware_at.isoformat(),
            "date_debut": context.first_seen.isoformat(),
            "date_fin": (
                context.breach_ended_at.isoformat() if context.breach_ended_at is not None else None
            ),
            "en_cours": _label("yes_no", ongoing),
            "circonstances_decouverte": context.circumstances,
            "regles_de_detection": context.rule_ids,
        },
        "origine": origin,
        "nature": [NATURE_FR.get(n, n) for n in context.natures],
        "cause": _label("cause", context.cause),
        "sous_traitants_impliques": involved,
        "sous_traitants": context.subprocessors
        if context.subprocessors_involved == "yes"
        else None,
        "personnes_concernees": {
            "categories": (
                None
                if context.subject_categories is None
                else [
                    wording.label("fr", "subject_category", c) for c in context.subject_categories
                ]
            ),
            "nombre_approximatif": context.persons,
            "nombre_approximatif_connu": context.persons is not None,
            "directement_identifiables": context.directly_identifiable,
        },
        "donnees_concernees": {
            "categories": [CATEGORY_FR.get(c, c) for c in context.data_categories],
            "nombre_approximatif_enregistrements": context.records,
            "services": context.services,
        },
        "consequences": context.consequences,
        "prejudices": context.harms,
        "gravite_enisa": context.severity_band,
        "mesures": {
            "immediates": context.measures_taken,
            "moyen_terme": context.measures_planned,
            "long_terme": context.measures_long_term,
        },
        "information_des_personnes": context.data_subjects_informed,
    }


def stored_context(data: dict[str, Any]) -> CnilNoticeContext:
    """The CNIL context a notice was drafted from; keys of an older shape are ignored."""
    fields = CnilNoticeContext.model_fields
    return CnilNoticeContext.model_validate({k: v for k, v in data.items() if k in fields})


def export(notice: Notice) -> CnilExport:
    if notice.kind != NoticeKind.CNIL:
        raise InvalidNoticeTransition(f"notice {notice.id} is not a CNIL notice")
    context = stored_context(notice.context)
    form = form_fields(
        context, reasons_for_delay=notice.reasons_for_delay, receipt=notice.cnil_receipt
    )
    # Who signed the version filed: the RSSI and the DPO (kept with the export, not the text).
    form["validation"] = {
        str(role): ({"par": sig[0], "le": sig[1].isoformat()} if sig is not None else None)
        for role, sig in signatures(notice).items()
    }
    return CnilExport(html=notice.html_body, form=form)
