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
from sqlalchemy import func, select

from consumers.topics import ensure_topics
from incidents.db import make_engine, session_factory
from incidents.findings_store import FindingRow
from tocsin.dev.broker import EmbeddedBroker, free_port
from tocsin.dev.simulator import SimEvent, Simulator

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
            # the scenarios are dated (START, and up to months after it): no event-time
            # horizon, whatever the date of the run
            "TOCSIN_MAX_EVENT_AGE_DAYS": "0",
            "TOCSIN_MAX_FUTURE_SECONDS": str(10 * 366 * 86400),
            "TOCSIN_DEMO": "true",
            "TOCSIN_LOG_LEVEL": "WARNING",
        }
        env.pop("TOCSIN_SMTP_URL", None)
        env.update(extra)
        return env

    def create_topics(self) -> None:
        ensure_topics(
            bootstrap=self.broker.bootstrap,
            topics=list(self.topics.values()),
            partitions=self.partitions,
        )


def make_env(broker: EmbeddedBroker, db_url: str, partitions: int = 4) -> Env:
    env = Env(broker, db_url, uuid.uuid4().hex[:8], partitions)
    env.create_topics()
    return env


def simulated(
    count: int, attacks: Sequence[str], seed: int = 3, start: datetime = START
) -> list[SimEvent]:
    return list(Simulator(seed=seed, start=start).events(count=count, attacks=list(attacks)))


def produce(
    env: Env, events: Sequence[SimEvent], extra: Sequence[tuple[str, bytes | None, bytes]] = ()
) -> list[str]:
    """Send the events, then `extra` raw messages (stream or topic, key, value); returns
    where each extra message landed, as `topic/partition/offset` (the DLQ's `tocsin-source`)."""
    producer = Producer({"bootstrap.servers": env.broker.bootstrap, "linger.ms": 10})
    topics = env.topics
    for ev in events:
        producer.produce(
            topics[ev.stream],
            key=ev.key.encode(),
            value=json.dumps(ev.value, separators=(",", ":")).encode(),
        )
        producer.poll(0)
    landed: list[str] = [""] * len(extra)

    def delivered(i: int) -> Any:
        def report(err: Any, msg: Any) -> None:
            assert err is None, err
            landed[i] = f"{msg.topic()}/{msg.partition()}/{msg.offset()}"

        return report

    for i, (topic, key, value) in enumerate(extra):
        producer.produce(topics.get(topic, topic), key=key, value=value, on_delivery=delivered(i))
    assert producer.flush(60) == 0
    return landed


def poison(count: int, seed: int = 0) -> list[tuple[str, bytes, bytes]]:
    """Messages that break the contract in each way (not JSON, schema, too large), spread
    over both input streams and several keys."""
    kinds = [
        b"{broken",
        b'{"event_id": "not-a-uuid", "action": "login_failure"}',
        b"[1, 2, 3]",
        json.dumps({"event_id": str(uuid.UUID(int=seed)), "padding": "p" * 70_000}).encode(),
    ]
    return [
        ("auth" if i % 2 else "access", f"tenant-{(seed + i) % 7}".encode(), kinds[i % len(kinds)])
        for i in range(count)
    ]


def dlq_sources(env: Env, expected: int, timeout: float = 60) -> list[str]:
    """The `tocsin-source` header of every message in the environment's DLQ (read with an
    independent client), waiting for at least `expected` of them."""
    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            "bootstrap.servers": env.broker.bootstrap,
            "group.id": f"dlq-reader-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([env.topics["dlq"]])
    got: list[str] = []
    deadline = time.monotonic() + timeout
    quiet_until = None
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                got.append(dict(msg.headers() or [])["tocsin-source"].decode())
                quiet_until = None
                continue
            if len(got) >= expected:
                quiet_until = quiet_until or time.monotonic() + 2
                if time.monotonic() >= quiet_until:
                    break
    finally:
        consumer.close()
    return got


def with_duplicates(events: Sequence[SimEvent], every: int) -> list[SimEvent]:
    """The events with a second copy (same event id) of every `every`-th one a few events
    later, as a producer's retry would send it."""
    out = list(events)
    for i in range(len(events) - 1, -1, -every):
        out.insert(min(i + 5, len(out)), events[i])
    return out


def ingest_cmd() -> list[str]:
    return [sys.executable, "-m", "tocsin.cli", "ingest"]


def run_ingest(
    env: Env,
    *,
    max_idle: float = 3.0,
    timeout: float = 240,
    extra_env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ingest_cmd(), "--max-idle", str(max_idle)],
        cwd=ROOT,
        env=env.environ(**(extra_env or {})),
        timeout=timeout,
        check=True,
        capture_output=True,
        text=True,
    )


def start_ingest(env: Env, **extra: str) -> subprocess.Popen[bytes]:
    """A worker in the background; its logs go to a file (a pipe nobody reads would fill
    up and block it)."""
    log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - lives as long as the process
        prefix=f"ingest-{env.tag}-", suffix=".log", delete=False
    )
    return subprocess.Popen(
        ingest_cmd(), cwd=ROOT, env=env.environ(**extra), stdout=subprocess.DEVNULL, stderr=log
    )


def kill9(proc: subprocess.Popen[bytes]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=20)


def tocsin(env: Env, *args: str) -> subprocess.CompletedProcess[str]:
    """`tocsin ARGS` against `env`, as text; a non-zero exit raises."""
    return subprocess.run(
        [sys.executable, "-m", "tocsin.cli", *args],
        cwd=ROOT,
        env=env.environ(),
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )


def tocsin_json(env: Env, *args: str) -> Any:
    return json.loads(tocsin(env, *args).stdout)


def findings_snapshot(db_url: str) -> dict[str, tuple[Any, ...]]:
    """Every finding with the fields that must not differ between two runs."""
    engine = make_engine(db_url)
    factory = session_factory(engine)
    with factory() as session:
        rows = session.scalars(select(FindingRow)).all()
        snap = {
            r.finding_id: (
                r.rule_id,
                r.severity,
                tuple(r.tenant_ids),
                r.group_key,
                r.count,
                r.first_seen,
                r.last_seen,
                tuple(r.evidence),
                r.records,
            )
            for r in rows
        }
    engine.dispose()
    return snap


def outcome(db_url: str) -> dict[str, Any]:
    """What a run leaves in the database, in terms two runs must agree on: findings,
    incidents (by the findings they group) and notices (per incident). Incidents merged into
    another by correlation (a finding bridged them; which ones meet first depends on arrival
    order) are left out, with the drafts they took with them."""
    from incidents.models import Incident, IncidentFinding
    from notifiers.models import Notice

    engine = make_engine(db_url)
    factory = session_factory(engine)
    with factory() as session:
        groups: dict[int, list[str]] = {}
        for incident_id, finding_id in session.execute(
            select(IncidentFinding.incident_id, IncidentFinding.finding_id)
        ):
            groups.setdefault(incident_id, []).append(finding_id)
        key_of = {i: tuple(sorted(f)) for i, f in groups.items()}
        incidents = {}
        merged = set()
        for inc in session.scalars(select(Incident)):
            if inc.status == "dismissed" and (inc.resolution_reason or "").startswith(
                "merged into "
            ):
                merged.add(inc.id)
                continue
            tenants = tuple(
                sorted((t.tenant_id, t.events, t.records, t.persons) for t in inc.tenants)
            )
            incidents[key_of.get(inc.id, ())] = (
                inc.status,
                tuple(inc.rule_ids),
                tenants,
                inc.finding_severity,
                inc.severity_band,
            )
        notices: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
        for n in session.scalars(select(Notice)):
            if n.incident_id in merged:
                continue
            notices.setdefault(key_of.get(n.incident_id, ()), []).append(
                (n.kind, n.scope, n.tenant_id, n.phase, n.version, n.status)
            )
        n_incidents = session.scalar(
            select(func.count()).select_from(Incident).where(Incident.id.not_in(merged))
        )
        n_notices = session.scalar(
            select(func.count()).select_from(Notice).where(Notice.incident_id.not_in(merged))
        )
    engine.dispose()
    return {
        "findings": findings_snapshot(db_url),
        "incidents": incidents,
        "notices": {k: sorted(v) for k, v in notices.items()},
        # no incident or notice twice (the maps above would hide a duplicate)
        "rows": (n_incidents, n_notices),
    }


def outcome_diff(actual: dict[str, Any], expected: dict[str, Any]) -> str:
    parts = []
    for part in ("findings", "incidents", "notices"):
        diff = snapshot_diff(actual[part], expected[part])
        if diff != "equal":
            parts.append(f"{part}:\n{diff}")
    if actual["rows"] != expected["rows"]:
        parts.append(
            f"rows (incidents, notices): got {actual['rows']}, expected {expected['rows']}"
        )
    return "\n".join(parts) or "equal"


@dataclass
class Traffic:
    """One fault scenario's input: simulated events with producer retries interleaved, and
    poison messages. `clean` is what a clean run leaves."""

    events: list[SimEvent]
    poison: list[tuple[str, bytes, bytes]]
    clean: dict[str, Any] | None = None


def traffic(
    count: int, attacks: Sequence[str], *, seed: int, poisoned: int = 12, start: datetime = START
) -> Traffic:
    events = with_duplicates(simulated(count, attacks, seed=seed, start=start), every=97)
    return Traffic(events, poison(poisoned, seed))


def clean_run(broker: EmbeddedBroker, folder: Path, scenario: Traffic) -> dict[str, Any]:
    """Run the scenario once, without faults, on a fresh SQLite database; check its own
    accounting, and remember (and return) its outcome."""
    from tocsin.dbschema import upgrade

    url = f"sqlite:///{folder / f'clean-{uuid.uuid4().hex[:6]}.db'}"
    upgrade(url)
    env = make_env(broker, url)
    landed = produce(env, scenario.events, scenario.poison)
    result = run_ingest(env)
    summary = json.loads(result.stderr.strip().splitlines()[-1])
    assert summary["invalid"] == len(scenario.poison), summary
    assert summary["duplicates"] >= len(scenario.events) // 100, summary
    assert_accounted(env, scenario, landed)
    scenario.clean = outcome(url)
    return scenario.clean


def assert_accounted(env: Env, scenario: Traffic, poisoned_at: Sequence[str]) -> None:
    """Every input message is covered by the checkpoints (processed, or dropped as a
    duplicate), and every poison message is in the DLQ with its source, none missing and
    none that was not poison. (Counted from what was produced: the embedded broker's
    high-water marks can lag behind its last batch.)"""
    total = len(scenario.events) + len(scenario.poison)
    assert wait_until(lambda: progress(env) == total, timeout=60), (progress(env), total)
    assert set(dlq_sources(env, len(poisoned_at))) == set(poisoned_at)


def progress(env: Env) -> int:
    """Input offsets covered by the checkpoints of the environment's consumer group."""
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


__all__ = [
    "Env",
    "free_port",
    "make_env",
    "simulated",
    "produce",
    "run_ingest",
    "start_ingest",
    "kill9",
    "tocsin_json",
    "findings_snapshot",
    "wait_until",
    "progress",
    "outcome",
    "outcome_diff",
    "poison",
    "dlq_sources",
    "with_duplicates",
    "traffic",
    "clean_run",
    "assert_accounted",
]
