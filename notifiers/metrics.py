"""Notifier metrics (docs/architecture.md §12).

Defined here; the notifier code increments them:

    from notifiers.metrics import NOTICES_SENT
    NOTICES_SENT.labels(kind="customer", result="sent").inc()

Labels are bounded: ``kind`` in ``customer | cnil | data_subject | public | escalation`` (RSSI
escalation e-mails go through the same outbox); ``result`` in
``sent | failed | retry | uncertain | skipped`` (``uncertain`` = the SMTP exchange broke after
the data was sent, or a claim expired: an operator resolves it; ``skipped`` = already sent,
idempotent retry).
"""

from __future__ import annotations

from prometheus_client import Counter

NOTICE_KINDS: tuple[str, ...] = ("customer", "cnil", "data_subject", "public", "escalation")
SEND_RESULTS: tuple[str, ...] = ("sent", "failed", "retry", "uncertain", "skipped")

NOTICES_SENT = Counter(
    "tocsin_notices_sent_total",
    "Notice delivery attempts by notice kind and result.",
    ["kind", "result"],
)

__all__ = ["NOTICES_SENT", "NOTICE_KINDS", "SEND_RESULTS"]
