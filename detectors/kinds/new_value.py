"""`new_value`: a value of `field` never seen for the group, once the group has been learnt
for `learning` (event time since the group's first event). E.g. a login from a country never
seen for the account, after 14 days of learning.

Long memory, bounded: at most `max_keys` groups (least recently active evicted first, counted
in `evictions`; an evicted group learns afresh) and `max_values` values per group (the least
recently seen forgotten first).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Any, ClassVar

from pydantic import Field

from consumers.events import Event
from detectors.rule import Duration, Rule, RuleConfig
from detectors.state import RuleState

MAX_LISTED_VALUES = 20


class NewValueConfig(RuleConfig):
    field: str
    learning: Duration = timedelta(days=14)
    max_keys: Annotated[int, Field(ge=1)] = 500_000
    max_values: Annotated[int, Field(ge=1, le=10_000)] = 64


class NewValueRule(Rule[NewValueConfig]):
    kind: ClassVar[str] = "new_value"
    Config: ClassVar[type[RuleConfig]] = NewValueConfig
    extra_summary_fields: ClassVar[frozenset[str]] = frozenset({"values", "learning"})

    def __init__(
        self, config: NewValueConfig, *, timezone: str, parameters: Mapping[str, Any]
    ) -> None:
        super().__init__(config, timezone=timezone, parameters=parameters)
        cfg = config
        self.value = self.field(cfg.field, "field")
        self.learning = cfg.learning.total_seconds()
        self.learning_delta = cfg.learning
        self.max_keys = cfg.max_keys
        self.max_values = cfg.max_values

    def evaluate(self, event: Event, t: float, state: RuleState) -> None:
        raw = self.value(event)
        if raw is None:
            return
        value = str(raw)
        key = self.key(event)
        keys = state.keys
        hist: list[Any] | None = keys.get(key)
        if hist is None:  # [learning since, {value: last seen}]
            keys[key] = [t, {value: t}]
            if len(keys) > self.max_keys:
                keys.popitem(last=False)
                state.evictions += 1
            return
        keys.move_to_end(key)
        seen: dict[str, float] = hist[1]
        last = seen.get(value)
        if last is not None:
            if t > last:
                seen[value] = t
            return
        if t < hist[0]:
            hist[0] = t
        seen[value] = t
        if len(seen) > self.max_values:
            del seen[min(seen, key=seen.__getitem__)]
        if t < hist[0] + self.learning:
            return
        agg = self.covering(state, key, t)
        if agg is None:
            agg = self.open_finding(state, key, event.occurred_at)
        self.update(state, agg, event, t)
        listed = agg.ctx.setdefault("values", {})
        if len(listed) < MAX_LISTED_VALUES:
            listed[value] = 1

    def dump_keys(self, state: RuleState, events: dict[str, Event]) -> Any:
        return [[key, h[0], h[1]] for key, h in state.keys.items()]

    def load_keys(self, state: RuleState, data: Any, events: Mapping[str, Event]) -> None:
        for key, since, seen in data:
            state.keys[key] = [since, dict(seen)]

    def summary_context(self, agg: Any) -> dict[str, Any]:
        return {
            "values": ", ".join(sorted(agg.ctx.get("values", {}))),
            "learning": f"{int(self.learning_delta.total_seconds() // 86400)} d",
        }
