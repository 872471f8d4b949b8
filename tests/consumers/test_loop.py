"""The consumer loop against the real broker (Tansu), with a real producer."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from confluent_kafka import Consumer, Producer
from kafka.structs import TopicPartition

from consumers.topics import ensure_topics
from tests.consumers.builders import access_event, auth_event, encode
from tests.consumers.recording import RecordingHandler, make_loop
from tocsin.dev.broker import EmbeddedBroker

ROOT = Path(__file__).resolve().parents[2]


def _topics(broker: EmbeddedBroker, partitions: int = 3) -> tuple[str, str, str, str]:
    tag = uuid.uuid4().hex[:8]
    auth, access, dlq = f"auth-{tag}", f"access-{tag}", f"dlq-{tag}"
    ensure_topics(bootstrap=broker.bootstrap, topics=[auth, access, dlq], partitions=partitions)
    return auth, access, dlq, f"g-{tag}"


def _produce(broker: EmbeddedBroker, messages: list[tuple[str, bytes | None, bytes]]) -> None:
    """With confluent-kafka: an independent client, not the one under test."""
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5})
    for topic, key, value in messages:
        producer.produce(topic, key=key, value=value)
    assert producer.flush(30) == 0


def _read_all(broker: EmbeddedBroker, topic: str, expected: int, timeout: float = 30) -> list:
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < expected and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and msg.error() is None:
            got.append(msg)
    time.sleep(0.5)
    while (msg := consumer.poll(0.3)) is not None:
        if msg.error() is None:
            got.append(msg)
    consumer.close()
    return got


def test_valid_duplicate_and_invalid_messages(broker: EmbeddedBroker, tmp_path: Path) -> None:
    auth, access, dlq, group = _topics(broker)
    valid = [auth_event(i) for i in range(40)]
    accesses = [access_event(i) for i in range(20)]
    invalid = [
        (auth, b"t1", b"{not json", "invalid_json"),
        (auth, b"t2", encode(auth_event(99, occurred_at="2026-11-26T09:00:00")), "schema"),
        (access, b"t3", encode(access_event(99, records=-5)), "schema"),
        (access, None, b'{"pad": "' + b"x" * (70 * 1024) + b'"}', "too_large"),
        (auth, b"t4", b"", "invalid_json"),
    ]
    msgs: list[tuple[str, bytes | None, bytes]] = []
    msgs += [(auth, ev["tenant_id"].encode(), encode(ev)) for ev in valid]
    msgs += [(auth, ev["tenant_id"].encode(), encode(ev)) for ev in valid[:7]]  # duplicates
    msgs += [(access, ev["tenant_id"].encode(), encode(ev)) for ev in accesses]
    msgs += [(t, k, v) for t, k, v, _ in invalid]
    _produce(broker, msgs)

    handler = RecordingHandler(tmp_path / "rec.db")
    loop = make_loop(broker.bootstrap, group, auth, access, dlq, handler)
    stats = loop.run(max_idle=2.0)

    assert stats.polled == len(msgs)
    assert stats.invalid == len(invalid)
    processed = handler.processed()
    # the loop hands every valid message over exactly once (duplicates are the handler's job)
    assert len(processed) == len(valid) + 7 + len(accesses)
    assert {p[0] for p in processed} == {e["event_id"] for e in valid + accesses}

    dead = _read_all(broker, dlq, len(invalid))
    assert len(dead) == len(invalid)
    by_value = {m.value(): dict(m.headers()) for m in dead}
    for topic, _key, value, reason in invalid:
        headers = by_value[value]  # the original bytes, unchanged
        assert headers["tocsin-error"].decode().startswith(reason + ":")
        src_topic, _part, off = headers["tocsin-source"].decode().split("/")
        assert src_topic == topic and int(off) >= 0
        assert headers["tocsin-failed-at"].decode().startswith("20")
    keys = {m.value(): m.key() for m in dead}
    assert keys[b"{not json"] == b"t1"


def test_kill_minus_nine_skips_nothing(broker: EmbeddedBroker, tmp_path: Path) -> None:
    auth, access, dlq, group = _topics(broker, partitions=4)
    events = [auth_event(i, tenant_id=f"t{i % 11}") for i in range(3000)]
    _produce(broker, [(auth, e["tenant_id"].encode(), encode(e)) for e in events])
    db = tmp_path / "rec.db"
    cmd = [
        sys.executable,
        "-m",
        "tests.consumers.recording",
        "--bootstrap",
        broker.bootstrap,
        "--group",
        group,
        "--auth",
        auth,
        "--access",
        access,
        "--dlq",
        dlq,
        "--db",
        str(db),
        "--delay",
        "0.05",
        "--max-records",
        "100",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    worker = subprocess.Popen(cmd, cwd=ROOT, env=env)
    # kill it once it has durably handled part of the stream
    deadline = time.monotonic() + 60
    done = 0
    while time.monotonic() < deadline:
        time.sleep(0.2)
        if db.exists():
            try:
                done = len(RecordingHandler(db).processed())
            except Exception:  # noqa: BLE001 - table not created yet
                done = 0
            if done >= 500:
                break
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)
    assert 500 <= done < len(events), "the worker was killed mid-stream"

    restarted = subprocess.run(
        [*cmd, "--max-idle", "2", "--delay", "0"], cwd=ROOT, env=env, timeout=120, check=True
    )
    assert restarted.returncode == 0
    processed = RecordingHandler(db).processed()
    ids = [p[0] for p in processed]
    assert set(ids) == {e["event_id"] for e in events}
    # each batch was recorded atomically with its offsets: nothing processed twice either
    assert len(ids) == len(events)


def test_sigterm_finishes_the_batch_and_leaves(broker: EmbeddedBroker, tmp_path: Path) -> None:
    auth, access, dlq, group = _topics(broker, partitions=2)
    events = [auth_event(i) for i in range(400)]
    _produce(broker, [(auth, e["tenant_id"].encode(), encode(e)) for e in events])
    db = tmp_path / "rec.db"
    cmd = [
        sys.executable,
        "-m",
        "tests.consumers.recording",
        "--bootstrap",
        broker.bootstrap,
        "--group",
        group,
        "--auth",
        auth,
        "--access",
        access,
        "--dlq",
        dlq,
        "--db",
        str(db),
        "--delay",
        "0.2",
        "--max-records",
        "50",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    worker = subprocess.Popen(cmd, cwd=ROOT, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(0.2)
        try:
            if len(RecordingHandler(db).processed()) >= 50:
                break
        except Exception:  # noqa: BLE001, S112 - not created yet
            continue
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    processed = {p[0] for p in RecordingHandler(db).processed()}
    assert 0 < len(processed) < len(events)
    # the group was left: a new member gets every partition at once and resumes after it
    subprocess.run(
        [*cmd, "--max-idle", "2", "--delay", "0"], cwd=ROOT, env=env, timeout=120, check=True
    )
    after = [p[0] for p in RecordingHandler(db).processed()]
    assert len(after) == len(events) and set(after) == {e["event_id"] for e in events}


def test_handler_failure_rolls_back_and_retries(broker: EmbeddedBroker, tmp_path: Path) -> None:
    auth, access, dlq, group = _topics(broker, partitions=1)
    events = [auth_event(i) for i in range(200)]
    messages = [(auth, b"k", encode(e)) for e in events]
    messages.insert(60, (auth, b"k", b"{poison"))  # in the batch that fails twice
    _produce(broker, messages)

    class Flaky(RecordingHandler):
        calls = 0

        def handle(self, batch):  # type: ignore[no-untyped-def]
            self.calls += 1
            if self.calls in (2, 3):
                raise ConnectionError("database unavailable")
            return super().handle(batch)

    handler = Flaky(tmp_path / "rec.db")
    loop = make_loop(broker.bootstrap, group, auth, access, dlq, handler, max_records=50)
    stats = loop.run(max_idle=2.0)
    assert stats.failures == 2
    ids = [p[0] for p in handler.processed()]
    assert len(ids) == len(events) and set(ids) == {e["event_id"] for e in events}
    assert json.dumps(sorted(ids)) == json.dumps(sorted(e["event_id"] for e in events))
    assert TopicPartition(auth, 0) in handler.assignments[0]
    # the poison message was replayed with its batch, but dead-lettered once
    dead = _read_all(broker, dlq, 1)
    assert [dict(m.headers())["tocsin-source"] for m in dead] == [f"{auth}/0/60".encode()]
