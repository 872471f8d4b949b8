"""Health page, liveness probe and Prometheus metrics."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.orm import Session

from console.deps import CurrentUser, DbSession
from console.web import render

router = APIRouter(include_in_schema=False)


def database_ok(db: Session) -> bool:
    try:
        db.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - reported on the page, never raised
        return False
    return True


@router.get("/healthz")
def healthz(db: DbSession) -> Response:
    ok = database_ok(db)
    return PlainTextResponse("ok" if ok else "database unavailable", status_code=200 if ok else 503)


@router.get("/health")
def health(request: Request, db: DbSession, user: CurrentUser) -> Response:
    ok = database_ok(db)
    return render(
        request,
        "health.html",
        {"db_ok": ok, "version": request.app.state.version},
        status=200 if ok else 503,
    )


@router.get("/metrics")
def metrics(request: Request) -> Response:
    """Prometheus metrics; with `TOCSIN_METRICS_TOKEN` set, only for `Bearer <token>`."""
    token = request.app.state.settings.metrics_token
    if token is not None:
        auth = request.headers.get("authorization", "")
        given = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        if not hmac.compare_digest(given.encode(), token.get_secret_value().encode()):
            return PlainTextResponse(
                "metrics token required", status_code=401, headers={"WWW-Authenticate": "Bearer"}
            )
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
