"""User management (admin only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from accounts.audit import audit
from accounts.roles import Role
from console import security
from console.deps import AdminUser, DbSession, RowId
from console.errors import (
    InvalidUserInput,
    LastAdmin,
    UnknownUser,
    UserExists,
    http_status,
)
from console.web import render

router = APIRouter(include_in_schema=False)


def _page(request: Request, db: DbSession, **extra: object) -> Response:
    status = int(str(extra.pop("status", 200)))
    ctx = {
        "users": security.list_users(session=db),
        "roles": [r.value for r in Role],
        "form": {"email": "", "role": Role.ANALYST},
        "notice": None,
    }
    ctx.update(extra)
    return render(request, "users.html", ctx, status=status)


@router.get("/users")
def users_page(request: Request, db: DbSession, admin: AdminUser) -> Response:
    return _page(request, db, notice="saved" if request.query_params.get("ok") else None)


@router.post("/users")
def users_create(
    request: Request,
    db: DbSession,
    admin: AdminUser,
    email: Annotated[str, Form(max_length=254)] = "",
    role: Annotated[str, Form(max_length=16)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    try:
        user = security.create_user(session=db, email=email, password=password, role=role)
    except (InvalidUserInput, UserExists) as exc:
        return _page(request, db, error=str(exc), form={"email": email, "role": role}, status=422)
    audit(
        session=db,
        actor=admin,
        action="user.created",
        details={"user_id": user.id, "role": user.role},
    )
    return RedirectResponse("/users?ok=1", status_code=303)


@router.post("/users/{user_id}")
def users_update(
    request: Request,
    db: DbSession,
    admin: AdminUser,
    user_id: RowId,
    role: Annotated[str, Form(max_length=16)] = "",
    active: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    try:
        user = security.update_user(
            session=db, user_id=user_id, role=role or None, active=active == "on"
        )
    except (InvalidUserInput, UnknownUser, LastAdmin) as exc:
        db.rollback()
        return _page(request, db, error=str(exc), status=http_status(exc))
    audit(
        session=db,
        actor=admin,
        action="user.updated",
        details={"user_id": user.id, "role": user.role, "active": user.active},
    )
    return RedirectResponse("/users?ok=1", status_code=303)
