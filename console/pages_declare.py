"""Console pages for breaches declared by hand and for the RSSI's decision: the declaration
form, the full assessment form (every ENISA input, the Art. 34(3) exemptions, the decision
on who is told), attaching findings and merging incidents. Post/redirect/get; a bad form is
shown again with its message and what was typed."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from console import actions, breaches
from console.deps import DbSession, Forbidden, TriageUser, draft_policy_of
from console.errors import http_status
from console.pages_incidents import SeverityForm, _back, _fail, _message
from console.web import render
from consumers.errors import TocsinError
from incidents import declared
from incidents.enums import Art34Exemption
from incidents.exceptions import InvalidDeclaration
from notifiers import customers as customer_service

router = APIRouter(include_in_schema=False)

Text = Annotated[str, Form(max_length=10000)]
Short = Annotated[str, Form(max_length=64)]
Many = Annotated[list[str] | None, Form(max_length=16)]


def _when(value: str, field: str, tz: str) -> datetime | None:
    """An ISO-8601 time; without an offset (a datetime-local field) it is read in the
    console's time zone."""
    text = value.strip()
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidDeclaration(field, "not a date and time (YYYY-MM-DDTHH:MM)") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(tz))
    return parsed


def _count(value: str, field: str) -> int | None:
    text = value.strip().replace(" ", "").replace("\u202f", "")
    if not text:
        return None
    if not text.isdigit():
        raise InvalidDeclaration(field, "a whole number, zero or more")
    return int(text)


def _form_page(
    request: Request,
    db: DbSession,
    form: dict[str, Any],
    *,
    error: str | None = None,
    status: int = 200,
) -> Response:
    return render(
        request,
        "declare.html",
        {
            "form": form,
            "form_error": error,
            "customers": customer_service.list_customers(session=db),
            "sources": [s.value for s in declared.DECLARABLE_SOURCES],
            "natures": list(declared.NATURES),
            "categories": list(declared.DATA_CATEGORIES),
            "services": list(declared.SERVICES),
        },
        status=status,
    )


@router.get("/declare")
def declare_page(request: Request, db: DbSession, user: TriageUser) -> Response:
    return _form_page(request, db, {"nature": [], "data_categories": [], "services": []})


@router.post("/declare")
def declare_submit(
    request: Request,
    db: DbSession,
    user: TriageUser,
    tenant_ids: Text = "",
    source: Short = "",
    nature: Many = None,
    data_categories: Many = None,
    services: Many = None,
    persons: Short = "",
    records: Short = "",
    occurred_from: Short = "",
    occurred_to: Short = "",
    discovered_at: Short = "",
    aware_at: Short = "",
    aware_justification: Text = "",
    title: Text = "",
    summary: Text = "",
    confirmed: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    form: dict[str, Any] = {
        "tenant_ids": tenant_ids,
        "source": source,
        "nature": nature or [],
        "data_categories": data_categories or [],
        "services": services or [],
        "persons": persons,
        "records": records,
        "occurred_from": occurred_from,
        "occurred_to": occurred_to,
        "discovered_at": discovered_at,
        "aware_at": aware_at,
        "aware_justification": aware_justification,
        "title": title,
        "summary": summary,
        "confirmed": confirmed == "on",
    }
    tz = draft_policy_of(request).timezone
    try:
        data = breaches.DeclareIn(
            tenant_ids=[
                t for t in tenant_ids.replace(";", ",").replace(" ", ",").split(",") if t.strip()
            ],
            source=source,
            nature=nature or [],
            data_categories=data_categories or [],
            services=services or [],
            persons=_count(persons, "persons"),
            records=_count(records, "records"),
            occurred_from=_when(occurred_from, "occurred_from", tz),
            occurred_to=_when(occurred_to, "occurred_to", tz),
            discovered_at=_when(discovered_at, "discovered_at", tz),
            aware_at=_when(aware_at, "aware_at", tz),
            aware_justification=aware_justification or None,
            title=title,
            summary=summary,
            confirmed=confirmed == "on",
        )
        incident = breaches.declare(
            session=db, user=user, data=data, policy=draft_policy_of(request)
        )
    except (TocsinError, ValidationError) as exc:
        db.rollback()
        status = 422 if isinstance(exc, ValidationError) else http_status(exc)
        return _form_page(request, db, form, error=_message(exc), status=status)
    return RedirectResponse(f"/incidents/{incident.ref}?ok=1", status_code=303)


def _decision(value: str) -> bool | None:
    return {"yes": True, "no": False}.get(value)


@router.post("/incidents/{ref}/assess")
def assess_submit(
    request: Request,
    db: DbSession,
    user: TriageUser,
    ref: str,
    severity: SeverityForm,
    art34_exemption: Short = "",
    art34_justification: Text = "",
    notify_cnil: Short = "advice",
    notify_subjects: Short = "advice",
) -> Response:
    form = {
        "justification": severity["justification"],
        "art34_justification": art34_justification,
        "art34_exemption": art34_exemption,
        "notify_cnil": notify_cnil,
        "notify_subjects": notify_subjects,
    }
    try:
        if art34_exemption and art34_exemption not in {e.value for e in Art34Exemption}:
            raise InvalidDeclaration("art34_exemption", "unknown exemption")
        data = actions.SeverityIn.model_validate(
            {
                **severity,
                "art34_exemption": art34_exemption or None,
                "art34_justification": art34_justification or None,
                "notify_cnil": _decision(notify_cnil),
                "notify_subjects": _decision(notify_subjects),
            }
        )
        actions.assess(session=db, user=user, ref=ref, data=data, policy=draft_policy_of(request))
    except Forbidden:
        raise
    except (TocsinError, ValidationError) as exc:
        return _fail(request, db, user, ref, exc, form)
    return _back(ref, "decision")


@router.post("/incidents/{ref}/findings")
def findings_submit(
    request: Request, db: DbSession, user: TriageUser, ref: str, finding_ids: Text = ""
) -> Response:
    form = {"finding_ids": finding_ids}
    try:
        data = breaches.FindingsIn(
            finding_ids=[
                f for f in finding_ids.replace(";", ",").replace(" ", ",").split(",") if f.strip()
            ]
        )
        breaches.attach(session=db, user=user, ref=ref, data=data, policy=draft_policy_of(request))
    except (TocsinError, ValidationError) as exc:
        return _fail(request, db, user, ref, exc, form)
    return _back(ref, "breach-links")


@router.post("/incidents/{ref}/merge")
def merge_submit(
    request: Request, db: DbSession, user: TriageUser, ref: str, into: Short = "", reason: Text = ""
) -> Response:
    form = {"into": into, "merge_reason": reason}
    try:
        kept = breaches.merge(
            session=db,
            user=user,
            ref=ref,
            data=breaches.MergeIn(into=into, reason=reason),
            policy=draft_policy_of(request),
        )
    except (TocsinError, ValidationError) as exc:
        return _fail(request, db, user, ref, exc, form)
    return RedirectResponse(f"/incidents/{kept.ref}?ok=1", status_code=303)
