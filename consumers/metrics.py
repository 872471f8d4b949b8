"""Ingest-side Prometheus metrics (docs/architecture.md §12). Module-level, bounded label sets.

The consumer loop and the pipeline increment them; ``tocsin.telemetry.metrics.start_metrics_server``
exposes them on ``TOCSIN_METRICS_PORT``. Labels never carry an id, an IP or an account:

- ``topic``: a configured topic name (a handful);
- ``partition``: a partition number (bounded by the topic's partition count);
- ``service``: one of the six SaaS services of the event contract;
- ``reason``: a DLQ reason code (``invalid_json``, ``schema``, ``too_large``, ``future``,
  ``too_old``, ``handler_error``);
- ``kind``: how a Kafka key differs from the event's tenant (``missing``, ``different``);
- ``rule``: a rule id of the catalogue; ``severity``: a finding severity.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from prometheus_client import Counter, Gauge, Histogram

from consumers import geo
from consumers.events import Service

DLQ_REASONS: tuple[str, ...] = (
    "invalid_json",
    "schema",
    "too_large",
    "future",
    "too_old",
    "handler_error",
)
KEY_KINDS: tuple[str, ...] = ("missing", "different")

EVENTS_CONSUMED = Counter(
    "tocsin_events_consumed_total",
    "Valid events consumed, by topic and SaaS service.",
    ["topic", "service"],
)
EVENTS_INVALID = Counter(
    "tocsin_events_invalid_total",
    "Messages rejected by the event contract and sent to the DLQ, by topic and reason.",
    ["topic", "reason"],
)
KEY_MISMATCH = Counter(
    "tocsin_events_key_mismatch_total",
    "Valid events whose Kafka key is not their tenant_id (the key is ignored), by topic.",
    ["topic", "kind"],
)
EVENTS_DUPLICATE = Counter(
    "tocsin_events_duplicate_total",
    "Events dropped because their event_id was already processed.",
    ["topic"],
)
EVENTS_LATE = Counter(
    "tocsin_events_late_total",
    "Events older than the watermark (allowed lateness exceeded).",
    ["topic"],
)
CONSUMER_LAG = Gauge(
    "tocsin_consumer_lag",
    "Messages between the committed position and the end of the partition.",
    ["topic", "partition"],
)
BATCH_SECONDS = Histogram(
    "tocsin_batch_duration_seconds",
    "Wall time to handle one polled batch (parse, detect, store, checkpoint).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
DETECTION_LATENCY = Histogram(
    "tocsin_detection_latency_seconds",
    "Seconds from an event's arrival (occurred_at) to the finding it triggered being stored.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0),
)
FINDINGS = Counter(
    "tocsin_findings_total",
    "Findings stored (new or updated), by rule id and severity.",
    ["rule", "severity"],
)
STATE_KEYS = Gauge(
    "tocsin_detector_state_keys",
    "Keys held in detector state, by rule id.",
    ["rule"],
)
STATE_EVICTIONS_TOTAL = Counter(
    "tocsin_detector_state_evictions_total",
    "Detector state keys evicted (window closed or capacity reached), by rule id.",
    ["rule"],
)
CHECKPOINT_SECONDS = Histogram(
    "tocsin_checkpoint_duration_seconds",
    "Seconds to encode and stage the detector state of the changed partitions at a checkpoint.",
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
CHECKPOINTS_TOTAL = Counter(
    "tocsin_checkpoints_total",
    "Partition checkpoints committed (findings, state and offsets in one transaction).",
)


def _geoip_built() -> float:
    """NaN in a process that has not loaded the database (the console)."""
    built = geo.database_info().built if geo.loaded() else None
    return built.timestamp() if built is not None else float("nan")


GEOIP_DATABASE_TIMESTAMP = Gauge(
    "tocsin_geoip_database_timestamp_seconds",
    "Date (Unix time) of the IP country database the ingest stage geolocates with.",
)
GEOIP_DATABASE_TIMESTAMP.set_function(_geoip_built)


def init_topic_series(topics: Iterable[str]) -> None:
    """Create the zero-valued series of each topic, so that `rate()` and alert rules see the
    first increment instead of a series appearing from nothing."""
    for topic in topics:
        for service in Service:
            EVENTS_CONSUMED.labels(topic=topic, service=service.value)
        for reason in DLQ_REASONS:
            EVENTS_INVALID.labels(topic=topic, reason=reason)
        EVENTS_DUPLICATE.labels(topic=topic)
        EVENTS_LATE.labels(topic=topic)
        for kind in KEY_KINDS:
            KEY_MISMATCH.labels(topic=topic, kind=kind)


def observe_detection_latency(occurred_at: datetime, *, now: datetime | None = None) -> float:
    """Record the delay from `occurred_at` to `now` (default: the wall clock, UTC). Negative
    delays (producer clock ahead) are recorded as 0. Returns the recorded seconds."""
    stored = now if now is not None else datetime.now(UTC)
    seconds = max(0.0, (stored - occurred_at).total_seconds())
    DETECTION_LATENCY.observe(seconds)
    return seconds


__all__ = [
    "BATCH_SECONDS",
    "CHECKPOINTS_TOTAL",
    "CHECKPOINT_SECONDS",
    "CONSUMER_LAG",
    "DETECTION_LATENCY",
    "DLQ_REASONS",
    "EVENTS_CONSUMED",
    "EVENTS_DUPLICATE",
    "EVENTS_INVALID",
    "EVENTS_LATE",
    "FINDINGS",
    "GEOIP_DATABASE_TIMESTAMP",
    "KEY_KINDS",
    "KEY_MISMATCH",
    "STATE_EVICTIONS_TOTAL",
    "STATE_KEYS",
    "init_topic_series",
    "observe_detection_latency",
]
