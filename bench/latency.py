"""Produce-to-finding latency at a fixed rate (docs/architecture.md §14: p99 < 2 s at 5,000 ev/s).

A producer process sends simulated traffic with attacks at `--rate`; `tocsin ingest` runs in
this process; every stored finding version is timed from the Kafka produce timestamp of the
newest evidence event in its batch to the commit of the batch.

    .venv/bin/python bench/latency.py [--rate 5000] [--seconds 30]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from confluent_kafka import Producer  # noqa: E402

from bench.common import START, broker, temp_sqlite, topics  # noqa: E402
from tocsin import runtime  # noqa: E402
from tocsin.dbschema import upgrade  # noqa: E402
from tocsin.dev.simulator import ATTACKS, Simulator  # noqa: E402
from tocsin.settings import load_settings  # noqa: E402


def produce_at_rate(
    bootstrap: str, names: dict[str, str], rate: float, seconds: float, done: threading.Event
) -> int:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    sim = Simulator(seed=5, start=START)
    total = int(rate * seconds)
    started = time.monotonic()
    n = 0
    for ev in sim.events(count=total, attacks=list(ATTACKS), attack_every=5000):
        producer.produce(
            names[ev.stream],
            key=ev.key.encode(),
            value=json.dumps(ev.value, separators=(",", ":")).encode(),
        )
        n += 1
        if n % 500 == 0:
            producer.poll(0)
            ahead = n / rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
    producer.flush(60)
    done.set()
    return n


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rate", type=float, default=5000)
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--partitions", type=int, default=6)
    p.add_argument("--db", default=None, help="a PostgreSQL URL instead of a SQLite file")
    a = p.parse_args()
    with broker() as b, tempfile.TemporaryDirectory() as tmp:
        names = topics(b, a.partitions)
        url = a.db or temp_sqlite(Path(tmp))
        upgrade(url)
        settings = load_settings(
            database_url=url,
            kafka_bootstrap=b.bootstrap,
            topic_auth=names["auth"],
            topic_access=names["access"],
            topic_by_ip=names["by_ip"],
            topic_dlq=names["dlq"],
            consumer_group=f"lat-{uuid.uuid4().hex[:6]}",
            demo=True,
            poll_timeout_ms=50,
            # dated traffic (START) that may run past today: no event-time horizon
            max_event_age_days=0,
            max_future_seconds=1e10,
        )
        engine, factory = runtime.database(settings)
        loop, pipeline = runtime.build_ingest(
            settings,
            session_factory=factory,
            consumer_overrides={"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000},
        )
        samples: list[float] = []
        original = pipeline._observe

        def record(findings, changed, produced_at, stored_at):  # type: ignore[no-untyped-def]
            for f in findings:
                times = [produced_at[e] for e in f.evidence if e in produced_at]
                if times:
                    samples.append(stored_at - max(times) / 1000.0)
            original(findings, changed, produced_at, stored_at)

        pipeline._observe = record  # type: ignore[method-assign]
        worker = threading.Thread(target=loop.run, kwargs={"max_idle": 10.0})
        worker.start()
        time.sleep(4)  # let the group form before traffic starts
        done = threading.Event()
        sent = produce_at_rate(b.bootstrap, names, a.rate, a.seconds, done)
        worker.join(timeout=a.seconds * 4 + 60)
        if pipeline.producer is not None:
            pipeline.producer.close()
        engine.dispose()
        samples.sort()
        if not samples:
            print("no finding stored: nothing to measure")
            return
        q = statistics.quantiles(samples, n=100)
        print(
            f"rate {a.rate:.0f} ev/s for {a.seconds:.0f}s: {sent} events, "
            f"{len(samples)} finding versions timed"
        )
        print(
            f"produce→finding latency p50 {q[49] * 1000:7.0f} ms   p99 {q[98] * 1000:7.0f} ms"
            f"   max {samples[-1] * 1000:7.0f} ms   (goal p99 < 2000 ms)"
        )


if __name__ == "__main__":
    main()
