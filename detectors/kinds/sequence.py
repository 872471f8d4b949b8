"""`sequence`: step 1 (≥ its `count` times), then step 2, … per group, in event-time order,
all within `window` (closed interval) ending at the event that completes the last step.

E.g. ≥ 5 `login_failure` then a `login_success` for one account within 15 min. Steps are
matched greedily from the start of the window; ties in event time keep arrival order.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from consumers.events import Event
from detectors.filters import AllOf, AnyOf, Predicate, predicate
from detectors.kinds.window import Win, WindowConfig, WindowRule
from detectors.rule import RuleConfig
from detectors.state import RuleState


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = ""
    filter: Any
    count: Annotated[int, Field(ge=1, le=10_000)] = 1


class SequenceConfig(WindowConfig):
    steps: Annotated[list[Step], Field(min_length=2, max_length=8)]


class SequenceRule(WindowRule[SequenceConfig]):
    kind: ClassVar[str] = "sequence"
    Config: ClassVar[type[RuleConfig]] = SequenceConfig
    extra_summary_fields: ClassVar[frozenset[str]] = frozenset({"steps"})

    def __init__(
        self, config: SequenceConfig, *, timezone: str, parameters: Mapping[str, Any]
    ) -> None:
        super().__init__(config, timezone=timezone, parameters=parameters)
        cfg = config
        nodes = [
            self.compile_node(step.filter, f"steps[{i}].filter") for i, step in enumerate(cfg.steps)
        ]
        self.steps: list[tuple[Predicate, int]] = [
            (predicate(node), step.count) for node, step in zip(nodes, cfg.steps, strict=True)
        ]
        self.last_bit = 1 << (len(self.steps) - 1)
        self.min_entries = sum(count for _, count in self.steps)
        # the engine only calls `evaluate` for events that pass `match`: the rule's own
        # filter and at least one step
        self.match_node = AllOf((self.match_node, AnyOf(tuple(nodes))))
        self.match = predicate(self.match_node)

    def evaluate(self, event: Event, t: float, state: RuleState) -> None:
        mask = 0
        for i, (pred, _) in enumerate(self.steps):
            if pred(event):
                mask |= 1 << i
        if not mask:
            return
        key = self.key(event)
        agg = self.covering(state, key, t)
        if agg is not None:
            self.update(state, agg, event, t)
            return
        win = self.window_of(state, key)
        pos = win.insert(t, event, mask)
        n = len(win.times)
        if n < self.min_entries:
            self.cap(state, win)
            return
        # the new event may complete the sequence itself, or (out of order) be a missing
        # earlier step of a completing event already held
        ends = [pos] if mask & self.last_bit else []
        if pos < n - 1:
            limit = t + self.window
            ends.extend(
                j for j in range(pos + 1, n) if win.times[j] <= limit and win.aux[j] & self.last_bit
            )
        for end in ends:
            first = self._complete(win, end)
            if first is not None:
                self.fire(state, key, win, first, decisive=end)
                return
        self.cap(state, win)

    def _complete(self, win: Win, end: int) -> int | None:
        """Index of the first entry of a complete sequence ending at `end`, or None."""
        times, masks = win.times, win.aux
        lo = bisect_left(times, times[end] - self.window)
        steps, phase, got, first = self.steps, 0, 0, None
        for k in range(lo, end + 1):
            if masks[k] & (1 << phase):
                if first is None:
                    first = k
                got += 1
                if got >= steps[phase][1]:
                    phase += 1
                    got = 0
                    if phase == len(steps):
                        return first
        return None

    def summary_context(self, agg: Any) -> dict[str, Any]:
        return {
            "steps": " then ".join(
                s.name or f"step {i + 1}" for i, s in enumerate(self.config.steps)
            )
        }
