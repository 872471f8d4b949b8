"""Closed vocabularies of the notices domain."""

from __future__ import annotations

from enum import StrEnum


class NoticeKind(StrEnum):
    CUSTOMER = "customer"
    CNIL = "cnil"
    DATA_SUBJECT = "data_subject"
    PUBLIC = "public"  # Art. 34(3)(c): a public communication instead of individual ones


# Kinds the DPO co-signs beside the RSSI (Art. 33 to the CNIL, Art. 34 to the persons): every
# kind but the customer notice, which the RSSI sends alone.
CO_SIGNED_KINDS: frozenset[NoticeKind] = frozenset(
    k for k in NoticeKind if k != NoticeKind.CUSTOMER
)


class NoticePhase(StrEnum):
    INITIAL = "initial"
    COMPLEMENTARY = "complementary"


class NoticeStatus(StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"
    SENT = "sent"
    REJECTED = "rejected"


class OutboxState(StrEnum):
    PENDING = "pending"  # waiting for its first attempt
    RETRY = "retry"  # a previous attempt failed before the server accepted the message
    SENDING = "sending"  # claimed by a worker: the SMTP transaction may be in flight
    SENT = "sent"  # the server accepted the message (250 after DATA) and we recorded it
    UNCERTAIN = "uncertain"  # a claim outlived its lease: maybe sent, a human decides
    FAILED = "failed"  # permanent failure (5xx, bad address, attempts exhausted)


class OutboxPurpose(StrEnum):
    NOTICE = "notice"
    ESCALATION = "escalation"


LANGUAGES = ("fr", "en")
