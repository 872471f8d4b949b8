"""Shared machinery of the sliding-window kinds (`threshold`, `distinct`, `sequence`).

Windows follow event time and are **closed intervals**: events at t1 ≤ … ≤ tn belong to one
window when tn − t1 ≤ `window`. So N events spanning exactly the window length fire; N events
spanning the window length plus one microsecond do not.

Each group key keeps its matching events sorted by event time (ties in arrival order), as
references (so the evidence of a finding carries the events themselves). An entry older than
`watermark − window` can never share a window with a future non-late event: it is dropped
when its key is touched, and keys whose newest entry is that old are dropped by `sweep`.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Any

from pydantic import Field
from typing_extensions import TypeVar

from consumers.events import Event
from detectors.rule import Duration, Rule, RuleConfig
from detectors.state import RuleState

DEFAULT_MAX_ENTRIES = 10_000


class WindowConfig(RuleConfig):
    window: Duration
    max_entries: Annotated[int, Field(ge=1, le=1_000_000)] = DEFAULT_MAX_ENTRIES


class Win:
    """The matching events of one group key, sorted by event time."""

    __slots__ = ("aux", "events", "times")

    def __init__(self) -> None:
        self.times: list[float] = []
        self.events: list[Event] = []
        self.aux: list[Any] = []

    def insert(self, t: float, ev: Event, aux: Any) -> int:
        times = self.times
        if not times or t >= times[-1]:
            times.append(t)
            self.events.append(ev)
            self.aux.append(aux)
            return len(times) - 1
        # after any equal times: ties keep arrival order
        lo, hi = 0, len(times)
        while lo < hi:
            mid = (lo + hi) // 2
            if t < times[mid]:
                hi = mid
            else:
                lo = mid + 1
        times.insert(lo, t)
        self.events.insert(lo, ev)
        self.aux.insert(lo, aux)
        return lo

    def drop_before(self, index: int) -> list[Any]:
        """Remove the first `index` entries; returns their aux values."""
        if index <= 0:
            return []
        removed = self.aux[:index]
        del self.times[:index]
        del self.events[:index]
        del self.aux[:index]
        return removed


WindowConfigT = TypeVar("WindowConfigT", bound=WindowConfig, covariant=True, default=WindowConfig)


class WindowRule(Rule[WindowConfigT]):
    """Base of the windowed kinds: per-key `Win`, pruning, sweep and snapshot."""

    def __init__(
        self, config: WindowConfigT, *, timezone: str, parameters: Mapping[str, Any]
    ) -> None:
        super().__init__(config, timezone=timezone, parameters=parameters)
        self.window = config.window.total_seconds()
        self.window_delta: timedelta = config.window
        self.horizon = self.window
        self.max_entries = config.max_entries

    def window_of(self, state: RuleState, key: str) -> Win:
        keys = state.keys
        win: Win | None = keys.get(key)
        if win is None:
            win = keys[key] = Win()
        else:
            keys.move_to_end(key)
            cutoff = state.clock.watermark - self.window
            times = win.times
            if times and times[0] < cutoff:
                self.removed(win, win.drop_before(bisect_left(times, cutoff)))
        return win

    def cap(self, state: RuleState, win: Win) -> None:
        over = len(win.times) - self.max_entries
        if over > 0:
            self.removed(win, win.drop_before(over))
            state.evictions += over

    def removed(self, win: Win, aux: list[Any]) -> None:
        """Hook: entries left the window (distinct keeps counts in sync)."""

    def sweep(self, state: RuleState) -> None:
        super().sweep(state)
        cutoff = state.clock.watermark - self.window
        keys = state.keys
        while keys:
            key, win = next(iter(keys.items()))
            if win.times and win.times[-1] >= cutoff:
                break
            del keys[key]
            state.expired += 1

    def dump_keys(self, state: RuleState, events: dict[str, Event]) -> Any:
        out = []
        for key, win in state.keys.items():
            ids = []
            for ev in win.events:
                eid = str(ev.event_id)
                events[eid] = ev
                ids.append(eid)
            out.append([key, win.times, ids, self.dump_aux(win.aux)])
        return out

    def load_keys(self, state: RuleState, data: Any, events: Mapping[str, Event]) -> None:
        for key, times, ids, aux in data:
            win = Win()
            win.times = list(times)
            win.events = [events[i] for i in ids]
            win.aux = self.load_aux(aux)
            state.keys[key] = win
            self.loaded(win)

    def dump_aux(self, aux: list[Any]) -> Any:
        return aux

    def load_aux(self, data: Any) -> list[Any]:
        return list(data)

    def loaded(self, win: Win) -> None:
        """Hook: a window was restored from a snapshot."""

    def fire(
        self, state: RuleState, key: str, win: Win, first: int, decisive: int | None = None
    ) -> None:
        """Open a finding from entries `first`… of `win` and forget the key's window.

        Evidence keeps the first ids; `decisive` (the event that completed a sequence) is
        always among them, even when more than `MAX_EVIDENCE` events came before it."""
        agg = self.open_finding(state, key, win.events[first].occurred_at)
        for i in range(first, len(win.times)):
            agg.add(win.events[i], win.times[i])
        if decisive is not None:
            agg.pin(win.events[decisive], win.times[decisive])
        self.fired(agg, win, first)
        del state.keys[key]

    def fired(self, agg: Any, win: Win, first: int) -> None:
        """Hook: fill kind-specific summary context."""
