"""What a person does to a stored incident through `incidents.service`, as the RSSI at `NOW`
unless `by` and `now` say otherwise (plain functions, no fixtures)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from incidents import service
from incidents.enums import Clock, IncidentStatus
from incidents.models import ClockFact, Decision, Incident
from tests.incidents.builders import NOW
from tests.incidents.declaring import RSSI


def move(
    session: Session,
    incident: Incident,
    to: IncidentStatus | str,
    reason: str | None = None,
    *,
    now: datetime = NOW,
    by: str = RSSI,
) -> Incident:
    """Move `incident` to status `to`, giving `reason` (`service.transition`)."""
    return service.transition(
        session=session, incident=incident, to=to, actor_email=by, reason=reason, now=now
    )


def decide(
    session: Session,
    incident: Incident,
    decision: str,
    justification: str,
    *,
    now: datetime = NOW,
    by: str = RSSI,
) -> Decision:
    """Record `decision` for the register with its `justification`."""
    return service.record_decision(
        session=session,
        incident=incident,
        actor_email=by,
        decision=decision,
        justification=justification,
        now=now,
    )


def set_aware(
    session: Session,
    incident: Incident,
    aware_at: datetime,
    justification: str,
    *,
    now: datetime = NOW,
    by: str = RSSI,
) -> Incident:
    """Move the moment of awareness to `aware_at`, for `justification`."""
    return service.set_aware_at(
        session=session,
        incident=incident,
        aware_at=aware_at,
        justification=justification,
        actor_email=by,
        now=now,
    )


def stop(
    session: Session,
    incident: Incident,
    clock: Clock | str,
    justification: str,
    *,
    now: datetime = NOW,
    by: str = RSSI,
) -> list[ClockFact]:
    """Stop `clock` on `incident`, for `justification`."""
    return service.stop_clock(
        session=session,
        incident=incident,
        clock=clock,
        justification=justification,
        actor_email=by,
        now=now,
    )
