"""Notifier metrics (DESIGN §8).

Owned by the observability work (issue 7); the notifier code increments them:

    from notifiers.metrics import NOTICES_SENT
    NOTICES_SENT.labels(kind="customer", result="sent").inc()

Labels are bounded: ``kind`` in ``customer | cnil | data_subject``; ``result`` in
``sent | failed | retry | skipped`` (``skipped`` = already sent, idempotent retry).
"""

from __future__ import annotations

from prometheus_client import Counter

NOTICE_KINDS: tuple[str, ...] = ("customer", "cnil", "data_subject")
SEND_RESULTS: tuple[str, ...] = ("sent", "failed", "retry", "skipped")

NOTICES_SENT = Counter(
    "tocsin_notices_sent_total",
    "Notice delivery attempts by notice kind and result.",
    ["kind", "result"],
)

__all__ = ["NOTICES_SENT", "NOTICE_KINDS", "SEND_RESULTS"]
