"""The end of a bounded run, without Kafka: held by-IP events run on a copy of the state, the
checkpointed state stays that of a continuous run; quiet partitions and activity."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from kafka.structs import TopicPartition
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from consumers.events import AuthEvent, parse_event
from consumers.loop import CONTROL_HEADER, Batch, BoundedHandler, ValidRecord, _has_input
from detectors.catalogue import load_rules
from incidents.db import make_engine, session_factory
from incidents.findings_store import FindingRow
from tests.consumers.builders import auth_event
from tocsin.dbschema import upgrade
from tocsin.pipeline import IngestPipeline, StreamTopics

IP0, A0 = TopicPartition("ip", 0), TopicPartition("auth", 0)


def _pipeline(tmp_path: Path) -> tuple[IngestPipeline, sessionmaker[Session]]:
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
        checkpoint_seconds=3600,
    )
    pipe.assigned([IP0, A0])
    return pipe, factory


def _spraying(start: int, n: int) -> Batch:
    """Failures from one address on `n` distinct accounts, on the by-IP partition."""
    records = []
    for i in range(start, start + n):
        raw = json.dumps(
            auth_event(
                i,
                action="login_failure",
                failure_reason="bad_password",
                actor={"id": f"victim-{i}", "kind": "customer_user"},
                source_ip="105.112.1.9",
            )
        ).encode()
        records.append(ValidRecord(i, b"k", raw, parse_event(raw, AuthEvent), 0))
    return Batch(records={IP0: records}, next_offsets={IP0: start + n})


def _spraying_rows(factory: sessionmaker[Session]) -> list[FindingRow]:
    with factory() as session:
        return list(session.scalars(select(FindingRow).where(FindingRow.rule_id == "AUTH-002")))


def test_held_events_run_at_the_end_and_stay_held_in_the_checkpoint(tmp_path: Path) -> None:
    pipe, factory = _pipeline(tmp_path)
    assert isinstance(pipe, BoundedHandler)
    pipe.handle(_spraying(0, 25))
    assert len(pipe.partitions[IP0].held) == 25  # no watermark announced: all held
    assert _spraying_rows(factory) == []

    pipe.end_of_input()
    (row,) = _spraying_rows(factory)
    assert row.group_key == "105.112.1.9"
    assert row.count == 25
    # the state is the one a continuous run would have: the events still wait
    assert len(pipe.partitions[IP0].held) == 25
    pipe.flush()
    restored = pipe.rollback()  # back to the checkpoint just written
    assert restored[IP0] == 25
    assert len(pipe.partitions[IP0].held) == 25

    # a later run on more events of the same attack updates the same finding
    pipe.handle(_spraying(25, 5))
    pipe.end_of_input()
    (again,) = _spraying_rows(factory)
    assert again.finding_id == row.finding_id
    assert again.count == 30


def test_end_of_input_without_held_events_writes_nothing(tmp_path: Path) -> None:
    pipe, factory = _pipeline(tmp_path)
    assert pipe.end_of_input() == {}
    with factory() as session:
        assert session.scalars(select(FindingRow)).all() == []


def test_a_partition_that_never_carried_an_event_is_quiet_once_read(tmp_path: Path) -> None:
    pipe, _ = _pipeline(tmp_path)
    before = pipe.partitions[IP0].active_at
    pipe.caught_up([A0, IP0])
    assert pipe.partitions[A0].active_at == float("-inf")
    assert pipe.partitions[IP0].active_at == before  # only upstream auth partitions

    raw = json.dumps(auth_event(1)).encode()
    record = ValidRecord(0, b"k", raw, parse_event(raw, AuthEvent), 0)
    (tmp_path / "busy").mkdir()
    busy, _ = _pipeline(tmp_path / "busy")
    busy.handle(Batch(records={A0: [record]}, next_offsets={A0: 1}))
    busy.flush()
    busy.caught_up([A0])
    assert busy.partitions[A0].active_at > 0  # it has carried an event: 30 s rule


def _message(headers: list[tuple[str, bytes]] | None) -> Any:
    return SimpleNamespace(headers=headers)


def test_only_input_records_count_as_activity() -> None:
    control = _message([(CONTROL_HEADER, b"watermark"), ("tocsin-origin", b"auth/0")])
    assert not _has_input({IP0: [control, control]})
    assert _has_input({IP0: [control, _message(None)]})
    assert _has_input({A0: [_message([("traceparent", b"x")])]})
