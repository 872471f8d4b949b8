"""`baseline`: the per-group sum of `sum` in a `bucket` (tumbling, aligned on the epoch)
exceeds max(`floor`, `factor` × the group's own baseline).

The baseline is the mean of the group's last `history` closed, non-empty buckets (no history:
the floor alone applies). A bucket closes when the watermark passes its end: `sweep` folds it
into the group's history (a queue of open buckets in creation order makes that O(closed)), so
only the groups active in the current bucket hold a bucket. The finding's period starts at the
bucket start.

Long memory, bounded: at most `max_keys` groups (least recently active evicted first, counted
in `evictions`). A bucket keeps counts, per-tenant impact and the ids of its largest
contributions (not the events: memory stays flat with 100,000 active actors), so the evidence
of a baseline finding lists those ids and the events seen from the moment it fires.
"""

from __future__ import annotations

import math
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, ClassVar

from pydantic import Field

from consumers.events import AccessEvent, Event, Outcome
from detectors.errors import FilterError
from detectors.filters import check_field
from detectors.rule import Duration, Rule, RuleConfig
from detectors.state import Clock, RuleState, dt_from, mask_of

TOP_IDS = 5


def _weight(item: tuple[float, float, Any]) -> float:
    return item[0]


class BaselineConfig(RuleConfig):
    sum: str
    bucket: Duration = timedelta(hours=1)
    floor: Annotated[float, Field(ge=0)]
    factor: Annotated[float, Field(gt=0)] = 10.0
    history: Annotated[int, Field(ge=1, le=1000)] = 24
    max_keys: Annotated[int, Field(ge=1)] = 500_000


class Bucket:
    __slots__ = (
        "cats",
        "count",
        "first_dt",
        "first_t",
        "records",
        "subjects",
        "tenants",
        "top",
        "total",
    )

    def __init__(self, first_dt: datetime) -> None:
        self.count = 0
        self.total = 0.0
        self.records = 0
        self.subjects = 0
        self.cats = 0
        self.first_dt = first_dt
        self.first_t = first_dt.timestamp()
        self.tenants: dict[str, list[int]] = {}
        # (weight, event time, event id) of the largest contributions
        self.top: list[tuple[float, float, Any]] = []

    def add(self, ev: Event, t: float, weight: float) -> None:
        self.count += 1
        self.total += weight
        if t < self.first_t:
            self.first_t = t
            self.first_dt = ev.occurred_at
        if type(ev) is AccessEvent:
            owner = ev.resource.tenant_id
            if ev.outcome is Outcome.ALLOWED:
                records = ev.records
                subjects = ev.subjects if ev.subjects is not None else records
                self.cats |= mask_of(ev.data_categories)
            else:
                records = subjects = 0
        else:
            owner, records, subjects = ev.tenant_id, 0, 0
        self.records += records
        self.subjects += subjects
        impact = self.tenants.get(owner)
        if impact is None:
            self.tenants[owner] = [1, records, subjects]
        else:
            impact[0] += 1
            impact[1] += records
            impact[2] += subjects
        top = self.top
        if len(top) < TOP_IDS:
            top.append((weight, t, ev.event_id))
            if len(top) == TOP_IDS:
                top.sort(key=_weight, reverse=True)
        elif weight > top[-1][0]:
            top[-1] = (weight, t, ev.event_id)
            top.sort(key=_weight, reverse=True)

    def top_evidence(self) -> list[tuple[float, str]]:
        """(event time, id) of the largest contributions, in evidence order."""
        return sorted((t, str(eid)) for _, t, eid in self.top)

    def dump(self) -> list[Any]:
        return [self.count, self.total, self.records, self.subjects, self.cats,
                self.first_dt.isoformat(), self.tenants,
                [[w, t, eid.int] for w, t, eid in self.top]]  # fmt: skip

    @classmethod
    def load(cls, data: list[Any]) -> Bucket:
        count, total, records, subjects, cats, first, tenants, top = data
        b = cls(dt_from(first))
        b.count, b.total, b.records, b.subjects, b.cats = count, total, records, subjects, cats
        b.tenants = {k: list(v) for k, v in tenants.items()}
        b.top = [(w, t, uuid.UUID(int=eid)) for w, t, eid in top]
        return b


class BucketQueue:
    """The open buckets of every group, (bucket end, bucket start, key) in creation order,
    as a deque. Each entry also carries an order number, and the entries are indexed by key,
    so that a checkpoint stores a group's entries with the group (what changed) and a
    restore merges them back in the same order. Popping an entry marks its key changed."""

    __slots__ = ("by_key", "changed", "items", "next_seq")

    def __init__(self, changed: Callable[[str], None]) -> None:
        self.items: deque[tuple[float, float, str]] = deque()
        self.by_key: dict[str, list[list[Any]]] = {}  # key -> [[seq, end, start], ...]
        self.next_seq = 0
        self.changed = changed

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[float, float, str]:
        return self.items[index]

    def __iter__(self) -> Iterator[tuple[float, float, str]]:
        return iter(self.items)

    def append(self, item: tuple[float, float, str], seq: int | None = None) -> None:
        end, start, key = item
        if seq is None:
            seq = self.next_seq
        self.next_seq = max(self.next_seq, seq + 1)
        self.items.append(item)
        self.by_key.setdefault(key, []).append([seq, end, start])
        self.changed(key)

    def popleft(self) -> tuple[float, float, str]:
        item = self.items.popleft()
        key = item[2]
        entries = self.by_key[key]
        del entries[0]
        if not entries:
            del self.by_key[key]
        self.changed(key)
        return item


class BaselineRule(Rule[BaselineConfig]):
    kind: ClassVar[str] = "baseline"
    Config: ClassVar[type[RuleConfig]] = BaselineConfig
    extra_summary_fields: ClassVar[frozenset[str]] = frozenset(
        {"total", "baseline", "threshold", "bucket"}
    )

    def __init__(
        self, config: BaselineConfig, *, timezone: str, parameters: Mapping[str, Any]
    ) -> None:
        super().__init__(config, timezone=timezone, parameters=parameters)
        cfg = config
        ft = check_field(self.model, cfg.sum, "sum")
        if not ft.is_number:
            raise FilterError("sum", f"{cfg.sum} is not numeric")
        self.weight: Callable[[Any], Any] = self.field(cfg.sum, "sum")
        self.bucket = cfg.bucket.total_seconds()
        self.bucket_delta = cfg.bucket
        self.floor = cfg.floor
        self.factor = cfg.factor
        self.history = cfg.history
        self.max_keys = cfg.max_keys

    def new_state(self, clock: Clock) -> RuleState:
        state = super().new_state(clock)
        state.extra = BucketQueue(state.keys.note)  # (bucket end, bucket start, key)
        return state

    def threshold(self, history: list[float]) -> float:
        if not history:
            return self.floor
        return max(self.floor, self.factor * (sum(history) / len(history)))

    def evaluate(self, event: Event, t: float, state: RuleState) -> None:
        weight = self.weight(event) or 0
        key = self.key(event)
        keys = state.keys
        # [history, {bucket start: Bucket}, threshold for the open bucket]
        group: list[Any] | None = keys.get(key)
        if group is None:
            group = keys[key] = [[], {}, self.floor]
            if len(keys) > self.max_keys:
                keys.popitem(last=False)
                state.evictions += 1
        else:
            keys.move_to_end(key)
        history: list[float] = group[0]
        buckets: dict[float, Bucket] = group[1]
        start = math.floor(t / self.bucket) * self.bucket
        if len(buckets) > 1 or start not in buckets:
            self._close(group, state.clock.watermark)
        bucket = buckets.get(start)
        if bucket is None:
            bucket = buckets[start] = Bucket(event.occurred_at)
            state.extra.append((start + self.bucket, start, key))
        agg = state.open.get(key)
        if agg is not None and t < agg.end:
            bucket.add(event, t, weight)
            self.update(state, agg, event, t)
            return
        limit: float = group[2]
        if bucket.total + weight <= limit:
            bucket.add(event, t, weight)
            return
        agg = self.open_finding(state, key, datetime.fromtimestamp(start, UTC))
        if bucket.count:  # seed with the bucket so far (before this event)
            agg.count = bucket.count
            agg.first_dt = agg.last_dt = bucket.first_dt
            agg.first = agg.last = bucket.first_dt.timestamp()
            agg.evidence = bucket.top_evidence()
            agg.tenants = {k: list(v) for k, v in bucket.tenants.items()}
            agg.cats = bucket.cats
            agg.records, agg.subjects = bucket.records, bucket.subjects
        bucket.add(event, t, weight)
        agg.ctx["baseline"] = round(sum(history) / len(history), 1) if history else 0.0
        agg.ctx["threshold"] = limit
        self.update(state, agg, event, t)

    def _close(self, group: list[Any], watermark: float) -> None:
        history: list[float] = group[0]
        buckets: dict[float, Bucket] = group[1]
        closed = False
        for start in sorted(buckets):
            if start + self.bucket > watermark:
                break
            history.append(buckets.pop(start).total)
            closed = True
        if len(history) > self.history:
            del history[: len(history) - self.history]
        if closed:
            group[2] = self.threshold(history)

    def sweep(self, state: RuleState) -> None:
        super().sweep(state)
        queue: BucketQueue = state.extra
        watermark = state.clock.watermark
        keys = state.keys
        while queue and queue[0][0] <= watermark:
            _, start, key = queue.popleft()
            group = keys.get(key)
            if group is None:
                continue
            bucket = group[1].pop(start, None)
            if bucket is not None:
                history = group[0]
                history.append(bucket.total)
                if len(history) > self.history:
                    del history[0]
                group[2] = self.threshold(history)

    def dump_keys(self, state: RuleState, events: dict[str, Event]) -> Any:
        groups = [
            [key, g[0], [[s, b.dump()] for s, b in g[1].items()]] for key, g in state.keys.items()
        ]
        return {"groups": groups, "queue": [list(item) for item in state.extra]}

    def load_keys(self, state: RuleState, data: Any, events: Mapping[str, Event]) -> None:
        for key, history, buckets in data["groups"]:
            state.keys[key] = [
                list(history),
                {s: Bucket.load(b) for s, b in buckets},
                self.threshold(list(history)),
            ]
        queue = state.extra = BucketQueue(state.keys.note)
        for end, start, key in data["queue"]:
            queue.append((end, start, key))

    def dump_key(self, state: RuleState, key: str, events: dict[str, Event]) -> Any:
        """One group and its open-bucket entries (None: nothing left to store)."""
        group = state.keys.get(key)
        queued = state.extra.by_key.get(key)
        if group is None and not queued:
            return None
        dumped = None
        if group is not None:
            dumped = [group[0], [[s, b.dump()] for s, b in group[1].items()]]
        return {"g": dumped, "q": queued or []}

    def load_entries(self, state: RuleState, entries: list[tuple[str, Any]]) -> None:
        """Restore from per-key entries, in key order (see `dump_key`)."""
        queued: list[tuple[int, float, float, str]] = []
        for key, data in entries:
            group = data["g"]
            if group is not None:
                history, buckets = group
                state.keys[key] = [
                    list(history),
                    {s: Bucket.load(b) for s, b in buckets},
                    self.threshold(list(history)),
                ]
            queued.extend((seq, end, start, key) for seq, end, start in data["q"])
        queue = state.extra = BucketQueue(state.keys.note)
        for seq, end, start, key in sorted(queued):
            queue.append((end, start, key), seq)

    def summary_context(self, agg: Any) -> dict[str, Any]:
        return {
            "total": agg.records,
            "baseline": agg.ctx.get("baseline", 0),
            "threshold": int(agg.ctx.get("threshold", self.floor)),
            "bucket": f"{int(self.bucket // 60)} min"
            if self.bucket < 3600
            else f"{int(self.bucket // 3600)} h",
        }
