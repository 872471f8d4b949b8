"""Per-partition de-duplication of `event_id`s over event time.

Memory is bounded by the event-time horizon, not by the events seen: an id is kept while its
`occurred_at` is within `horizon` of the partition's newest event. A copy that arrives later
than that is older than the detectors' watermark too (horizon ≥ allowed lateness), so it is
ignored as *late* and can never be counted twice.

Ids are forgotten in arrival order: the queue's head goes once it is older than the horizon.
An id that arrived out of order (older than ids before it) is kept until those go, a little
longer than needed, never shorter. Keys are the ids' 128-bit integers (`UUID.int`): cheaper
to hash than their text, and exact.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Hashable
from datetime import datetime, timedelta
from typing import Any


class Deduplicator:
    """`follow_events=False` leaves expiry to `expire_before` (a stream whose watermark comes
    from elsewhere, like the repartition topic's)."""

    def __init__(self, horizon: timedelta, *, follow_events: bool = True) -> None:
        self.follow_events = follow_events
        self.horizon = horizon.total_seconds()
        self._seen: set[Hashable] = set()
        self._queue: deque[tuple[float, Hashable]] = deque()
        self.max_time = float("-inf")
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._seen)

    def first_time(self, event_id: Hashable, t: float) -> bool:
        """True the first time an id is offered (within the horizon), False for a duplicate.
        `t` is the event time in epoch seconds."""
        seen = self._seen
        if event_id in seen:
            return False
        seen.add(event_id)
        self._queue.append((t, event_id))
        if t > self.max_time:
            self.max_time = t
            if self.follow_events:
                self._expire(t - self.horizon)
        return True

    def expire_before(self, watermark: datetime) -> None:
        """Forget ids older than `watermark` minus the horizon."""
        self._expire(watermark.timestamp() - self.horizon)

    def _expire(self, cutoff: float) -> None:
        queue, seen = self._queue, self._seen
        while queue and queue[0][0] < cutoff:
            seen.discard(queue.popleft()[1])
            self.evictions += 1

    def snapshot(self) -> dict[str, Any]:
        return {
            "v": 2,
            "max": self.max_time if self._queue else None,
            "queue": [[t, eid] for t, eid in self._queue],
        }

    @classmethod
    def restore(
        cls, data: dict[str, Any], horizon: timedelta, *, follow_events: bool = True
    ) -> Deduplicator:
        dedup = cls(horizon, follow_events=follow_events)
        entries: list[tuple[float, Hashable]]
        if data.get("v") == 2:
            entries = [
                (float(t), int(eid) if isinstance(eid, int) else str(eid))
                for t, eid in data["queue"]
            ]
            if data.get("max") is not None:
                dedup.max_time = float(data["max"])
        else:  # first format: {uuid text: event time in µs}
            entries = sorted(
                ((int(us) / 1e6, _uuid_int(str(eid))) for eid, us in data.get("seen", {}).items()),
                key=lambda entry: entry[0],
            )
            if "max_us" in data and entries:
                dedup.max_time = int(data["max_us"]) / 1e6
        dedup._queue = deque(entries)
        dedup._seen = {eid for _, eid in entries}
        if follow_events and dedup._queue:
            dedup._expire(dedup.max_time - dedup.horizon)
        return dedup


def _uuid_int(text: str) -> int | str:
    try:
        return uuid.UUID(text).int
    except ValueError:
        return text
