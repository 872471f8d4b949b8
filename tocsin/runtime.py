"""Wiring shared by the CLI commands: engines, the ingest pipeline, the consumer loop."""

from __future__ import annotations

import gc
import logging
from datetime import timedelta
from typing import Any

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from kafka import KafkaProducer
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from consumers import geo
from consumers.errors import ConfigError
from consumers.loop import ConsumerLoop, LoopConfig, is_transient
from consumers.topics import ensure_topics
from detectors.catalogue import load_rules
from incidents.db import make_engine, session_factory
from tocsin.dbschema import alembic_config
from tocsin.pipeline import FindingsSink, IngestPipeline, StreamTopics
from tocsin.settings import Settings

log = logging.getLogger(__name__)


def tune_gc() -> None:
    """Garbage-collector settings for the long-running processes (`tocsin ingest`,
    `tocsin console`).

    Everything loaded at start-up (modules, rules, compiled schemas) is moved out of the
    collector's sight (`gc.freeze`), and the youngest generation is collected every 50,000
    allocations instead of 700: the worker allocates a few objects per event and keeps the
    ones its windows need, and a deep queue page keys thousands of incidents, so the default
    thresholds spend more time rescanning live objects than freeing anything (measured: half
    the time of a deep queue page). Reference cycles are still collected, just less often.
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def bootstrap_of(settings: Settings) -> str:
    if not settings.kafka_bootstrap:
        raise ConfigError(
            "TOCSIN_KAFKA_BOOTSTRAP: not set (host:port of the Kafka cluster; "
            "`tocsin demo` starts an embedded broker for you)"
        )
    return settings.kafka_bootstrap


def database(settings: Settings) -> tuple[Engine, sessionmaker[Session]]:
    engine = make_engine(settings.database_url)
    return engine, session_factory(engine)


def require_schema(engine: Engine, url: str) -> None:
    """Refuse to run on a database that `tocsin db upgrade` has not brought to head."""
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    if current != head:
        raise ConfigError(
            f"TOCSIN_DATABASE_URL: schema is at {current or 'nothing'}, expected {head}; "
            "run `tocsin db upgrade`"
        )


def check_smtp(settings: Settings) -> None:
    """Build the SMTP configuration once at start-up, so a refused URL (a plain-text scheme
    without TOCSIN_SMTP_ALLOW_PLAINTEXT, an unknown scheme) stops the process at once."""
    from notifiers import outbox

    outbox.SmtpConfig.from_settings(settings)


def stream_topics(settings: Settings) -> StreamTopics:
    return StreamTopics(settings.topic_auth, settings.topic_access, settings.topic_by_ip)


def findings_sink(settings: Settings) -> FindingsSink | None:
    """Incidents and notices for the findings of each batch, in the batch's transaction."""
    from tocsin import flows

    return flows.make_sink(settings)


# Database errors of the environment (connection lost, server down or read-only, pool
# exhausted, schema or permissions not as expected): the batch is retried, no record is
# blamed. Data errors (a value out of range, a constraint a record breaks) are the records'.
DATABASE_TRANSIENT = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,
    sa_exc.ProgrammingError,
    sa_exc.InternalError,
    sa_exc.NotSupportedError,
    sa_exc.PendingRollbackError,
)


def ingest_transient(exc: BaseException) -> bool:
    """Failures of `tocsin ingest` retried as a whole (see `consumers.loop.is_transient`)."""
    return is_transient(exc) or isinstance(exc, DATABASE_TRANSIENT)


def build_ingest(
    settings: Settings,
    *,
    session_factory: sessionmaker[Session],
    consumer_overrides: dict[str, Any] | None = None,
) -> tuple[ConsumerLoop, IngestPipeline]:
    bootstrap = bootstrap_of(settings)
    geo.configure(settings.geoip_file)
    client = settings.kafka_security.client_options()
    topics = stream_topics(settings)
    ensure_topics(
        bootstrap=bootstrap,
        topics=[topics.auth, topics.access, topics.by_ip, settings.topic_dlq],
        partitions=settings.topic_partitions,
        replication=settings.topic_replication,
        client_options=client,
    )
    rules = load_rules(settings.rules, timezone=settings.timezone)
    # Not idempotent: republished events are de-duplicated downstream by event id, and an
    # idempotent producer's id does not survive a broker that lost its state.
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, enable_idempotence=False, **client
    )
    pipeline = IngestPipeline(
        session_factory=session_factory,
        consumer_group=settings.consumer_group,
        topics=topics,
        rules=rules,
        producer=producer,
        lateness=timedelta(seconds=settings.allowed_lateness_seconds),
        dedup_horizon=timedelta(seconds=settings.dedup_horizon_seconds),
        checkpoint_seconds=settings.checkpoint_seconds,
        sink=findings_sink(settings),
        dlq_topic=settings.topic_dlq,
    )
    config = LoopConfig(
        bootstrap=bootstrap,
        group=settings.consumer_group,
        topics=topics.models(),
        dlq_topic=settings.topic_dlq,
        client_options=client,
        max_records=settings.batch_max_records,
        poll_timeout_ms=settings.poll_timeout_ms,
        max_future_seconds=settings.max_future_seconds,
        max_age_seconds=age.total_seconds() if (age := settings.max_event_age) else None,
        internal_topics=frozenset({topics.by_ip}),
        **(consumer_overrides or {}),
    )
    loop = ConsumerLoop(config, pipeline, producer=producer, transient=ingest_transient)
    return loop, pipeline
