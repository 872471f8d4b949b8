"""Hostile records against the consumer loop and the real broker (Tansu): a record whose
handling raises, values too large for the DLQ, events outside the event-time horizon, Kafka
keys that are not the tenant. Each lands in the DLQ with its reason; the rest is processed."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from confluent_kafka import Producer
from kafka.errors import KafkaTimeoutError
from kafka.structs import TopicPartition
from prometheus_client import REGISTRY
from sqlalchemy import exc as sa_exc

from consumers.events import AccessEvent, AuthEvent
from consumers.loop import Batch, ConsumerLoop, LoopConfig, is_transient
from tests.consumers.builders import auth_event, encode
from tests.consumers.recording import RecordingHandler, make_loop
from tests.consumers.test_loop import _read_all, _topics
from tocsin.dev.broker import EmbeddedBroker
from tocsin.runtime import ingest_transient

pytestmark = pytest.mark.timeout(300)

SECRET = "jean.dupont@example.com"  # what an exception message might quote


def _produce(broker: EmbeddedBroker, messages: list[tuple[str, bytes | None, bytes]]) -> None:
    producer = Producer(
        {"bootstrap.servers": broker.bootstrap, "linger.ms": 5, "message.max.bytes": 20_000_000}
    )
    for topic, key, value in messages:
        producer.produce(topic, key=key, value=value)
    assert producer.flush(60) == 0


class Rewinding(RecordingHandler):
    """Rolls a partition with nothing recorded yet back to its beginning."""

    def rollback(self) -> Mapping[TopicPartition, int]:
        seen = {tp for tps in self.assignments for tp in tps}
        return dict.fromkeys(seen, 0) | dict(super().rollback())


class FailsOn(Rewinding):
    """Raises whenever a batch holds one of `poison` (event ids), like a rule or a database
    constraint that breaks on one record, every time it is retried."""

    def __init__(self, db: Path, poison: set[str], error: type[Exception]) -> None:
        super().__init__(db)
        self.poison = poison
        self.error = error
        self.calls = 0

    def handle(self, batch: Batch) -> Mapping[TopicPartition, int]:
        self.calls += 1
        for records in batch.records.values():
            for rec in records:
                if str(rec.event.event_id) in self.poison:
                    raise self.error(f"cannot store {SECRET}")
        return super().handle(batch)


@pytest.mark.parametrize("error", [ValueError, OverflowError, KeyError])
def test_a_record_whose_handling_raises_goes_alone_to_the_dlq(
    broker: EmbeddedBroker, tmp_path: Path, error: type[Exception]
) -> None:
    auth, access, dlq, group = _topics(broker, partitions=1)
    events = [auth_event(i) for i in range(300)]
    bad = {events[77]["event_id"], events[201]["event_id"]}
    _produce(broker, [(auth, ev["tenant_id"].encode(), encode(ev)) for ev in events])

    handler = FailsOn(tmp_path / "rec.db", bad, error)
    loop = make_loop(broker.bootstrap, group, auth, access, dlq, handler, max_records=300)
    stats = loop.run(max_idle=2.0)

    assert stats.failures == 0
    assert stats.isolated == 2
    ids = [p[0] for p in handler.processed()]
    assert sorted(ids) == sorted(ev["event_id"] for ev in events if ev["event_id"] not in bad)
    dead = _read_all(broker, dlq, 2)
    headers = [dict(m.headers()) for m in dead]
    assert sorted(h["tocsin-source"] for h in headers) == [
        f"{auth}/0/201".encode(),
        f"{auth}/0/77".encode(),
    ]
    assert {h["tocsin-error"] for h in headers} == {f"handler_error: {error.__name__}".encode()}
    assert {h["tocsin-exception"] for h in headers} == {error.__name__.encode()}
    assert all(SECRET.encode() not in b"".join(h.values()) for h in headers)
    assert {m.value() for m in dead} == {encode(events[77]), encode(events[201])}
    # bisection: each record costs a few replays of halves, not one replay per record
    assert handler.calls < 60


def test_transient_failures_are_retried_never_blamed_on_a_record(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    auth, access, dlq, group = _topics(broker, partitions=1)
    events = [auth_event(i) for i in range(60)]
    _produce(broker, [(auth, ev["tenant_id"].encode(), encode(ev)) for ev in events])

    class Outage(Rewinding):
        calls = 0

        def handle(self, batch: Batch) -> Mapping[TopicPartition, int]:
            self.calls += 1
            if self.calls <= 3:  # the database is away for three attempts
                raise ConnectionRefusedError("database unavailable")
            return super().handle(batch)

    handler = Outage(tmp_path / "rec.db")
    loop = make_loop(broker.bootstrap, group, auth, access, dlq, handler, max_records=60)
    stats = loop.run(max_idle=2.0)
    assert stats.failures == 3 and stats.isolated == 0
    assert sorted(p[0] for p in handler.processed()) == sorted(e["event_id"] for e in events)
    assert _read_all(broker, dlq, 0, timeout=3) == []


def test_environment_errors_are_transient_data_errors_are_not() -> None:
    orig = Exception("x")
    assert ingest_transient(sa_exc.OperationalError("SELECT 1", {}, orig))
    assert ingest_transient(sa_exc.InterfaceError("SELECT 1", {}, orig))
    assert ingest_transient(sa_exc.ProgrammingError("SELECT 1", {}, orig))
    assert ingest_transient(KafkaTimeoutError())
    assert ingest_transient(ConnectionResetError())
    assert not ingest_transient(sa_exc.DataError("INSERT", {}, orig))
    assert not ingest_transient(sa_exc.IntegrityError("INSERT", {}, orig))
    assert not ingest_transient(sa_exc.StatementError("INSERT", "INSERT", {}, OverflowError()))
    assert not ingest_transient(OverflowError("Python int too large to convert"))
    assert not ingest_transient(ValueError())
    assert is_transient(OSError()) and not is_transient(RuntimeError())


def test_values_too_large_for_the_dlq_are_truncated_and_flagged(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    auth, access, dlq, group = _topics(broker, partitions=1)
    sizes = [1024 * 1024 - 10, 2_000_000, 10_000_000]
    messages: list[tuple[str, bytes | None, bytes]] = []
    events = [auth_event(i) for i in range(30)]
    for i, ev in enumerate(events):
        messages.append((auth, ev["tenant_id"].encode(), encode(ev)))
        if i % 10 == 5:  # each huge value between valid events
            messages.append((auth, b"t1", b'{"pad": "' + b"x" * sizes[i // 10] + b'"}'))
    _produce(broker, messages)

    handler = RecordingHandler(tmp_path / "rec.db")
    loop = make_loop(broker.bootstrap, group, auth, access, dlq, handler)
    stats = loop.run(max_idle=3.0)

    assert stats.failures == 0
    assert sorted(p[0] for p in handler.processed()) == sorted(e["event_id"] for e in events)
    dead = _read_all(broker, dlq, 3, timeout=60)
    assert len(dead) == 3
    by_size = sorted(dead, key=lambda m: int(dict(m.headers())["tocsin-original-size"]))
    for msg, size in zip(by_size, sizes, strict=True):
        headers = dict(msg.headers())
        assert headers["tocsin-error"].startswith(b"too_large: ")
        assert headers["tocsin-truncated"] == b"value"
        assert headers["tocsin-original-size"] == str(size + 11).encode()
        assert len(msg.value()) < 1024 * 1024
        assert msg.value().startswith(b'{"pad": "xxxx')


def _horizon_loop(
    broker: EmbeddedBroker, topics: tuple[str, str, str, str], handler: RecordingHandler
) -> ConsumerLoop:
    auth, access, dlq, group = topics
    config = LoopConfig(
        bootstrap=broker.bootstrap,
        group=group,
        topics={auth: AuthEvent, access: AccessEvent},
        dlq_topic=dlq,
        poll_timeout_ms=200,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
        max_future_seconds=300,
        max_age_seconds=timedelta(days=180).total_seconds(),
    )
    return ConsumerLoop(config, handler)


def test_events_outside_the_event_time_horizon_go_to_the_dlq(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    topics = _topics(broker, partitions=1)
    auth, dlq = topics[0], topics[2]
    now = datetime.now(UTC).replace(microsecond=0)
    recent = [
        auth_event(i, occurred_at=(now - timedelta(minutes=30, seconds=-i)).isoformat())
        for i in range(20)
    ]
    hostile = [
        auth_event(100, occurred_at="9999-12-31T00:00:00+00:00"),
        auth_event(101, occurred_at=(now + timedelta(hours=1)).isoformat()),
        auth_event(102, occurred_at=(now - timedelta(days=400)).isoformat()),
    ]
    skewed = auth_event(103, occurred_at=(now + timedelta(seconds=60)).isoformat())
    order = recent[:10] + hostile + [skewed] + recent[10:]
    _produce(broker, [(auth, ev["tenant_id"].encode(), encode(ev)) for ev in order])

    handler = RecordingHandler(tmp_path / "rec.db")
    stats = _horizon_loop(broker, topics, handler).run(max_idle=2.0)

    assert stats.failures == 0 and stats.invalid == 3
    processed = sorted(p[0] for p in handler.processed())
    assert processed == sorted(e["event_id"] for e in [*recent, skewed])
    dead = {
        dict(m.headers())["tocsin-source"]: dict(m.headers())["tocsin-error"]
        for m in _read_all(broker, dlq, 3)
    }
    reasons = {
        src.decode().rsplit("/", 1)[1]: err.decode().split(":")[0] for src, err in dead.items()
    }
    assert reasons == {"10": "future", "11": "future", "12": "too_old"}


def _key_mismatches(topic: str, kind: str) -> float:
    value = REGISTRY.get_sample_value(
        "tocsin_events_key_mismatch_total", {"topic": topic, "kind": kind}
    )
    return value or 0.0


def test_a_kafka_key_other_than_the_tenant_is_counted_not_trusted(
    broker: EmbeddedBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    auth, access, dlq, group = _topics(broker, partitions=1)
    events = [auth_event(i) for i in range(10)]
    keys: list[bytes | None] = [ev["tenant_id"].encode() for ev in events]
    keys[3] = b"someone-else"
    keys[4] = b"jean.dupont@example.com"
    keys[7] = None
    _produce(broker, [(auth, k, encode(ev)) for k, ev in zip(keys, events, strict=True)])

    handler = RecordingHandler(tmp_path / "rec.db")
    loop = make_loop(broker.bootstrap, group, auth, access, dlq, handler)
    caplog.set_level("WARNING", logger="consumers.loop")
    loop.run(max_idle=2.0)

    assert _key_mismatches(auth, "different") == 2
    assert _key_mismatches(auth, "missing") == 1
    # the events are processed under their own tenant_id, whatever the key said
    assert sorted(p[0] for p in handler.processed()) == sorted(e["event_id"] for e in events)
    logged = [r for r in caplog.records if "tenant_id" in r.getMessage()]
    assert logged
    assert all(b"dupont" not in repr(vars(r)).encode() for r in caplog.records)
