"""Detector throughput and memory: N events over M actors through the full default catalogue.

    .venv/bin/python bench/detectors_memory.py [--events 1000000] [--actors 100000]

Events are generated in-process (no Kafka), in batches like the ingest loop's, with a little
out-of-order jitter, spread over `--hours` of event time. Auth events go to an `auth`
detector, access events to an `access` detector, and the auth events that
`needs_repartition` selects to a `by_ip` detector (one partition each: the worst case, all
state in one process). Only `process()` is timed. Prints events/s and RSS (current and peak)
before and after, plus the detectors' stats and snapshot sizes.
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import time
import uuid
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from typing import Any

from consumers.events import (
    AccessEvent,
    Actor,
    ActorKind,
    AuthAction,
    DataCategory,
    Event,
    Interface,
    Operation,
    Outcome,
    Resource,
    ResourceType,
    Service,
)
from consumers.events import AuthEvent as AuthEv
from detectors.catalogue import load_rules
from detectors.engine import PartitionDetector, StreamName, needs_repartition
from tocsin.runtime import tune_gc

START = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
COUNTRIES = ["FR"] * 90 + ["BE", "DE", "ES", "IT", "CH", "GB", "US", "MA", "SN", "CA"]


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Generator:
    def __init__(self, *, actors: int, events: int, hours: float, seed: int) -> None:
        self.rng = random.Random(seed)
        self.actors = actors
        self.total = events
        self.step = hours * 3600 / events
        self.tenants = max(1, actors // 50)
        self.ids = 0
        self.actor_objs = [
            Actor(
                id=f"u{i:06d}",
                kind=ActorKind.STAFF_SUPPORT if i % 997 == 0 else ActorKind.CUSTOMER_USER,
            )
            for i in range(actors)
        ]
        self.country = [self.rng.choice(COUNTRIES) for _ in range(actors)]

    def event(self, n: int) -> Event:
        rng = self.rng
        a = rng.randrange(self.actors)
        actor = self.actor_objs[a]
        tenant = f"t{a % self.tenants:05d}"
        at = START + timedelta(seconds=n * self.step + rng.uniform(-5, 0))
        self.ids += 1
        common: dict[str, Any] = {
            "event_id": uuid.UUID(int=self.ids),
            "occurred_at": at,
            "service": Service.FAXBIS,
            "tenant_id": tenant,
            "actor": actor,
            "source_ip": str(IPv4Address(0x0A000000 + a)),
            "country": self.country[a] if rng.random() > 0.01 else rng.choice(COUNTRIES),
            "interface": Interface.WEB,
            "tls": rng.random() > 0.001,
        }
        if rng.random() < 0.3:
            roll = rng.random()
            action = (
                AuthAction.LOGIN_FAILURE
                if roll < 0.12
                else AuthAction.MFA_SUCCESS
                if roll < 0.2
                else AuthAction.LOGIN_SUCCESS
            )
            return AuthEv.model_construct(**common, action=action)
        op = rng.choice(
            (Operation.READ,) * 8
            + (Operation.SEARCH, Operation.EXPORT, Operation.UPDATE, Operation.DELETE)
        )
        records = rng.randint(1, 40) if op is not Operation.EXPORT else rng.randint(50, 400)
        return AccessEvent.model_construct(
            **common,
            operation=op,
            resource=Resource(type=ResourceType.CONTACT, tenant_id=tenant),
            data_categories=frozenset({DataCategory.IDENTIFICATION}),
            records=records,
            subjects=None,
            ticket_id="T-1" if actor.kind is ActorKind.STAFF_SUPPORT else None,
            outcome=Outcome.ALLOWED if rng.random() > 0.02 else Outcome.DENIED,
            user_agent=None,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--actors", type=int, default=100_000)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    tune_gc()  # the ingest worker's collector settings (`tocsin ingest` runs with them)
    rules = load_rules()
    gen = Generator(actors=args.actors, events=args.events, hours=args.hours, seed=args.seed)
    gc.collect()
    gc.freeze()
    rss0 = rss_mb()
    streams: tuple[StreamName, ...] = ("auth", "access", "by_ip")
    dets = {s: PartitionDetector(rules, stream=s) for s in streams}
    findings: dict[str, int] = {}
    busy = 0.0
    cpu = 0.0
    n = 0
    while n < args.events:
        size = min(args.batch, args.events - n)
        batch = [gen.event(n + i) for i in range(size)]
        n += size
        auth = [e for e in batch if isinstance(e, AuthEv)]
        access = [e for e in batch if not isinstance(e, AuthEv)]
        t0, c0 = time.perf_counter(), time.process_time()
        out = dets["auth"].process(auth)
        out += dets["access"].process(access)
        out += dets["by_ip"].process([e for e in auth if needs_repartition(rules, e)])
        busy += time.perf_counter() - t0
        cpu += time.process_time() - c0
        for em in out:
            findings[em.finding.finding_id] = findings.get(em.finding.finding_id, 0) + 1
        del batch, auth, access, out
    gc.collect()
    rss1 = rss_mb()
    print(f"events:            {n:,} over {args.actors:,} actors, {args.hours:g} h of event time")
    print(f"process() CPU:     {cpu:.1f} s  ->  {n / cpu:,.0f} events/s per core")
    print(f"process() wall:    {busy:.1f} s  ->  {n / busy:,.0f} events/s (shared machine)")
    print(f"RSS before/after:  {rss0:.0f} MB / {rss1:.0f} MB  (peak {peak_mb():.0f} MB)")
    print(f"detector state:    ~{rss1 - rss0:.0f} MB")
    print(f"distinct findings: {len(findings):,}")
    name: StreamName
    for name, det in dets.items():
        c0 = time.process_time()
        snap = det.snapshot()
        c1 = time.process_time()
        PartitionDetector.restore(snap, rules, stream=name)
        c2 = time.process_time()
        print(f"  {name:6} {det.stats}")
        print(
            f"         snapshot {len(snap) / 1e6:.1f} MB, {c1 - c0:.2f} s CPU; "
            f"restore {c2 - c1:.2f} s CPU"
        )


if __name__ == "__main__":
    main()
