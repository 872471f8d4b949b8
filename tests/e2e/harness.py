"""Helpers for end-to-end tests: real broker, real database, `tocsin` as a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka import Producer
from sqlalchemy import select

from consumers.topics import ensure_topics
from incidents.db import make_engine, session_factory
from incidents.findings_store import FindingRow
from tocsin.broker import EmbeddedBroker, free_port
from tocsin.simulator import SimEvent, Simulator

ROOT = Path(__file__).resolve().parents[2]
START = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)


@dataclass
class Env:
    broker: EmbeddedBroker
    db_url: str
    tag: str
    partitions: int = 4

    @property
    def topics(self) -> dict[str, str]:
        return {
            "auth": f"auth.{self.tag}",
            "access": f"access.{self.tag}",
            "by_ip": f"by-ip.{self.tag}",
            "dlq": f"dlq.{self.tag}",
        }

    def environ(self, **extra: str) -> dict[str, str]:
        t = self.topics
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "TOCSIN_DATABASE_URL": self.db_url,
            "TOCSIN_KAFKA_BOOTSTRAP": self.broker.bootstrap,
            "TOCSIN_TOPIC_AUTH": t["auth"],
            "TOCSIN_TOPIC_ACCESS": t["access"],
            "TOCSIN_TOPIC_BY_IP": t["by_ip"],
            "TOCSIN_TOPIC_DLQ": t["dlq"],
            "TOCSIN_TOPIC_PARTITIONS": str(self.partitions),
            "TOCSIN_CONSUMER_GROUP": f"g.{self.tag}",
            "TOCSIN_METRICS_PORT": "0",
            "TOCSIN_CHECKPOINT_SECONDS": "1",
            "TOCSIN_DEMO": "true",
            "TOCSIN_LOG_LEVEL": "WARNING",
        }
        env.pop("TOCSIN_SMTP_URL", None)
        env.update(extra)
        return env

    def create_topics(self) -> None:
        ensure_topics(bootstrap=self.broker.bootstrap, topics=list(self.topics.values()),
                      partitions=self.partitions)


def make_env(broker: EmbeddedBroker, db_url: str, partitions: int = 4) -> Env:
    env = Env(broker, db_url, uuid.uuid4().hex[:8], partitions)
    env.create_topics()
    return env


def simulated(count: int, attacks: Sequence[str], seed: int = 3,
              start: datetime = START) -> list[SimEvent]:
    return list(Simulator(seed=seed, start=start).events(count=count, attacks=list(attacks)))


def produce(env: Env, events: Sequence[SimEvent], extra: Sequence[tuple[str, bytes | None,
            bytes]] = ()) -> None:
    producer = Producer({"bootstrap.servers": env.broker.bootstrap, "linger.ms": 10})
    topics = env.topics
    for ev in events:
        producer.produce(topics[ev.stream], key=ev.key.encode(),
                         value=json.dumps(ev.value, separators=(",", ":")).encode())
        producer.poll(0)
    for topic, key, value in extra:
        producer.produce(topics.get(topic, topic), key=key, value=value)
    assert producer.flush(60) == 0


def ingest_cmd() -> list[str]:
    return [sys.executable, "-m", "tocsin.cli", "ingest"]


def run_ingest(env: Env, *, max_idle: float = 3.0, timeout: float = 240,
               extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ingest_cmd(), "--max-idle", str(max_idle)], cwd=ROOT,
        env=env.environ(**(extra_env or {})), timeout=timeout, check=True,
        capture_output=True, text=True,
    )


def start_ingest(env: Env, **extra: str) -> subprocess.Popen[bytes]:
    """A worker in the background; its logs go to a file (a pipe nobody reads would fill
    up and block it)."""
    log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - lives as long as the process
        prefix=f"ingest-{env.tag}-", suffix=".log", delete=False
    )
    return subprocess.Popen(ingest_cmd(), cwd=ROOT, env=env.environ(**extra),
                            stdout=subprocess.DEVNULL, stderr=log)


def kill9(proc: subprocess.Popen[bytes]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=20)


def tocsin_json(env: Env, *args: str) -> Any:
    out = subprocess.run([sys.executable, "-m", "tocsin.cli", *args], cwd=ROOT,
                         env=env.environ(), check=True, capture_output=True, text=True,
                         timeout=120)
    return json.loads(out.stdout)


def findings_snapshot(db_url: str) -> dict[str, tuple[Any, ...]]:
    """Every finding with the fields that must not differ between two runs."""
    engine = make_engine(db_url)
    factory = session_factory(engine)
    with factory() as session:
        rows = session.scalars(select(FindingRow)).all()
        snap = {
            r.finding_id: (r.rule_id, r.severity, tuple(r.tenant_ids), r.group_key, r.count,
                           r.first_seen, r.last_seen, tuple(r.evidence), r.records)
            for r in rows
        }
    engine.dispose()
    return snap


def progress(env: Env) -> int:
    """Input offsets covered by the checkpoints of the environment's consumer group."""
    from sqlalchemy import func

    from incidents.findings_store import PartitionCheckpoint

    engine = make_engine(env.db_url)
    try:
        with engine.connect() as conn:
            done = conn.execute(
                select(func.coalesce(func.sum(PartitionCheckpoint.next_offset), 0)).where(
                    PartitionCheckpoint.consumer_group == f"g.{env.tag}",
                    PartitionCheckpoint.topic.in_([env.topics["auth"], env.topics["access"]]),
                )
            ).scalar_one()
    except Exception:  # noqa: BLE001 - database unreachable: no progress visible
        return -1
    finally:
        engine.dispose()
    return int(done)


def snapshot_diff(actual: dict[str, Any], expected: dict[str, Any]) -> str:
    """A readable difference between two findings snapshots (for assertion messages)."""
    lines = []
    for fid in sorted(set(actual) | set(expected)):
        a, e = actual.get(fid), expected.get(fid)
        if a != e:
            lines.append(f"{fid}: got {a!r}\n   expected {e!r}")
    return "\n".join(lines) or "equal"


def wait_until(predicate: Any, timeout: float, interval: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


__all__ = ["Env", "free_port", "make_env", "simulated", "produce", "run_ingest",
           "start_ingest", "kill9", "tocsin_json", "findings_snapshot", "wait_until", "progress"]
