"""Console page render times with N incidents (docs/architecture.md §14: the queue and the
incident page < 200 ms p95 for 10,000).

    .venv/bin/python bench/console.py [--incidents 10000] [--runs 40] [--url DB_URL]

Incidents are made the way the pipeline makes them (finding rows, then
`incidents.flows.record_findings`), a fifth of them closed. The queue page (`GET /queue`,
HTML, first page of 50, nearest deadline first), the most urgent incident's page, the
overview and the API list are requested through the full ASGI stack (session cookie, role
check, middleware, Jinja2) with an in-process client. One more incident is heavy: one actor
and source across 30 customers, 300 findings, 200 evidence events shown, a customer notice
per customer (drafted, then refreshed once the incident is confirmed); its page is measured
beside the queue's.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
import uuid
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from bench.findings import bench_finding  # noqa: E402
from console import security  # noqa: E402
from console.app import create_app  # noqa: E402
from consumers.events import AuthEvent  # noqa: E402
from incidents import service as incident_service  # noqa: E402
from incidents.db import make_engine, session_factory, transaction  # noqa: E402
from incidents.findings_store import FindingRow, store_evidence  # noqa: E402
from incidents.flows import record_findings  # noqa: E402
from notifiers.customers import CustomerRow, import_rows  # noqa: E402
from notifiers.flows import draft_notices  # noqa: E402
from notifiers.schemas import DraftPolicy  # noqa: E402
from tocsin.dbschema import upgrade  # noqa: E402
from tocsin.runtime import tune_gc  # noqa: E402
from tocsin.settings import Organisation, Settings  # noqa: E402

PASSWORD = "bench password 123"  # noqa: S105 - a throwaway bench account
BATCH = 500
HEAVY_FINDINGS = 300
HEAVY_TENANTS = 30
HEAVY_EVENTS = 200
ORG = Organisation(
    name="AVM Up",
    siren="123 456 789",
    address="1 rue de l'Exemple, Lyon",
    representative="Bench",
    dpo_name="Bench DPO",
    dpo_phone="+33 4 00 00 00 00",
)


def seed_heavy(url: str) -> str:
    """One incident with many findings, evidence events and notices; returns its ref."""
    factory = session_factory(make_engine(url))
    now = datetime.now(UTC)
    start = now - timedelta(hours=3)
    actor, ip = "heavy-actor", "192.0.2.77"
    events = [
        AuthEvent.model_validate(
            {
                "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench-heavy/{i}")),
                "occurred_at": (start + timedelta(seconds=i)).isoformat(),
                "service": "faxbis",
                "tenant_id": f"t{i % HEAVY_TENANTS}",
                "actor": {"id": actor, "kind": "customer_user"},
                "source_ip": ip,
                "user_agent": "Mozilla/5.0",
                "interface": "web",
                "tls": True,
                "action": "login_failure",
            }
        )
        for i in range(HEAVY_EVENTS)
    ]
    with transaction(factory) as session:
        store_evidence(session=session, events=[("auth", e) for e in events])
        rows = []
        for i in range(HEAVY_FINDINGS):
            tenant = f"t{i % HEAVY_TENANTS}"
            at = start + timedelta(seconds=i * 20)
            row = FindingRow(
                finding_id=f"bench-heavy-{i}",
                rule_id=("AUTH-001", "AUTH-003")[i % 2],
                severity="critical",
                nature=["confidentiality"],
                tenant_ids=[tenant],
                tenants={tenant: {"events": 10, "records": 5, "subjects": 5}},
                group_key=f"{tenant}/{actor}",
                actor_ids=[actor],
                source_ips=[ip],
                data_categories=["identification"],
                records=5,
                subjects=5,
                count=10,
                first_seen=at,
                last_seen=at,
                evidence=[str(e.event_id) for e in events[i % HEAVY_EVENTS :: HEAVY_FINDINGS]],
                summary="bench heavy finding",
                stored_at=now,
                updated_at=now,
            )
            session.add(row)
            rows.append(row)
        session.flush()
        [incident, *others] = record_findings(session=session, findings=rows, now=now)
        if others:
            raise SystemExit(f"the heavy findings made {len(others) + 1} incidents, not one")
        policy = DraftPolicy.from_settings(Settings(org=ORG))
        draft_notices(session=session, incident=incident, now=now, policy=policy)
        for to in ("triage", "confirmed"):
            incident_service.transition(
                session=session, incident=incident, to=to, actor_email="bench", reason="bench"
            )
        draft_notices(
            session=session, incident=incident, now=now + timedelta(minutes=5), policy=policy
        )
        return incident.ref


def seed(url: str, n: int) -> None:
    factory = session_factory(make_engine(url))
    now = datetime.now(UTC)
    with transaction(factory) as session:
        import_rows(
            session=session,
            rows=[
                CustomerRow(
                    tenant_id=f"t{i}",
                    name=f"Tenant {i}",
                    contact_email=f"sec@t{i}.test",
                    language="fr",
                    notify_delay_hours=12 + i % 3 * 12,
                    role="processor",
                )
                for i in range(50)
            ],
        )
        security.create_user(
            session=session, email="rssi@bench.test", password=PASSWORD, role="rssi"
        )
    started = time.perf_counter()
    for base in range(0, n, BATCH):
        with transaction(factory) as session:
            rows = []
            for i in range(base, min(n, base + BATCH)):
                at = now - timedelta(minutes=i * 7 % 4000)
                row = bench_finding(
                    i,
                    at=at,
                    actor_id=f"actor-{i}",
                    source_ip=f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}",
                    data_categories=["identification"],
                    summary="bench finding",
                    stored_at=now,
                    updated_at=now,
                )
                session.add(row)
                rows.append(row)
            session.flush()
            record_findings(
                session=session,
                findings=rows,
                now=now - timedelta(minutes=base % 3000),
            )
    with transaction(factory) as session:
        for incident in incident_service.list_incidents(session=session, limit=n // 5, order="ref"):
            incident_service.transition(
                session=session,
                incident=incident,
                to="dismissed",
                actor_email="bench",
                reason="bench",
            )
    print(f"seeded {n} incidents in {time.perf_counter() - started:.1f} s")


def timed(client: TestClient, path: str, runs: int) -> list[float]:
    client.get(path)  # warm-up
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        resp = client.get(path)
        out.append(time.perf_counter() - t)
        if resp.status_code != 200:
            raise SystemExit(f"{path}: HTTP {resp.status_code}")
    return sorted(out)


def report(label: str, times: list[float]) -> None:
    p95 = times[max(0, int(round(len(times) * 0.95)) - 1)]
    print(
        f"{label:<44} median {statistics.median(times) * 1000:7.1f} ms   "
        f"p95 {p95 * 1000:7.1f} ms   max {times[-1] * 1000:7.1f} ms   (goal p95 < 200 ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--url", default=None, help="database URL (default: temp SQLite)")
    parser.add_argument(
        "--reuse", action="store_true", help="the database at --url is already seeded: skip seeding"
    )
    args = parser.parse_args()
    url = args.url or f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    if not args.reuse:
        upgrade(url)
        seed(url, args.incidents)
    heavy = seed_heavy(url) if not args.reuse else None
    factory = session_factory(make_engine(url))
    app = create_app(
        Settings(secret_key="bench-" + "k" * 40, database_url=url), session_factory=factory
    )
    tune_gc()  # as `tocsin console` runs
    client = TestClient(app, base_url="https://bench")
    page = client.get("/login").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf is not None
    client.post(
        "/login",
        data={"email": "rssi@bench.test", "password": PASSWORD, "csrf_token": csrf.group(1)},
    )
    print(
        f"database: {url.split(':')[0]}, {args.incidents} incidents "
        f"({args.incidents - args.incidents // 5} open), {args.runs} runs each"
    )
    report("GET /queue (HTML, page 1 of 50)", timed(client, "/queue", args.runs))
    report("GET /queue?page=80", timed(client, "/queue?page=80", args.runs))
    report("GET /queue?tenant=t7 (filtered)", timed(client, "/queue?tenant=t7", args.runs))
    report("GET /queue?q=auth (text, matches all)", timed(client, "/queue?q=auth", args.runs))
    report("GET /api/v1/incidents (JSON)", timed(client, "/api/v1/incidents", args.runs))
    first = client.get("/api/v1/incidents").json()["items"][0]["ref"]
    report("GET /incidents/{ref} (most urgent)", timed(client, f"/incidents/{first}", args.runs))
    if heavy is not None:
        shown = client.get(f"/incidents/{heavy}").text
        cards = shown.count('class="card notice-card')
        print(
            f"heavy incident {heavy}: {shown.count('<tr')} table rows, {cards} notice "
            f"versions, {len(shown) // 1024} KiB of HTML"
        )
        report("GET /incidents/{ref} (heavy)", timed(client, f"/incidents/{heavy}", args.runs))
    report("GET /overview (counts)", timed(client, "/overview", args.runs))
    report("GET /queue?due=overdue", timed(client, "/queue?due=overdue", args.runs))


if __name__ == "__main__":
    main()
