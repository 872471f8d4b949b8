"""`create_app(settings)`: the console factory. Nothing is built at import time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from importlib import metadata
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException

from console import security
from console.deps import CsrfFailed, Forbidden, NotAuthenticated
from console.errors import (
    PROBLEM_TYPE,
    FieldError,
    http_status,
    problem_body,
)
from console.web import (
    HERE,
    BodyLimitMiddleware,
    SessionMiddleware,
    make_environment,
    render,
)
from consumers.errors import TocsinError
from incidents.clocks import ClockPolicy
from incidents.db import make_engine
from incidents.db import session_factory as make_session_factory
from notifiers.outbox import SmtpConfig
from notifiers.schemas import DraftPolicy

API_PREFIX = "/api/v1"


class ConsoleSettings(Protocol):
    """What the console reads of the shell's settings (`tocsin.settings.Settings`), duck-typed:
    the console never imports the shell, which builds it (docs/architecture.md §2)."""

    @property
    def database_url(self) -> str: ...
    @property
    def timezone(self) -> str: ...
    @property
    def clocks(self) -> Any: ...
    @property
    def secret_key(self) -> SecretStr: ...
    @property
    def session_hours(self) -> float: ...
    @property
    def session_idle_minutes(self) -> float: ...
    @property
    def token_days(self) -> int: ...
    @property
    def max_body_bytes(self) -> int: ...
    @property
    def metrics_token(self) -> SecretStr | None: ...
    def require_production_secrets(self) -> None: ...


def installed_version() -> str:
    """The version of the installed `tocsin` distribution."""
    try:
        return metadata.version("tocsin")
    except metadata.PackageNotFoundError:
        return "unknown"


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIX + "/")


def create_app(
    settings: ConsoleSettings,
    *,
    session_factory: sessionmaker[Session] | None = None,
    insecure_cookies: bool = False,
    throttle: security.Throttle = security.DEFAULT_THROTTLE,
    smtp: SmtpConfig | None = None,
    trusted_proxies: Sequence[str] = (),
    version: str | None = None,
) -> FastAPI:
    """Build the console. `insecure_cookies` drops the `Secure` flag and the `__Host-` cookie
    prefix (plain-HTTP local demo only). `smtp` overrides the SMTP configuration read from
    `settings` (tests pass a trusted test CA). `trusted_proxies` (addresses or networks) are
    the reverse proxies whose `X-Forwarded-For` names the client. `version` is the one the
    health page and `GET /api/v1/health` show (the installed distribution's by default)."""
    settings.require_production_secrets()
    if session_factory is None:
        session_factory = make_session_factory(make_engine(settings.database_url))
    app = FastAPI(
        title="Tocsin console API",
        version="1",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.version = version if version is not None else installed_version()
    app.state.session_factory = session_factory
    app.state.jinja = make_environment(timezone=settings.timezone)
    app.state.throttle = throttle
    app.state.clock_policy = ClockPolicy.from_settings(settings.clocks)
    app.state.draft_policy = DraftPolicy.from_settings(settings)
    app.state.smtp = smtp if smtp is not None else SmtpConfig.from_settings(settings)
    app.state.secret_key = settings.secret_key.get_secret_value()
    app.state.trusted_proxies = security.parse_proxies(trusted_proxies)
    app.state.session_policy = security.SessionPolicy(
        lifetime=timedelta(hours=settings.session_hours),
        idle=timedelta(minutes=settings.session_idle_minutes),
    )
    codec = security.SessionCodec(
        app.state.secret_key, max_age=int(app.state.session_policy.lifetime.total_seconds())
    )
    # Inside the session middleware (which only reads the cookie), so that a body cut at the
    # limit raises straight into FastAPI's body parsing; both run before any route (and its
    # authentication) reads the body.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(SessionMiddleware, codec=codec, secure=not insecure_cookies)

    _install_error_handlers(app)

    from console import (
        api,
        api_breaches,
        pages_admin,
        pages_auth,
        pages_customers,
        pages_declare,
        pages_incidents,
        pages_ops,
        pages_overview,
    )
    from console.api_notice_fields import router as notice_fields_api
    from console.pages_notice_fields import router as notice_fields_pages

    app.include_router(pages_auth.router)
    app.include_router(pages_ops.router)
    app.include_router(pages_admin.router)
    app.include_router(pages_incidents.router)
    app.include_router(notice_fields_pages)
    app.include_router(pages_overview.router)
    app.include_router(pages_customers.router)
    app.include_router(api.router, prefix=API_PREFIX)
    app.include_router(notice_fields_api, prefix=API_PREFIX)
    app.include_router(pages_declare.router)
    app.include_router(api_breaches.router, prefix=API_PREFIX)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    return app


def _problem(
    status: int,
    detail: str,
    *,
    error: str | None = None,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        problem_body(status, detail, error=error, errors=errors),
        status_code=status,
        media_type=PROBLEM_TYPE,
        headers=headers,
    )


def _field_errors(exc: RequestValidationError) -> list[FieldError]:
    found: list[FieldError] = []
    for err in exc.errors():
        loc = [p if isinstance(p, int) else str(p) for p in err.get("loc", ())]
        names = [str(p) for p in loc if p not in ("body", "query", "path", "header", "cookie")]
        found.append(
            FieldError(loc=loc, field=".".join(names) or "body", msg=str(err.get("msg", "")))
        )
    return found


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(NotAuthenticated)
    async def _anon(request: Request, exc: NotAuthenticated) -> Response:
        if _is_api(request):
            return _problem(
                401,
                "authentication required",
                error="NotAuthenticated",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        if _is_api(request):
            return _problem(403, "forbidden", error="Forbidden")
        return render(
            request,
            "error.html",
            {"title_key": "forbidden", "text_key": "forbidden_text"},
            status=403,
        )

    @app.exception_handler(CsrfFailed)
    async def _csrf(request: Request, exc: CsrfFailed) -> Response:
        if _is_api(request):
            return _problem(403, "csrf token missing or invalid", error="CsrfFailed")
        return render(
            request, "error.html", {"title_key": "forbidden", "text_key": "csrf_failed"}, status=403
        )

    @app.exception_handler(TocsinError)
    async def _domain(request: Request, exc: TocsinError) -> Response:
        status = http_status(exc)
        detail = str(exc) or type(exc).__name__
        if _is_api(request):
            return _problem(status, detail, error=type(exc).__name__)
        key = "not_found" if status == 404 else "error"
        text = "not_found" if status == 404 else "invalid_input"
        return render(
            request,
            "error.html",
            {"title_key": key, "text_key": text, "detail": detail},
            status=status,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if _is_api(request) or exc.status_code not in (404, 405):
            return _problem(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))
        return render(
            request,
            "error.html",
            {"title_key": "not_found", "text_key": "not_found"},
            status=exc.status_code,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = _field_errors(exc)
        detail = "; ".join(f"{e.field}: {e.msg}" for e in errors)
        if _is_api(request):
            return _problem(422, detail, error="RequestValidationError", errors=errors)
        return render(
            request,
            "error.html",
            {"title_key": "error", "text_key": "invalid_input", "detail": detail},
            status=422,
        )
