"""Incremental checkpoints through the database (SQLite, no Kafka): what a worker restores
is exactly the state it had at its checkpoint; a rollback brings back what is stored."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka.structs import TopicPartition
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from consumers.events import AuthEvent, parse_event
from consumers.loop import Batch, ValidRecord
from detectors.catalogue import load_rules
from incidents.db import make_engine, session_factory
from incidents.findings_store import PartitionCheckpoint, PartitionStateEntry
from tests.consumers.builders import auth_event
from tocsin import pipeline as pipeline_module
from tocsin.dbschema import upgrade
from tocsin.pipeline import IngestPipeline, StreamTopics

A0, A1 = TopicPartition("auth", 0), TopicPartition("auth", 1)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _factory(tmp_path: Path) -> sessionmaker[Session]:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    upgrade(url)
    return session_factory(make_engine(url))


def _pipeline(factory: sessionmaker[Session], clock: FakeClock, **kw: Any) -> IngestPipeline:
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
        wall_clock=lambda: 1_800_000_000.0,
        **kw,
    )
    pipe.assigned([A0, A1])
    return pipe


def _batch(tp: TopicPartition, start: int, n: int, **over: Any) -> Batch:
    records = []
    for i in range(start, start + n):
        fields = {"actor": {"id": f"u{i % 40}", "kind": "customer_user"}, **over}
        if i % 3 == 0:
            fields.setdefault("action", "login_failure")
            fields.setdefault("failure_reason", "bad_password")
        raw = json.dumps(auth_event(i * 7, **fields)).encode()
        records.append(ValidRecord(i, b"k", raw, parse_event(raw, AuthEvent), 0))
    return Batch(records={tp: records}, next_offsets={tp: start + n})


def _snapshots(pipe: IngestPipeline, tps: Sequence[TopicPartition]) -> dict[Any, bytes]:
    return {tp: pipe.partitions[tp].detector.snapshot() for tp in tps}


def _entries(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(PartitionStateEntry)) or 0


def test_a_restart_restores_the_checkpointed_state(tmp_path: Path) -> None:
    factory, clock = _factory(tmp_path), FakeClock()
    pipe = _pipeline(factory, clock)
    for round_ in range(4):  # several checkpoints, keys expiring between them
        pipe.handle(_batch(A0, round_ * 60, 60))
        pipe.handle(_batch(A1, round_ * 30, 30, actor={"id": "solo", "kind": "customer_user"}))
        clock.now += 11
        assert pipe.handle(_batch(A0, round_ * 60 + 60, 0)) != {}
        expected = _snapshots(pipe, [A0, A1])
        again = _pipeline(factory, clock)
        assert _snapshots(again, [A0, A1]) == expected
        assert again.partitions[A0].stored and not again.partitions[A0].dirty
    assert _entries(factory) > 0


def test_a_checkpoint_writes_the_keys_that_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    factory, clock = _factory(tmp_path), FakeClock()
    pipe = _pipeline(factory, clock)
    pipe.handle(_batch(A0, 0, 200))
    clock.now = 11
    assert pipe.handle(_batch(A0, 200, 0)) == {A0: 200, A1: 0}
    written: list[int] = []
    real = IngestPipeline._write_entries

    def spy(session: Session, purges: Any, deletes: Any, writes: Any) -> None:
        written.append(len(writes) + len(deletes))
        real(session, purges, deletes, writes)

    monkeypatch.setattr(IngestPipeline, "_write_entries", staticmethod(spy))
    one = {"actor": {"id": "u3", "kind": "customer_user"}, "action": "login_success"}
    pipe.handle(_batch(A0, 200, 1, **one))
    clock.now = 22
    assert pipe.handle(_batch(A0, 201, 0)) == {A0: 201}
    assert 0 < written[-1] <= 6  # one account's keys, not the 40 accounts' state


def test_many_changed_keys_make_a_checkpoint_due_before_the_interval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline_module, "DIRTY_KEYS_MAX", 50)
    factory, clock = _factory(tmp_path), FakeClock()
    pipe = _pipeline(factory, clock)
    assert pipe.handle(_batch(A0, 0, 5)) == {}  # a few keys: wait for the interval
    assert pipe.handle(_batch(A0, 5, 120)) == {A0: 125, A1: 0}  # many: at once
    assert pipe.partitions[A0].detector.dirty_keys == 0


def test_rollback_after_a_failed_transaction_matches_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    factory, clock = _factory(tmp_path), FakeClock()
    failing = {"on": False}
    real = IngestPipeline._write_entries

    def flaky(session: Session, purges: Any, deletes: Any, writes: Any) -> None:
        real(session, purges, deletes, writes)
        if failing["on"]:
            raise RuntimeError("database refused")

    monkeypatch.setattr(IngestPipeline, "_write_entries", staticmethod(flaky))
    pipe = _pipeline(factory, clock)
    pipe.handle(_batch(A0, 0, 60))
    clock.now = 11
    assert pipe.handle(_batch(A0, 60, 0)) == {A0: 60, A1: 0}
    stored = _snapshots(pipe, [A0, A1])
    failing["on"] = True
    clock.now = 22
    with pytest.raises(RuntimeError):
        pipe.handle(_batch(A0, 60, 60))  # the checkpoint's transaction fails
    assert pipe.partitions[A0].detector.dirty_keys > 0
    assert pipe.rollback() == {A0: 60, A1: 0}
    failing["on"] = False
    pipe.handle(_batch(A0, 60, 0))  # the next use reloads what is stored
    assert pipe.partitions[A0].detector.dirty_keys == 0
    assert _snapshots(pipe, [A0, A1]) == stored
    # carrying on gives what one run without the failure gives, and stores it
    pipe.handle(_batch(A0, 60, 60))
    clock.now = 33
    assert pipe.handle(_batch(A0, 120, 0)) == {A0: 120}
    (tmp_path / "other").mkdir()
    straight = _pipeline(_factory(tmp_path / "other"), FakeClock())
    straight.handle(_batch(A0, 0, 120))
    assert _snapshots(pipe, [A0]) == _snapshots(straight, [A0])
    assert _snapshots(_pipeline(factory, clock), [A0]) == _snapshots(straight, [A0])


def test_a_checkpoint_of_the_first_format_is_read_and_rewritten(tmp_path: Path) -> None:
    factory, clock = _factory(tmp_path), FakeClock()
    old = _pipeline(factory, clock)
    old.handle(_batch(A0, 0, 90))
    state = old.partitions[A0]
    with factory() as session, session.begin():  # as the previous version stored it
        session.add(
            PartitionCheckpoint(
                consumer_group="g", topic="auth", partition=0, next_offset=90,
                state=IngestPipeline._encode(state), updated_at=datetime.now(UTC),
            )
        )  # fmt: skip
    expected = _snapshots(old, [A0])
    pipe = _pipeline(factory, clock)
    assert _snapshots(pipe, [A0]) == expected
    assert pipe.partitions[A0].dirty and not pipe.partitions[A0].stored
    clock.now = 11
    assert pipe.handle(_batch(A0, 90, 0))[A0] == 90  # every key written as entries
    assert _entries(factory) > 0
    assert _snapshots(_pipeline(factory, clock), [A0]) == expected
