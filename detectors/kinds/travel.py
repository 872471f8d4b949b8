"""`travel`: two successful logins of one account whose countries are further apart than
`max_kmh` allows in the time between them (and at least `min_km` apart, so that neighbouring
countries and coarse geolocation do not flap).

Each account keeps its last few logins (event time order) for `horizon`; a new login is
compared with the logins just before and just after it in event time, so out-of-order
arrival within the allowed lateness gives the same verdict. At most `max_keys` accounts
(least recently active evicted first, counted in `evictions`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import timedelta
from ipaddress import IPv4Address, IPv6Address
from typing import Annotated, Any, ClassVar

from pydantic import Field

from consumers.events import Event, ip_object
from detectors.geo import distance_km
from detectors.rule import Duration, Rule, RuleConfig
from detectors.state import RuleState, dt_from

KEEP_LOGINS = 4
_IP = {4: IPv4Address, 6: IPv6Address}


class TravelConfig(RuleConfig):
    max_kmh: Annotated[float, Field(gt=0)] = 900.0
    min_km: Annotated[float, Field(ge=0)] = 500.0
    horizon: Duration = timedelta(hours=24)
    max_keys: Annotated[int, Field(ge=1)] = 500_000
    field: str = "country"


class TravelRule(Rule[TravelConfig]):
    kind: ClassVar[str] = "travel"
    Config: ClassVar[type[RuleConfig]] = TravelConfig
    extra_summary_fields: ClassVar[frozenset[str]] = frozenset({"countries", "kmh", "km"})

    def __init__(
        self, config: TravelConfig, *, timezone: str, parameters: Mapping[str, Any]
    ) -> None:
        super().__init__(config, timezone=timezone, parameters=parameters)
        cfg = config
        self.max_kmh = cfg.max_kmh
        self.min_km = cfg.min_km
        self.horizon = cfg.horizon.total_seconds()
        self.max_keys = cfg.max_keys
        self.country: Callable[[Any], Any] = self.field(cfg.field, "field")

    def evaluate(self, event: Event, t: float, state: RuleState) -> None:
        country = self.country(event)
        if country is None:
            return
        key = self.key(event)
        keys = state.keys
        # logins: [[t, country, ip version, ip as int, event id as int, occurred_at], ...]
        # sorted by t; plain ints keep memory and snapshots small
        logins: list[list[Any]] | None = keys.get(key)
        ip = ip_object(event.source_ip)
        entry: list[Any] = [t, str(country), ip.version, int(ip), event.event_id.int,
                            event.occurred_at]  # fmt: skip
        if logins is None:
            keys[key] = [entry]
            if len(keys) > self.max_keys:
                keys.popitem(last=False)
                state.evictions += 1
            return
        keys.move_to_end(key)
        cutoff = state.clock.watermark - self.horizon
        while logins and logins[0][0] < cutoff:
            logins.pop(0)
        pos = len(logins)
        while pos and logins[pos - 1][0] > t:
            pos -= 1
        neighbours = []
        if pos:
            neighbours.append(logins[pos - 1])
        if pos < len(logins):
            neighbours.append(logins[pos])
        logins.insert(pos, entry)
        if len(logins) > KEEP_LOGINS:
            logins.pop(0)
        for other in neighbours:
            speed = self._speed(entry, other)
            if speed is None:
                continue
            km, kmh = speed
            agg = self.covering(state, key, t)
            if agg is None:
                first = other if other[0] <= t else entry
                agg = self.open_finding(state, key, first[5])
            other_id = str(uuid.UUID(int=other[4]))
            if (other[0], other_id) not in agg.evidence:
                agg.add_parts(
                    event_id=other_id,
                    occurred_at=other[5],
                    tenant=event.tenant_id,
                    actor=event.actor.id,
                    source_ip=str(_IP[other[2]](other[3])),
                )
            countries = agg.ctx.setdefault("countries", {})
            countries[other[1]] = 1
            countries[entry[1]] = 1
            agg.ctx["kmh"] = max(agg.ctx.get("kmh", 0), kmh)
            agg.ctx["km"] = max(agg.ctx.get("km", 0), km)
            self.update(state, agg, event, t)
            return

    def _speed(self, a: list[Any], b: list[Any]) -> tuple[int, int] | None:
        if a[1] == b[1]:
            return None
        km = distance_km(a[1], b[1])
        if km is None or km < self.min_km:
            return None
        hours = abs(a[0] - b[0]) / 3600
        kmh = km / hours if hours > 0 else float("inf")
        if kmh <= self.max_kmh:
            return None
        return round(km), (round(kmh) if kmh != float("inf") else 999_999)

    def sweep(self, state: RuleState) -> None:
        super().sweep(state)
        cutoff = state.clock.watermark - self.horizon
        keys = state.keys
        while keys:
            key, logins = next(iter(keys.items()))
            if logins and logins[-1][0] >= cutoff:
                break
            del keys[key]
            state.expired += 1

    def dump_keys(self, state: RuleState, events: dict[str, Event]) -> Any:
        return [
            [key, [[*e[:5], e[5].isoformat()] for e in logins]]
            for key, logins in state.keys.items()
        ]

    def load_keys(self, state: RuleState, data: Any, events: Mapping[str, Event]) -> None:
        for key, logins in data:
            state.keys[key] = [[*e[:5], dt_from(e[5])] for e in logins]

    def summary_context(self, agg: Any) -> dict[str, Any]:
        return {
            "countries": " and ".join(sorted(agg.ctx.get("countries", {}))),
            "kmh": agg.ctx.get("kmh", 0),
            "km": agg.ctx.get("km", 0),
        }
