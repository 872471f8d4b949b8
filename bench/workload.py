"""A second bench workload, shaped like a multi-tenant SaaS rather than like the simulator.

Many tenants and accounts, one pool of source IPs shared by everyone (NAT gateways and
proxies), and, every `burst_every` events, a burst of `burst` failed logins on one account of
one tenant (the attacked tenant). Auth events only, keyed by tenant like the real producers.
Deterministic for a seed.

With the defaults each burst fires AUTH-001 (≥ 10 failures for one account in 5 min) on a
fresh account of the attacked tenant, and the background failures stay below every other
threshold of the catalogue (about one failure per shared IP per 10 minutes).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from random import Random
from typing import Any

SERVICES = ("faxbis", "smsbis", "demat_manager", "campaign_manager", "tel4b", "cloudcontact")
COUNTRIES = ("FR", "FR", "FR", "FR", "BE", "CH", "LU", "DE", "ES", "IT")


@dataclass(frozen=True)
class Shape:
    tenants: int = 200
    accounts: int = 20_000
    ip_pool: int = 250
    burst: int = 15  # failed logins per burst, on one account
    burst_every: int = 1_000  # one burst per this many events
    events: int = 200_000
    spacing_ms: int = 50  # event time between two events
    failure_rate: float = 0.02  # background failed logins
    seed: int = 7
    start: datetime = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)


def _ip(i: int) -> str:
    return f"198.51.{i // 250}.{i % 250 + 1}"


def shaped_events(shape: Shape) -> Iterator[tuple[str, dict[str, Any]]]:
    """(key, value) of `shape.events` auth events, in event-time order."""
    rng = Random(shape.seed)
    tenants = [f"tenant-{i:04d}" for i in range(shape.tenants)]
    home = [COUNTRIES[rng.randrange(len(COUNTRIES))] for _ in range(shape.accounts)]
    service = [SERVICES[i % len(SERVICES)] for i in range(shape.tenants)]
    attacked = 0  # the tenant every burst hits
    victims = [a for a in range(shape.accounts) if a % shape.tenants == attacked]
    step = timedelta(milliseconds=shape.spacing_ms)
    t = shape.start
    burst_left = 0
    victim = 0
    burst_ip = ""
    produced = 0
    while produced < shape.events:
        if shape.burst and produced % shape.burst_every == 0:
            burst_left = shape.burst
            victim = victims[(produced // shape.burst_every) % len(victims)]
            burst_ip = _ip(rng.randrange(shape.ip_pool))
        if burst_left:
            account, action, ip = victim, "login_failure", burst_ip
            burst_left -= 1
        else:
            account = rng.randrange(shape.accounts)
            action = "login_failure" if rng.random() < shape.failure_rate else "login_success"
            ip = _ip(rng.randrange(shape.ip_pool))
        tenant = tenants[account % shape.tenants]
        value: dict[str, Any] = {
            "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "occurred_at": t.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "service": service[account % shape.tenants],
            "tenant_id": tenant,
            "actor": {"id": f"user-{account:06d}", "kind": "customer_user"},
            "source_ip": ip,
            "country": home[account],
            "interface": "web",
            "tls": True,
            "action": action,
        }
        if action == "login_failure":
            value["failure_reason"] = "bad_password"
        yield tenant, value
        produced += 1
        t += step
