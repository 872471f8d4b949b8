"""Observability for every Tocsin process (docs/architecture.md §12): Prometheus, JSON logs, Sentry.

Three parts, each its own module, all re-exported here (`from tocsin import telemetry`):

- `scrub`: personal data scrubbing (`scrub_text`, `scrub_value`) and Sentry
  (`init_sentry(settings, component)`, only when `TOCSIN_SENTRY_DSN` is set, with
  `send_default_pii=False` and `before_send` / `before_breadcrumb` scrubbing);
- `logs`: `configure_logging(level)` writes JSON lines with a scrubbing filter as a safety net;
- `metrics`: `start_metrics_server(port)` and `metrics_payload()` expose the default registry;
  `TocsinDbCollector` (`register_db_collector(factory)`) reads the database at scrape time and
  exports the incident, deadline, notice and outbox gauges.

Callers go through the package (`telemetry.configure_logging(...)`), so that a test can replace
a function in one place.
"""

from tocsin.telemetry.logs import JsonFormatter, ScrubFilter, configure_logging
from tocsin.telemetry.metrics import (
    APPROVED_NOTICE_STATUSES,
    CLOCK_LABELS,
    DB_METRICS,
    NOTICE_KIND_LABELS,
    NOTICE_STATUS_LABELS,
    OUTBOX_STATE_LABELS,
    SEVERITY_LABELS,
    UNASSESSED,
    DbSnapshot,
    TocsinDbCollector,
    metrics_payload,
    read_snapshot,
    register_db_collector,
    start_metrics_server,
    unregister_db_collector,
)
from tocsin.telemetry.scrub import (
    REDACTED,
    SENSITIVE_KEY,
    init_sentry,
    is_sensitive_key,
    scrub_breadcrumb,
    scrub_sentry_event,
    scrub_text,
    scrub_value,
)

__all__ = [
    "APPROVED_NOTICE_STATUSES",
    "CLOCK_LABELS",
    "DB_METRICS",
    "NOTICE_KIND_LABELS",
    "NOTICE_STATUS_LABELS",
    "OUTBOX_STATE_LABELS",
    "REDACTED",
    "SENSITIVE_KEY",
    "SEVERITY_LABELS",
    "UNASSESSED",
    "DbSnapshot",
    "JsonFormatter",
    "ScrubFilter",
    "TocsinDbCollector",
    "configure_logging",
    "init_sentry",
    "is_sensitive_key",
    "metrics_payload",
    "read_snapshot",
    "register_db_collector",
    "scrub_breadcrumb",
    "scrub_sentry_event",
    "scrub_text",
    "scrub_value",
    "start_metrics_server",
    "unregister_db_collector",
]
