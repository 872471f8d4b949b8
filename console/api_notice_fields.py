"""API: an incident's structured notice fields and the qualification of an attempt."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from console import actions, notice_fields_view
from console.api_models import (
    NoticeFieldsChangedOut,
    NoticeFieldsOut,
    QualifiedOut,
)
from console.deps import DbSession, ReaderUser, RssiUser, draft_policy_of
from console.errors import PROBLEM_RESPONSES

router = APIRouter(tags=["tocsin"], responses=PROBLEM_RESPONSES)

Json = dict[str, Any]


@router.get("/incidents/{ref}/notice-fields", response_model=NoticeFieldsOut)
def get_notice_fields(db: DbSession, user: ReaderUser, ref: str, lang: str = "fr") -> Json:
    """Values, allowed choices and suggested standard measures (to tick, never defaults)."""
    return notice_fields_view.view(incident=actions.incident(session=db, ref=ref), language=lang)


@router.patch("/incidents/{ref}/notice-fields", response_model=NoticeFieldsChangedOut)
def patch_notice_fields(
    request: Request,
    db: DbSession,
    user: RssiUser,
    ref: str,
    body: notice_fields_view.NoticeFieldsIn,
) -> Json:
    """Set the fields sent (`null` clears one); the drafts are re-rendered from them."""
    incident = actions.incident(session=db, ref=ref)
    changed = notice_fields_view.update(
        session=db,
        incident=incident,
        actor_email=user.email,
        data=body,
        policy=draft_policy_of(request),
    )
    return {
        "ref": incident.ref,
        "changed": changed,
        "values": notice_fields_view.values_json(incident),
    }


@router.post("/incidents/{ref}/qualify", response_model=QualifiedOut)
def post_qualify(
    request: Request, db: DbSession, user: RssiUser, ref: str, body: notice_fields_view.QualifyIn
) -> Json:
    """Qualify a pure attempt as a personal data breach (audited); notices are drafted."""
    incident = actions.incident(session=db, ref=ref)
    notice_fields_view.qualify(
        session=db,
        incident=incident,
        actor_email=user.email,
        data=body,
        policy=draft_policy_of(request),
    )
    return {
        "ref": incident.ref,
        "nature": list(incident.nature),
        "qualified_nature": incident.qualified_nature,
    }
