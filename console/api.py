"""The JSON API under /api/v1: the console's operations for scripts and integrations.

Same authentication (session cookie + `X-CSRF-Token` header, or `Authorization: Bearer`) and
the same roles as the pages. Domain errors become JSON errors in `app.py`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from accounts.audit import audit
from console import actions, deps, notices_view, security, views
from console.api_models import (
    AssessmentOut,
    AuditEntryOut,
    AwareAtOut,
    DoneOut,
    DraftedOut,
    HealthOut,
    IncidentOut,
    IncidentPageOut,
    MeOut,
    NewTokenOut,
    NoticeOut,
    RegisterEntryOut,
    SentNoticeOut,
    TokenOut,
    TransitionOut,
    UserOut,
)
from console.errors import PROBLEM_RESPONSES
from console.pages_ops import database_ok
from console.web import csrf_token
from incidents import audit as audit_chain
from incidents import register
from incidents.enums import Language

router = APIRouter(tags=["tocsin"], responses=PROBLEM_RESPONSES)

Json = dict[str, Any]


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(max_length=254)
    role: str = Field(max_length=16)
    password: str = Field(min_length=1, max_length=1024)
    lang: Language = Language.FR


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: str | None = Field(default=None, max_length=16)
    active: bool | None = None


def user_json(user: Any) -> Json:
    return {
        "id": user.id,
        "email": user.email,
        "role": user.role,
        "active": user.active,
        "lang": user.lang,
    }


@router.get("/me", response_model=MeOut)
def me(request: Request, user: deps.CurrentUser) -> Json:
    """The caller, and the CSRF token to send as `X-CSRF-Token` with a session cookie."""
    return {**user_json(user), "csrf_token": csrf_token(request)}


class PreferencesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lang: Language


@router.patch("/me", response_model=UserOut)
def patch_me(
    request: Request, db: deps.DbSession, user: deps.CurrentUser, body: PreferencesIn
) -> Json:
    """The caller's preferences: the console language (used at each login)."""
    security.set_lang(session=db, user_id=user.id, lang=body.lang)
    request.state.session["lang"] = body.lang
    request.state.session_dirty = True
    return user_json(user)


@router.get("/health", response_model=HealthOut)
def health(request: Request, db: deps.DbSession, user: deps.CurrentUser) -> Json:
    return {"database": database_ok(db), "version": request.app.state.version}


@router.get("/incidents", response_model=IncidentPageOut)
def list_incidents(
    request: Request,
    db: deps.DbSession,
    user: deps.ReaderUser,
    status: Annotated[str | None, Query(max_length=16)] = None,
    band: Annotated[str | None, Query(max_length=16)] = None,
    tenant: Annotated[str | None, Query(max_length=64)] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    scope: Annotated[str | None, Query(max_length=8)] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=500)] = views.PER_PAGE,
    due: Annotated[str | None, Query(max_length=8)] = None,
    notices: Annotated[str | None, Query(max_length=8)] = None,
) -> Json:
    """The queue: nearest deadline first. `due`: `overdue` or `24h` (due within 24 hours,
    not overdue); `notices`: `dpo` (a notice awaits the DPO) or `delivery` (a send failed
    or is uncertain)."""
    filters = views.QueueFilters.parse(
        status=status, band=band, tenant=tenant, q=q, scope=scope, due=due, notices=notices
    )
    items, total = views.queue(
        session=db, policy=deps.policy_of(request), filters=filters, page=page, per_page=per_page
    )
    return {"items": items, "total": total, "page": page, "per_page": per_page}


@router.get("/incidents/{ref}", response_model=IncidentOut)
def get_incident(request: Request, db: deps.DbSession, user: deps.ReaderUser, ref: str) -> Json:
    incident = actions.incident(session=db, ref=ref)
    return notices_view.incident_json(session=db, incident=incident, policy=deps.policy_of(request))


@router.get("/incidents/{ref}/audit", response_model=list[AuditEntryOut])
def get_audit(db: deps.DbSession, user: deps.ReaderUser, ref: str) -> list[Json]:
    incident = actions.incident(session=db, ref=ref)
    return views.audit_rows(audit_chain.entries_for(session=db, subject=incident.ref))


@router.post("/incidents/{ref}/transition", response_model=TransitionOut)
def post_transition(
    request: Request,
    db: deps.DbSession,
    user: deps.TriageUser,
    ref: str,
    body: actions.TransitionIn,
) -> Json:
    incident = actions.transition(
        session=db, user=user, ref=ref, data=body, policy=deps.draft_policy_of(request)
    )
    return {"ref": incident.ref, "status": incident.status}


@router.post("/incidents/{ref}/comments", status_code=201, response_model=DoneOut)
def post_comment(
    db: deps.DbSession, user: deps.CommenterUser, ref: str, body: actions.CommentIn
) -> Json:
    actions.comment(session=db, user=user, ref=ref, data=body)
    return {"ref": ref.upper(), "ok": True}


@router.post("/incidents/{ref}/severity", response_model=AssessmentOut)
def post_severity(
    request: Request, db: deps.DbSession, user: deps.TriageUser, ref: str, body: actions.SeverityIn
) -> Json:
    return actions.assess(
        session=db, user=user, ref=ref, data=body, policy=deps.draft_policy_of(request)
    )


@router.post("/incidents/{ref}/aware-at", response_model=AwareAtOut)
def post_aware_at(
    db: deps.DbSession, user: deps.RssiUser, ref: str, body: actions.AwareAtIn
) -> Json:
    actions.set_aware_at(session=db, user=user, ref=ref, data=body)
    return {"ref": ref.upper(), "aware_at": body.aware_at.astimezone(UTC).isoformat()}


@router.post("/incidents/{ref}/clock", response_model=DoneOut)
def post_clock(db: deps.DbSession, user: deps.RssiUser, ref: str, body: actions.ClockIn) -> Json:
    actions.clock(session=db, user=user, ref=ref, data=body)
    return {"ref": ref.upper(), "ok": True}


@router.post("/incidents/{ref}/decisions", status_code=201, response_model=DoneOut)
def post_decision(
    db: deps.DbSession, user: deps.RssiUser, ref: str, body: actions.DecisionIn
) -> Json:
    actions.decision(session=db, user=user, ref=ref, data=body)
    return {"ref": ref.upper(), "ok": True}


@router.patch("/incidents/{ref}/register-fields", response_model=DoneOut)
def patch_register_fields(
    db: deps.DbSession, user: deps.RegisterUser, ref: str, body: actions.RegisterFieldsIn
) -> Json:
    actions.register_fields(session=db, user=user, ref=ref, data=body)
    return {"ref": ref.upper(), "ok": True}


@router.post("/incidents/{ref}/draft-notices", response_model=DraftedOut)
def post_draft_notices(request: Request, db: deps.DbSession, user: deps.RssiUser, ref: str) -> Json:
    written = actions.draft(session=db, user=user, ref=ref, policy=deps.draft_policy_of(request))
    return {"ref": ref.upper(), "written": written}


@router.get("/notices/{notice_id}", response_model=NoticeOut)
def get_notice(db: deps.DbSession, user: deps.ReaderUser, notice_id: deps.RowId) -> Json:
    return notices_view.one(session=db, notice=actions.notice(session=db, notice_id=notice_id))


@router.post("/notices/{notice_id}/approve", response_model=NoticeOut)
def post_approve(
    request: Request,
    db: deps.DbSession,
    user: deps.SignerUser,
    notice_id: deps.RowId,
    body: actions.ApproveIn,
) -> Json:
    notice = actions.approve(
        session=db,
        user=user,
        notice_id=notice_id,
        data=body,
        cnil_hours=deps.cnil_hours_of(request),
    )
    return notices_view.one(session=db, notice=notice)


@router.post("/notices/{notice_id}/reject", response_model=NoticeOut)
def post_reject(
    db: deps.DbSession, user: deps.SignerUser, notice_id: deps.RowId, body: actions.RejectIn
) -> Json:
    notice = actions.reject(session=db, user=user, notice_id=notice_id, data=body)
    return notices_view.one(session=db, notice=notice)


@router.post("/notices/{notice_id}/send", response_model=SentNoticeOut)
def post_send(
    request: Request, db: deps.DbSession, user: deps.RssiUser, notice_id: deps.RowId
) -> Json:
    report = actions.send(
        session=db,
        factory=request.app.state.session_factory,
        smtp=request.app.state.smtp,
        user=user,
        notice_id=notice_id,
    )
    db.expire_all()
    notice = actions.notice(session=db, notice_id=notice_id)
    return {
        **notices_view.one(session=db, notice=notice),
        "report": {
            "sent": report.sent,
            "retried": report.retried,
            "failed": report.failed,
            "uncertain": report.uncertain,
        },
    }


@router.post("/notices/{notice_id}/cnil-receipt", response_model=NoticeOut)
def post_receipt(
    db: deps.DbSession, user: deps.ReceiptUser, notice_id: deps.RowId, body: actions.ReceiptIn
) -> Json:
    notice = actions.cnil_receipt(session=db, user=user, notice_id=notice_id, data=body)
    return notices_view.one(session=db, notice=notice)


@router.get("/register", response_model=list[RegisterEntryOut])
def get_register(request: Request, db: deps.DbSession, user: deps.RegisterUser) -> list[Json]:
    rows = register.build_rows(session=db, policy=deps.policy_of(request))
    return [{name: getattr(r, name) for name in register.FIELDS} for r in rows]


@router.get(
    "/register.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
def get_register_csv(request: Request, db: deps.DbSession, user: deps.RegisterUser) -> Response:
    body = register.export(session=db, fmt="csv", policy=deps.policy_of(request))
    audit(
        session=db,
        actor=user,
        action="register.exported",
        subject="register",
        details={"format": "csv", "via": "api"},
    )
    stamp = datetime.now(UTC).strftime("%Y%m%d")
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="tocsin-register-{stamp}.csv"'},
    )


@router.get("/users", response_model=list[UserOut])
def get_users(db: deps.DbSession, user: deps.AdminUser) -> list[Json]:
    return [user_json(u) for u in security.list_users(session=db)]


@router.post("/users", status_code=201, response_model=UserOut)
def post_user(db: deps.DbSession, admin: deps.AdminUser, body: UserIn) -> Json:
    created = security.create_user(
        session=db, email=body.email, password=body.password, role=body.role, lang=body.lang
    )
    audit(
        session=db,
        actor=admin,
        action="user.created",
        details={"user_id": created.id, "role": created.role},
    )
    return user_json(created)


@router.patch("/users/{user_id}", response_model=UserOut)
def patch_user(
    db: deps.DbSession, admin: deps.AdminUser, user_id: deps.RowId, body: UserPatch
) -> Json:
    updated = security.update_user(session=db, user_id=user_id, role=body.role, active=body.active)
    audit(
        session=db,
        actor=admin,
        action="user.updated",
        details={"user_id": updated.id, "role": updated.role, "active": updated.active},
    )
    return user_json(updated)


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(max_length=254)
    name: str = Field(default="api", min_length=1, max_length=100)
    days: int | None = Field(
        default=None, ge=1, le=3650, description="validity; default TOCSIN_TOKEN_DAYS (90)"
    )


@router.get("/tokens", response_model=list[TokenOut])
def get_tokens(
    db: deps.DbSession,
    admin: deps.AdminUser,
    email: Annotated[str | None, Query(max_length=254)] = None,
) -> list[Json]:
    """API tokens (never their secret): owner, name, state, expiry."""
    return [security.token_summary(t, u) for t, u in security.list_tokens(session=db, email=email)]


@router.post("/tokens", status_code=201, response_model=NewTokenOut)
def post_token(request: Request, db: deps.DbSession, admin: deps.AdminUser, body: TokenIn) -> Json:
    """A token for a user, valid `days` days. `token` is shown in this answer only."""
    days = body.days or int(request.app.state.settings.token_days)
    row, secret = security.create_token(session=db, email=body.email, name=body.name, days=days)
    owner = security.get_user(session=db, user_id=row.user_id)
    assert owner is not None  # noqa: S101 - create_token found the user
    audit(
        session=db,
        actor=admin,
        action="token.created",
        details={"user_id": owner.id, "token_id": row.id, "name": row.name},
    )
    return {**security.token_summary(row, owner), "token": secret}


@router.delete("/tokens/{token_id}", response_model=TokenOut)
def delete_token(db: deps.DbSession, admin: deps.AdminUser, token_id: deps.RowId) -> Json:
    """Revoke a token: it is refused from now on."""
    row = security.revoke_token(session=db, token_id=token_id)
    owner = security.get_user(session=db, user_id=row.user_id)
    assert owner is not None  # noqa: S101 - tokens are deleted with their user
    audit(
        session=db,
        actor=admin,
        action="token.revoked",
        details={"user_id": owner.id, "token_id": row.id},
    )
    return security.token_summary(row, owner)
