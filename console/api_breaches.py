"""The JSON API for declared breaches: `POST /api/v1/incidents` (declare), findings attached
later, merges. Same authentication and CSRF rules as the rest of the API; analysts and the
RSSI may declare."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError

from console import breaches, notices_view
from console.api_models import (
    IncidentOut,
    LinkedOut,
    MergedOut,
)
from console.deps import DbSession, TriageUser, draft_policy_of, policy_of
from console.errors import PROBLEM_RESPONSES
from incidents.exceptions import InvalidDeclaration

router = APIRouter(tags=["tocsin"], responses=PROBLEM_RESPONSES)

Json = dict[str, Any]
T = TypeVar("T")


def _invalid(exc: InvalidDeclaration) -> RequestValidationError:
    """A declaration refused by the domain reads like any invalid body: 422, field named."""
    return RequestValidationError(
        [{"type": "value_error", "loc": ("body", exc.field), "msg": exc.message, "input": None}]
    )


def _checked(run: Callable[[], T]) -> T:
    """`run()`, a refused declaration answered as a request validation error (422)."""
    try:
        return run()
    except InvalidDeclaration as exc:
        raise _invalid(exc) from None


@router.post("/incidents", status_code=201, response_model=IncidentOut)
def post_incident(
    request: Request, db: DbSession, user: TriageUser, body: breaches.DeclareIn
) -> Json:
    """Declare a breach nobody's rule saw; answers the incident, `ref` included."""
    incident = _checked(
        lambda: breaches.declare(session=db, user=user, data=body, policy=draft_policy_of(request))
    )
    return notices_view.incident_json(session=db, incident=incident, policy=policy_of(request))


@router.post("/incidents/{ref}/findings", response_model=LinkedOut)
def post_findings(
    request: Request, db: DbSession, user: TriageUser, ref: str, body: breaches.FindingsIn
) -> Json:
    """Attach stored findings to an incident (audited)."""
    linked = _checked(
        lambda: breaches.attach(
            session=db, user=user, ref=ref, data=body, policy=draft_policy_of(request)
        )
    )
    return {"ref": ref.upper(), "linked": linked}


@router.post("/incidents/{ref}/merge", response_model=MergedOut)
def post_merge(
    request: Request, db: DbSession, user: TriageUser, ref: str, body: breaches.MergeIn
) -> Json:
    """Merge incident `ref` into `into` (audited on both)."""
    kept = _checked(
        lambda: breaches.merge(
            session=db, user=user, ref=ref, data=body, policy=draft_policy_of(request)
        )
    )
    return {"ref": ref.upper(), "merged_into": kept.ref}
