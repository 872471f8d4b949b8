"""Cross-domain orchestration used by ingest, the CLI and the console.

`make_sink` gives the pipeline what to do with each batch's changed findings, inside the
batch's transaction: correlate them into incidents, then draft whatever notices those
incidents now call for (idempotent, so replays draft nothing twice).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from incidents import flows as incident_flows
from incidents.clocks import ClockPolicy
from incidents.findings_store import FindingRow
from incidents.models import Incident
from notifiers import flows as notice_flows
from tocsin.pipeline import FindingsSink
from tocsin.settings import Settings


def clock_policy(settings: Settings) -> ClockPolicy:
    return ClockPolicy.from_settings(settings.clocks)


def draft_policy(settings: Settings) -> notice_flows.DraftPolicy:
    return notice_flows.DraftPolicy.from_settings(settings)


def make_sink(settings: Settings) -> FindingsSink:
    drafting = draft_policy(settings)

    def retire(session: Session, gone: Incident, kept: Incident) -> None:
        # merged at `closed_at`: its drafts go with it
        notice_flows.retire_drafts(
            session=session, incident=gone, into=kept, now=gone.closed_at or kept.updated_at
        )

    def sink(session: Session, rows: Sequence[FindingRow], now: datetime) -> None:
        incidents = incident_flows.record_findings(
            session=session,
            findings=rows,
            now=now,
            merge_guard=notice_flows.decided_incidents,
            on_merge=retire,
        )
        for incident in incidents:
            notice_flows.draft_notices(session=session, incident=incident, now=now, policy=drafting)

    return sink
