"""`match`: every event that passes the filter is a finding (one per group per dedup period)."""

from __future__ import annotations

from typing import ClassVar

from consumers.events import Event
from detectors.rule import Rule, RuleConfig
from detectors.state import RuleState


class MatchRule(Rule[RuleConfig]):
    kind: ClassVar[str] = "match"

    def evaluate(self, event: Event, t: float, state: RuleState) -> None:
        key = self.key(event)
        agg = self.covering(state, key, t)
        if agg is None:
            agg = self.open_finding(state, key, event.occurred_at)
        self.update(state, agg, event, t)

    def live_keys(self, state: RuleState) -> int:
        return len(state.open)
