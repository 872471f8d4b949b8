"""Time the incident queue (nearest deadline first) and correlation on N incidents.

    .venv/bin/python bench/incidents_queue.py [N] [sqlite|postgresql-url]

Prints figures; not a test.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy.orm import Session  # noqa: E402

from bench.findings import bench_finding  # noqa: E402
from incidents import flows, schemas, service  # noqa: E402
from incidents.clocks import ClockPolicy  # noqa: E402
from incidents.db import make_engine, session_factory, transaction  # noqa: E402
from incidents.models import Customer, Incident, IncidentCounter, IncidentTenant  # noqa: E402
from tocsin.dbschema import upgrade  # noqa: E402

POLICY = ClockPolicy()


def seed(session: Session, n: int, now: datetime) -> None:
    session.add_all(
        Customer(
            tenant_id=f"t{i}",
            name=f"Tenant {i}",
            contact_email=f"sec@t{i}.test",
            notify_delay_hours=12 + i % 3 * 12,
        )
        for i in range(50)
    )
    for i in range(n):
        at = now - timedelta(minutes=i * 7)
        inc = Incident(
            ref=f"INC-2026-{i + 1:05d}",
            year=2026,
            seq=i + 1,
            status=("closed" if i % 5 == 0 else "detected"),
            title="bench",
            first_seen=at,
            last_seen=at,
            detected_at=at,
            aware_at=at,
            rule_ids=["AUTH-001"],
            nature=["confidentiality"],
            data_categories=[],
            finding_severity="high",
            consequences="",
            measures="",
        )
        inc.tenants = [
            IncidentTenant(
                tenant_id=f"t{(i + k) % 50}",
                events=3,
                records=0,
                persons=0,
                first_seen=at,
                last_seen=at,
            )
            for k in range(1 + i % 3)
        ]
        session.add(inc)
    session.add(IncidentCounter(year=2026, last=n))
    session.flush()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    url = sys.argv[2] if len(sys.argv) > 2 else None
    if url is None:
        url = f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    upgrade(url)
    engine = make_engine(url)
    factory = session_factory(engine)
    now = datetime.now(UTC)
    with transaction(factory) as session:
        seed(session, n, now)
    timings = []
    for _ in range(20):
        with factory() as session:
            t = time.perf_counter()
            rows = service.list_incidents(session=session, limit=50, now=now, policy=POLICY)
            schemas.summaries(session=session, incidents=rows, policy=POLICY, now=now)
            timings.append(time.perf_counter() - t)
    timings.sort()
    print(
        f"queue of {n} incidents, page of 50, deadline order: "
        f"median {statistics.median(timings) * 1000:.1f} ms, "
        f"p95 {timings[int(len(timings) * 0.95) - 1] * 1000:.1f} ms"
    )
    # Correlation: a batch of 200 findings against the seeded database.
    with transaction(factory) as session:
        rows2 = []
        for i in range(200):
            row = bench_finding(
                i,
                at=now,
                actor_id=f"u{i % 40}",
                source_ip=f"192.0.2.{i % 60}",
                data_categories=[],
                summary="bench",
            )
            session.add(row)
            rows2.append(row)
        session.flush()
        t = time.perf_counter()
        got = flows.record_findings(session=session, findings=rows2, now=now)
        first = time.perf_counter() - t
        t = time.perf_counter()
        flows.record_findings(session=session, findings=rows2, now=now)
        replay = time.perf_counter() - t
    print(
        f"record_findings: 200 findings → {len(got)} incidents in {first * 1000:.1f} ms; "
        f"replay {replay * 1000:.1f} ms"
    )
    engine.dispose()


if __name__ == "__main__":
    main()
