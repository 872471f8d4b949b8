"""What every new incident starts with, detected or declared: no register text yet, created
and updated at the same moment, and empty collections (so that appending to them before the
first flush loads nothing)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from incidents.models import Incident


def blank_incident(*, now: datetime, **columns: Any) -> Incident:
    """An `Incident` created at `now` with the given `columns`, its register text empty and
    its tenants, keys, findings, assessments, clock facts, escalations and decisions empty."""
    return Incident(
        consequences="",
        measures="",
        created_at=now,
        updated_at=now,
        tenants=[],
        keys=[],
        findings=[],
        assessments=[],
        clock_facts=[],
        escalations=[],
        decisions=[],
        **columns,
    )


__all__ = ["blank_incident"]
