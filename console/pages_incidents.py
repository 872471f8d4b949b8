"""Incident pages: the queue, an incident, its forms (post/redirect/get), the register."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from accounts.audit import audit
from accounts.models import User
from console import actions, notice_fields_view, notices_view, views
from console.deps import (
    CommenterUser,
    DbSession,
    Forbidden,
    ReaderUser,
    ReceiptUser,
    RegisterUser,
    RowId,
    RssiUser,
    SignerUser,
    TriageUser,
    cnil_hours_of,
    draft_policy_of,
    policy_of,
)
from console.errors import InvalidUserInput, http_status
from console.i18n import parse_local
from console.web import EXPORT_CSP, PREVIEW_CSP, current_lang, render
from consumers.errors import NotFound, TocsinError
from incidents import register

router = APIRouter(include_in_schema=False)

Text = Annotated[str, Form(max_length=10000)]


@router.get("/queue")
def queue_page(
    request: Request,
    db: DbSession,
    user: ReaderUser,
    status: Annotated[str | None, Query(max_length=16)] = None,
    band: Annotated[str | None, Query(max_length=16)] = None,
    tenant: Annotated[str | None, Query(max_length=64)] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    scope: Annotated[str | None, Query(max_length=8)] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    due: Annotated[str | None, Query(max_length=8)] = None,
    notices: Annotated[str | None, Query(max_length=8)] = None,
) -> Response:
    filters = views.QueueFilters.parse(
        status=status, band=band, tenant=tenant, q=q, scope=scope, due=due, notices=notices
    )
    items, total = views.queue(session=db, policy=policy_of(request), filters=filters, page=page)
    pages = max(1, -(-total // views.PER_PAGE))
    return render(
        request,
        "queue.html",
        {
            "items": items,
            "total": total,
            "page": page,
            "pages": pages,
            "filters": filters,
            "bands": views.BANDS,
            "statuses": views.STATUSES,
            "dues": views.DUE_FILTERS,
            "notice_filters": views.NOTICE_FILTERS,
            "query": _query(filters),
        },
    )


def _query(filters: views.QueueFilters) -> str:
    params = {
        k: v
        for k, v in (
            ("status", filters.status),
            ("band", filters.band),
            ("tenant", filters.tenant),
            ("q", filters.q),
            ("due", filters.due),
            ("notices", filters.notices),
        )
        if v
    }
    if not filters.open_only:
        params["scope"] = "all"
    return urlencode(params)


def _detail_page(
    request: Request,
    db: Session,
    user: User,
    ref: str,
    *,
    error: str | None = None,
    status: int = 200,
    form: dict[str, Any] | None = None,
) -> Response:
    incident = actions.incident(session=db, ref=ref)
    data = views.detail(session=db, incident=incident, policy=policy_of(request))
    data["notices"] = notices_view.notices_for(session=db, incident=incident)
    data["fields"] = notice_fields_view.view(incident=incident, language=current_lang(request))
    return render(
        request,
        "incident.html",
        {
            "inc": data,
            "error": error,
            "form": form or {},
            "ok": request.query_params.get("ok"),
        },
        status=status,
    )


@router.get("/incidents/{ref}")
def incident_page(request: Request, db: DbSession, user: ReaderUser, ref: str) -> Response:
    return _detail_page(request, db, user, ref)


def _back(ref: str, anchor: str) -> Response:
    return RedirectResponse(f"/incidents/{ref}?ok=1#{anchor}", status_code=303)


def _fail(
    request: Request, db: Session, user: User, ref: str, exc: Exception, form: dict[str, Any]
) -> Response:
    if isinstance(exc, NotFound):
        raise exc  # the 404 page (raised before the rollback: the user stays readable)
    db.rollback()
    # A value that does not parse (pydantic or `fromisoformat`) is the input's fault.
    status = 422 if isinstance(exc, ValueError) else http_status(exc)
    message = _message(exc)
    return _detail_page(request, db, user, ref, error=message, status=status, form=form)


def _apply(
    request: Request,
    db: Session,
    user: User,
    ref: str,
    form: dict[str, Any],
    anchor: str,
    run: Callable[[], object],
    errors: tuple[type[Exception], ...] = (TocsinError, ValidationError),
) -> Response:
    """Run a form's action: back to the page at `anchor`, or the page again with the error
    and what was typed."""
    try:
        run()
    except errors as exc:
        return _fail(request, db, user, ref, exc, form)
    return _back(ref, anchor)


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    return str(exc) or type(exc).__name__


@router.post("/incidents/{ref}/transition")
def incident_transition(
    request: Request,
    db: DbSession,
    user: TriageUser,
    ref: str,
    to: Annotated[str, Form(max_length=16)] = "",
    reason: Text = "",
    confirm: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    form = {"to": to, "reason": reason}
    try:
        if to == "dismissed" and confirm != "on":  # never by mistake: the page asks first
            raise InvalidUserInput("dismiss_unconfirmed")
        actions.transition(
            session=db,
            user=user,
            ref=ref,
            data=actions.TransitionIn(to=actions.status(to), reason=reason or None),
            policy=draft_policy_of(request),
        )
    except (TocsinError, ValidationError) as exc:
        if isinstance(exc, Forbidden):
            raise
        return _fail(request, db, user, ref, exc, form)
    return _back(ref, "status")


@router.post("/incidents/{ref}/comment")
def incident_comment(
    request: Request, db: DbSession, user: CommenterUser, ref: str, text: Text = ""
) -> Response:
    try:
        actions.comment(session=db, user=user, ref=ref, data=actions.CommentIn(text=text))
    except (TocsinError, ValidationError) as exc:
        return _fail(request, db, user, ref, exc, {"comment": text})
    return _back(ref, "comments")


def _severity_form(
    dpc: Annotated[str, Form(max_length=8)] = "",
    ei: Annotated[str, Form(max_length=8)] = "",
    cb_confidentiality: Annotated[str, Form(max_length=8)] = "0",
    cb_integrity: Annotated[str, Form(max_length=8)] = "0",
    cb_availability: Annotated[str, Form(max_length=8)] = "0",
    malicious: Annotated[str, Form(max_length=5)] = "",
    persons: Annotated[str, Form(max_length=12)] = "0",
    unintelligible: Annotated[str, Form(max_length=5)] = "",
    justification: Text = "",
) -> dict[str, Any]:
    """The ENISA inputs of a severity form (the incident's calculator, the full assessment),
    as `actions.SeverityIn` reads them: a ticked box is "on"."""
    return {
        "dpc": dpc,
        "ei": ei,
        "cb_confidentiality": cb_confidentiality,
        "cb_integrity": cb_integrity,
        "cb_availability": cb_availability,
        "malicious": malicious == "on",
        "persons": persons or "0",
        "unintelligible": unintelligible == "on",
        "justification": justification,
    }


SeverityForm = Annotated[dict[str, Any], Depends(_severity_form)]


@router.post("/incidents/{ref}/severity")
def incident_severity(
    request: Request, db: DbSession, user: TriageUser, ref: str, severity: SeverityForm
) -> Response:
    form = {k: severity[k] for k in ("dpc", "ei", "justification")}

    def act() -> None:
        actions.assess(
            session=db,
            user=user,
            ref=ref,
            data=actions.SeverityIn.model_validate(severity),
            policy=draft_policy_of(request),
        )

    return _apply(request, db, user, ref, form, "severity", act)


@router.post("/incidents/{ref}/aware-at")
def incident_aware_at(
    request: Request,
    db: DbSession,
    user: RssiUser,
    ref: str,
    aware_at: Annotated[str, Form(max_length=40)] = "",
    justification: Text = "",
) -> Response:
    form = {"aware_at": aware_at, "aware_justification": justification}
    try:
        # The browser's date-time picker gives wall time in TOCSIN_TIMEZONE.
        try:
            when = parse_local(aware_at, tz=request.app.state.settings.timezone)
        except ValueError:
            raise InvalidUserInput("invalid_date") from None
        actions.set_aware_at(
            session=db,
            user=user,
            ref=ref,
            data=actions.AwareAtIn(aware_at=when, justification=justification),
        )
    except (ValueError, TocsinError) as exc:
        return _fail(request, db, user, ref, exc, form)
    return _back(ref, "clocks")


@router.post("/incidents/{ref}/clock")
def incident_clock(
    request: Request,
    db: DbSession,
    user: RssiUser,
    ref: str,
    clock: Annotated[str, Form(max_length=16)] = "",
    action: Annotated[str, Form(max_length=8)] = "stop",
    tenant_id: Annotated[str, Form(max_length=64)] = "",
    justification: Text = "",
) -> Response:
    form = {"clock_justification": justification}

    def act() -> None:
        actions.clock(
            session=db,
            user=user,
            ref=ref,
            data=actions.ClockIn(
                clock=clock,
                stop=action != "resume",
                justification=justification or None,
                tenant_id=tenant_id or None,
            ),
        )

    return _apply(request, db, user, ref, form, "clocks", act)


@router.post("/incidents/{ref}/decision")
def incident_decision(
    request: Request,
    db: DbSession,
    user: RssiUser,
    ref: str,
    decision: Text = "",
    justification: Text = "",
) -> Response:
    form = {"decision": decision, "decision_justification": justification}

    def act() -> None:
        actions.decision(
            session=db,
            user=user,
            ref=ref,
            data=actions.DecisionIn(decision=decision, justification=justification),
        )

    return _apply(request, db, user, ref, form, "comments", act)


@router.post("/incidents/{ref}/register-fields")
def incident_register_fields(
    request: Request,
    db: DbSession,
    user: RegisterUser,
    ref: str,
    title: Text = "",
    consequences: Text = "",
    measures: Text = "",
    not_notified_justification: Text = "",
) -> Response:
    form = {"title": title, "consequences": consequences, "measures": measures}

    def act() -> None:
        actions.register_fields(
            session=db,
            user=user,
            ref=ref,
            data=actions.RegisterFieldsIn(
                title=title,
                consequences=consequences,
                measures=measures,
                not_notified_justification=not_notified_justification or None,
            ),
        )

    return _apply(request, db, user, ref, form, "register", act)


@router.post("/incidents/{ref}/draft-notices")
def incident_draft_notices(request: Request, db: DbSession, user: RssiUser, ref: str) -> Response:
    try:
        actions.draft(session=db, user=user, ref=ref, policy=draft_policy_of(request))
    except TocsinError as exc:
        return _fail(request, db, user, ref, exc, {})
    return _back(ref, "notices")


def _notice_form(
    request: Request,
    db: Session,
    user: User,
    notice_id: int,
    run: Callable[[], object],
    errors: tuple[type[Exception], ...] = (TocsinError, ValidationError),
) -> Response:
    """A notice's form: back to the notice on its incident's page, or that page again with
    the error."""
    ref = _notice_ref(db, notice_id)
    return _apply(request, db, user, ref, {}, f"notice-{notice_id}", run, errors)


def _notice_ref(db: Session, notice_id: int) -> str:
    return actions.notice(session=db, notice_id=notice_id).incident.ref


@router.get("/notices/{notice_id}/preview")
def notice_preview(request: Request, db: DbSession, user: ReaderUser, notice_id: RowId) -> Response:
    """The notice's HTML part as the e-mail carries it (values escaped when it was rendered),
    for the sandboxed frame of the incident page."""
    notice = actions.notice(session=db, notice_id=notice_id)
    return HTMLResponse(
        notice.html_body,
        headers={
            "Content-Security-Policy": PREVIEW_CSP,
            "X-Frame-Options": "SAMEORIGIN",
            "Cache-Control": "no-store",
        },
    )


@router.post("/notices/{notice_id}/approve")
def notice_approve(
    request: Request,
    db: DbSession,
    user: SignerUser,
    notice_id: RowId,
    subject: Annotated[str | None, Form(max_length=250)] = None,
    text_body: Annotated[str | None, Form(max_length=100_000)] = None,
    reasons_for_delay: Text = "",
) -> Response:
    def act() -> None:
        actions.approve(
            session=db,
            user=user,
            notice_id=notice_id,
            data=actions.ApproveIn(
                subject=subject, text_body=text_body, reasons_for_delay=reasons_for_delay or None
            ),
            cnil_hours=cnil_hours_of(request),
        )

    return _notice_form(request, db, user, notice_id, act)


@router.post("/notices/{notice_id}/reject")
def notice_reject(
    request: Request, db: DbSession, user: SignerUser, notice_id: RowId, reason: Text = ""
) -> Response:
    def act() -> None:
        actions.reject(
            session=db, user=user, notice_id=notice_id, data=actions.RejectIn(reason=reason)
        )

    return _notice_form(request, db, user, notice_id, act)


@router.post("/notices/{notice_id}/cnil-receipt")
def notice_cnil_receipt(
    request: Request,
    db: DbSession,
    user: ReceiptUser,
    notice_id: RowId,
    receipt: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    def act() -> None:
        actions.cnil_receipt(
            session=db, user=user, notice_id=notice_id, data=actions.ReceiptIn(receipt=receipt)
        )

    return _notice_form(request, db, user, notice_id, act)


@router.get("/register")
def register_page(request: Request, db: DbSession, user: RegisterUser) -> Response:
    rows = register.build_rows(session=db, policy=policy_of(request))
    return render(request, "register.html", {"rows": rows, "fields": register.FIELDS})


@router.get("/register.csv")
def register_csv(request: Request, db: DbSession, user: RegisterUser) -> Response:
    body = register.export(session=db, fmt="csv", policy=policy_of(request))
    audit(
        session=db,
        actor=user,
        action="register.exported",
        subject="register",
        details={"format": "csv"},
    )
    stamp = datetime.now(UTC).strftime("%Y%m%d")
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="tocsin-register-{stamp}.csv"'},
    )


@router.get("/register/print")
def register_html(request: Request, db: DbSession, user: RegisterUser) -> Response:
    body = register.export(session=db, fmt="html", policy=policy_of(request))
    audit(
        session=db,
        actor=user,
        action="register.exported",
        subject="register",
        details={"format": "html"},
    )
    return HTMLResponse(body, headers={"Content-Security-Policy": EXPORT_CSP})


@router.post("/notices/{notice_id}/send")
def notice_send(request: Request, db: DbSession, user: RssiUser, notice_id: RowId) -> Response:
    def act() -> None:
        actions.send(
            session=db,
            factory=request.app.state.session_factory,
            smtp=request.app.state.smtp,
            user=user,
            notice_id=notice_id,
        )

    return _notice_form(request, db, user, notice_id, act, (TocsinError,))
