"""Login and logout."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from prometheus_client import Counter

from tocsin.console import security
from tocsin.console.deps import CsrfChecked, DbSession, resolve_user
from tocsin.console.errors import LoginThrottled
from tocsin.console.models import Role
from tocsin.console.web import render

router = APIRouter(include_in_schema=False)

log = logging.getLogger("tocsin.console")

LOGINS = Counter("tocsin_console_logins_total", "Console login attempts", ["result"])


def home_for(role: str) -> str:
    return "/users" if role == Role.ADMIN else "/queue"


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.get("/")
def root(request: Request, db: DbSession) -> Response:
    user = resolve_user(request, db)
    return RedirectResponse(home_for(user.role) if user else "/login", status_code=303)


@router.get("/login")
def login_form(request: Request) -> Response:
    return render(request, "login.html", {"email": ""})


@router.post("/login")
def login(
    request: Request,
    db: DbSession,
    _csrf: CsrfChecked,
    email: Annotated[str, Form(max_length=254)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    try:
        user = security.authenticate(
            session=db,
            secret_key=request.app.state.secret_key,
            email=email,
            password=password,
            ip=client_ip(request),
            throttle=request.app.state.throttle,
        )
    except LoginThrottled:
        LOGINS.labels("throttled").inc()
        log.warning("console login throttled")  # no account or address in logs
        response = render(request, "login.html", {"email": email, "error": "throttled"},
                          status=429)
        window = request.app.state.throttle.window
        response.headers["Retry-After"] = str(int(window.total_seconds()))
        return response
    if user is None:
        LOGINS.labels("failure").inc()
        return render(request, "login.html", {"email": email, "error": "bad_credentials"},
                      status=401)
    LOGINS.labels("success").inc()
    data = request.state.session
    lang = data.get("lang") or user.lang
    data.clear()  # new session: fresh CSRF token, no fixation
    data.update(uid=user.id, sv=user.session_version, csrf=security.new_csrf_token(),
                lang=lang)
    request.state.session_dirty = True
    return RedirectResponse(home_for(user.role), status_code=303)


@router.post("/logout")
def logout(request: Request, _csrf: CsrfChecked) -> Response:
    request.state.session_clear = True
    return RedirectResponse("/login", status_code=303)
