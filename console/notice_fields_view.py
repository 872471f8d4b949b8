"""The structured notice fields of an incident, for the pages, the API and the CLI: their
values, the choices each allows, the standard measures offered as suggestions, and what each
draft still prints as « [à compléter] »."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from incidents import notice_fields
from incidents.models import Incident
from notifiers import flows as notice_flows
from notifiers import wording
from notifiers.schemas import DraftPolicy

Json = dict[str, Any]


class NoticeFieldsIn(BaseModel):
    """Structured facts of an incident. Only the fields sent change; `null` clears one back
    to « [à compléter] »."""

    model_config = ConfigDict(extra="forbid")
    cause: str | None = Field(default=None, max_length=32)
    origin: str | None = Field(default=None, max_length=32)
    origin_detail: str | None = Field(default=None, max_length=10_000)
    subprocessors_involved: str | None = Field(default=None, max_length=8)
    subprocessors: str | None = Field(default=None, max_length=10_000)
    breach_ongoing: str | None = Field(default=None, max_length=8)
    breach_ended_at: datetime | None = None
    subject_categories: list[str] | None = Field(default=None, max_length=16)
    measures: str | None = Field(default=None, max_length=10_000)
    measures_proposed: str | None = Field(default=None, max_length=10_000)
    measures_planned: str | None = Field(default=None, max_length=10_000)
    measures_long_term: str | None = Field(default=None, max_length=10_000)
    persons_estimate: int | None = Field(default=None, ge=0)
    records_estimate: int | None = Field(default=None, ge=0)

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}


class QualifyIn(BaseModel):
    """Qualify a pure attempt as a personal data breach of the given nature."""

    model_config = ConfigDict(extra="forbid")
    nature: list[str] = Field(min_length=1, max_length=3)
    justification: str = Field(min_length=1, max_length=10_000)


def values_json(incident: Incident) -> Json:
    out = notice_fields.values(incident)
    ended = out.get("breach_ended_at")
    out["breach_ended_at"] = ended.astimezone(UTC).isoformat() if ended else None
    out["measures"] = out.get("measures") or None
    return out


def view(*, incident: Incident, language: str = "fr") -> Json:
    """Values, allowed choices and suggestions for the incident's notice fields."""
    lang = language if language in ("fr", "en") else "fr"
    return {
        "values": values_json(incident),
        "nature": list(incident.nature),
        "attempt": notice_fields.is_attempt(incident),
        "qualified": (
            {
                "nature": incident.qualified_nature,
                "by": incident.qualified_by,
                "at": incident.qualified_at.isoformat(),
            }
            if incident.qualified_at
            else None
        ),
        "choices": {
            "cause": {k: wording.label(lang, "cause", k) for k in notice_fields.CAUSES},
            "origin": {k: wording.label(lang, "origin", k) for k in notice_fields.ORIGINS},
            "subprocessors_involved": {
                k: wording.label(lang, "yes_no", k) for k in notice_fields.YES_NO
            },
            "breach_ongoing": {k: wording.label(lang, "yes_no", k) for k in notice_fields.YES_NO},
            "subject_categories": {
                k: wording.label(lang, "subject_category", k)
                for k in notice_fields.SUBJECT_CATEGORIES
            },
        },
        "suggestions": {
            field: wording.suggestions(field=field, language=lang, rule_ids=incident.rule_ids)
            for field in wording.SUGGESTED_FIELDS
        },
    }


def update(
    *,
    session: Session,
    incident: Incident,
    actor_email: str,
    data: NoticeFieldsIn,
    policy: DraftPolicy,
) -> list[str]:
    """Set the fields, then refresh the drafts that print them."""
    changed = notice_fields.update(
        session=session, incident=incident, actor_email=actor_email, changes=data.changes()
    )
    if changed:
        notice_flows.draft_notices(
            session=session, incident=incident, now=datetime.now(UTC), policy=policy
        )
    return changed


def qualify(
    *, session: Session, incident: Incident, actor_email: str, data: QualifyIn, policy: DraftPolicy
) -> None:
    """Qualify an attempt as a breach, then draft its notices."""
    notice_fields.qualify_breach(
        session=session,
        incident=incident,
        actor_email=actor_email,
        nature=data.nature,
        justification=data.justification,
    )
    notice_flows.draft_notices(
        session=session, incident=incident, now=datetime.now(UTC), policy=policy
    )
