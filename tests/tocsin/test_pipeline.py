"""The ingest handler without Kafka: checkpoint policy (what is written, and when)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from kafka.structs import TopicPartition
from sqlalchemy import select

from consumers.events import AuthEvent, parse_event
from consumers.loop import Batch, ValidRecord
from detectors.catalogue import load_rules
from incidents.db import make_engine, session_factory
from incidents.findings_store import PartitionCheckpoint
from tests.consumers.builders import auth_event
from tocsin.dbschema import upgrade
from tocsin.pipeline import CHECKPOINT_COST_FACTOR, IngestPipeline, StreamTopics

A0, A1 = TopicPartition("auth", 0), TopicPartition("auth", 1)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _pipeline(tmp_path: Path, clock: FakeClock) -> tuple[IngestPipeline, object]:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    upgrade(url)
    factory = session_factory(make_engine(url))
    pipe = IngestPipeline(
        session_factory=factory,
        consumer_group="g",
        topics=StreamTopics("auth", "access", "ip"),
        rules=load_rules(),
        producer=None,
        lateness=timedelta(seconds=60),
        dedup_horizon=timedelta(minutes=10),
        checkpoint_seconds=10,
        clock=clock,
    )
    pipe.assigned([A0, A1])
    return pipe, factory


def _batch(tp: TopicPartition, start: int, n: int) -> Batch:
    records = []
    for i in range(start, start + n):
        raw = json.dumps(auth_event(i)).encode()
        records.append(ValidRecord(i, b"k", raw, parse_event(raw, AuthEvent), 0))
    return Batch(records={tp: records}, next_offsets={tp: start + n})


def _stored(factory) -> dict[int, int]:  # type: ignore[no-untyped-def]
    with factory() as session:
        return {r.partition: r.next_offset for r in session.scalars(select(PartitionCheckpoint))}


def test_only_partitions_that_changed_are_checkpointed(tmp_path: Path) -> None:
    clock = FakeClock()
    pipe, factory = _pipeline(tmp_path, clock)
    pipe.handle(_batch(A0, 0, 5))
    pipe.handle(_batch(A1, 0, 5))
    clock.now = 11
    assert pipe.handle(_batch(A0, 5, 5)) == {A0: 10, A1: 5}
    assert _stored(factory) == {0: 10, 1: 5}
    encoded = pipe.partitions[A1].checkpoint_blob
    clock.now = 22
    assert pipe.handle(_batch(A0, 10, 5)) == {A0: 15}  # A1 did not change: not rewritten
    assert pipe.partitions[A1].checkpoint_blob is encoded
    assert _stored(factory) == {0: 15, 1: 5}


def test_a_costly_checkpoint_stretches_the_interval(tmp_path: Path) -> None:
    clock = FakeClock()
    pipe, _factory = _pipeline(tmp_path, clock)
    pipe.handle(_batch(A0, 0, 5))
    clock.now = 11
    assert pipe.handle(_batch(A0, 5, 5))  # due after checkpoint_seconds
    pipe._checkpoint_cost = 2.0  # as if the state took 2 s to encode
    clock.now = 11 + 30
    assert pipe.handle(_batch(A0, 10, 5)) == {}  # 30 s < 20 x 2 s
    clock.now = 11 + 2.0 * CHECKPOINT_COST_FACTOR
    assert pipe.handle(_batch(A0, 15, 5)) == {A0: 20}
