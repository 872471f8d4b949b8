"""Incident page forms: the structured notice fields (with the suggested standard measures
to tick) and the qualification of an attempt as a breach. Post/redirect/get; a bad form is
re-shown with its message."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError

from consumers.errors import TocsinError
from tocsin.console import actions, notice_fields_view
from tocsin.console.deps import DbSession, RssiUser, draft_policy_of
from tocsin.console.errors import InvalidUserInput
from tocsin.console.pages_incidents import _back, _fail

router = APIRouter(include_in_schema=False)

Text = Annotated[str, Form(max_length=10_000)]
Choice = Annotated[str, Form(max_length=32)]
Many = Annotated[list[str], Form(max_length=64)]

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


@router.post("/incidents/{ref}/notice-fields")
def notice_fields_form(
    request: Request, db: DbSession, user: RssiUser, ref: str,
    cause: Choice = "", origin: Choice = "", origin_detail: Text = "",
    subprocessors_involved: Choice = "", subprocessors: Text = "",
    breach_ongoing: Choice = "", breach_ended_at: Annotated[str, Form(max_length=40)] = "",
    subject_categories: Many | None = None,
    measures: Text = "", measures_proposed: Text = "", measures_planned: Text = "",
    measures_long_term: Text = "",
    suggest_measures: Many | None = None, suggest_measures_proposed: Many | None = None,
    suggest_measures_planned: Many | None = None,
    suggest_measures_long_term: Many | None = None,
    persons_estimate: Annotated[str, Form(max_length=16)] = "",
    records_estimate: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    texts = {"measures": measures, "measures_proposed": measures_proposed,
             "measures_planned": measures_planned, "measures_long_term": measures_long_term}
    ticked = {"measures": suggest_measures, "measures_proposed": suggest_measures_proposed,
              "measures_planned": suggest_measures_planned,
              "measures_long_term": suggest_measures_long_term}
    form = {f"field_{k}": v for k, v in texts.items()}
    try:
        ended = datetime.fromisoformat(breach_ended_at) if breach_ended_at.strip() else None
        if ended is not None and ended.tzinfo is None:
            raise InvalidUserInput("breach_ended_at: give the offset, e.g. 2026-11-20T12:00+01:00")
        data = notice_fields_view.NoticeFieldsIn(
            cause=cause or None, origin=origin or None, origin_detail=origin_detail or None,
            subprocessors_involved=subprocessors_involved or None,
            subprocessors=subprocessors or None, breach_ongoing=breach_ongoing or None,
            breach_ended_at=ended, subject_categories=subject_categories or None,
            persons_estimate=_count(persons_estimate, "persons_estimate"),
            records_estimate=_count(records_estimate, "records_estimate"),
            **{k: _with_ticked(texts[k], ticked[k] or []) for k in MEASURE_FIELDS},
        )
        notice_fields_view.update(session=db, incident=actions.incident(session=db, ref=ref),
                                  actor_email=user.email, data=data,
                                  policy=draft_policy_of(request))
    except (TocsinError, ValidationError, ValueError) as exc:
        return _fail(request, db, user, ref, exc, form)
    return _back(ref, "notice-fields")


@router.post("/incidents/{ref}/qualify")
def qualify_form(request: Request, db: DbSession, user: RssiUser, ref: str,
                 nature: Many | None = None, justification: Text = "") -> Response:
    try:
        notice_fields_view.qualify(
            session=db, incident=actions.incident(session=db, ref=ref),
            actor_email=user.email,
            data=notice_fields_view.QualifyIn(nature=nature or [], justification=justification),
            policy=draft_policy_of(request))
    except (TocsinError, ValidationError) as exc:
        return _fail(request, db, user, ref, exc, {"qualify_justification": justification})
    return _back(ref, "notice-fields")
