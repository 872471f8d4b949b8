"""Retention: raw evidence is purged after the configured period; the register is kept."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from consumers.conventions import SYSTEM_ACTOR, aware_utc
from incidents import audit
from incidents.exceptions import IncidentError
from incidents.findings_store import EvidenceEvent


def purge(*, session: Session, older_than: datetime, actor: str = SYSTEM_ACTOR) -> int:
    """Delete `evidence_events` whose event time is before `older_than`. Incidents,
    findings, assessments, decisions and the audit chain (the register) are never touched.
    Audited (even when nothing was deleted). Not committed here. Returns the count."""
    cutoff = aware_utc(older_than, "older_than", error=IncidentError)
    count = int(
        session.scalar(
            select(func.count())
            .select_from(EvidenceEvent)
            .where(EvidenceEvent.occurred_at < cutoff)
        )
        or 0
    )
    if count:
        session.execute(
            delete(EvidenceEvent)
            .where(EvidenceEvent.occurred_at < cutoff)
            .execution_options(synchronize_session=False)
        )
    audit.append(
        session=session,
        actor=actor,
        action="retention.purge",
        subject="evidence",
        data={"older_than": cutoff, "deleted": count},
    )
    return count
