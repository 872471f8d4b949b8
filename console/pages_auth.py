"""Login, logout and the signed-in user's password change."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from prometheus_client import Counter

from accounts.audit import audit
from accounts.roles import Role
from console import security
from console.deps import CsrfChecked, CurrentUser, DbSession, resolve_user
from console.errors import InvalidUserInput, LoginThrottled
from console.web import render

router = APIRouter(include_in_schema=False)

log = logging.getLogger("console")

LOGINS = Counter("tocsin_console_logins_total", "Console login attempts", ["result"])


def home_for(role: str) -> str:
    return "/users" if role == Role.ADMIN else "/queue"


def client_ip(request: Request) -> str:
    """The client's address (`X-Forwarded-For` only from a `--trusted-proxy`)."""
    peer = request.client.host if request.client else None
    forwarded = request.headers.get("x-forwarded-for")
    proxies = request.app.state.trusted_proxies
    warned = getattr(request.app.state, "untrusted_forward_warned", False)
    if forwarded and peer and not warned and not security.is_trusted(peer, proxies):
        request.app.state.untrusted_forward_warned = True
        # Behind a reverse proxy every client would share its address (and its failures).
        log.warning(
            "X-Forwarded-For from a peer that is not a --trusted-proxy: ignored; "
            "start the console with --trusted-proxy if a reverse proxy is in front"
        )
    return security.client_address(peer, forwarded, proxies)


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
    now = datetime.now(UTC)
    # Housekeeping: attempts past the throttling window and sessions past any lifetime.
    security.purge_attempts(session=db, older_than=now - request.app.state.throttle.window)
    security.purge_sessions(session=db, older_than=now - request.app.state.session_policy.lifetime)
    try:
        user = security.authenticate(
            session=db,
            secret_key=request.app.state.secret_key,
            email=email,
            password=password,
            ip=client_ip(request),
            throttle=request.app.state.throttle,
        )
    except LoginThrottled as exc:
        LOGINS.labels("throttled").inc()
        log.warning("console login throttled")  # no account or address in logs
        response = render(request, "login.html", {"email": email, "error": "throttled"}, status=429)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    if user is None:
        LOGINS.labels("failure").inc()
        return render(
            request, "login.html", {"email": email, "error": "bad_credentials"}, status=401
        )
    LOGINS.labels("success").inc()
    data = request.state.session
    lang = data.get("lang") or user.lang
    previous = data.get("sid")
    if isinstance(previous, str):  # signing in again ends the session this browser had
        security.end_session(session=db, sid=previous)
    data.clear()  # new session: fresh CSRF token, no fixation
    data.update(
        sid=security.start_session(session=db, user=user), csrf=security.new_csrf_token(), lang=lang
    )
    request.state.session_dirty = True
    return RedirectResponse(home_for(user.role), status_code=303)


@router.post("/logout")
def logout(request: Request, db: DbSession, _csrf: CsrfChecked) -> Response:
    sid = request.state.session.get("sid")
    if isinstance(sid, str):
        security.end_session(session=db, sid=sid)  # a replayed cookie is refused from now on
    request.state.session_clear = True
    return RedirectResponse("/login", status_code=303)


@router.get("/account/password")
def password_form(request: Request, user: CurrentUser) -> Response:
    notice = "password_changed" if request.query_params.get("ok") else None
    return render(request, "account.html", {"notice": notice})


@router.post("/account/password")
def password_change(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    current: Annotated[str, Form(max_length=1024)] = "",
    new: Annotated[str, Form(max_length=1024)] = "",
    confirm: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    """Checks the current password, ends every session of the user, and starts a fresh one
    for this browser."""
    try:
        # Through the login throttle first: a borrowed session cannot guess the password.
        if (
            security.authenticate(
                session=db,
                secret_key=request.app.state.secret_key,
                email=user.email,
                password=current,
                ip=client_ip(request),
                throttle=request.app.state.throttle,
            )
            is None
        ):
            raise InvalidUserInput("current_password_wrong")
        security.change_password(
            session=db, user_id=user.id, current=current, new=new, confirm=confirm
        )
    except LoginThrottled as exc:
        response = render(
            request, "account.html", {"notice": None, "error": "throttled"}, status=429
        )
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except InvalidUserInput as exc:
        return render(request, "account.html", {"notice": None, "error": str(exc)}, status=422)
    audit(session=db, actor=user, action="user.password_changed", details={"user_id": user.id})
    data = request.state.session
    data.update(sid=security.start_session(session=db, user=user), csrf=security.new_csrf_token())
    request.state.session_dirty = True
    return RedirectResponse("/account/password?ok=1", status_code=303)
