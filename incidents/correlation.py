"""Which findings belong together (docs/architecture.md §6). Pure functions, no SQL.

A finding joins an open incident that shares, within 24 h of event time, either
- its tenant **and** its actor (actor ids are only meaningful inside a tenant), or
- its source IP (one attacker hitting several tenants gives one incident, each tenant listed);
- for a finding naming neither, its tenant and rule.

Identities are stored hashed (`CorrelationKey.key`): the index holds no IP or account id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

WINDOW = timedelta(hours=24)
ACTOR = "actor"
IP = "ip"
RULE = "rule"


@dataclass(frozen=True)
class Identity:
    kind: str
    key: str


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def identities(
    *,
    tenant_ids: Iterable[str],
    actor_ids: Iterable[str],
    source_ips: Iterable[str],
    rule_id: str | None = None,
) -> list[Identity]:
    """The correlation identities of one finding, de-duplicated, in a stable order.

    A finding that names neither an actor nor an IP falls back to (tenant, rule): repeated
    findings of one rule on one tenant within the window make one incident, not many.
    """
    out: dict[str, Identity] = {}
    tenants = sorted(set(tenant_ids))
    for actor in sorted(set(actor_ids)):
        for tenant in tenants:
            key = _digest(ACTOR, tenant, actor)
            out[key] = Identity(ACTOR, key)
    for ip in sorted(set(source_ips)):
        key = _digest(IP, ip)
        out[key] = Identity(IP, key)
    if not out and rule_id is not None:
        for tenant in tenants:
            key = _digest(RULE, tenant, rule_id)
            out[key] = Identity(RULE, key)
    return list(out.values())


def within_window(
    first_a: datetime,
    last_a: datetime,
    first_b: datetime,
    last_b: datetime,
    window: timedelta = WINDOW,
) -> bool:
    """True when the two event-time intervals are at most `window` apart (or overlap)."""
    return first_a <= last_b + window and first_b <= last_a + window
