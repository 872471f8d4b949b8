"""The structured facts of an incident that notices and the CNIL form are rendered from.

Cause, origin, sub-processors, whether the breach is ongoing, the categories of persons,
the measures and the approximate numbers are entered by the RSSI (console, API, CLI). A
field left at None has not been entered: notices print « [à compléter] » and cannot be
approved. The CNIL form's own answer « Ne sait pas pour l'instant » is the value `unknown`,
an answer the RSSI chooses.

Pure attempts (failures only, nothing read) are incidents of nature `attempt`: no notice is
drafted until the RSSI qualifies them as a breach (`qualify_breach`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from consumers.conventions import is_aware
from incidents import service, severity
from incidents.exceptions import InvalidIncidentInput
from incidents.models import Incident

UNKNOWN = "unknown"

CAUSES = (
    "internal_malicious",
    "internal_accidental",
    "external_malicious",
    "external_accidental",
    UNKNOWN,
)
ORIGINS = (
    "lost_device",
    "lost_paper",
    "lost_mail",
    "hacking",
    "paper_disposal",
    "device_disposal",
    "unintended_publication",
    "wrong_person_displayed",
    "wrong_recipient",
    "verbal_disclosure",
    "other",
    UNKNOWN,
)
YES_NO = ("yes", "no", UNKNOWN)
SUBJECT_CATEGORIES = (
    "customers",
    "prospects",
    "employees",
    "officers",
    "contractors",
    "suppliers",
    "vulnerable",
    UNKNOWN,
)

ATTEMPT = "attempt"
BREACH_NATURES = ("confidentiality", "integrity", "availability")
NATURES = (*BREACH_NATURES, ATTEMPT)

# Free-text fields: one measure a line.
TEXT_FIELDS = (
    "origin_detail",
    "subprocessors",
    "measures",
    "measures_proposed",
    "measures_planned",
    "measures_long_term",
)
CHOICE_FIELDS: Mapping[str, tuple[str, ...]] = {
    "cause": CAUSES,
    "origin": ORIGINS,
    "subprocessors_involved": YES_NO,
    "breach_ongoing": YES_NO,
}
COUNT_FIELDS = ("persons_estimate", "records_estimate")
FIELDS = (*CHOICE_FIELDS, *TEXT_FIELDS, "breach_ended_at", "subject_categories", *COUNT_FIELDS)

_MAX_TEXT = 10_000


def nature_of(finding_natures: Iterable[Iterable[str]]) -> list[str]:
    """The nature of an incident from its findings': a compromise seen in any finding
    (confidentiality, integrity, availability) wins over attempts; `attempt` alone when
    every finding is a pure attempt."""
    found = {n for natures in finding_natures for n in natures}
    breach = sorted(found & set(BREACH_NATURES))
    if breach:
        return breach
    return [ATTEMPT] if ATTEMPT in found else sorted(found)


def is_attempt(incident: Incident) -> bool:
    """A pure attempt the RSSI has not qualified as a breach."""
    return list(incident.nature) == [ATTEMPT] and incident.qualified_at is None


def effective_nature(incident: Incident) -> list[str]:
    """The nature notices and the register use: the RSSI's qualification of an attempt,
    else the nature the evidence shows."""
    return severity.advised_nature(incident.nature, incident.qualified_nature)


def _clean_text(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidIncidentInput(f"{name}: text expected")
    text = value.replace("\r\n", "\n").replace("\r", "\n").strip()
    if len(text) > _MAX_TEXT:
        raise InvalidIncidentInput(f"{name}: at most {_MAX_TEXT} characters")
    return text or None


def validate(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Check and normalise field values (None clears a field back to « à compléter »).
    Raises `InvalidIncidentInput` naming the field."""
    out: dict[str, Any] = {}
    for name, value in changes.items():
        if name not in FIELDS:
            raise InvalidIncidentInput(f"{name}: not a notice field")
        out[name] = _validator(name)(name, value)
    return out


def _validator(name: str) -> Callable[[str, Any], Any]:
    if name in CHOICE_FIELDS:
        return _choice
    if name in TEXT_FIELDS:
        return _text
    if name == "breach_ended_at":
        return _ended_at
    if name == "subject_categories":
        return _subject_categories
    return _count


def _choice(name: str, value: Any) -> Any:
    if value is not None and value not in CHOICE_FIELDS[name]:
        raise InvalidIncidentInput(f"{name}: one of {', '.join(CHOICE_FIELDS[name])}")
    return value


def _text(name: str, value: Any) -> str | None:
    text = _clean_text(name, value)
    return "" if name == "measures" and text is None else text


def _ended_at(name: str, value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime) or not is_aware(value):
        raise InvalidIncidentInput(f"{name}: a date and time with its offset")
    return value.astimezone(UTC)


def _subject_categories(name: str, value: Any) -> list[str] | None:
    if value is None:
        return None
    cats = list(dict.fromkeys(value))
    bad = [c for c in cats if c not in SUBJECT_CATEGORIES]
    if bad or not cats:
        raise InvalidIncidentInput(f"{name}: one or more of {', '.join(SUBJECT_CATEGORIES)}")
    return cats


def _count(name: str, value: Any) -> int | None:
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10**12
    ):
        raise InvalidIncidentInput(f"{name}: a whole number from 0")
    return value


def values(incident: Incident) -> dict[str, Any]:
    return {name: getattr(incident, name) for name in FIELDS}


def update(
    *,
    session: Session,
    incident: Incident,
    actor_email: str,
    changes: Mapping[str, Any],
    now: datetime | None = None,
) -> list[str]:
    """Set the given structured fields (only those named in `changes`); audited. Returns the
    names of the fields that changed. Not committed."""
    now = now or datetime.now(UTC)
    clean = validate(changes)
    merged = {**values(incident), **clean}
    if merged.get("breach_ongoing") != "no" and merged.get("breach_ended_at") is not None:
        raise InvalidIncidentInput("breach_ended_at: only when breach_ongoing is 'no'")
    if merged.get("breach_ended_at") is not None and merged["breach_ended_at"] > now:
        raise InvalidIncidentInput("breach_ended_at: cannot be in the future")
    if merged.get("origin") == "other" and not merged.get("origin_detail"):
        raise InvalidIncidentInput("origin_detail: required when origin is 'other'")
    if merged.get("subprocessors_involved") == "yes" and not merged.get("subprocessors"):
        raise InvalidIncidentInput("subprocessors: name them when subprocessors_involved is 'yes'")
    changed = sorted(name for name, value in clean.items() if getattr(incident, name) != value)
    if not changed:
        return []
    for name in changed:
        setattr(incident, name, clean[name])
    service.audit_change(
        session=session,
        incident=incident,
        actor=actor_email,
        action="incident.notice_fields",
        now=now,
        data={"changed": changed},
    )
    return changed


def qualify_breach(
    *,
    session: Session,
    incident: Incident,
    actor_email: str,
    nature: Iterable[str],
    justification: str,
    now: datetime | None = None,
) -> Incident:
    """The RSSI qualifies a pure attempt as a personal data breach of the given nature
    (confidentiality, integrity, availability), with a justification; audited. Notices are
    then drafted like for any breach."""
    now = now or datetime.now(UTC)
    natures = sorted(set(nature))
    if not natures or any(n not in BREACH_NATURES for n in natures):
        raise InvalidIncidentInput(f"nature: one or more of {', '.join(BREACH_NATURES)}")
    why = service.required_text(
        justification,
        error=InvalidIncidentInput,
        message="justification: required to qualify an attempt as a breach",
    )
    if list(incident.nature) != [ATTEMPT]:
        raise InvalidIncidentInput(
            f"{incident.ref} is not an attempt (nature {', '.join(incident.nature)})"
        )
    incident.qualified_nature = natures
    incident.qualified_by = actor_email
    incident.qualified_at = now
    service.audit_change(
        session=session,
        incident=incident,
        actor=actor_email,
        action="incident.qualified_breach",
        now=now,
        data={"nature": natures, "justification": why},
    )
    _readvise(session=session, incident=incident, actor_email=actor_email, why=why, now=now)
    return incident


def _readvise(
    *, session: Session, incident: Incident, actor_email: str, why: str, now: datetime
) -> None:
    """The advice given while the incident was an attempt (register only, Art. 4(12)) no
    longer holds: the current ENISA inputs are assessed again with the qualified nature, and
    the advice that follows becomes the decision (audited; the RSSI may decide otherwise)."""
    current = incident.current_assessment
    if current is None:
        return
    inputs = severity.SeverityInputs(
        dpc=current.dpc,
        ei=current.ei,
        cb_confidentiality=current.cb_confidentiality,
        cb_integrity=current.cb_integrity,
        cb_availability=current.cb_availability,
        malicious=current.malicious,
        persons=current.persons,
        unintelligible=current.unintelligible,
        rationale={**dict(current.rationale or {}), "requalified": "attempt qualified as a breach"},
    )
    service.record_assessment(
        session=session,
        incident=incident,
        inputs=inputs,
        source="auto" if current.source == "auto" else "manual",
        actor=actor_email,
        justification=f"attempt qualified as a breach: {why}",
        now=now,
        art34_exemption=current.art34_exemption,
        art34_justification=current.art34_justification,
    )
