"""Read models of an incident's notices (every version) for the pages and the API."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from console import views
from incidents.clocks import ClockPolicy
from incidents.models import Incident
from notifiers import service as notice_service
from notifiers.enums import NoticeStatus
from notifiers.models import Notice, OutboxMessage


def notice_dict(notice: Notice, outbox: OutboxMessage | None = None) -> dict[str, Any]:
    return {
        "id": notice.id,
        "incident_ref": notice.incident.ref if notice.incident is not None else None,
        "kind": notice.kind,
        "scope": notice.scope,
        "tenant_id": notice.tenant_id,
        "phase": notice.phase,
        "version": notice.version,
        "language": notice.language,
        "status": notice.status,
        "subject": notice.subject,
        "text_body": notice.text_body,
        "edited": notice.edited,
        "reasons_for_delay": notice.reasons_for_delay,
        "approved_by": notice.approved_by,
        "approved_at": notice.approved_at.isoformat() if notice.approved_at else None,
        "dpo_approved_by": notice.dpo_approved_by,
        "dpo_approved_at": (notice.dpo_approved_at.isoformat() if notice.dpo_approved_at else None),
        "signers": list(notice_service.signers_needed(notice.kind)),
        "missing": (notice_service.missing(notice) if notice.status == NoticeStatus.DRAFT else []),
        "rejected_by": notice.rejected_by,
        "rejection_reason": notice.rejection_reason,
        "sent_at": notice.sent_at.isoformat() if notice.sent_at else None,
        "cnil_receipt": notice.cnil_receipt,
        "delivery": outbox.state if outbox is not None else None,
        "delivery_error": outbox.last_error if outbox is not None else None,
    }


def notices_for(*, session: Session, incident: Incident) -> list[dict[str, Any]]:
    rows = list(
        session.scalars(
            select(Notice)
            .where(Notice.incident_id == incident.id)
            .order_by(Notice.kind, Notice.scope, Notice.version.desc())
        )
    )
    outbox = _outbox(session, [n.id for n in rows])
    return [notice_dict(n, outbox.get(n.id)) for n in rows]


def _outbox(session: Session, ids: list[int]) -> dict[int, OutboxMessage]:
    if not ids:
        return {}
    found = session.scalars(select(OutboxMessage).where(OutboxMessage.notice_id.in_(ids)))
    return {m.notice_id: m for m in found if m.notice_id is not None}


def get_notice(*, session: Session, notice_id: int) -> Notice | None:
    return session.get(Notice, notice_id)


def one(*, session: Session, notice: Notice) -> dict[str, Any]:
    return notice_dict(notice, _outbox(session, [notice.id]).get(notice.id))


def incident_json(*, session: Session, incident: Incident, policy: ClockPolicy) -> dict[str, Any]:
    """An incident as the API answers it: its read model (`views.detail`) and its notices."""
    data = views.detail(session=session, incident=incident, policy=policy)
    data["notices"] = notices_for(session=session, incident=incident)
    return data
