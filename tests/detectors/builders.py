"""A small event builder and runner for the pure detector tests (no Kafka, no database)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from consumers.events import AccessEvent, AuthEvent, Event
from detectors.engine import Emission, PartitionDetector, StreamName
from detectors.finding import Finding
from detectors.rule import Rule

# a Monday, 11:00 in Paris: inside business hours
T0 = datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC)


class Events:
    """Builds valid events at `T0 + at` seconds, with deterministic ids."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)

    def _id(self) -> uuid.UUID:
        return uuid.UUID(int=next(self._ids))

    def auth(
        self,
        action: str = "login_failure",
        *,
        at: float = 0,
        tenant: str = "t1",
        actor: str = "alice",
        kind: str = "customer_user",
        ip: str = "198.51.100.7",
        country: str | None = "FR",
        **extra: Any,
    ) -> AuthEvent:
        return AuthEvent.model_validate(
            {
                "event_id": self._id(),
                "occurred_at": T0 + timedelta(seconds=at),
                "service": "faxbis",
                "tenant_id": tenant,
                "actor": {"id": actor, "kind": kind},
                "source_ip": ip,
                "country": country,
                "interface": "web",
                "tls": True,
                "action": action,
                **extra,
            }
        )

    def access(
        self,
        operation: str = "read",
        *,
        at: float = 0,
        tenant: str = "t1",
        actor: str = "alice",
        kind: str = "customer_user",
        owner: str | None = None,
        records: int = 1,
        categories: Sequence[str] = ("identification",),
        outcome: str = "allowed",
        ip: str = "198.51.100.7",
        country: str | None = "FR",
        tls: bool = True,
        resource: str = "contact",
        **extra: Any,
    ) -> AccessEvent:
        return AccessEvent.model_validate(
            {
                "event_id": self._id(),
                "occurred_at": T0 + timedelta(seconds=at),
                "service": "faxbis",
                "tenant_id": tenant,
                "actor": {"id": actor, "kind": kind},
                "source_ip": ip,
                "country": country,
                "interface": "web",
                "tls": tls,
                "operation": operation,
                "resource": {"type": resource, "tenant_id": owner or tenant},
                "data_categories": list(categories),
                "records": records,
                "outcome": outcome,
                **extra,
            }
        )


def rule(rules: Iterable[Rule], rule_id: str) -> Rule:
    return next(r for r in rules if r.id == rule_id)


def latest(emissions: Iterable[Emission]) -> dict[str, Finding]:
    """The last version of every finding emitted, by finding id."""
    out: dict[str, Finding] = {}
    for em in emissions:
        out[em.finding.finding_id] = em.finding
    return out


def run(
    rules: Sequence[Rule],
    events: Sequence[Event],
    *,
    stream: StreamName,
    batch: int = 1,
    lateness: timedelta = timedelta(seconds=60),
) -> tuple[PartitionDetector, list[Emission]]:
    det = PartitionDetector(rules, stream=stream, lateness=lateness)
    out: list[Emission] = []
    for i in range(0, len(events), batch):
        out.extend(det.process(events[i : i + batch]))
    return det, out


def make_rule(**config: Any) -> Rule:
    """A rule of `config['kind']` built from a plain mapping (defaults for the dull keys)."""
    from detectors.kinds import REGISTRY

    base: dict[str, Any] = {
        "id": "T-1",
        "severity": "high",
        "nature": ["confidentiality"],
        "summary": "{count} events",
    }
    base.update(config)
    return REGISTRY[base["kind"]].from_config(base)


def mixed_traffic(ev: Events, *, seed: int = 5, minutes: int = 120) -> list[Event]:
    """Deterministic traffic where every catalogue rule fires, with some disorder (≤ 30 s).

    Accounts u0…u19 of tenants t1/t2 work normally; on top: brute force (AUTH-001/003),
    spraying from one IP (AUTH-002), impossible travel (AUTH-005), MFA fatigue (AUTH-006),
    cross-tenant reads, exfiltration, staff without ticket and at night, security reads, mass
    deletion, non-EEA and plaintext access, enumeration (ACC-001…009). AUTH-004 needs 14 days
    of learning: a first login 15 days earlier, then a new country."""
    import random

    rng = random.Random(seed)
    out: list[Event] = []
    day = 86400.0
    out.append(ev.auth("login_success", at=-15 * day, actor="u1", country="FR"))
    for i in range(minutes * 6):
        at = i * 10 + rng.uniform(-30, 0)
        user = f"u{rng.randrange(20)}"
        tenant = "t1" if user < "u5" else "t2"
        if rng.random() < 0.4:
            out.append(ev.auth("login_success", at=at, actor=user, tenant=tenant))
        else:
            out.append(ev.access(at=at, actor=user, tenant=tenant, records=rng.randint(1, 20)))
    base = 600.0
    out += [ev.auth("login_failure", at=base + i, actor="victim") for i in range(12)]
    out.append(ev.auth("login_success", at=base + 20, actor="victim"))
    out += [
        ev.auth("login_failure", at=base + 100 + i, actor=f"sprayed{i}", tenant=f"t{i % 3}",
                ip="203.0.113.66")
        for i in range(25)
    ]  # fmt: skip
    out.append(ev.auth("login_success", at=base + 200, actor="u1", country="JP"))
    out += [ev.auth("mfa_failure", at=base + 300 + i, actor="tired") for i in range(6)]
    out.append(ev.auth("mfa_success", at=base + 310, actor="tired"))
    out += [ev.access(at=base + 400 + i, actor="x", owner="t9", records=5) for i in range(3)]
    out += [ev.access("export", at=base + 500 + i, actor="thief", records=400) for i in range(4)]
    out.append(ev.access(at=base + 600, actor="s1", kind="staff_support"))
    out.append(ev.access(at=base + 20 * 3600.0 - 7200, actor="s2", kind="staff_admin",
                         ticket_id="T-7"))  # fmt: skip
    out.append(ev.access(at=base + 700, actor="y", categories=["security"]))
    out += [ev.access("delete", at=base + 800 + i, actor="z", records=130) for i in range(4)]
    out.append(ev.access(at=base + 900, actor="w", country="US"))
    out.append(ev.access(at=base + 1000, actor="v", tls=False))
    out += [ev.access(at=base + 1100 + i, actor="e", outcome="denied") for i in range(55)]
    key = [(e.occurred_at.timestamp() + rng.uniform(0, 30), i) for i, e in enumerate(out)]
    return [out[i] for _, i in sorted(key)]
