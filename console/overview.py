"""The overview: what needs someone now, counted, each count with the queue filter that lists
it. Counts come from the same services and predicates as the queue's filters, so a count and
the list behind its link agree."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from incidents import service as incident_service
from incidents.clocks import ClockPolicy
from incidents.enums import IncidentStatus
from notifiers import attention


@dataclass(frozen=True)
class Tile:
    key: str  # message key of its label
    count: int
    href: str  # the filtered queue
    urgent: bool  # shown as an alert when not zero


def _queue(**params: str) -> str:
    return "/queue?" + urlencode(params)


def tiles(*, session: Session, policy: ClockPolicy, now: datetime) -> list[Tile]:
    keys = incident_service.open_deadlines(session=session, policy=policy)
    soon = now + timedelta(hours=24)
    overdue = sum(1 for when, _ in keys if when < now)
    due_24h = sum(1 for when, _ in keys if now <= when <= soon)
    detected = incident_service.count_incidents(session=session, status=IncidentStatus.DETECTED)
    return [
        Tile("ov_overdue", overdue, _queue(due="overdue"), urgent=True),
        Tile("ov_due_24h", due_24h, _queue(due="24h"), urgent=True),
        Tile("ov_detected", detected, _queue(status=IncidentStatus.DETECTED.value), urgent=False),
        Tile(
            "ov_awaiting_dpo",
            attention.count_awaiting_dpo(session=session),
            _queue(notices="dpo", scope="all"),
            urgent=False,
        ),
        Tile(
            "ov_delivery",
            attention.count_delivery_problems(session=session),
            _queue(notices="delivery", scope="all"),
            urgent=True,
        ),
    ]
