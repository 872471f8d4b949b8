"""Shared helpers for the benchmarks (not tests): broker, topics, traffic, timing."""

from __future__ import annotations

import json
import os
import resource
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka import Producer

from bench.workload import Shape, shaped_events
from consumers.topics import ensure_topics
from tocsin.dev.broker import EmbeddedBroker
from tocsin.dev.simulator import Simulator

START = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)


@contextmanager
def broker() -> Iterator[EmbeddedBroker]:
    external = os.environ.get("BENCH_KAFKA_BOOTSTRAP")
    if external:
        host, port = external.rsplit(":", 1)
        yield EmbeddedBroker(port=int(port), host=host)
        return
    with EmbeddedBroker() as running:
        yield running


def topics(b: EmbeddedBroker, partitions: int) -> dict[str, str]:
    tag = uuid.uuid4().hex[:6]
    names = {
        "auth": f"bench.auth.{tag}",
        "access": f"bench.access.{tag}",
        "by_ip": f"bench.by-ip.{tag}",
        "dlq": f"bench.dlq.{tag}",
    }
    ensure_topics(bootstrap=b.bootstrap, topics=list(names.values()), partitions=partitions)
    return names


def produce_simulated(
    b: EmbeddedBroker,
    names: dict[str, str],
    count: int,
    *,
    seed: int = 1,
    attacks: tuple[str, ...] = (),
) -> int:
    producer = Producer(
        {
            "bootstrap.servers": b.bootstrap,
            "linger.ms": 20,
            "batch.num.messages": 10000,
            "queue.buffering.max.messages": 500000,
        }
    )
    sim = Simulator(seed=seed, start=START)
    n = 0
    for ev in sim.events(count=count, attacks=attacks):
        value = json.dumps(ev.value, separators=(",", ":")).encode()
        while True:
            try:
                producer.produce(names[ev.stream], key=ev.key.encode(), value=value)
                break
            except BufferError:
                producer.poll(0.1)
        n += 1
        if n % 10000 == 0:
            producer.poll(0)
    producer.flush(120)
    return n


def produce_shaped(b: EmbeddedBroker, names: dict[str, str], shape: Shape) -> int:
    """The multi-tenant workload of `bench/workload.py` on the auth topic, keyed by tenant."""
    producer = Producer(
        {
            "bootstrap.servers": b.bootstrap,
            "linger.ms": 20,
            "batch.num.messages": 10000,
            "queue.buffering.max.messages": 500000,
        }
    )
    n = 0
    for key, body in shaped_events(shape):
        value = json.dumps(body, separators=(",", ":")).encode()
        while True:
            try:
                producer.produce(names["auth"], key=key.encode(), value=value)
                break
            except BufferError:
                producer.poll(0.1)
        n += 1
        if n % 10000 == 0:
            producer.poll(0)
    producer.flush(120)
    return n


def rss_mb() -> float:
    """Current resident set size in MiB (Linux /proc)."""
    with open("/proc/self/statm") as fp:
        pages = int(fp.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def temp_sqlite(folder: Path) -> str:
    return f"sqlite:///{folder / f'bench-{uuid.uuid4().hex[:6]}.db'}"


class Timer:
    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *_: object) -> None:
        self.seconds = time.perf_counter() - self.start
