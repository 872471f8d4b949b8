"""Incident page forms: the structured notice fields (with the suggested standard measures
to tick) and the qualification of an attempt as a breach. Post/redirect/get; a bad form is
re-shown with its message."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError

from console import actions, notice_fields_view
from console.deps import DbSession, RssiUser, draft_policy_of
from console.errors import InvalidUserInput
from console.pages_incidents import _back, _fail
from consumers.conventions import is_aware
from consumers.errors import TocsinError

router = APIRouter(include_in_schema=False)

Text = Annotated[str, Form(max_length=10_000)]
OptText = Annotated[str | None, Form(max_length=10_000)]
OptChoice = Annotated[str | None, Form(max_length=32)]
OptMany = Annotated[list[str] | None, Form(max_length=64)]

MEASURE_FIELDS = ("measures", "measures_proposed", "measures_planned", "measures_long_term")


def _with_ticked(text: str, ticked: list[str]) -> str | None:
    """The measures typed, plus the suggestions ticked (each once, one a line)."""
    lines = [line for line in text.replace("\r\n", "\n").split("\n") if line.strip()]
    for item in ticked:
        if item.strip() and item.strip() not in (line.strip() for line in lines):
            lines.append(item.strip())
    return "\n".join(lines) or None


def _count(value: str, name: str) -> int | None:
    if not value.strip():
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidUserInput(f"{name}: a whole number") from None


def _choice_changes(values: dict[str, str | None]) -> dict[str, object]:
    """The choices and texts the form sent; an empty one clears its field."""
    return {name: value or None for name, value in values.items() if value is not None}


def _measure_changes(
    texts: dict[str, str | None], ticked: dict[str, list[str] | None]
) -> dict[str, object]:
    """Each measure field typed or ticked: the text typed, with the ticked suggestions added."""
    return {
        name: _with_ticked(texts[name] or "", ticked[name] or [])
        for name in MEASURE_FIELDS
        if texts[name] is not None or ticked[name]
    }


def _ended_at(raw: str) -> datetime | None:
    """The end of the breach, with its offset; empty clears it."""
    ended = datetime.fromisoformat(raw) if raw.strip() else None
    if ended is not None and not is_aware(ended):
        raise InvalidUserInput("breach_ended_at: give the offset, e.g. 2026-11-20T12:00+01:00")
    return ended


def _parsed_changes(
    breach_ended_at: str | None, estimates: dict[str, str | None]
) -> dict[str, object]:
    """The fields the form sends as text but stores parsed: the end date and the counts."""
    changes: dict[str, object] = {}
    if breach_ended_at is not None:
        changes["breach_ended_at"] = _ended_at(breach_ended_at)
    for name, raw in estimates.items():
        if raw is not None:
            changes[name] = _count(raw, name)
    return changes


@router.post("/incidents/{ref}/notice-fields")
def notice_fields_form(
    request: Request,
    db: DbSession,
    user: RssiUser,
    ref: str,
    cause: OptChoice = None,
    origin: OptChoice = None,
    origin_detail: OptText = None,
    subprocessors_involved: OptChoice = None,
    subprocessors: OptText = None,
    breach_ongoing: OptChoice = None,
    breach_ended_at: Annotated[str | None, Form(max_length=40)] = None,
    subject_categories: OptMany = None,
    measures: OptText = None,
    measures_proposed: OptText = None,
    measures_planned: OptText = None,
    measures_long_term: OptText = None,
    suggest_measures: OptMany = None,
    suggest_measures_proposed: OptMany = None,
    suggest_measures_planned: OptMany = None,
    suggest_measures_long_term: OptMany = None,
    persons_estimate: Annotated[str | None, Form(max_length=16)] = None,
    records_estimate: Annotated[str | None, Form(max_length=16)] = None,
    categories_shown: Annotated[str | None, Form(max_length=1)] = None,
) -> Response:
    """Only the fields the form sends change; an empty value clears one (« à compléter »).
    Ticked suggestions are added to the measures typed."""
    texts = {
        "measures": measures,
        "measures_proposed": measures_proposed,
        "measures_planned": measures_planned,
        "measures_long_term": measures_long_term,
    }
    ticked = {
        "measures": suggest_measures,
        "measures_proposed": suggest_measures_proposed,
        "measures_planned": suggest_measures_planned,
        "measures_long_term": suggest_measures_long_term,
    }
    form = {f"field_{k}": v for k, v in texts.items() if v}
    changes = _choice_changes(
        {
            "cause": cause,
            "origin": origin,
            "origin_detail": origin_detail,
            "subprocessors_involved": subprocessors_involved,
            "subprocessors": subprocessors,
            "breach_ongoing": breach_ongoing,
        }
    )
    changes.update(_measure_changes(texts, ticked))
    if subject_categories is not None or categories_shown:
        changes["subject_categories"] = subject_categories or None
    try:
        changes.update(
            _parsed_changes(
                breach_ended_at,
                {"persons_estimate": persons_estimate, "records_estimate": records_estimate},
            )
        )
        data = notice_fields_view.NoticeFieldsIn.model_validate(changes)
        notice_fields_view.update(
            session=db,
            incident=actions.incident(session=db, ref=ref),
            actor_email=user.email,
            data=data,
            policy=draft_policy_of(request),
        )
    except (TocsinError, ValidationError, ValueError) as exc:
        return _fail(request, db, user, ref, exc, form)
    return _back(ref, "notice-fields")


@router.post("/incidents/{ref}/qualify")
def qualify_form(
    request: Request,
    db: DbSession,
    user: RssiUser,
    ref: str,
    nature: OptMany = None,
    justification: Text = "",
) -> Response:
    try:
        notice_fields_view.qualify(
            session=db,
            incident=actions.incident(session=db, ref=ref),
            actor_email=user.email,
            data=notice_fields_view.QualifyIn(nature=nature or [], justification=justification),
            policy=draft_policy_of(request),
        )
    except (TocsinError, ValidationError) as exc:
        return _fail(request, db, user, ref, exc, {"qualify_justification": justification})
    return _back(ref, "nature")
