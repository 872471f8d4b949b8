"""`distinct`: ≥ `count` distinct values of `field` per group within `window` (closed
interval). E.g. one source IP failing on ≥ 20 distinct accounts in 10 min."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, cast

from pydantic import Field

from consumers.events import Event
from detectors.kinds.window import Win, WindowConfig, WindowRule
from detectors.rule import RuleConfig
from detectors.state import MAX_SUBJECT_KEYS, Agg, RuleState


class DistinctConfig(WindowConfig):
    field: str
    count: Annotated[int, Field(ge=2)]


class _DistinctWin(Win):
    """A window that also counts its values (a cheap upper bound before the exact check)."""

    __slots__ = ("counts",)

    def __init__(self) -> None:
        super().__init__()
        self.counts: dict[str, int] = {}


class DistinctRule(WindowRule[DistinctConfig]):
    kind: ClassVar[str] = "distinct"
    Config: ClassVar[type[RuleConfig]] = DistinctConfig
    extra_summary_fields: ClassVar[frozenset[str]] = frozenset({"distinct", "threshold"})

    def __init__(
        self, config: DistinctConfig, *, timezone: str, parameters: Mapping[str, Any]
    ) -> None:
        super().__init__(config, timezone=timezone, parameters=parameters)
        cfg = config
        self.count = cfg.count
        self.value = self.field(cfg.field, "field")

    def evaluate(self, event: Event, t: float, state: RuleState) -> None:
        value = self.value(event)
        if value is None:
            return
        value = str(value)
        key = self.key(event)
        agg = self.covering(state, key, t)
        if agg is not None:
            self.update(state, agg, event, t)
            self._note(agg, value)
            return
        keys = state.keys
        if key not in keys:
            keys[key] = _DistinctWin()
        win = cast(_DistinctWin, self.window_of(state, key))
        pos = win.insert(t, event, value)
        counts = win.counts
        counts[value] = counts.get(value, 0) + 1
        if len(counts) >= self.count:
            first = self._check(win, pos)
            if first is not None:
                self.fire(state, key, win, first)
                return
        self.cap(state, win)

    def _check(self, win: Win, pos: int) -> int | None:
        times, values, need, width = win.times, win.aux, self.count, self.window
        n = len(times)
        lo = bisect_left(times, times[pos] - width)
        if pos == n - 1:
            return lo if len(set(values[lo:])) >= need else None
        for i in range(lo, pos + 1):
            j = bisect_right(times, times[i] + width)
            if len(set(values[i:j])) >= need:
                return i
        return None

    def removed(self, win: Win, aux: list[Any]) -> None:
        counts = cast(_DistinctWin, win).counts
        for value in aux:
            left = counts[value] - 1
            if left:
                counts[value] = left
            else:
                del counts[value]

    def load_keys(self, state: RuleState, data: Any, events: Mapping[str, Event]) -> None:
        for key, times, ids, aux in data:
            win = _DistinctWin()
            win.times = list(times)
            win.events = [events[i] for i in ids]
            win.aux = list(aux)
            for value in win.aux:
                win.counts[value] = win.counts.get(value, 0) + 1
            state.keys[key] = win

    def fired(self, agg: Agg, win: Win, first: int) -> None:
        for value in win.aux[first:]:
            self._note(agg, value)

    @staticmethod
    def _note(agg: Agg, value: str) -> None:
        seen = agg.ctx.setdefault("values", {})
        if value not in seen and len(seen) < MAX_SUBJECT_KEYS:
            seen[value] = 1

    def summary_context(self, agg: Agg) -> dict[str, Any]:
        return {"distinct": len(agg.ctx.get("values", {})), "threshold": self.count}
