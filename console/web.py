"""Rendering: one autoescaping Jinja2 environment, the session middleware and security
headers."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context
from jinja2.runtime import Context
from markupsafe import Markup, escape
from prometheus_client import Histogram
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from console import next_action, rule_wording, security, wording
from console.i18n import (
    LANGS,
    human_datetime,
    incident_title,
    label,
    local_input,
    translate,
    utc_iso,
)
from consumers.conventions import DEFAULT_TIMEZONE

HERE = Path(__file__).resolve().parent

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# The printable register is a standalone document with its own inline <style>: no script.
EXPORT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
# A notice's HTML part, shown in a sandboxed frame of the incident page: its own inline
# <style> and nothing else (no script, no form, no request out), framed by the console only.
PREVIEW_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'self'; sandbox"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "geolocation=(), camera=(), microphone=()",
}


def make_environment(*, timezone: str = DEFAULT_TIMEZONE) -> Environment:
    """`timezone` (`TOCSIN_TIMEZONE`): the wall time every date is shown and typed in."""
    env = Environment(
        loader=FileSystemLoader(str(HERE / "templates")),
        autoescape=True,  # every template: user agents, actor ids and names are hostile
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["timezone"] = timezone
    env.globals["next_action"] = next_action.next_action
    env.globals["step_states"] = next_action.step_states
    env.globals["step_anchors"] = next_action.STEP_ANCHORS
    env.globals["open_steps"] = next_action.open_steps
    env.globals["status_step"] = next_action.status_step
    env.filters["dt"] = format_dt
    env.filters["iso"] = utc_iso
    env.filters["maybe_dt"] = maybe_dt
    env.filters["local_input"] = lambda value: local_input(value, tz=timezone)
    env.filters["pretty_json"] = pretty_json
    env.filters["rationale"] = pass_context(
        lambda ctx, items: wording.rationale(str(ctx.get("lang", "fr")), items)
    )
    env.filters["reason"] = pass_context(
        lambda ctx, text: wording.reason(str(ctx.get("lang", "fr")), str(text))
    )
    env.filters["factors"] = pass_context(
        lambda ctx, items: wording.factors(str(ctx.get("lang", "fr")), items)
    )
    env.filters["system_text"] = pass_context(
        lambda ctx, text: wording.system_text(str(ctx.get("lang", "fr")), text)
    )
    env.filters["finding_summary"] = pass_context(
        lambda ctx, finding: rule_wording.finding_summary(str(ctx.get("lang", "fr")), finding)
    )
    env.filters["register_tenants"] = wording.register_tenants
    env.filters["register_nature"] = pass_context(
        lambda ctx, text: wording.register_nature(str(ctx.get("lang", "fr")), text)
    )
    env.filters["register_recommendation"] = pass_context(
        lambda ctx, text: wording.register_recommendation(str(ctx.get("lang", "fr")), text)
    )
    return env


ISO_DATETIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)")


def pretty_json(value: Any) -> str:
    """Readable JSON for the audit trail (escaped by the template like any text); instants
    are written in UTC to the second."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return ISO_DATETIME.sub(lambda m: utc_iso(m.group(0)) or m.group(0), text)


@pass_context
def maybe_dt(context: Context, value: Any) -> Markup:
    """A raw field (an evidence event's): shown as a date for people when it is an instant
    in ISO 8601 with an offset, else as text."""
    if isinstance(value, str) and ISO_DATETIME.fullmatch(value.strip()):
        return format_dt(context, value)
    return escape("" if value is None else str(value))


@pass_context
def format_dt(context: Context, value: datetime | str | None) -> Markup:
    """A date for people: `<time datetime="UTC ISO" title="… UTC">` around the wall time in
    `TOCSIN_TIMEZONE`, written in the page's language; "—" when there is none. A string
    that is not a date is shown as it is (escaped)."""
    iso = utc_iso(value)
    if not iso:
        return Markup("—") if not value else escape(str(value))
    lang = str(context.get("lang", "fr"))
    shown = human_datetime(value, lang=lang, tz=str(context.environment.globals["timezone"]))
    title = f"{iso[:10]} {iso[11:16]} UTC"
    return Markup('<time datetime="{}" title="{}">{}</time>').format(iso, title, shown)


def current_lang(request: Request) -> str:
    lang = request.query_params.get("lang")
    data: dict[str, Any] = request.state.session
    if lang in LANGS:
        if data.get("lang") != lang:
            data["lang"] = lang
            request.state.session_dirty = True
        return lang
    stored = data.get("lang")
    if stored in LANGS:
        return str(stored)
    user = getattr(request.state, "user", None)
    if user is not None and user.lang in LANGS:
        return str(user.lang)
    return "fr"


def csrf_token(request: Request) -> str:
    data: dict[str, Any] = request.state.session
    token = data.get("csrf")
    if not isinstance(token, str):
        token = security.new_csrf_token()
        data["csrf"] = token
        request.state.session_dirty = True
    return token


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, *, status: int = 200
) -> HTMLResponse:
    env: Environment = request.app.state.jinja
    lang = current_lang(request)
    ctx: dict[str, Any] = {
        "request": request,
        "user": getattr(request.state, "user", None),
        "lang": lang,
        "_": lambda key: translate(lang, key),
        "label": lambda group, value: label(lang, group, value),
        "auto_title": lambda rule_ids, tenants: incident_title(lang, rule_ids, tenants),
        "csrf_token": csrf_token(request),
        "path": request.url.path,
        "error": None,
    }
    ctx.update(context or {})
    return HTMLResponse(env.get_template(name).render(ctx), status_code=status)


REQUESTS = Histogram(
    "tocsin_console_request_seconds",
    "Console and API request durations, by route template (bounded labels)",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0),
)


def route_label(request: Request) -> str:
    """The matched route's template (`/incidents/{ref}`), never the concrete path."""
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    if request.url.path.startswith("/static/"):
        return "/static"
    return "unmatched"


class SessionMiddleware(BaseHTTPMiddleware):
    """Loads the signed session cookie into `request.state.session`; writes it back when
    changed; adds security headers to every response."""

    def __init__(self, app: ASGIApp, *, codec: security.SessionCodec, secure: bool) -> None:
        super().__init__(app)
        self.codec = codec
        self.secure = secure
        self.cookie = security.session_cookie_name(secure=secure)

    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        data = self.codec.loads(request.cookies.get(self.cookie))
        request.state.session = data if data is not None else {}
        request.state.session_dirty = False
        request.state.session_clear = False
        started = time.perf_counter()
        response = await call_next(request)
        REQUESTS.labels(
            route=route_label(request),
            method=request.method,
            status=str(response.status_code // 100) + "xx",
        ).observe(time.perf_counter() - started)
        if request.state.session_clear:
            response.delete_cookie(
                self.cookie,
                path="/",
                secure=self.secure,
                httponly=True,
                samesite="strict",
            )
        elif request.state.session_dirty:
            response.set_cookie(
                self.cookie,
                self.codec.dumps(request.state.session),
                max_age=self.codec.max_age,
                path="/",
                secure=self.secure,
                httponly=True,
                samesite="strict",
            )
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        if self.secure:  # served over HTTPS (the only production mode)
            response.headers.setdefault(
                "Strict-Transport-Security", "max-age=31536000; includeSubDomains"
            )
        if request.url.path.startswith(
            ("/api/", "/incidents", "/register", "/users", "/account", "/customers", "/overview")
        ):
            response.headers.setdefault("Cache-Control", "no-store")
        return response


class _BodyTooLarge(HTTPException):  # FastAPI re-raises its own type while parsing
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit} bytes")


class BodyLimitMiddleware:
    """Refuses request bodies over `max_bytes` before anything reads them (authentication
    included): a declared `Content-Length` over the limit is answered at once, and a body
    that grows past it while being read stops with 413."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            status = 413 if declared.isdigit() else 400
            body = json.dumps(
                {
                    "type": "about:blank",
                    "title": HTTPStatus(status).phrase,
                    "status": status,
                    "detail": f"request body larger than {self.max_bytes} bytes"
                    if status == 413
                    else "invalid Content-Length",
                }
            ).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", b"application/problem+json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"connection", b"close"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, limited, send)
