"""The registry of rule kinds: kind name → class. Every concrete kind must be listed."""

from __future__ import annotations

from detectors.kinds.baseline import BaselineRule
from detectors.kinds.distinct import DistinctRule
from detectors.kinds.match import MatchRule
from detectors.kinds.new_value import NewValueRule
from detectors.kinds.sequence import SequenceRule
from detectors.kinds.threshold import ThresholdRule
from detectors.kinds.travel import TravelRule
from detectors.rule import Rule

REGISTRY: dict[str, type[Rule]] = {
    cls.kind: cls
    for cls in (
        MatchRule,
        ThresholdRule,
        DistinctRule,
        SequenceRule,
        NewValueRule,
        BaselineRule,
        TravelRule,
    )
}

__all__ = ["REGISTRY"]
