"""Notices that wait for someone: the DPO's signature, or a person's look at a delivery that
failed or may have happened. The overview counts them and the queue filters on them.

Each predicate is one SQL condition over `Notice` (or `OutboxMessage`), so a count and the
list of incidents concerned never disagree.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from notifiers.enums import CO_SIGNED_KINDS, NoticeStatus, OutboxState
from notifiers.models import Notice, OutboxMessage

# Notices the DPO signs beside the RSSI (`enums.CO_SIGNED_KINDS`).
DPO_KINDS: frozenset[str] = frozenset(k.value for k in CO_SIGNED_KINDS)
DELIVERY_PROBLEMS: tuple[str, ...] = (OutboxState.FAILED.value, OutboxState.UNCERTAIN.value)


def awaiting_dpo() -> ColumnElement[bool]:
    """A notice of a kind the DPO co-signs that the RSSI has approved and the DPO has not.

    With the DPO's signature recorded on the notice (`dpo_approved_by`), such a notice stays
    a draft until both have signed: signed by the RSSI, not by the DPO. Without it, the
    RSSI's approval is the last step, and an approved notice not gone out yet (a CNIL notice
    goes out when its receipt is recorded, which the DPO may do) waits for the DPO."""
    kinds = Notice.kind.in_(sorted(DPO_KINDS))
    dpo_signature = getattr(Notice, "dpo_approved_by", None)
    if dpo_signature is None:
        return kinds & (Notice.status == NoticeStatus.APPROVED.value)
    dpo_unsigned: ColumnElement[bool] = dpo_signature.is_(None)
    return (
        kinds
        & (Notice.status == NoticeStatus.DRAFT.value)
        & Notice.approved_by.is_not(None)
        & dpo_unsigned
    )


def delivery_problem() -> ColumnElement[bool]:
    """An outbox message of a notice that failed for good or may have been delivered."""
    return (OutboxMessage.notice_id.is_not(None)) & (OutboxMessage.state.in_(DELIVERY_PROBLEMS))


def count_awaiting_dpo(*, session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Notice).where(awaiting_dpo())) or 0)


def count_delivery_problems(*, session: Session) -> int:
    return int(
        session.scalar(select(func.count()).select_from(OutboxMessage).where(delivery_problem()))
        or 0
    )


def incidents_awaiting_dpo() -> Select[Any]:
    """The ids of the incidents with a notice awaiting the DPO (a sub-select)."""
    return select(Notice.incident_id).where(awaiting_dpo())


def incidents_with_delivery_problems() -> Select[Any]:
    """The ids of the incidents with a notice whose delivery failed or is uncertain."""
    return select(OutboxMessage.incident_id).where(delivery_problem())
