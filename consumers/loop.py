"""The consumer loop: poll in batches, parse, DLQ the invalid, hand the rest to a handler.

The loop knows no rule and no table. The handler (`tocsin/pipeline.py`) makes a batch
durable and tells which offsets are safe to commit; the loop commits only those. On
partition assignment the handler says where each partition resumes (its checkpoint), so the
database, not Kafka's committed offsets, is the source of truth for progress.

If handling a batch fails (database down, …) the loop asks the handler to roll its in-memory
state back to the last checkpoint, seeks there, backs off and carries on: nothing is skipped,
and replayed findings are idempotent.

A failure that is not the environment's (see `is_transient`) is blamed on the records being
handled, never on the partition: the loop rolls back the same way, then replays the failing
range in two halves, and so on (bisection), until the failure either stops repeating or
repeats on one record alone. That record is dead-lettered with the reason `handler_error`
and the exception's class (never its message, which may quote personal data), and the
replays skip it. One poison record costs about log2(chunk size) replays, not the partition.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import FrameType
from typing import Any, Protocol, runtime_checkable

from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata, TopicPartition
from prometheus_client import Counter

from consumers import metrics
from consumers.errors import EventRejected, FutureEvent, HandlerFailed, ReplayNow, TooOld
from consumers.events import AccessEvent, AuthEvent, Event, parse_event

log = logging.getLogger(__name__)

EventModel = type[AuthEvent] | type[AccessEvent]

# First header of a control record that Tocsin itself writes to its repartition topic.
CONTROL_HEADER = "tocsin-control"

BATCH_FAILURES = Counter(
    "tocsin_batch_failures_total",
    "Batches whose handling failed and were rolled back to the last checkpoint",
)
ISOLATION_RETRIES = Counter(
    "tocsin_poison_isolation_retries_total",
    "Replays of a failing range split in two to find the one record that fails",
)

# Room left in a DLQ request for the record's framing (batch header, varints, timestamps).
DLQ_OVERHEAD_BYTES = 1024
# A key longer than this is cut too when a DLQ copy must be truncated.
DLQ_MAX_KEY_BYTES = 4096
# Kafka key mismatches are logged at most this often per topic (they are all counted).
KEY_LOG_SECONDS = 60.0


def is_transient(exc: BaseException) -> bool:
    """The environment failed (broker, network, memory), not the records being handled:
    retry the same batch later, never dead-letter a record for it. Handlers that talk to a
    database extend this with its connection errors (`ConsumerLoop(transient=...)`)."""
    return isinstance(exc, KafkaError | OSError | MemoryError)


@dataclass(slots=True)
class ValidRecord:
    offset: int
    key: bytes | None
    value: bytes
    event: Event
    timestamp_ms: int


@dataclass
class Batch:
    """Valid records per partition, and for every polled partition the offset after the last
    record polled (valid or not)."""

    records: dict[TopicPartition, list[ValidRecord]]
    next_offsets: dict[TopicPartition, int]
    invalid: int = 0
    polled_at: float = field(default_factory=time.time)
    # control records (offset, headers), in log order, for the partitions that have them
    controls: dict[TopicPartition, list[tuple[int, dict[str, bytes]]]] = field(default_factory=dict)


class BatchHandler(Protocol):
    def assigned(
        self, partitions: Sequence[TopicPartition], *, log_ids: Mapping[str, str] | None = None
    ) -> Mapping[TopicPartition, int]:
        """Load state for new partitions; return the offset each resumes from (if known).
        `log_ids` names the log of each topic (its topic id, where the broker has one): an
        offset checkpointed in another log than the current one means nothing in it."""

    def revoked(self, partitions: Sequence[TopicPartition]) -> None:
        """Checkpoint and drop the state of partitions taken away."""

    def handle(self, batch: Batch) -> Mapping[TopicPartition, int]:
        """Make the batch durable. Return offsets now safe to commit to Kafka."""

    def idle(self) -> Mapping[TopicPartition, int]:
        """Periodic work when the loop has time (checkpoints, clocks). Same return value."""

    def flush(self) -> Mapping[TopicPartition, int]:
        """Checkpoint everything now (graceful stop)."""

    def rollback(self) -> Mapping[TopicPartition, int]:
        """Forget un-checkpointed work; return the offsets to seek back to."""


@runtime_checkable
class BoundedHandler(Protocol):
    """What a handler may add for bounded runs (`run(max_idle=...)`)."""

    def caught_up(self, partitions: Sequence[TopicPartition]) -> None:
        """Before `idle()`: the assigned partitions read up to their high-water mark."""

    def end_of_input(self) -> Mapping[TopicPartition, int]:
        """The bounded run ends, idle for `max_idle`: what was read is taken as all there is
        (called before `flush`)."""


@dataclass
class LoopConfig:
    bootstrap: str
    group: str
    topics: Mapping[str, EventModel]
    dlq_topic: str
    client_options: Mapping[str, Any] = field(default_factory=dict)
    max_records: int = 2000
    handle_records: int = 250  # records handed to the handler at a time (see `_process`)
    poll_timeout_ms: int = 500
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 3_000
    max_backoff_s: float = 30.0
    # event-time horizon against the wall clock (None: no limit), for the input topics
    max_future_seconds: float | None = None
    max_age_seconds: float | None = None
    # topics Tocsin writes itself (the repartition topic): no horizon, no key check
    internal_topics: frozenset[str] = frozenset()


@dataclass
class TopicActivity:
    """Records polled from one topic, and when (monotonic): the first non-empty poll
    returned, and the last batch holding some of them was handled."""

    records: int = 0
    first: float = 0.0
    last: float = 0.0


@dataclass
class RunStats:
    polled: int = 0
    valid: int = 0
    invalid: int = 0
    failures: int = 0
    isolated: int = 0  # records dead-lettered because handling them alone failed
    topics: dict[str, TopicActivity] = field(default_factory=dict)

    def rate(self, topics: Sequence[str]) -> float | None:
        """Records per second read from `topics`, from the first batch polled to the last
        one handled (None before two batches)."""
        seen = [self.topics[t] for t in topics if t in self.topics]
        if not seen:
            return None
        first, last = min(a.first for a in seen), max(a.last for a in seen)
        if last <= first:
            return None
        return sum(a.records for a in seen) / (last - first)


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, loop: ConsumerLoop) -> None:
        self.loop = loop

    def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        self.loop._on_revoked(list(revoked))

    def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        self.loop._on_assigned(list(assigned))


@dataclass(frozen=True)
class _Checks:
    """What one partition's records are checked against while a piece is handled: the
    event contract, the records found to fail alone, and (input topics) the event-time
    horizon against the wall clock read when the piece is handled."""

    model: EventModel
    poisoned: Mapping[int, str]
    external: bool
    now: float
    ahead: float | None
    age: float | None

    @classmethod
    def of(
        cls, config: LoopConfig, tp: TopicPartition, poisoned: Mapping[int, str], now: float
    ) -> _Checks:
        return cls(
            model=config.topics[tp.topic],
            poisoned=poisoned,
            external=tp.topic not in config.internal_topics,
            now=now,
            ahead=config.max_future_seconds,
            age=config.max_age_seconds,
        )

    def event(self, offset: int, value: bytes) -> Event:
        """The record's event, or `EventRejected` (why it goes to the DLQ)."""
        culprit = self.poisoned.get(offset)
        if culprit is not None:
            raise HandlerFailed(culprit)
        try:
            event = parse_event(value, self.model)
        except EventRejected:
            raise
        except Exception as exc:  # noqa: BLE001 - one record's failure is its own
            raise HandlerFailed(type(exc).__name__) from None
        if self.external:
            self._in_horizon(event.occurred_at.timestamp())
        return event

    def _in_horizon(self, t: float) -> None:
        now, ahead, age = self.now, self.ahead, self.age
        if ahead is not None and t > now + ahead:
            raise FutureEvent(
                f"occurred_at is {t - now:.0f} s ahead of the wall clock (tolerance {ahead:g} s)"
            )
        if age is not None and t < now - age:
            raise TooOld(
                f"occurred_at is {(now - t) / 86400:.1f} days old (maximum {age / 86400:g} days)"
            )


class ConsumerLoop:
    def __init__(
        self,
        config: LoopConfig,
        handler: BatchHandler,
        *,
        producer: KafkaProducer | None = None,
        clock: Callable[[], float] = time.monotonic,
        transient: Callable[[BaseException], bool] = is_transient,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.handler = handler
        self._transient = transient
        self._wall = wall_clock
        self.stats = RunStats()
        self._stop = threading.Event()
        self._clock = clock
        self._positions: dict[TopicPartition, int] = {}
        self._consumer: KafkaConsumer | None = None
        self._producer = producer
        self._own_producer = producer is None
        # kafka-python ≥ 3 runs rebalance callbacks on its I/O thread: every handler call
        # happens under this lock, so handlers need no locking of their own.
        self._lock = threading.RLock()
        self._topic_ids: dict[str, Any] = {}
        # offsets this process has dead-lettered that no checkpoint covers yet
        self._dead_lettered: dict[TopicPartition, set[int]] = {}
        # poison isolation: per partition, the offset range known to hold a failing record,
        # the records found to fail alone (offset -> exception class), and the offsets of
        # the records being handled right now (what a failure is blamed on)
        self._suspects: dict[TopicPartition, tuple[int, int]] = {}
        self._poisoned: dict[TopicPartition, dict[int, str]] = {}
        self._inflight: tuple[TopicPartition, list[int]] | None = None
        self._keys_logged: dict[str, float] = {}  # topic -> when a key mismatch was logged

    # -- lifecycle -------------------------------------------------------------------------

    def stop(self, *_args: object) -> None:
        """Ask the loop to finish its batch, checkpoint, commit and leave the group."""
        self._stop.set()

    def install_signal_handlers(self) -> None:
        def _handler(signum: int, _frame: FrameType | None) -> None:
            log.info("stop requested", extra={"signal": signum})
            self.stop()

        signal.signal(signal.SIGTERM, _handler)
        signal.signal(signal.SIGINT, _handler)

    def _make_consumer(self) -> KafkaConsumer:
        cfg = self.config
        return KafkaConsumer(
            bootstrap_servers=cfg.bootstrap,
            group_id=cfg.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=cfg.max_records,
            session_timeout_ms=cfg.session_timeout_ms,
            heartbeat_interval_ms=cfg.heartbeat_interval_ms,
            max_partition_fetch_bytes=4 * 1024 * 1024,
            **dict(cfg.client_options),
        )

    def _make_producer(self) -> KafkaProducer:
        return KafkaProducer(
            bootstrap_servers=self.config.bootstrap,
            acks="all",
            linger_ms=5,
            enable_idempotence=False,
            **dict(self.config.client_options),
        )

    def run(self, *, max_idle: float | None = None) -> RunStats:
        """Consume until `stop()` (or, with `max_idle`, until caught up and idle that long)."""
        consumer = self._consumer = self._make_consumer()
        if self._producer is None:
            self._producer = self._make_producer()
        consumer.subscribe(list(self.config.topics), listener=_Listener(self))
        log.info("consuming", extra={"topics": sorted(self.config.topics), "max_idle_s": max_idle})
        last_activity = self._clock()
        backoff = 0.0
        try:
            while not self._stop.is_set():
                if backoff:
                    self._stop.wait(backoff)
                    if self._stop.is_set():
                        break
                polled = consumer.poll(
                    timeout_ms=self.config.poll_timeout_ms,
                    max_records=self.config.max_records,
                )
                try:
                    # before anything is processed: records of a recreated log were fetched
                    # at positions of the old one (they would skip its first messages)
                    polled = self._check_recreated(polled)
                    with self._lock:
                        if polled:
                            if _has_input(polled):  # not only Tocsin's control records
                                last_activity = self._clock()
                            started = self._clock()
                            with metrics.BATCH_SECONDS.time():
                                committable = self._process(polled)
                            self._note_activity(polled, started)
                        else:
                            if isinstance(self.handler, BoundedHandler):
                                self.handler.caught_up(self._caught_up_partitions())
                            committable = self.handler.idle()
                        self._commit(committable)
                    self._update_lag()
                    backoff = 0.0
                except Exception as exc:
                    with self._lock:
                        isolating = self._isolate(exc)
                    if isolating:  # replay at once, the failing range narrowed down
                        with self._lock:
                            self._rollback()
                        continue
                    self.stats.failures += 1
                    BATCH_FAILURES.inc()
                    backoff = min(max(backoff * 2, 0.5), self.config.max_backoff_s)
                    log.exception(
                        "batch failed; rolling back to checkpoint", extra={"backoff_s": backoff}
                    )
                    with self._lock:
                        self._rollback()
                    continue
                idle_for = self._clock() - last_activity
                if (
                    max_idle is not None
                    and idle_for >= max_idle
                    and (self._caught_up() or idle_for >= 3 * max_idle + 15)
                ):
                    log.info("caught up and idle; stopping", extra={"max_idle_s": max_idle})
                    with self._lock:
                        if isinstance(self.handler, BoundedHandler):
                            self._commit(self.handler.end_of_input())
                    break
            with self._lock:
                self._commit(self.handler.flush())
        finally:
            try:
                consumer.close(autocommit=False)
            finally:
                if self._own_producer and self._producer is not None:
                    self._producer.close(timeout=10)
                self._consumer = None
        return self.stats

    # -- batches ---------------------------------------------------------------------------

    def _process(
        self, polled: Mapping[TopicPartition, Sequence[Any]]
    ) -> Mapping[TopicPartition, int]:
        """Validate and hand over a poll, partition by partition, in chunks of at most
        `handle_records`: a chunk is detected on while its events are still in the CPU's
        caches (validating a whole poll before detecting costs about a third more)."""
        assert self._consumer is not None  # noqa: S101 - set in run()
        owned = self._consumer.assignment()
        size = self.config.handle_records
        committable: dict[TopicPartition, int] = {}
        for tp, messages in polled.items():
            if tp not in owned:  # revoked since the fetch: its next owner reads it
                continue
            self.stats.polled += len(messages)
            for start in range(0, len(messages), size):
                committable.update(self._handle_chunk(tp, messages[start : start + size]))
        return committable

    def _handle_chunk(
        self, tp: TopicPartition, messages: Sequence[Any]
    ) -> Mapping[TopicPartition, int]:
        """Hand a chunk over, or, while a failing range of this partition is being narrowed
        down, the part before it, each half of it and the part after it, one at a time."""
        suspect = self._suspects.get(tp)
        if suspect is None:
            return self._handle_piece(tp, messages)
        lo, hi = suspect
        before = [m for m in messages if m.offset < lo]
        inside = [m for m in messages if lo <= m.offset < hi]
        after = [m for m in messages if m.offset >= hi]
        mid = (lo + hi) // 2
        halves = [[m for m in inside if m.offset < mid], [m for m in inside if m.offset >= mid]]
        if not halves[0] or not halves[1]:  # gaps in the offsets: split by count instead
            cut = (len(inside) + 1) // 2
            halves = [inside[:cut], inside[cut:]]
        committable: dict[TopicPartition, int] = {}
        if before:
            committable.update(self._handle_piece(tp, before))
        if inside:
            # checkpoint where the range starts: the replays that narrow it down start
            # there, not at an older checkpoint
            committable.update(self.handler.flush())
        for piece in (*halves, after):
            if piece:
                committable.update(self._handle_piece(tp, piece))
        if messages[-1].offset >= hi - 1 and self._suspects.get(tp) == suspect:
            # both halves went through: the failure did not repeat
            del self._suspects[tp]
        return committable

    def _handle_piece(
        self, tp: TopicPartition, messages: Sequence[Any]
    ) -> Mapping[TopicPartition, int]:
        batch = Batch(records={}, next_offsets={}, polled_at=self._wall())
        futures: list[tuple[int, Any]] = []
        sent = self._dead_lettered.get(tp, ())
        checks = _Checks.of(self.config, tp, self._poisoned.get(tp, {}), self._wall())
        valid: list[ValidRecord] = []
        # offsets a failure of this piece may be blamed on: on the repartition topic, none (its
        # events are held back and run batches later; the handler sets those aside itself)
        candidates: list[int] = []
        keys = {"missing": 0, "different": 0}
        for msg in messages:
            if msg.headers and msg.headers[0][0] == CONTROL_HEADER:
                # Tocsin's own control records (watermarks on the repartition topic)
                batch.controls.setdefault(tp, []).append((msg.offset, dict(msg.headers)))
                continue
            value: bytes = msg.value if msg.value is not None else b""
            try:
                event = checks.event(msg.offset, value)
            except EventRejected as exc:
                batch.invalid += 1
                if msg.offset not in sent:  # not yet, or not by this process
                    futures.append((msg.offset, self._dead_letter(tp, msg, exc)))
                    if isinstance(exc, HandlerFailed):
                        self.stats.isolated += 1
                continue
            if checks.external and msg.key != event.tenant_id.encode():
                keys["missing" if msg.key is None else "different"] += 1
            valid.append(ValidRecord(msg.offset, msg.key, value, event, msg.timestamp))
            if checks.external:  # Tocsin's own topics hold events that were checked already
                candidates.append(msg.offset)
        if keys["missing"] or keys["different"]:
            self._count_keys(tp, messages[0].offset, keys["missing"], keys["different"])
        batch.records[tp] = valid
        batch.next_offsets[tp] = messages[-1].offset + 1
        self._inflight = (tp, candidates)
        self._await_dead_letters(tp, futures)
        committable = self.handler.handle(batch)
        self._inflight = None
        self.stats.valid += len(valid)
        self.stats.invalid += batch.invalid
        self._positions.update(batch.next_offsets)
        return committable

    def _await_dead_letters(self, tp: TopicPartition, futures: list[tuple[int, Any]]) -> None:
        if not futures:
            return
        assert self._producer is not None  # noqa: S101 - set in run()
        self._producer.flush()
        for offset, fut in futures:
            fut.get(timeout=30)  # raises: the batch is retried, nothing is skipped
            # a replay of this offset (rollback after a failure) sends no second copy
            self._dead_lettered.setdefault(tp, set()).add(offset)

    def _count_keys(self, tp: TopicPartition, first: int, missing: int, differ: int) -> None:
        """Kafka keys that are not the event's `tenant_id`: counted and logged (where, and
        how many, never the key; at most one line a minute per topic), never used."""
        if missing:
            metrics.KEY_MISMATCH.labels(topic=tp.topic, kind="missing").inc(missing)
        if differ:
            metrics.KEY_MISMATCH.labels(topic=tp.topic, kind="different").inc(differ)
        now = self._clock()
        if now - self._keys_logged.get(tp.topic, float("-inf")) >= KEY_LOG_SECONDS:
            self._keys_logged[tp.topic] = now
            log.warning(
                "kafka key is not the event's tenant_id (ignored)",
                extra={
                    "at": f"{tp.topic}[{tp.partition}]@{first}",
                    "missing": missing,
                    "different": differ,
                },
            )

    def _isolate(self, exc: BaseException) -> bool:
        """After a failure: True when it is blamed on the records being handled, whose range
        is then narrowed down (or, down to one record, that record is condemned); False for
        a failure of the environment, or of nothing in particular, retried with backoff."""
        inflight, self._inflight = self._inflight, None
        if isinstance(exc, ReplayNow):  # the handler set the record aside itself
            return True
        if inflight is None or self._transient(exc):
            return False
        tp, offsets = inflight
        if not offsets:  # only control records or dead letters: nothing to blame
            return False
        name = type(exc).__name__
        if len(offsets) == 1:
            self._poisoned.setdefault(tp, {})[offsets[0]] = name
            self._suspects.pop(tp, None)
            log.warning(
                "record fails alone; dead-lettered as handler_error",
                extra={"at": f"{tp.topic}[{tp.partition}]@{offsets[0]}", "error": name},
            )
            return True
        self._suspects[tp] = (offsets[0], offsets[-1] + 1)
        ISOLATION_RETRIES.inc()
        log.warning(
            "handling failed; replaying the range in halves to find the record",
            extra={
                "at": f"{tp.topic}[{tp.partition}]@{offsets[0]}",
                "records": len(offsets),
                "error": name,
            },
        )
        return True

    def _note_activity(
        self, polled: Mapping[TopicPartition, Sequence[Any]], started: float
    ) -> None:
        done = self._clock()
        activity = self.stats.topics
        for tp, messages in polled.items():
            seen = activity.get(tp.topic)
            if seen is None:
                seen = activity[tp.topic] = TopicActivity(first=started)
            seen.records += len(messages)
            seen.last = done

    def _dead_letter(self, tp: TopicPartition, msg: Any, exc: EventRejected) -> Any:
        metrics.EVENTS_INVALID.labels(topic=tp.topic, reason=exc.reason).inc()
        log.warning(
            "invalid event to DLQ",
            extra={
                "at": f"{tp.topic}[{tp.partition}]@{msg.offset}",
                "reason": exc.reason,
                "detail": exc.detail,
            },
        )
        headers = [
            ("tocsin-error", f"{exc.reason}: {exc.detail}".encode()),
            ("tocsin-source", f"{tp.topic}/{tp.partition}/{msg.offset}".encode()),
            ("tocsin-failed-at", datetime.fromtimestamp(self._wall(), UTC).isoformat().encode()),
        ]
        if isinstance(exc, HandlerFailed):  # the exception's class, never its message
            headers.append(("tocsin-exception", exc.detail.encode()))
        key: bytes | None = msg.key
        value: bytes | None = msg.value
        assert self._producer is not None  # noqa: S101 - set in run()
        limit = int(getattr(self._producer, "config", {}).get("max_request_size", 1048576))
        size = len(key or b"") + len(value or b"") + sum(len(k) + len(v) for k, v in headers)
        if size + DLQ_OVERHEAD_BYTES > limit:
            # the copy would be refused by the producer: keep its head, say so
            cut = ["value"]
            if key is not None and len(key) > DLQ_MAX_KEY_BYTES:
                key = key[:DLQ_MAX_KEY_BYTES]
                cut.insert(0, "key")
            original = len(value or b"")
            headers += [
                ("tocsin-truncated", ",".join(cut).encode()),
                ("tocsin-original-size", str(original).encode()),
            ]
            room = (
                limit
                - DLQ_OVERHEAD_BYTES
                - len(key or b"")
                - sum(len(k) + len(v) for k, v in headers)
            )
            value = (value or b"")[: max(room, 0)]
        return self._producer.send(self.config.dlq_topic, key=key, value=value, headers=headers)

    def _commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        for tp, off in offsets.items():  # checkpointed: never replayed by this process
            done = self._dead_lettered.get(tp)
            if done:
                done.difference_update([o for o in done if o < off])
            poisoned = self._poisoned.get(tp)
            if poisoned:
                for o in [o for o in poisoned if o < off]:
                    del poisoned[o]
        if not offsets or self._consumer is None:
            return
        assigned = self._consumer.assignment()
        payload = {
            tp: OffsetAndMetadata(off, "", -1) for tp, off in offsets.items() if tp in assigned
        }
        if not payload:
            return
        try:
            self._consumer.commit(payload)
        except Exception:  # noqa: BLE001 - the database checkpoint is the source of truth
            log.warning("kafka offset commit failed (checkpoint in database is kept)")

    def _rollback(self) -> None:
        offsets = self.handler.rollback()
        self._seek(offsets)

    def _seek(self, offsets: Mapping[TopicPartition, int]) -> None:
        if self._consumer is None:
            return
        assigned = self._consumer.assignment()
        for tp, off in offsets.items():
            if tp in assigned:
                self._consumer.seek(tp, off)
                self._positions[tp] = off

    # -- rebalance -------------------------------------------------------------------------

    def _on_revoked(self, revoked: list[TopicPartition]) -> None:
        if not revoked:
            return
        with self._lock:
            self._revoke(revoked)

    def _revoke(self, revoked: list[TopicPartition]) -> None:
        log.info("partitions revoked", extra={"partitions": [str(tp) for tp in revoked]})
        try:
            self.handler.revoked(revoked)
        except Exception:
            log.exception("checkpoint on revoke failed; the next owner replays from the last one")
        for tp in revoked:
            self._positions.pop(tp, None)
            self._dead_lettered.pop(tp, None)
            self._poisoned.pop(tp, None)
            self._suspects.pop(tp, None)
            with contextlib.suppress(KeyError):
                metrics.CONSUMER_LAG.remove(tp.topic, str(tp.partition))

    def _on_assigned(self, assigned: list[TopicPartition]) -> None:
        with self._lock:
            self._assign(assigned)

    def _assign(self, assigned: list[TopicPartition]) -> None:
        log.info("partitions assigned", extra={"partitions": [str(tp) for tp in assigned]})
        assert self._consumer is not None  # noqa: S101 - only called from poll()
        recreated = self._recreated_topics()
        offsets = dict(self.handler.assigned(assigned, log_ids=self._log_ids()))
        if recreated:  # checkpoints of the old log mean nothing in the new one
            log.warning(
                "topics recreated; reading them from the beginning",
                extra={"topics": sorted(recreated)},
            )
            offsets = {tp: off for tp, off in offsets.items() if tp.topic not in recreated}
        fresh = [tp for tp in assigned if tp not in offsets]
        if fresh:
            self._consumer.seek_to_beginning(*fresh)
        for tp in assigned:
            if tp in offsets:
                self._consumer.seek(tp, offsets[tp])
                self._positions[tp] = offsets[tp]
            else:
                self._positions[tp] = 0

    def _recreated_topics(self) -> set[str]:
        """Topics whose id changed since last looked at: deleted and created again, or
        served by a broker that lost its log and numbers offsets from zero again."""
        consumer = self._consumer
        cluster = getattr(getattr(consumer, "_client", None), "cluster", None)
        if consumer is None or cluster is None or not hasattr(cluster, "topic_id"):
            return set()
        changed = set()
        for topic in self.config.topics:
            current = cluster.topic_id(topic)
            if current is None:
                continue
            before = self._topic_ids.get(topic)
            self._topic_ids[topic] = current
            if before is not None and before != current:
                changed.add(topic)
        return changed

    def _log_ids(self) -> dict[str, str]:
        """The current topic id of each input topic that has one (as text)."""
        return {topic: str(tid) for topic, tid in self._topic_ids.items() if tid is not None}

    def _check_recreated(
        self, polled: Mapping[TopicPartition, Sequence[Any]]
    ) -> Mapping[TopicPartition, Sequence[Any]]:
        """Read a recreated topic from its beginning rather than from positions that belong
        to the old log: its partitions are checkpointed, then assigned again in the new log
        (the handler keeps what it learnt, and checkpoints from then on name the new log).
        Returns `polled` without the records of recreated topics (they are read again)."""
        changed = self._recreated_topics()
        if not changed or self._consumer is None:
            return polled
        with self._lock:
            tps = [tp for tp in self._consumer.assignment() if tp.topic in changed]
            log.warning(
                "topics recreated; reading them from the beginning",
                extra={"topics": sorted(changed), "partitions": len(tps)},
            )
            if tps:
                self._revoke(tps)
                self._assign(tps)
        return {tp: msgs for tp, msgs in polled.items() if tp.topic not in changed}

    # -- progress --------------------------------------------------------------------------

    def _update_lag(self) -> None:
        if self._consumer is None:
            return
        for tp, pos in list(self._positions.items()):
            high = self._consumer.highwater(tp)
            if high is not None:
                metrics.CONSUMER_LAG.labels(topic=tp.topic, partition=str(tp.partition)).set(
                    max(high - pos, 0)
                )

    def _caught_up_partitions(self) -> list[TopicPartition]:
        consumer = self._consumer
        if consumer is None:
            return []
        return [
            tp
            for tp, pos in list(self._positions.items())
            if (high := consumer.highwater(tp)) is not None and pos >= high
        ]

    def _caught_up(self) -> bool:
        """Every assigned partition has been read up to its high-water mark."""
        if self._consumer is None or not self._positions:
            return False
        for tp, pos in list(self._positions.items()):
            high = self._consumer.highwater(tp)
            if high is None or pos < high:
                return False
        return True


def _has_input(polled: Mapping[TopicPartition, Sequence[Any]]) -> bool:
    """Whether a poll holds any record other than Tocsin's own control records."""
    return any(
        not (msg.headers and msg.headers[0][0] == CONTROL_HEADER)
        for messages in polled.values()
        for msg in messages
    )
