"""Scale-out: the same topics consumed by 1 then 2 `tocsin ingest` processes in one group.

Throughput is measured from the first checkpoint to the moment the checkpoints cover every
offset (group joins are excluded), on a fresh SQLite database each time.

    .venv/bin/python bench/replicas.py [--events 200000] [--partitions 6]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from bench.common import broker, produce_simulated, temp_sqlite, topics  # noqa: E402
from incidents.db import make_engine  # noqa: E402
from incidents.findings_store import PartitionCheckpoint  # noqa: E402
from tocsin.dbschema import upgrade  # noqa: E402


def run(
    bootstrap: str,
    names: dict[str, str],
    total: int,
    replicas: int,
    folder: Path,
    db_url: str | None = None,
) -> float:
    url = db_url or temp_sqlite(folder)
    upgrade(url)
    group = f"rep-{uuid.uuid4().hex[:6]}"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TOCSIN_DATABASE_URL": url,
        "TOCSIN_KAFKA_BOOTSTRAP": bootstrap,
        "TOCSIN_TOPIC_AUTH": names["auth"],
        "TOCSIN_TOPIC_ACCESS": names["access"],
        "TOCSIN_TOPIC_BY_IP": names["by_ip"],
        "TOCSIN_TOPIC_DLQ": names["dlq"],
        "TOCSIN_CONSUMER_GROUP": group,
        "TOCSIN_METRICS_PORT": "0",
        "TOCSIN_CHECKPOINT_SECONDS": "0.5",
        "TOCSIN_DEMO": "true",
        "TOCSIN_LOG_LEVEL": "WARNING",
        # dated traffic (START) that may run past today: no event-time horizon
        "TOCSIN_MAX_EVENT_AGE_DAYS": "0",
        "TOCSIN_MAX_FUTURE_SECONDS": "1e10",
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tocsin.cli", "ingest"],
            cwd=ROOT,
            env=env,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(replicas)
    ]
    engine = make_engine(url)
    inputs = (names["auth"], names["access"])
    first: float | None = None
    try:
        while True:
            time.sleep(0.1)
            with engine.connect() as conn:
                done = conn.execute(
                    select(func.coalesce(func.sum(PartitionCheckpoint.next_offset), 0)).where(
                        PartitionCheckpoint.consumer_group == group,
                        PartitionCheckpoint.topic.in_(inputs),
                    )
                ).scalar_one()
            if done and first is None:
                first = time.perf_counter()
                first_done = int(done)
            if done >= total:
                break
        assert first is not None
        return (total - first_done) / (time.perf_counter() - first)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=60)
        engine.dispose()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--partitions", type=int, default=6)
    p.add_argument("--db", default=None, help="a PostgreSQL URL instead of SQLite files")
    a = p.parse_args()
    with broker() as b, tempfile.TemporaryDirectory() as tmp:
        names = topics(b, a.partitions)
        n = produce_simulated(b, names, a.events)
        one = run(b.bootstrap, names, n, 1, Path(tmp), a.db)
        two = run(b.bootstrap, names, n, 2, Path(tmp), a.db)
        print(f"1 replica  : {one:10.0f} msg/s")
        print(
            f"2 replicas : {two:10.0f} msg/s   (x{two / one:.2f}; {os.cpu_count()} cores "
            "shared with the broker and the database)"
        )


if __name__ == "__main__":
    main()
