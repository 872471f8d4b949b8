"""The overview page: the workload at a glance, each count linking to the filtered queue."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response

from console import overview
from console.deps import DbSession, ReaderUser, policy_of
from console.web import render

router = APIRouter(include_in_schema=False)


@router.get("/overview")
def overview_page(request: Request, db: DbSession, user: ReaderUser) -> Response:
    now = datetime.now(UTC)
    return render(
        request,
        "overview.html",
        {"tiles": overview.tiles(session=db, policy=policy_of(request), now=now), "now": now},
    )
