"""The ingest handler: de-duplicate → detect → store findings → correlate incidents → draft.

State is partitioned exactly like the Kafka input: one `PartitionState` (de-duplication set
and detector state, with its own watermark) per assigned partition. Because every result is a
function of one partition's ordered events, the results do not depend on how partitions are
spread over replicas or interleaved in a batch.

Durability and restart safety (DESIGN §4):
- each batch's findings, evidence and incident changes are committed in one transaction, so
  a finding is visible about one batch after its event is produced;
- every `checkpoint_seconds` (and on revoke or stop) the state of every partition and the
  offset it covers are written in that same transaction (`partition_checkpoints`);
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
import json
import logging
import time
import zlib
from collections import Counter as Tally
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from kafka import KafkaProducer
from kafka.structs import TopicPartition
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from consumers import metrics
from consumers.dedup import Deduplicator
from consumers.events import AccessEvent, AuthEvent, Event
from consumers.loop import Batch, EventModel
from detectors.engine import Emission, PartitionDetector, needs_repartition
from detectors.finding import Finding
from incidents.findings_store import (
    FindingRow,
    PartitionCheckpoint,
    store_evidence,
    upsert_findings,
)

log = logging.getLogger(__name__)

Stream = Literal["auth", "access", "by_ip"]
STATE_VERSION = 1

# What to do with the findings of a committed batch, inside its transaction (incidents,
# notices). Supplied by the caller so this module stays usable without them.
FindingsSink = Callable[[Session, Sequence[FindingRow], datetime], None]


@dataclass(frozen=True)
class StreamTopics:
    auth: str
    access: str
    by_ip: str

    def stream_of(self, topic: str) -> Stream:
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
    stream: Stream
    dedup: Deduplicator
    detector: PartitionDetector
    next_offset: int
    checkpoint_offset: int
    checkpoint_blob: bytes | None
    dirty: bool = False


@dataclass
class PipelineStats:
    events: int = 0
    duplicates: int = 0
    emissions: int = 0
    findings_changed: int = 0
    checkpoints: int = 0
    republished: int = 0
    by_stream: Tally[str] = field(default_factory=Tally)


class IngestPipeline:
    """The `BatchHandler` of `tocsin ingest`."""

    def __init__(
        self,
        *,
        session_factory: sessionmaker[Session],
        consumer_group: str,
        topics: StreamTopics,
        rules: Sequence[Any],
        producer: KafkaProducer | None,
        lateness: timedelta,
        dedup_horizon: timedelta,
        checkpoint_seconds: float,
        sink: FindingsSink | None = None,
        clock: Callable[[], float] = time.monotonic,
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
        self._clock = clock
        self._last_checkpoint = clock()
        self.partitions: dict[TopicPartition, PartitionState] = {}
        self.stats = PipelineStats()

    # -- state -----------------------------------------------------------------------------

    def _new_state(self, tp: TopicPartition, blob: bytes | None, offset: int) -> PartitionState:
        stream = self.topics.stream_of(tp.topic)
        if blob is None:
            dedup = Deduplicator(self.dedup_horizon)
            detector = PartitionDetector(self.rules, stream=stream, lateness=self.lateness)
        else:
            data = json.loads(zlib.decompress(blob))
            if data.get("v") != STATE_VERSION:
                raise ValueError(f"unknown checkpoint version {data.get('v')!r}")
            dedup = Deduplicator.restore(data["dedup"], self.dedup_horizon)
            detector = PartitionDetector.restore(
                base64.b64decode(data["detector"]),
                self.rules,
                stream=stream,
                lateness=self.lateness,
            )
        return PartitionState(stream, dedup, detector, offset, offset, blob)

    @staticmethod
    def _encode(state: PartitionState) -> bytes:
        data = {
            "v": STATE_VERSION,
            "dedup": state.dedup.snapshot(),
            "detector": base64.b64encode(state.detector.snapshot()).decode("ascii"),
        }
        return zlib.compress(json.dumps(data, separators=(",", ":")).encode(), 3)

    def assigned(self, partitions: Sequence[TopicPartition]) -> Mapping[TopicPartition, int]:
        wanted = {(tp.topic, tp.partition): tp for tp in partitions}
        offsets: dict[TopicPartition, int] = {}
        with self.session_factory() as session:
            rows = session.scalars(
                select(PartitionCheckpoint).where(
                    PartitionCheckpoint.consumer_group == self.group,
                    PartitionCheckpoint.topic.in_({t for t, _ in wanted}),
                )
            ).all()
            found = {(r.topic, r.partition): r for r in rows if (r.topic, r.partition) in wanted}
        for key, tp in wanted.items():
            row = found.get(key)
            if row is None:
                self.partitions[tp] = self._new_state(tp, None, 0)
                continue
            self.partitions[tp] = self._new_state(tp, row.state, row.next_offset)
            offsets[tp] = row.next_offset
        return offsets

    def revoked(self, partitions: Sequence[TopicPartition]) -> None:
        owned = [tp for tp in partitions if tp in self.partitions]
        if owned:
            self._write_checkpoints(owned)
        for tp in owned:
            del self.partitions[tp]

    def rollback(self) -> Mapping[TopicPartition, int]:
        offsets = {}
        for tp, state in list(self.partitions.items()):
            restored = self._new_state(tp, state.checkpoint_blob, state.checkpoint_offset)
            self.partitions[tp] = restored
            offsets[tp] = state.checkpoint_offset
        return offsets

    # -- batches ---------------------------------------------------------------------------

    def handle(self, batch: Batch) -> Mapping[TopicPartition, int]:
        emissions: list[Emission] = []
        produced_at: dict[str, int] = {}
        republish = False
        for tp, records in batch.records.items():
            state = self.partitions.get(tp)
            if state is None:  # assigned between poll and handle: cannot happen in-thread
                raise RuntimeError(f"no state for {tp}")
            fresh: list[Event] = []
            dups = 0
            services: Tally[str] = Tally()
            for rec in records:
                ev = rec.event
                if not state.dedup.first_time(str(ev.event_id), ev.occurred_at):
                    dups += 1
                    continue
                fresh.append(ev)
                services[ev.service.value] += 1
                produced_at[str(ev.event_id)] = rec.timestamp_ms
                if state.stream == "auth" and self.producer is not None and needs_repartition(
                    self.rules, ev
                ):
                    self.producer.send(
                        self.topics.by_ip, key=str(ev.source_ip).encode(), value=rec.value
                    )
                    self.stats.republished += 1
                    republish = True
            for service, n in services.items():
                metrics.EVENTS_CONSUMED.labels(topic=tp.topic, service=service).inc(n)
            if dups:
                metrics.EVENTS_DUPLICATE.labels(topic=tp.topic).inc(dups)
                self.stats.duplicates += dups
            late_before = state.detector.stats.late_events
            emissions.extend(state.detector.process(fresh))
            late = state.detector.stats.late_events - late_before
            if late:
                metrics.EVENTS_LATE.labels(topic=tp.topic).inc(late)
            self.stats.events += len(fresh)
            self.stats.by_stream[state.stream] += len(fresh)
            state.next_offset = batch.next_offsets.get(tp, state.next_offset)
            state.dirty = True
        # offsets of invalid-only partitions advance too
        for tp, nxt in batch.next_offsets.items():
            if tp in self.partitions and tp not in batch.records:
                self.partitions[tp].next_offset = nxt
                self.partitions[tp].dirty = True
        if republish and self.producer is not None:
            self.producer.flush()
        checkpoint = batch.invalid > 0 or self._checkpoint_due()
        self.stats.emissions += len(emissions)
        return self._commit(emissions, produced_at, checkpoint=checkpoint)

    def idle(self) -> Mapping[TopicPartition, int]:
        if self._checkpoint_due() and any(s.dirty for s in self.partitions.values()):
            return self._commit([], {}, checkpoint=True)
        return {}

    def flush(self) -> Mapping[TopicPartition, int]:
        if self.producer is not None:
            self.producer.flush()
        if not self.partitions:
            return {}
        return self._commit([], {}, checkpoint=True)

    def _checkpoint_due(self) -> bool:
        return self._clock() - self._last_checkpoint >= self.checkpoint_seconds

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
        with self.session_factory() as session, session.begin():
            changed = upsert_findings(session=session, findings=list(findings.values()))
            if evidence:
                store_evidence(session=session, events=evidence.values())
            now = datetime.now(UTC)
            if changed and self.sink is not None:
                self.sink(session, changed, now)
            if checkpoint:
                blobs = self._stage_checkpoints(session, list(self.partitions))
        stored_at = time.time()
        self._observe(findings.values(), changed, produced_at, stored_at)
        self.stats.findings_changed += len(changed)
        if not checkpoint:
            return {}
        return self._after_checkpoint(blobs)

    def _write_checkpoints(self, tps: Sequence[TopicPartition]) -> None:
        if self.producer is not None:
            self.producer.flush()
        with self.session_factory() as session, session.begin():
            blobs = self._stage_checkpoints(session, tps)
        self._after_checkpoint(blobs)

    def _stage_checkpoints(
        self, session: Session, tps: Sequence[TopicPartition]
    ) -> dict[TopicPartition, bytes]:
        blobs: dict[TopicPartition, bytes] = {}
        now = datetime.now(UTC)
        for tp in tps:
            state = self.partitions[tp]
            blob = self._encode(state)
            blobs[tp] = blob
            row = session.get(PartitionCheckpoint, (self.group, tp.topic, tp.partition))
            if row is None:
                session.add(
                    PartitionCheckpoint(
                        consumer_group=self.group,
                        topic=tp.topic,
                        partition=tp.partition,
                        next_offset=state.next_offset,
                        state=blob,
                        updated_at=now,
                    )
                )
            else:
                row.next_offset = state.next_offset
                row.state = blob
                row.updated_at = now
        return blobs

    def _after_checkpoint(self, blobs: Mapping[TopicPartition, bytes]) -> dict[
        TopicPartition, int
    ]:
        offsets = {}
        for tp, blob in blobs.items():
            state = self.partitions[tp]
            state.checkpoint_blob = blob
            state.checkpoint_offset = state.next_offset
            state.dirty = False
            offsets[tp] = state.next_offset
        self._last_checkpoint = self._clock()
        self.stats.checkpoints += 1
        metrics.CHECKPOINTS_TOTAL.inc()
        return offsets

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
