"""The ingest handler: de-duplicate → detect → store findings → correlate incidents → draft.

State is partitioned exactly like the Kafka input: one `PartitionState` (de-duplication set
and detector state, with its own watermark) per assigned partition. Because every result is a
function of one partition's ordered events, the results do not depend on how partitions are
spread over replicas or interleaved in a batch.

Durability and restart safety (docs/architecture.md §5):
- each batch's findings, evidence and incident changes are committed in one transaction, so
  a finding is visible about one batch after its event is produced;
- every `checkpoint_seconds` (and on revoke or stop, or once `DIRTY_KEYS_MAX` keys have
  changed) what changed in each partition's state and the offset it covers are written in that
  same transaction: a small header (`partition_checkpoints`) and the keys changed since the
  previous checkpoint (`partition_state_entries`), so a checkpoint costs what changed;
- on assignment a partition's state is restored from its checkpoint and consumption resumes at
  the checkpoint's offset. Events between the checkpoint and a crash are replayed; detectors
  are deterministic and findings are upserted by id with their *current* aggregates, incidents
  link findings by id, notices are drafted idempotently — so a replay writes nothing new.
  Short windows are therefore rebuilt by replay; long-memory state (`new_value`, `baseline`)
  rides in the same checkpoints, in the database.
- Events that matter to rules partitioned by source IP (password spraying across tenants) are
  republished to the repartition topic keyed by IP, and flushed before any checkpoint that
  covers them; replayed republications are dropped by the by-IP partition's de-duplication.
"""

from __future__ import annotations

import base64
import heapq
import json
import logging
import time
import zlib
from collections import Counter as Tally
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from kafka import KafkaProducer
from kafka.structs import TopicPartition
from sqlalchemy import Table, bindparam, delete, select
from sqlalchemy.orm import Session, sessionmaker

from consumers import metrics
from consumers.conventions import StreamName
from consumers.dedup import Deduplicator
from consumers.errors import ReplayNow
from consumers.events import AccessEvent, AuthEvent, Event
from consumers.loop import CONTROL_HEADER, Batch, EventModel, ValidRecord
from detectors.engine import Emission, PartitionDetector, StoredEntry, needs_repartition
from detectors.finding import Finding
from detectors.rule import Rule
from incidents.findings_store import (
    FindingRow,
    PartitionCheckpoint,
    PartitionStateEntry,
    store_evidence,
    upsert_findings,
)

log = logging.getLogger(__name__)

STATE_VERSION = 1  # the whole state in `partition_checkpoints.state` (still read)
HEADER_VERSION = 2  # a header there, the keys in `partition_state_entries`
IDLE_SECONDS = 30.0
# a checkpoint is due once this many keys changed (across partitions), whatever the time:
# no checkpoint encodes an unbounded set of keys
# A bound on one checkpoint's work. Each changed key costs about 35-80 µs to encode and write,
# so a lower bound gives shorter pauses but more of them: on traffic where most keys change
# (many accounts, each seen once in a while) 1,000 keys cut throughput in half.
DIRTY_KEYS_MAX = 20_000
# the entries of a checkpoint, as plain statements (valid for PostgreSQL and SQLite; "?" is
# the placeholder, replaced for drivers of another style). An upsert with order -1 keeps the
# key's stored place in its map.
_DELETE_ENTRY = (
    "DELETE FROM partition_state_entries WHERE consumer_group = ? AND topic = ? "
    'AND "partition" = ? AND rule_id = ? AND slot = ? AND "key" = ?'
)
_UPSERT_ENTRY = (
    'INSERT INTO partition_state_entries (consumer_group, topic, "partition", rule_id, slot, '
    '"key", seq, value) VALUES (?, ?, ?, ?, ?, ?, ?, ?) '
    'ON CONFLICT (consumer_group, topic, "partition", rule_id, slot, "key") DO UPDATE SET '
    "seq = CASE WHEN excluded.seq < 0 THEN partition_state_entries.seq ELSE excluded.seq END, "
    "value = excluded.value"
)
# checkpoints take at most 1/20 of the worker's time (see `_checkpoint_due`)
CHECKPOINT_COST_FACTOR = 20.0

# What to do with the findings of a committed batch, inside its transaction (incidents,
# notices). Supplied by the caller so this module stays usable without them.
FindingsSink = Callable[[Session, Sequence[FindingRow], datetime], None]


@dataclass(frozen=True)
class StreamTopics:
    auth: str
    access: str
    by_ip: str

    def stream_of(self, topic: str) -> StreamName:
        if topic == self.auth:
            return "auth"
        if topic == self.access:
            return "access"
        if topic == self.by_ip:
            return "by_ip"
        raise KeyError(topic)

    def models(self) -> dict[str, EventModel]:
        return {self.auth: AuthEvent, self.access: AccessEvent, self.by_ip: AuthEvent}


@dataclass
class PartitionState:
    stream: StreamName
    dedup: Deduplicator
    detector: PartitionDetector
    next_offset: int
    checkpoint_offset: int
    checkpoint_blob: bytes | None  # the stored header (or whole state, first format)
    dirty: bool = False
    # the stored entries are this state's keys as of the checkpoint (False: none, or a
    # checkpoint of the first format, so the next checkpoint writes every key)
    stored: bool = False
    # rolled back: the state is reloaded from the database before it is used again
    stale: bool = False
    # by_ip partitions: the watermark each upstream auth partition last announced
    origins: dict[str, float] = field(default_factory=dict)
    # by_ip partitions: events waiting for the watermark, as (event time, event id, event)
    held: list[tuple[float, str, AuthEvent]] = field(default_factory=list)
    # auth partitions: the watermark last announced downstream, and when (wall clock)
    announced: float = float("-inf")
    active_at: float = float("-inf")
    # the log (topic id) the offsets refer to, when the broker names it
    log_id: str | None = None


@dataclass
class PipelineStats:
    events: int = 0
    duplicates: int = 0
    emissions: int = 0
    findings_changed: int = 0
    checkpoints: int = 0
    republished: int = 0
    by_stream: Tally[str] = field(default_factory=Tally)
    # seconds each checkpoint held the worker (encoding and its transaction), the final
    # flush's apart
    checkpoint_pauses: list[float] = field(default_factory=list)
    flush_pause: float | None = None


def _produced_at(batch: Batch, emissions: Sequence[Emission]) -> dict[str, int]:
    """Kafka timestamps (ms) of this batch's events cited by the emissions, by event id."""
    if not emissions:
        return {}
    stamps = {
        id(rec.event): rec.timestamp_ms for records in batch.records.values() for rec in records
    }
    return {
        str(ev.event_id): stamps[id(ev)]
        for em in emissions
        for ev in em.evidence_events
        if id(ev) in stamps
    }


class IngestPipeline:
    """The `BatchHandler` of `tocsin ingest`."""

    def __init__(
        self,
        *,
        session_factory: sessionmaker[Session],
        consumer_group: str,
        topics: StreamTopics,
        rules: Sequence[Rule],
        producer: KafkaProducer | None,
        lateness: timedelta,
        dedup_horizon: timedelta,
        checkpoint_seconds: float,
        sink: FindingsSink | None = None,
        clock: Callable[[], float] = time.monotonic,
        dlq_topic: str | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.session_factory = session_factory
        self.group = consumer_group
        self.topics = topics
        self.rules = list(rules)
        self.producer = producer
        self.lateness = lateness
        self.dedup_horizon = max(dedup_horizon, lateness)
        self.checkpoint_seconds = checkpoint_seconds
        self.sink = sink
        self._clock = clock  # durations and intervals
        self._wall = wall_clock  # dates and the idle announcements
        self._last_checkpoint = clock()
        self._checkpoint_cost = 0.0  # seconds the last checkpoint took to encode and stage
        self.lateness_s = lateness.total_seconds()
        self._upstream: int | None = None
        self._pending: list[Any] = []
        self._evictions_seen: dict[tuple[TopicPartition, str], int] = {}
        self.partitions: dict[TopicPartition, PartitionState] = {}
        self.stats = PipelineStats()
        # the rules that run on the repartition topic (their events are republished)
        self._by_ip_rules = [r for r in self.rules if r.partition == "source_ip"]
        self._final = False  # the end-of-run checkpoint (its pause is reported apart)
        # held by-IP events whose detection failed alone (event id -> exception class), and
        # whether held events are being run one at a time to find such an event
        self.dlq_topic = dlq_topic
        self._set_aside: dict[str, str] = {}
        self._one_by_one = False

    # -- state -----------------------------------------------------------------------------

    def _new_state(
        self,
        tp: TopicPartition,
        blob: bytes | None,
        offset: int,
        entries: Sequence[StoredEntry] = (),
    ) -> PartitionState:
        """A partition's state: fresh (no `blob`), from a header and its stored entries, or
        from a whole state of the first format (whose keys the next checkpoint writes)."""
        stream = self.topics.stream_of(tp.topic)
        follow = stream != "by_ip"
        if blob is None:
            dedup = Deduplicator(self.dedup_horizon, follow_events=follow)
            detector = PartitionDetector(self.rules, stream=stream, lateness=self.lateness)
            state = PartitionState(stream, dedup, detector, offset, offset, blob)
            state.active_at = self._wall()
            return state
        data = json.loads(zlib.decompress(blob))
        version = data.get("v")
        if version == HEADER_VERSION:
            detector = PartitionDetector.restore_entries(
                data["detector"], entries, self.rules, stream=stream, lateness=self.lateness
            )
        elif version == STATE_VERSION:
            detector = PartitionDetector.restore(
                base64.b64decode(data["detector"]),
                self.rules,
                stream=stream,
                lateness=self.lateness,
            )
            detector.mark_all()
        else:
            raise ValueError(f"unknown checkpoint version {version!r}")
        dedup = Deduplicator.restore(data["dedup"], self.dedup_horizon, follow_events=follow)
        state = PartitionState(stream, dedup, detector, offset, offset, blob)
        state.stored = version == HEADER_VERSION
        state.dirty = not state.stored
        state.active_at = self._wall()
        state.log_id = data.get("log")
        state.origins = {str(k): float(v) for k, v in data.get("origins", {}).items()}
        held = [AuthEvent.model_validate(ev) for ev in data.get("held", [])]
        state.held = [(ev.occurred_at.timestamp(), str(ev.event_id), ev) for ev in held]
        heapq.heapify(state.held)
        return state

    @staticmethod
    def _encode(state: PartitionState) -> bytes:
        """The whole state in one blob (first format): what `end_of_input` runs a copy of."""
        data = {
            "v": STATE_VERSION,
            "log": state.log_id,
            "dedup": state.dedup.snapshot(),
            "origins": state.origins,
            "held": [ev.model_dump(mode="json") for _t, _id, ev in sorted(state.held)],
            "detector": base64.b64encode(state.detector.snapshot()).decode("ascii"),
        }
        return zlib.compress(json.dumps(data, separators=(",", ":")).encode(), 3)

    @staticmethod
    def _encode_header(state: PartitionState) -> bytes:
        """Everything but the detector's keys (call after the detector's `changes()`)."""
        data = {
            "v": HEADER_VERSION,
            "log": state.log_id,
            "dedup": state.dedup.snapshot(),
            "origins": state.origins,
            "held": [ev.model_dump(mode="json") for _t, _id, ev in sorted(state.held)],
            "detector": state.detector.header(),
        }
        return zlib.compress(json.dumps(data, separators=(",", ":")).encode(), 1)

    def _load(
        self, session: Session, tps: Sequence[TopicPartition]
    ) -> dict[TopicPartition, tuple[PartitionCheckpoint, list[StoredEntry]]]:
        """The stored checkpoints of `tps` (those that have one), with their entries."""
        topics = {tp.topic for tp in tps}
        rows = session.scalars(
            select(PartitionCheckpoint).where(
                PartitionCheckpoint.consumer_group == self.group,
                PartitionCheckpoint.topic.in_(topics),
            )
        ).all()
        wanted = {(tp.topic, tp.partition): tp for tp in tps}
        found: dict[TopicPartition, tuple[PartitionCheckpoint, list[StoredEntry]]] = {}
        for row in rows:
            tp = wanted.get((row.topic, row.partition))
            if tp is None:
                continue
            entries: list[StoredEntry] = []
            header = json.loads(zlib.decompress(row.state)) if row.state is not None else {}
            if header.get("v") == HEADER_VERSION:
                entries = self._entries(session, tp)
            found[tp] = (row, entries)
        return found

    def _entries(self, session: Session, tp: TopicPartition) -> list[StoredEntry]:
        t = PartitionStateEntry
        result = session.execute(
            select(t.rule_id, t.slot, t.key, t.seq, t.value).where(
                t.consumer_group == self.group, t.topic == tp.topic, t.partition == tp.partition
            )
        )
        return [(r, s, k, q, v) for r, s, k, q, v in result]

    def assigned(
        self, partitions: Sequence[TopicPartition], *, log_ids: Mapping[str, str] | None = None
    ) -> Mapping[TopicPartition, int]:
        log_ids = log_ids or {}
        offsets: dict[TopicPartition, int] = {}
        with self.session_factory() as session:
            found = self._load(session, partitions)
        for tp in partitions:
            current = log_ids.get(tp.topic)
            if tp not in found:
                state = self.partitions[tp] = self._new_state(tp, None, 0)
                state.log_id = current
                continue
            row, entries = found[tp]
            state = self.partitions[tp] = self._new_state(tp, row.state, row.next_offset, entries)
            if current is not None and state.log_id is not None and state.log_id != current:
                # the broker lost or recreated the log: what was learnt stays, the offsets
                # go (the new log is read from its beginning; copies are de-duplicated)
                log.warning(
                    "checkpoint of another log; reading the partition from its start",
                    extra={"at": f"{tp.topic}[{tp.partition}]"},
                )
                state.next_offset = state.checkpoint_offset = 0
                state.dirty = True
            else:
                offsets[tp] = row.next_offset
            state.log_id = current or state.log_id
        return offsets

    def revoked(self, partitions: Sequence[TopicPartition]) -> None:
        # a rolled-back partition's checkpoint is already what the database holds
        owned = [tp for tp in partitions if tp in self.partitions]
        fresh = [tp for tp in owned if not self.partitions[tp].stale]
        if fresh:
            self._write_checkpoints(fresh)
        for tp in owned:
            del self.partitions[tp]

    def rollback(self) -> Mapping[TopicPartition, int]:
        """Back to the last checkpoint. The partitions that changed since are reloaded from
        the database before their next use (it may be down now); the others are exact."""
        self._pending = []
        offsets = {}
        for tp, state in self.partitions.items():
            if state.dirty:
                state.stale = True
            offsets[tp] = state.checkpoint_offset
        return offsets

    def _reload_stale(self) -> None:
        stale = [tp for tp, state in self.partitions.items() if state.stale]
        if not stale:
            return
        with self.session_factory() as session:
            found = self._load(session, stale)
        for tp in stale:
            old = self.partitions[tp]
            row, entries = found.get(tp, (None, []))
            blob = row.state if row is not None else None
            restored = self._new_state(tp, blob, old.checkpoint_offset, entries)
            restored.log_id = old.log_id
            # a log recreated since: the offsets were forgotten, not yet checkpointed
            restored.dirty = restored.dirty or (
                row is not None and row.next_offset != old.checkpoint_offset
            )
            self.partitions[tp] = restored

    # -- batches ---------------------------------------------------------------------------

    def handle(self, batch: Batch) -> Mapping[TopicPartition, int]:
        self._reload_stale()
        emissions: list[Emission] = []
        for tp, records in batch.records.items():
            state = self.partitions.get(tp)
            if state is None:  # assigned between poll and handle: cannot happen in-thread
                raise RuntimeError(f"no state for {tp}")
            state.dirty = True  # from now on (a failure half-way leaves it changed too)
            first_time = state.dedup.first_time
            if state.stream == "auth" and self.producer is not None:
                fresh = self._dedup_and_republish(state, records)
            else:
                fresh = [
                    ev
                    for rec in records
                    if first_time((ev := rec.event).event_id.int, ev.occurred_at.timestamp())
                ]
            for service, n in Tally(ev.service for ev in fresh).items():
                metrics.EVENTS_CONSUMED.labels(topic=tp.topic, service=service.value).inc(n)
            dups = len(records) - len(fresh)
            if dups:
                metrics.EVENTS_DUPLICATE.labels(topic=tp.topic).inc(dups)
                self.stats.duplicates += dups
            late_before = state.detector.late_events
            if state.stream == "by_ip":
                emissions.extend(
                    self._process_by_ip(state, records, fresh, batch.controls.get(tp, []))
                )
            else:
                emissions.extend(state.detector.process(fresh))
            late = state.detector.late_events - late_before
            if late:
                metrics.EVENTS_LATE.labels(topic=tp.topic).inc(late)
            self.stats.events += len(fresh)
            self.stats.by_stream[state.stream] += len(fresh)
            state.next_offset = batch.next_offsets.get(tp, state.next_offset)
            state.active_at = self._wall()
        # partitions with only invalid or control records advance too
        for tp, nxt in batch.next_offsets.items():
            state = self.partitions.get(tp)
            if state is not None and tp not in batch.records:
                state.dirty = True
                if state.stream == "by_ip":
                    emissions.extend(self._process_by_ip(state, [], [], batch.controls.get(tp, [])))
                state.next_offset = nxt
        checkpoint = self._checkpoint_due()
        if checkpoint:  # the republished copies are durable before offsets that cover them
            self._flush_producer()
        self.stats.emissions += len(emissions)
        return self._commit(emissions, _produced_at(batch, emissions), checkpoint=checkpoint)

    def _dedup_and_republish(
        self, state: PartitionState, records: Sequence[ValidRecord]
    ) -> list[Event]:
        """De-duplicate an auth partition's records and republish, keyed by source IP, the
        events that rules partitioned by IP want. The event's lateness is decided here, where
        its partition's order is known; downstream, by-IP partitions trust the announced
        watermarks."""
        assert self.producer is not None  # noqa: S101 - only called with a producer
        send, topic, pending = self.producer.send, self.topics.by_ip, self._pending
        first_time, wanted = state.dedup.first_time, self._by_ip_rules
        lateness, high = self.lateness_s, state.detector.max_time
        fresh: list[Event] = []
        sent = 0
        for rec in records:
            ev = rec.event
            t = ev.occurred_at.timestamp()
            if not first_time(ev.event_id.int, t):
                continue
            fresh.append(ev)
            if t > high:
                high = t
            elif t < high - lateness:
                continue
            if needs_repartition(wanted, ev):
                pending.append(send(topic, key=ev.source_ip.encode(), value=rec.value))
                sent += 1
        self.stats.republished += sent
        return fresh

    def caught_up(self, partitions: Sequence[TopicPartition]) -> None:
        """An auth partition that has never carried an event is idle from its assignment:
        once read to its end, it announces at once (see `_announce_idle`) instead of holding
        every by-IP watermark back for `IDLE_SECONDS`."""
        for tp in partitions:
            state = self.partitions.get(tp)
            if (
                state is not None
                and state.stream == "auth"
                and not state.dirty
                and not state.stale
                and state.detector.max_time == float("-inf")
            ):
                state.active_at = float("-inf")

    def end_of_input(self) -> Mapping[TopicPartition, int]:
        """A bounded run is caught up and idle: the events read are all there are. Every
        by-IP partition's held events run, on a copy of its state whose watermark is moved
        past them, and the findings are written. The state itself is left as a continuous
        run would have it (the events stay held, the watermark where the announcements put
        it) and is what the final checkpoint stores, so a later run resumes exactly where
        one continuous run would be; its findings then carry the same ids and overwrite
        these with their aggregates over the events that came after."""
        self._reload_stale()
        emissions: list[Emission] = []
        for tp, state in self.partitions.items():
            if state.stream != "by_ip" or not state.held:
                continue
            blob = self._encode(state)
            ready = [
                ev for _t, _id, ev in sorted(state.held) if str(ev.event_id) not in self._set_aside
            ]
            if not ready:
                continue
            # as `_release` runs them: in event-time order, then the watermark moves on
            copy = self._new_state(tp, blob, state.next_offset)
            copy.detector.external_watermark = True
            try:
                out = copy.detector.process(ready)
            except Exception:  # noqa: BLE001 - find the event that fails alone, as `_run_held`
                copy = self._new_state(tp, blob, state.next_offset)
                copy.detector.external_watermark = True
                out = []
                for ev in ready:
                    try:
                        out += copy.detector.process([ev])
                    except Exception as exc:  # noqa: BLE001 - this one event's failure
                        self._set_held_aside(ev, exc)
            emissions += out
            emissions += copy.detector.process([], watermark=ready[-1].occurred_at.timestamp())
        if not emissions:
            return {}
        self.stats.emissions += len(emissions)
        return self._commit(emissions, {}, checkpoint=False)

    def idle(self) -> Mapping[TopicPartition, int]:
        self._reload_stale()
        if self._checkpoint_due() and any(s.dirty for s in self.partitions.values()):
            self._flush_producer()
            return self._commit([], {}, checkpoint=True)
        self._announce_idle()
        return {}

    def _announce_idle(self) -> None:
        """An auth partition with no traffic would hold every by-IP watermark back (at night
        some tenants are silent). Once it has been quiet for `IDLE_SECONDS` of wall time
        with everything checkpointed, it announces wall time minus lateness and that
        silence: an event arriving later for it may then run out of order downstream.
        A partition that has never carried an event (a topic with more partitions than
        active tenants) counts as quiet from its assignment, once read to its end."""
        now = self._wall()
        quiet = [
            tp
            for tp, st in self.partitions.items()
            if st.stream == "auth" and not st.dirty and now - st.active_at >= IDLE_SECONDS
        ]
        if quiet:
            self._announce(quiet, floor=now - IDLE_SECONDS - self.lateness_s)

    def flush(self) -> Mapping[TopicPartition, int]:
        self._reload_stale()
        self._flush_producer()
        if not self.partitions:
            return {}
        self._final = True
        return self._commit([], {}, checkpoint=True)

    # -- watermarks across the repartition topic -------------------------------------------
    #
    # A by-IP partition mixes events from every auth partition, each at its own pace (a
    # replica catching up on one partition runs days ahead of another). Its watermark is
    # therefore the minimum of the watermarks its upstream partitions announce, as in a
    # stream processor: after each checkpoint, every auth partition writes a control record
    # with its checkpointed watermark to every by-IP partition. Announcing only what is
    # checkpointed means an upstream replay never sends an event older than what it
    # announced, so its copies are still in the downstream de-duplication set. Until every
    # upstream partition has spoken, nothing downstream is evicted.

    def _announce(self, tps: Sequence[TopicPartition], *, floor: float | None = None) -> None:
        if self.producer is None:
            return
        sent = False
        for tp in tps:
            state = self.partitions[tp]
            if state.stream != "auth":
                continue
            wm = state.detector.max_time - self.lateness_s
            if floor is not None:
                wm = max(wm, floor)
            if wm <= state.announced:
                continue
            headers = [
                (CONTROL_HEADER, b"watermark"),
                ("tocsin-origin", f"{tp.topic}/{tp.partition}".encode()),
                ("tocsin-watermark", repr(wm).encode()),
            ]
            for partition in self._by_ip_partitions():
                self._pending.append(
                    self.producer.send(
                        self.topics.by_ip, value=b"", partition=partition, headers=headers
                    )
                )
            state.announced = wm
            sent = True
        if sent:
            self._flush_producer()

    def _by_ip_partitions(self) -> list[int]:
        assert self.producer is not None  # noqa: S101 - callers check
        found = self.producer.partitions_for(self.topics.by_ip)
        return sorted(found) if found else [0]

    def _upstream_count(self) -> int:
        if self._upstream is None:
            assert self.producer is not None  # noqa: S101 - by_ip implies a producer
            self._upstream = len(self.producer.partitions_for(self.topics.auth) or ())
        return self._upstream

    def _process_by_ip(
        self,
        state: PartitionState,
        records: Sequence[ValidRecord],
        fresh: Sequence[Event],
        controls: Sequence[tuple[int, Mapping[str, bytes]]],
    ) -> list[Emission]:
        """Events and watermark records in log order. Events wait in a heap until the
        watermark passes them, then run in (event time, event id) order: the arrival order
        on this topic depends on how upstream partitions interleave, the results must not."""
        keep = {id(ev) for ev in fresh}
        out: list[Emission] = []
        pending = list(controls)
        for rec in records:
            while pending and pending[0][0] < rec.offset:
                self._apply_marker(state, pending.pop(0)[1])
                out += self._release(state)
            ev = rec.event
            if id(ev) in keep and isinstance(ev, AuthEvent):
                heapq.heappush(state.held, (ev.occurred_at.timestamp(), str(ev.event_id), ev))
        for _offset, headers in pending:
            self._apply_marker(state, headers)
        out += self._release(state)
        return out

    def _release(self, state: PartitionState) -> list[Emission]:
        wm = self._origin_watermark(state)
        ready: list[Event] = []
        held = state.held
        while held and held[0][0] <= wm:
            ready.append(heapq.heappop(held)[2])
        if not ready and wm <= state.detector.watermark:
            return []
        # in event-time order the partition's own watermark never drops them as late; the
        # announced watermark then lets expired windows go
        out = self._run_held(state, ready) if ready else []
        return out + state.detector.process([], watermark=wm)

    def _run_held(self, state: PartitionState, ready: list[Event]) -> list[Emission]:
        """Detection on released events. They were read batches ago, so the consumer loop
        cannot find one that fails by its offset: a failure makes the next replay run them
        one at a time, and the one that fails alone is dead-lettered (`handler_error`) and
        skipped from then on."""
        if self._set_aside:
            ready = [ev for ev in ready if str(ev.event_id) not in self._set_aside]
        if not self._one_by_one:
            try:
                return state.detector.process(ready)
            except Exception as exc:
                if len(ready) == 1:
                    self._set_held_aside(ready[0], exc)
                self._one_by_one = True
                raise ReplayNow("detection failed on released by-IP events") from exc
        out: list[Emission] = []
        for ev in ready:
            try:
                out += state.detector.process([ev])
            except Exception as exc:  # noqa: BLE001 - this one event's failure
                self._set_held_aside(ev, exc)
        return out

    def _set_held_aside(self, event: Event, exc: Exception) -> None:
        name = type(exc).__name__
        self._set_aside[str(event.event_id)] = name
        self._one_by_one = False
        topic = self.topics.by_ip
        metrics.EVENTS_INVALID.labels(topic=topic, reason="handler_error").inc()
        log.warning(
            "held event fails alone; dead-lettered as handler_error",
            extra={"at": topic, "error": name},
        )
        if self.producer is not None and self.dlq_topic:
            headers = [
                ("tocsin-error", f"handler_error: {name}".encode()),
                ("tocsin-exception", name.encode()),
                ("tocsin-source", topic.encode()),
                ("tocsin-event-id", str(event.event_id).encode()),
                ("tocsin-failed-at", self._now().isoformat().encode()),
            ]
            sent = self.producer.send(
                self.dlq_topic,
                key=event.source_ip.encode(),
                value=event.model_dump_json().encode(),
                headers=headers,
            )
            self.producer.flush()
            sent.get(timeout=30)
        raise ReplayNow(f"by-IP event set aside ({name})") from None

    def _apply_marker(self, state: PartitionState, headers: Mapping[str, bytes]) -> None:
        if headers.get(CONTROL_HEADER) != b"watermark":
            return
        origin = headers.get("tocsin-origin", b"").decode()
        try:
            wm = float(headers.get("tocsin-watermark", b"").decode())
        except ValueError:
            return
        if wm > state.origins.get(origin, float("-inf")):
            state.origins[origin] = wm
            if len(state.origins) >= self._upstream_count():
                low = min(state.origins.values())
                state.dedup.expire_before(datetime.fromtimestamp(low, UTC))

    def _origin_watermark(self, state: PartitionState) -> float:
        if self.producer is None or len(state.origins) < self._upstream_count():
            return float("-inf")
        return min(state.origins.values())

    def _flush_producer(self) -> None:
        """Wait for every republication; any failure fails the batch (it is then rolled
        back to the checkpoint and retried, so nothing downstream is skipped)."""
        if self.producer is None:
            return
        pending, self._pending = self._pending, []
        self.producer.flush()
        for fut in pending:
            fut.get(timeout=30)

    def _checkpoint_due(self) -> bool:
        """`checkpoint_seconds` after the last one, or later when the changes are so large
        that writing them would take more than 1/`CHECKPOINT_COST_FACTOR` of the worker's
        time (a longer interval only means a longer replay after a crash); and at once when
        `DIRTY_KEYS_MAX` keys changed, so that no checkpoint writes an unbounded set."""
        every = max(self.checkpoint_seconds, CHECKPOINT_COST_FACTOR * self._checkpoint_cost)
        if self._clock() - self._last_checkpoint >= every:
            return True
        return self._dirty_keys() >= DIRTY_KEYS_MAX

    def _dirty_keys(self) -> int:
        return sum(state.detector.dirty_keys for state in self.partitions.values() if state.dirty)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._wall(), UTC)

    def _commit(
        self, emissions: Sequence[Emission], produced_at: Mapping[str, int], *, checkpoint: bool
    ) -> Mapping[TopicPartition, int]:
        findings: dict[str, Finding] = {}
        evidence: dict[str, tuple[str, Event]] = {}
        for em in emissions:
            findings[em.finding.finding_id] = em.finding
            for ev in em.evidence_events:
                kind = "auth" if isinstance(ev, AuthEvent) else "access"
                evidence[str(ev.event_id)] = (kind, ev)
        blobs: dict[TopicPartition, bytes] = {}
        staged = 0.0
        with self.session_factory() as session, session.begin():
            changed = upsert_findings(session=session, findings=list(findings.values()))
            if evidence:
                store_evidence(session=session, events=evidence.values())
            if changed and self.sink is not None:
                self.sink(session, changed, self._now())
            if checkpoint:
                staged = self._clock()
                blobs = self._stage_checkpoints(session, list(self.partitions))
        stored_at = self._wall()
        if checkpoint:
            pause = self._clock() - staged
            if self._final:
                self.stats.flush_pause = pause
            else:
                self.stats.checkpoint_pauses.append(pause)
        self._observe(findings.values(), changed, produced_at, stored_at)
        self.stats.findings_changed += len(changed)
        if not checkpoint:
            return {}
        return self._after_checkpoint(blobs)

    def _write_checkpoints(self, tps: Sequence[TopicPartition]) -> None:
        self._flush_producer()
        with self.session_factory() as session, session.begin():
            blobs = self._stage_checkpoints(session, tps)
        self._after_checkpoint(blobs)

    def _stage_checkpoints(
        self, session: Session, tps: Sequence[TopicPartition]
    ) -> dict[TopicPartition, bytes]:
        """Stage, for the partitions among `tps` that changed since their last checkpoint
        (the others' stored checkpoint is still exact), the keys that changed and a header.
        A partition with no entries stored yet writes all its keys, after clearing any."""
        blobs: dict[TopicPartition, bytes] = {}
        now = self._now()
        started = self._clock()
        writes: list[tuple[Any, ...]] = []
        deletes: list[tuple[Any, ...]] = []
        purges: list[dict[str, Any]] = []
        for tp in tps:
            state = self.partitions[tp]
            if not state.dirty and state.checkpoint_blob is not None:
                continue
            where = {"g": self.group, "t": tp.topic, "p": tp.partition}
            detector = state.detector
            if not state.stored:
                purges.append({**where, "r": None, "s": None})
            purges.extend({**where, "r": r, "s": slot} for r, slot in detector.orphans)
            at = (self.group, tp.topic, tp.partition)
            for rule_id, slot, key, seq, value in detector.changes():
                if value is None:
                    deletes.append((*at, rule_id, slot, key))
                else:
                    writes.append((*at, rule_id, slot, key, seq, value))
            blob = blobs[tp] = self._encode_header(state)
            self._stage_header(session, tp, state.next_offset, blob, now)
        self._write_entries(session, purges, deletes, writes)
        self._checkpoint_cost = self._clock() - started
        metrics.CHECKPOINT_SECONDS.observe(self._checkpoint_cost)
        return blobs

    def _stage_header(
        self, session: Session, tp: TopicPartition, offset: int, blob: bytes, now: datetime
    ) -> None:
        row = session.get(PartitionCheckpoint, (self.group, tp.topic, tp.partition))
        if row is None:
            session.add(
                PartitionCheckpoint(
                    consumer_group=self.group,
                    topic=tp.topic,
                    partition=tp.partition,
                    next_offset=offset,
                    state=blob,
                    updated_at=now,
                )
            )
        else:
            row.next_offset = offset
            row.state = blob
            row.updated_at = now

    @staticmethod
    def _write_entries(
        session: Session,
        purges: list[dict[str, Any]],
        deletes: list[tuple[Any, ...]],
        writes: list[tuple[Any, ...]],
    ) -> None:
        """Whole rules or partitions first (`purges`: rule None = every entry of the
        partition, slot None = every slot), then deleted keys, then upserts. An upsert with
        order -1 keeps the key's stored place in its map."""
        table = cast(Table, PartitionStateEntry.__table__)
        t = table.c
        conn = session.connection()
        same = (
            t.consumer_group == bindparam("g"),
            t.topic == bindparam("t"),
            t.partition == bindparam("p"),
        )
        for purge in purges:
            stmt = delete(table).where(*same)
            if purge["r"] is not None:
                stmt = stmt.where(t.rule_id == bindparam("r"))
            if purge["s"] is not None:
                stmt = stmt.where(t.slot == bindparam("s"))
            conn.execute(stmt, [purge])
        # plain statements, executed many times: the keys of a checkpoint are many small rows
        qmark = conn.dialect.paramstyle == "qmark"
        if deletes:
            conn.exec_driver_sql(
                _DELETE_ENTRY if qmark else _DELETE_ENTRY.replace("?", "%s"), deletes
            )
        if writes:
            conn.exec_driver_sql(
                _UPSERT_ENTRY if qmark else _UPSERT_ENTRY.replace("?", "%s"), writes
            )

    def _after_checkpoint(self, blobs: Mapping[TopicPartition, bytes]) -> dict[TopicPartition, int]:
        offsets = {}
        for tp, blob in blobs.items():
            state = self.partitions[tp]
            state.checkpoint_blob = blob
            state.checkpoint_offset = state.next_offset
            state.dirty = False
            state.stored = True
            state.detector.settle()
            offsets[tp] = state.next_offset
        self._announce(list(blobs))
        self._one_by_one = False  # whatever failed before this checkpoint is behind it
        self._state_metrics()
        self._last_checkpoint = self._clock()
        self.stats.checkpoints += 1
        metrics.CHECKPOINTS_TOTAL.inc()
        return offsets

    def _state_metrics(self) -> None:
        """Detector state size per rule (gauge) and evictions since the last look (counter),
        over the partitions this worker owns."""
        keys: Tally[str] = Tally()
        for tp, state in self.partitions.items():
            detector = state.detector
            for rule, rstate in zip(detector.rules, detector.states, strict=True):
                keys[rule.id] += rule.live_keys(rstate)
                seen = self._evictions_seen.get((tp, rule.id), 0)
                if rstate.evictions > seen:
                    metrics.STATE_EVICTIONS_TOTAL.labels(rule=rule.id).inc(rstate.evictions - seen)
                self._evictions_seen[(tp, rule.id)] = rstate.evictions
        for rule_id, n in keys.items():
            metrics.STATE_KEYS.labels(rule=rule_id).set(n)

    def _observe(
        self,
        findings: Any,
        changed: Sequence[FindingRow],
        produced_at: Mapping[str, int],
        stored_at: float,
    ) -> None:
        new_ids = {row.finding_id for row in changed if row.stored_at == row.updated_at}
        for finding in findings:
            if finding.finding_id in new_ids:
                metrics.FINDINGS.labels(rule=finding.rule_id, severity=finding.severity).inc()
            times = [produced_at[e] for e in finding.evidence if e in produced_at]
            if times:
                metrics.DETECTION_LATENCY.observe(max(stored_at - max(times) / 1000.0, 0.0))
