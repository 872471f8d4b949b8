"""Per-partition de-duplication of `event_id`s over event time.

Memory is bounded by the event-time horizon, not by the events seen: an id is kept while its
`occurred_at` is within `horizon` of the partition's newest event. A copy that arrives later
than that is older than the detectors' watermark too (horizon ≥ allowed lateness), so it is
ignored as *late* and can never be counted twice.
"""

from __future__ import annotations

import heapq
from datetime import UTC, datetime, timedelta
from typing import Any

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Deduplicator:
    """`follow_events=False` leaves expiry to `expire_before` (a stream whose watermark comes
    from elsewhere, like the repartition topic's)."""

    def __init__(self, horizon: timedelta, *, follow_events: bool = True) -> None:
        self.follow_events = follow_events
        self.horizon_us = int(horizon.total_seconds() * 1_000_000)
        self._seen: dict[str, int] = {}
        self._heap: list[tuple[int, str]] = []
        self.max_us = 0
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._seen)

    def first_time(self, event_id: str, occurred_at: datetime) -> bool:
        """True the first time an id is offered (within the horizon), False for a duplicate."""
        if event_id in self._seen:
            return False
        ts = int((occurred_at - _EPOCH).total_seconds() * 1_000_000)
        self._seen[event_id] = ts
        heapq.heappush(self._heap, (ts, event_id))
        if ts > self.max_us:
            self.max_us = ts
            if self.follow_events:
                self._expire(self.max_us - self.horizon_us)
        return True

    def expire_before(self, watermark: datetime) -> None:
        """Forget ids older than `watermark` minus the horizon."""
        ts = int((watermark - _EPOCH).total_seconds() * 1_000_000)
        self._expire(ts - self.horizon_us)

    def _expire(self, cutoff: int) -> None:
        heap, seen = self._heap, self._seen
        while heap and heap[0][0] < cutoff:
            _ts, eid = heapq.heappop(heap)
            seen.pop(eid, None)
            self.evictions += 1

    def snapshot(self) -> dict[str, Any]:
        return {"horizon_us": self.horizon_us, "max_us": self.max_us, "seen": self._seen}

    @classmethod
    def restore(
        cls, data: dict[str, Any], horizon: timedelta, *, follow_events: bool = True
    ) -> Deduplicator:
        dedup = cls(horizon, follow_events=follow_events)
        dedup.max_us = int(data.get("max_us", 0))
        dedup._seen = {str(k): int(v) for k, v in data.get("seen", {}).items()}
        dedup._heap = [(ts, eid) for eid, ts in dedup._seen.items()]
        heapq.heapify(dedup._heap)
        if follow_events:
            dedup._expire(dedup.max_us - dedup.horizon_us)
        return dedup
