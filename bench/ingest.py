"""Throughput: a bare kafka-python consumer vs `tocsin ingest` (full catalogue) on the same
topics, in the same run (docs/architecture.md §14: ingest ≥ 0.33× bare), on two workloads:

- `simulator`: the simulator's traffic (six services, auth and access, a brute force);
- `shaped`: a multi-tenant SaaS (`bench/workload.py`): many tenants and accounts, a shared
  pool of source IPs, bursts of failed logins on one tenant (auth events only).

Each side runs in a fresh process, so neither pays for the other's heap (the simulator that
produced the traffic, or a previous run's objects): the bare consumer is
`python bench/ingest.py --bare`, the other is the real `tocsin ingest --max-idle` command,
whose exit summary gives its records/s from its first batch polled to its last one handled.
They alternate for `--rounds` rounds on the same topics; the medians are compared.

For each workload it prints the rates and their ratio (steady state: from the first batch to
the last one handled), the ingest process's peak RSS, the p50/p99 of the periodic
checkpoints' pauses (encoding and transaction) and, apart, the end-of-run checkpoint.

    .venv/bin/python bench/ingest.py [--workload simulator|shaped|both] [--rounds 3]
        [--events 200000] [--partitions 6]
        [--shaped-events 200000] [--shaped-partitions 4] [--tenants 200] [--accounts 20000]
        [--ip-pool 250] [--burst 15] [--burst-every 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    Timer,
    broker,
    produce_shaped,
    produce_simulated,
    temp_sqlite,
    topics,
)
from bench.workload import Shape  # noqa: E402


def bare(bootstrap: str, names: dict[str, str], expected: int) -> float:
    """Read `expected` records from the two input topics and throw them away."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        names["auth"],
        names["access"],
        bootstrap_servers=bootstrap,
        group_id=f"bare-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=2000,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
    )
    n = 0
    started: float | None = None
    while n < expected:
        polled = consumer.poll(timeout_ms=500, max_records=2000)
        if polled and started is None:
            started = time.monotonic()
        for msgs in polled.values():
            n += len(msgs)
    assert started is not None
    rate = n / (time.monotonic() - started)
    consumer.close()
    return rate


def contract_and_detection(count: int) -> tuple[float, float]:
    """µs per message to validate the same simulated messages against the event contract,
    then to run the catalogue's detectors over them (one partition per stream, batches of
    2000, no Kafka, no database), with the worker's collector settings."""
    import json as _json

    from bench.common import START
    from consumers.events import AccessEvent, AuthEvent, parse_event
    from detectors.catalogue import load_rules
    from detectors.engine import PartitionDetector
    from tocsin.dev.simulator import Simulator
    from tocsin.runtime import tune_gc

    models = {"auth": AuthEvent, "access": AccessEvent}
    raw = [
        (ev.stream, _json.dumps(ev.value, separators=(",", ":")).encode())
        for ev in Simulator(seed=1, start=START).events(count=count, attacks=("brute_force",))
    ]
    rules = load_rules()
    detectors = {s: PartitionDetector(rules, stream=s) for s in ("auth", "access")}
    tune_gc()
    parsing = detecting = 0.0
    for i in range(0, len(raw), 2000):  # batch by batch, as the worker does
        started = time.process_time()
        chunk = [
            (stream, parse_event(value, models[stream])) for stream, value in raw[i : i + 2000]
        ]
        parsed = time.process_time()
        for stream, det in detectors.items():
            det.process([ev for s, ev in chunk if s == stream])
        parsing += parsed - started
        detecting += time.process_time() - parsed
    return parsing / len(raw) * 1e6, detecting / len(raw) * 1e6


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_bare(bootstrap: str, names: dict[str, str], expected: int) -> tuple[float, float]:
    cpu = children_cpu()
    out = subprocess.run(
        [sys.executable, __file__, "--bare", bootstrap, json.dumps(names), str(expected)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return float(out.stdout.strip().splitlines()[-1]), children_cpu() - cpu


def run_ingest(
    bootstrap: str, names: dict[str, str], folder: Path, partitions: int
) -> tuple[dict[str, Any], float]:
    """`tocsin ingest --max-idle 3` on a fresh SQLite database, consumer group, repartition
    topic and DLQ (the inputs are the same for every round)."""
    from consumers.topics import ensure_topics
    from tocsin.dbschema import upgrade

    tag = uuid.uuid4().hex[:6]
    names = {**names, "by_ip": f"{names['by_ip']}.{tag}", "dlq": f"{names['dlq']}.{tag}"}
    ensure_topics(bootstrap=bootstrap, topics=[names["by_ip"], names["dlq"]], partitions=partitions)
    url = temp_sqlite(folder)
    upgrade(url)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TOCSIN_DATABASE_URL": url,
        "TOCSIN_KAFKA_BOOTSTRAP": bootstrap,
        "TOCSIN_TOPIC_AUTH": names["auth"],
        "TOCSIN_TOPIC_ACCESS": names["access"],
        "TOCSIN_TOPIC_BY_IP": names["by_ip"],
        "TOCSIN_TOPIC_DLQ": names["dlq"],
        "TOCSIN_CONSUMER_GROUP": f"ingest-{tag}",
        "TOCSIN_METRICS_PORT": "0",
        "TOCSIN_DEMO": "true",
        "TOCSIN_LOG_LEVEL": "WARNING",
        # dated traffic (START) that may run past today: no event-time horizon
        "TOCSIN_MAX_EVENT_AGE_DAYS": "0",
        "TOCSIN_MAX_FUTURE_SECONDS": "1e10",
    }
    cpu = children_cpu()
    out = subprocess.run(
        [sys.executable, "-m", "tocsin.cli", "ingest", "--max-idle", "3"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    summary: dict[str, Any] = json.loads(out.stderr.strip().splitlines()[-1])
    return summary, children_cpu() - cpu


def _ms(value: Any) -> str:
    return "   -  " if value is None else f"{float(value) * 1000:6.0f}"


def measure(b: Any, folder: Path, workload: str, a: argparse.Namespace) -> tuple[float, float]:
    """Produce one workload, alternate bare and ingest rounds, print the figures. Returns the
    median bare and ingest rates."""
    if workload == "shaped":
        partitions = a.shaped_partitions
        names = topics(b, partitions)
        shape = Shape(
            tenants=a.tenants,
            accounts=a.accounts,
            ip_pool=a.ip_pool,
            burst=a.burst,
            burst_every=a.burst_every,
            events=a.shaped_events,
        )
        with Timer() as t:
            n = produce_shaped(b, names, shape)
        what = (
            f"{shape.tenants} tenants, {shape.accounts} accounts, {shape.ip_pool} shared "
            f"IPs, a burst of {shape.burst} failures every {shape.burst_every} events"
        )
    else:
        partitions = a.partitions
        names = topics(b, partitions)
        with Timer() as t:
            n = produce_simulated(b, names, a.events, attacks=("brute_force",))
        what = "the simulator's traffic with a brute force"
    print(
        f"\n-- workload {workload}: {n} events on {partitions} partitions ({what}); "
        f"produced in {t.seconds:.1f}s",
        flush=True,
    )
    bares: list[float] = []
    runs: list[dict[str, Any]] = []
    for i in range(a.rounds):
        rate, cpu = run_bare(b.bootstrap, names, n)
        bares.append(rate)
        print(f"  round {i + 1}: bare   {rate:9.0f} msg/s  (process CPU {cpu:5.1f}s)", flush=True)
        summary, cpu = run_ingest(b.bootstrap, names, folder, partitions)
        runs.append(summary)
        print(
            f"  round {i + 1}: ingest {float(summary['records_per_s']):9.0f} msg/s  "
            f"(process CPU {cpu:5.1f}s, {summary['findings_changed']} finding versions, "
            f"{summary['checkpoints']} checkpoints, peak RSS {summary['peak_rss_mb']} MB)",
            flush=True,
        )
    bare_rate = statistics.median(bares)
    ingest_rate = statistics.median(float(r["records_per_s"]) for r in runs)
    mid = sorted(runs, key=lambda r: float(r["records_per_s"]))[len(runs) // 2]
    ratio = ingest_rate / bare_rate
    print(
        f"[{workload}] bare kafka-python consumer : {bare_rate:10.0f} msg/s  (median of {a.rounds})"
    )
    print(
        f"[{workload}] tocsin ingest (catalogue)  : {ingest_rate:10.0f} msg/s  "
        f"(median of {a.rounds}, steady state)"
    )
    print(
        f"[{workload}] ratio                      : {ratio:10.1%}  (goal ≥ 33 %; "
        f"{os.cpu_count()} cores shared with the broker)"
    )
    print(
        f"[{workload}] peak RSS of tocsin ingest  : {max(r['peak_rss_mb'] for r in runs):8.0f}"
        f" MB  (largest of {a.rounds})"
    )
    print(
        f"[{workload}] checkpoint pause, ms       : p50 {_ms(mid['checkpoint_p50_s'])}  "
        f"p99 {_ms(mid['checkpoint_p99_s'])}  max {_ms(mid['checkpoint_max_s'])}  "
        f"(median round; goal p99 < 200)"
    )
    print(f"[{workload}] end-of-run flush, ms       : {_ms(mid['flush_checkpoint_s'])}")
    return bare_rate, ingest_rate


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--bare":
        print(bare(sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4])))
        return
    if len(sys.argv) == 3 and sys.argv[1] == "--contract":
        print(json.dumps(contract_and_detection(int(sys.argv[2]))))
        return
    p = argparse.ArgumentParser()
    p.add_argument("--workload", choices=("simulator", "shaped", "both"), default="both")
    p.add_argument("--events", type=int, default=200_000, help="simulator events")
    p.add_argument("--partitions", type=int, default=6, help="simulator partitions")
    p.add_argument("--shaped-events", type=int, default=200_000)
    p.add_argument("--shaped-partitions", type=int, default=4)
    p.add_argument("--tenants", type=int, default=200)
    p.add_argument("--accounts", type=int, default=20_000)
    p.add_argument("--ip-pool", type=int, default=250)
    p.add_argument("--burst", type=int, default=15)
    p.add_argument("--burst-every", type=int, default=1_000)
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    workloads = ["simulator", "shaped"] if a.workload == "both" else [a.workload]
    with broker() as b, tempfile.TemporaryDirectory() as tmp:
        rates = {workload: measure(b, Path(tmp), workload, a) for workload in workloads}
        if "simulator" not in rates:
            return
        bare_rate, ingest_rate = rates["simulator"]
        out = subprocess.run(
            [sys.executable, __file__, "--contract", str(a.events)],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
            timeout=600,
        )
        contract, detection = json.loads(out.stdout.strip().splitlines()[-1])
        per_bare = 1e6 / bare_rate
        print(
            f"where the time goes, per message (µs): bare consumer {per_bare:.1f}; "
            f"event contract alone {contract:.1f}; detectors alone {detection:.1f}; "
            f"tocsin ingest {1e6 / ingest_rate:.1f}"
        )
        print(
            f"  a worker that only read and validated would reach "
            f"{per_bare / (per_bare + contract):.0%} of the bare consumer"
        )


if __name__ == "__main__":
    main()
