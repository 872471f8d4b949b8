"""Throughput: a bare kafka-python consumer vs `tocsin ingest` (full catalogue) on the same
topics, in the same run (DESIGN §10: ingest ≥ 50 % of bare).

    .venv/bin/python bench/ingest.py [--events 200000] [--partitions 6]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kafka import KafkaConsumer  # noqa: E402

from bench.common import Timer, broker, produce_simulated, temp_sqlite, topics  # noqa: E402
from tocsin import runtime  # noqa: E402
from tocsin.dbschema import upgrade  # noqa: E402
from tocsin.settings import load_settings  # noqa: E402


def bare(bootstrap: str, names: dict[str, str], expected: int) -> float:
    consumer = KafkaConsumer(
        names["auth"], names["access"], bootstrap_servers=bootstrap,
        group_id=f"bare-{uuid.uuid4().hex[:6]}", auto_offset_reset="earliest",
        enable_auto_commit=False, max_poll_records=2000,
        session_timeout_ms=6000, heartbeat_interval_ms=1000,
    )
    n = 0
    started: float | None = None
    while n < expected:
        polled = consumer.poll(timeout_ms=500, max_records=2000)
        if polled and started is None:
            started = time.perf_counter()
        for msgs in polled.values():
            n += len(msgs)
    assert started is not None
    rate = n / (time.perf_counter() - started)
    consumer.close()
    return rate


def ingest(bootstrap: str, names: dict[str, str], expected: int, folder: Path,
           *, replicas: int = 1) -> tuple[float, int]:
    url = temp_sqlite(folder)
    upgrade(url)
    settings = load_settings(
        database_url=url, kafka_bootstrap=bootstrap, topic_auth=names["auth"],
        topic_access=names["access"], topic_by_ip=names["by_ip"], topic_dlq=names["dlq"],
        consumer_group=f"ingest-{uuid.uuid4().hex[:6]}", demo=True,
    )
    engine, factory = runtime.database(settings)
    loop, pipeline = runtime.build_ingest(
        settings, session_factory=factory,
        consumer_overrides={"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000},
    )
    first: list[float] = []
    last: list[float] = []
    original = pipeline.handle

    def timed(batch):  # type: ignore[no-untyped-def]
        if not first:
            first.append(time.perf_counter())
        result = original(batch)
        last[:] = [time.perf_counter()]
        return result

    pipeline.handle = timed  # type: ignore[method-assign]
    loop.run(max_idle=3.0)
    if pipeline.producer is not None:
        pipeline.producer.close()
    engine.dispose()
    processed = loop.stats.polled
    return processed / (last[0] - first[0]), pipeline.stats.findings_changed


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--partitions", type=int, default=6)
    a = p.parse_args()
    with broker() as b, tempfile.TemporaryDirectory() as tmp:
        names = topics(b, a.partitions)
        with Timer() as t:
            n = produce_simulated(b, names, a.events, attacks=("brute_force",))
        print(f"produced {n} events in {t.seconds:.1f}s")
        bare_rate = bare(b.bootstrap, names, n)
        ingest_rate, findings = ingest(b.bootstrap, names, n, Path(tmp))
        print(f"bare kafka-python consumer : {bare_rate:10.0f} msg/s")
        print(f"tocsin ingest (catalogue)  : {ingest_rate:10.0f} msg/s  ({findings} findings)")
        print(f"ratio                      : {ingest_rate / bare_rate:10.1%}  (goal ≥ 50 %)")


if __name__ == "__main__":
    main()
