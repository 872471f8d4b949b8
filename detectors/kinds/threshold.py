"""`threshold`: ≥ `count` matching events (or ≥ `count` summed over a field) per group within
`window` (closed interval, see `detectors.kinds.window`)."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping
from typing import Annotated, Any, ClassVar

from pydantic import Field

from consumers.events import Event
from detectors.errors import FilterError
from detectors.filters import check_field
from detectors.kinds.window import Win, WindowConfig, WindowRule
from detectors.rule import RuleConfig
from detectors.state import Agg, RuleState


class ThresholdConfig(WindowConfig):
    count: Annotated[int, Field(ge=1)]
    sum: str | None = None  # numeric field to add up instead of counting events


class ThresholdRule(WindowRule[ThresholdConfig]):
    kind: ClassVar[str] = "threshold"
    Config: ClassVar[type[RuleConfig]] = ThresholdConfig
    extra_summary_fields: ClassVar[frozenset[str]] = frozenset({"threshold", "total"})

    def __init__(
        self, config: ThresholdConfig, *, timezone: str, parameters: Mapping[str, Any]
    ) -> None:
        super().__init__(config, timezone=timezone, parameters=parameters)
        cfg = config
        self.count = cfg.count
        self.weight: Callable[[Any], Any] | None = None
        if cfg.sum is not None:
            ft = check_field(self.model, cfg.sum, "sum")
            if not ft.is_number:
                raise FilterError("sum", f"{cfg.sum} is not numeric")
            self.weight = self.field(cfg.sum, "sum")

    def evaluate(self, event: Event, t: float, state: RuleState) -> None:
        key = self.key(event)
        agg = self.covering(state, key, t)
        if agg is not None:
            self.update(state, agg, event, t)
            return
        win = self.window_of(state, key)
        if self.weight is None:
            pos = win.insert(t, event, None)
            first = self._check_count(win.times, pos)
        else:
            pos = win.insert(t, event, self.weight(event) or 0)
            first = self._check_sum(win, pos)
        if first is not None:
            self.fire(state, key, win, first)
        else:
            self.cap(state, win)

    def _check_count(self, times: list[float], pos: int) -> int | None:
        n, need, width = len(times), self.count, self.window
        if n < need:
            return None
        lo = bisect_left(times, times[pos] - width)
        if pos == n - 1:  # the usual, in-order case: the window ending now
            return lo if n - lo >= need else None
        for i in range(lo, pos + 1):
            if bisect_right(times, times[i] + width) - i >= need:
                return i
        return None

    def _check_sum(self, win: Win, pos: int) -> int | None:
        times, weights, need, width = win.times, win.aux, self.count, self.window
        n = len(times)
        lo = bisect_left(times, times[pos] - width)
        last = lo if pos == n - 1 else pos
        for i in range(lo, last + 1):
            total, limit, j = 0, times[i] + width, i
            while j < n and times[j] <= limit:
                total += weights[j]
                j += 1
            if total >= need:
                return i
        return None

    def summary_context(self, agg: Agg) -> dict[str, Any]:
        return {"threshold": self.count, "total": agg.records if self.weight else agg.count}
