"""`create_app(settings)`: the console factory. Nothing is built at import time."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm import Session, sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException

from consumers.errors import TocsinError
from incidents.clocks import ClockPolicy
from incidents.db import make_engine
from incidents.db import session_factory as make_session_factory
from notifiers.outbox import SmtpConfig
from notifiers.schemas import DraftPolicy
from tocsin.console import security
from tocsin.console.deps import CsrfFailed, Forbidden, NotAuthenticated
from tocsin.console.errors import domain_status
from tocsin.console.web import HERE, SessionMiddleware, make_environment, render
from tocsin.settings import Settings

API_PREFIX = "/api/v1"

def _is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIX + "/")


def create_app(
    settings: Settings,
    *,
    session_factory: sessionmaker[Session] | None = None,
    insecure_cookies: bool = False,
    throttle: security.Throttle = security.DEFAULT_THROTTLE,
    smtp: SmtpConfig | None = None,
) -> FastAPI:
    """Build the console. `insecure_cookies` drops the `Secure` flag (plain-HTTP local demo
    only). `smtp` overrides the SMTP configuration read from `settings` (tests pass a
    trusted test CA)."""
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
    app.state.session_factory = session_factory
    app.state.jinja = make_environment()
    app.state.throttle = throttle
    app.state.clock_policy = ClockPolicy.from_settings(settings.clocks)
    app.state.draft_policy = DraftPolicy.from_settings(settings)
    app.state.smtp = smtp if smtp is not None else SmtpConfig.from_settings(settings)
    app.state.secret_key = settings.secret_key.get_secret_value()
    codec = security.SessionCodec(app.state.secret_key)
    app.add_middleware(SessionMiddleware, codec=codec, secure=not insecure_cookies)

    _install_error_handlers(app)

    from tocsin.console import api, pages_admin, pages_auth, pages_incidents, pages_ops

    app.include_router(pages_auth.router)
    app.include_router(pages_ops.router)
    app.include_router(pages_admin.router)
    app.include_router(pages_incidents.router)
    app.include_router(api.router, prefix=API_PREFIX)
    from tocsin.console import api_breaches, pages_declare  # declared breaches, decisions

    app.include_router(pages_declare.router)
    app.include_router(api_breaches.router, prefix=API_PREFIX)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(NotAuthenticated)
    async def _anon(request: Request, exc: NotAuthenticated) -> Response:
        if _is_api(request):
            return JSONResponse(
                {"detail": "authentication required"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        if _is_api(request):
            return JSONResponse({"detail": "forbidden"}, status_code=403)
        return render(request, "error.html", {"title_key": "forbidden",
                                              "text_key": "forbidden_text"}, status=403)

    @app.exception_handler(CsrfFailed)
    async def _csrf(request: Request, exc: CsrfFailed) -> Response:
        if _is_api(request):
            return JSONResponse({"detail": "csrf token missing or invalid"}, status_code=403)
        return render(request, "error.html", {"title_key": "forbidden",
                                              "text_key": "csrf_failed"}, status=403)

    @app.exception_handler(TocsinError)
    async def _domain(request: Request, exc: TocsinError) -> Response:
        status = domain_status(exc)
        detail = str(exc) or type(exc).__name__
        if _is_api(request):
            return JSONResponse({"detail": detail, "error": type(exc).__name__},
                                status_code=status)
        key = "not_found" if status == 404 else "error"
        text = "not_found" if status == 404 else "invalid_input"
        return render(request, "error.html", {"title_key": key, "text_key": text,
                                              "detail": detail}, status=status)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if _is_api(request) or exc.status_code not in (404, 405):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code,
                                headers=getattr(exc, "headers", None))
        return render(request, "error.html", {"title_key": "not_found",
                                              "text_key": "not_found"},
                      status=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        errors: list[dict[str, Any]] = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()
        ]
        if _is_api(request):
            return JSONResponse({"detail": errors}, status_code=422)
        return render(request, "error.html", {"title_key": "error", "text_key": "invalid_input",
                                              "detail": "; ".join(
                                                  f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                                  for e in errors)}, status=422)
