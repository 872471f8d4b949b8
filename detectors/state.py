"""Detector state shared by every rule kind: open findings (aggregates) and per-rule state.

Times inside the engine are float epoch seconds (fast comparisons); finding times stay the
events' own `datetime` values so they round-trip exactly.
"""

from __future__ import annotations

import itertools
from bisect import insort
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any, TypeVar

from consumers.events import AccessEvent, DataCategory, Event, Outcome
from detectors.finding import MAX_EVIDENCE

MAX_LISTED = 100  # actor ids / source IPs listed on one finding
MAX_SUBJECT_KEYS = 10_000  # distinct accounts counted for auth findings

CATEGORY_BITS: dict[str, int] = {c.value: 1 << i for i, c in enumerate(DataCategory)}


def categories_of(mask: int) -> frozenset[str]:
    return frozenset(name for name, bit in CATEGORY_BITS.items() if mask & bit)


_MASKS: dict[frozenset[Any], int] = {}


def mask_of(categories: frozenset[DataCategory] | frozenset[str]) -> int:
    """Bit mask of a set of categories (cached: there are only 15 non-empty sets)."""
    mask = _MASKS.get(categories)
    if mask is None:
        mask = 0
        for c in categories:
            mask |= CATEGORY_BITS[c]
        _MASKS[frozenset(categories)] = mask
    return mask


def dt_from(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


class Clock:
    """The partition's event-time watermark, shared by all rule states of a detector."""

    __slots__ = ("watermark",)

    def __init__(self) -> None:
        self.watermark = float("-inf")


def _keep_smallest(kept: dict[str, None], value: str) -> None:
    """Add `value` to a capped set, keeping the `MAX_LISTED` smallest: the same set whatever
    the arrival order (findings must not depend on how partitions interleave)."""
    if value in kept:
        return
    if len(kept) < MAX_LISTED:
        kept[value] = None
        return
    largest = max(kept)
    if value < largest:
        del kept[largest]
        kept[value] = None


class Agg:
    """One finding under construction: current aggregates (never increments).

    Evidence keeps the `MAX_EVIDENCE` earliest events by (event time, id), plus the events a
    kind pins (e.g. the login that completed a sequence), so it does not depend on the order
    in which events arrived.
    """

    __slots__ = (
        "actors",
        "cats",
        "count",
        "ctx",
        "end",
        "evidence",
        "fid",
        "first",
        "first_dt",
        "ips",
        "key",
        "last",
        "last_dt",
        "pending",
        "pinned",
        "records",
        "start",
        "start_dt",
        "subject_keys",
        "subjects",
        "tenants",
    )

    def __init__(self, fid: str, key: str, start_dt: datetime, end: float) -> None:
        self.fid = fid
        self.key = key
        self.start_dt = start_dt
        self.start = start_dt.timestamp()
        self.end = end
        self.first = float("inf")
        self.last = float("-inf")
        self.first_dt: datetime = start_dt
        self.last_dt: datetime = start_dt
        self.count = 0
        self.evidence: list[tuple[float, str]] = []  # sorted (event time, event id)
        self.pinned: list[tuple[float, str]] = []
        self.pending: list[Event] = []
        self.tenants: dict[str, list[int]] = {}
        self.actors: dict[str, None] = {}
        self.ips: dict[str, None] = {}
        self.cats = 0
        self.records = 0
        self.subjects = 0
        self.subject_keys: set[str] = set()
        self.ctx: dict[str, Any] = {}

    def add(self, ev: Event, t: float, *, hold: bool = True) -> None:
        """Account one event. `hold` keeps a reference for the next emission's evidence."""
        self.count += 1
        if t < self.first:
            self.first = t
            self.first_dt = ev.occurred_at
        if t > self.last:
            self.last = t
            self.last_dt = ev.occurred_at
        evidence = self.evidence
        if len(evidence) < MAX_EVIDENCE or t < evidence[-1][0]:
            insort(evidence, (t, str(ev.event_id)))
            if len(evidence) > MAX_EVIDENCE:
                evidence.pop()
            if hold:
                self.pending.append(ev)
        actor = ev.actor.id
        _keep_smallest(self.actors, actor)
        _keep_smallest(self.ips, ev.source_ip)
        if isinstance(ev, AccessEvent):
            owner = ev.resource.tenant_id
            if ev.outcome is Outcome.ALLOWED:
                records = ev.records
                subjects = ev.subjects if ev.subjects is not None else records
                self.cats |= mask_of(ev.data_categories)
            else:
                records = subjects = 0
            self.records += records
            self.subjects += subjects
            impact = self.tenants.get(owner)
            if impact is None:
                self.tenants[owner] = [1, records, subjects]
            else:
                impact[0] += 1
                impact[1] += records
                impact[2] += subjects
        else:
            self.add_account(ev.tenant_id, actor)

    def add_account(self, tenant: str, actor: str) -> None:
        """Auth events: the persons concerned are the distinct accounts, per tenant."""
        impact = self.tenants.get(tenant)
        if impact is None:
            impact = self.tenants[tenant] = [0, 0, 0]
        impact[0] += 1
        sk = f"{tenant}\x1f{actor}"
        if sk not in self.subject_keys and len(self.subject_keys) < MAX_SUBJECT_KEYS:
            self.subject_keys.add(sk)
            impact[2] += 1
            self.subjects += 1

    def add_parts(
        self,
        *,
        event_id: str,
        occurred_at: datetime,
        tenant: str,
        actor: str,
        source_ip: str,
    ) -> None:
        """Account a remembered auth event of which only some fields are kept."""
        t = occurred_at.timestamp()
        self.count += 1
        if t < self.first:
            self.first, self.first_dt = t, occurred_at
        if t > self.last:
            self.last, self.last_dt = t, occurred_at
        entry = (t, event_id)
        if entry not in self.evidence:
            insort(self.evidence, entry)
            del self.evidence[MAX_EVIDENCE:]
        _keep_smallest(self.actors, actor)
        _keep_smallest(self.ips, source_ip)
        self.add_account(tenant, actor)

    def pin(self, ev: Event, t: float) -> None:
        """Keep `ev` in the evidence even past the cap (call after `add`)."""
        entry = (t, str(ev.event_id))
        if entry not in self.pinned:
            self.pinned.append(entry)
            if not any(held is ev for held in self.pending):
                self.pending.append(ev)

    def evidence_ids(self) -> tuple[str, ...]:
        """The evidence of the finding: earliest events first, pinned ones always kept."""
        if not self.pinned:
            return tuple(eid for _, eid in self.evidence)
        pinned = set(self.pinned)
        room = MAX_EVIDENCE - len(pinned)
        chosen = [e for e in self.evidence if e not in pinned][:room]
        return tuple(eid for _, eid in sorted(chosen + self.pinned))

    # -- snapshot -----------------------------------------------------------------------

    def dump(self) -> list[Any]:
        return [
            self.fid,
            self.key,
            self.start_dt.isoformat(),
            self.end,
            self.first_dt.isoformat() if self.count else None,
            self.last_dt.isoformat() if self.count else None,
            self.count,
            self.evidence,
            self.pinned,
            self.tenants,
            list(self.actors),
            list(self.ips),
            self.cats,
            self.records,
            self.subjects,
            sorted(self.subject_keys),
            self.ctx,
        ]

    @classmethod
    def load(cls, data: list[Any]) -> Agg:
        (fid, key, start, end, first, last, count, evidence, pinned, tenants, actors, ips,
         cats, records, subjects, subject_keys, ctx) = data  # fmt: skip
        agg = cls(fid, key, dt_from(start), end)
        if first is not None:
            agg.first_dt = dt_from(first)
            agg.first = agg.first_dt.timestamp()
            agg.last_dt = dt_from(last)
            agg.last = agg.last_dt.timestamp()
        agg.count = count
        agg.evidence = [(t, eid) for t, eid in evidence]
        agg.pinned = [(t, eid) for t, eid in pinned]
        agg.tenants = {k: list(v) for k, v in tenants.items()}
        agg.actors = dict.fromkeys(actors)
        agg.ips = dict.fromkeys(ips)
        agg.cats = cats
        agg.records = records
        agg.subjects = subjects
        agg.subject_keys = set(subject_keys)
        agg.ctx = dict(ctx)
        return agg


_V = TypeVar("_V")


class KeyMap(OrderedDict[str, _V]):
    """An LRU-ordered map that remembers what changed since `settle()`, so that a checkpoint
    writes the keys that changed, not the whole map.

    `changed`: keys inserted, moved, replaced or removed (their stored copy is stale);
    `moved`: keys inserted or moved to the end (their place in the order is new). Keys moved
    since the last `settle()` are always the map's last ones, so `moved_in_order()` costs
    what moved, not the map's size. A value changed in place without `move_to_end` must be
    reported with `note(key)`."""

    def __init__(self) -> None:
        super().__init__()
        self.changed: set[str] = set()
        self.moved: set[str] = set()
        self.seq = 0  # the next order number a checkpoint hands to a moved key

    def __setitem__(self, key: str, value: _V) -> None:
        if key not in self:
            self.moved.add(key)
        self.changed.add(key)
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self.changed.add(key)
        self.moved.discard(key)

    def move_to_end(self, key: str, last: bool = True) -> None:
        super().move_to_end(key, last)
        self.changed.add(key)
        if last:
            self.moved.add(key)
        else:  # not used by the kinds; the whole order is then stale
            self.moved.update(self)

    def popitem(self, last: bool = True) -> tuple[str, _V]:
        key, value = super().popitem(last)
        self.changed.add(key)
        self.moved.discard(key)
        return key, value

    def pop(self, key: str, *default: Any) -> Any:
        if key in self:
            self.changed.add(key)
            self.moved.discard(key)
        return super().pop(key, *default)

    def clear(self) -> None:
        self.changed.update(self)
        self.moved.clear()
        super().clear()

    def note(self, key: str) -> None:
        self.changed.add(key)

    def moved_in_order(self) -> list[str]:
        """The keys moved since `settle()` that are still present, oldest first."""
        n = sum(1 for key in self.moved if key in self)
        if not n:
            return []
        out = list(itertools.islice(reversed(self), n))
        out.reverse()
        return out

    def settle(self) -> None:
        self.changed = set()
        self.moved = set()

    def mark_all(self) -> None:
        """Everything counts as changed (the stored copy is missing or of another format)."""
        self.changed.update(self)
        self.moved.update(self)


class RuleState:
    """Everything one rule remembers in one partition.

    `open` maps a group key to its current finding (kept past its dedup period for as long as
    a window could still reach back into it); `keys` is the kind's own per-key state, in
    least-recently-touched order (LRU caps and expiry pop from the front).
    """

    __slots__ = ("clock", "dirty", "evictions", "expired", "extra", "keys", "open")

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.open: KeyMap[Agg] = KeyMap()
        self.keys: KeyMap[Any] = KeyMap()
        self.dirty: dict[str, Agg] = {}
        self.evictions = 0
        self.expired = 0
        self.extra: Any = None  # a kind's own bookkeeping (e.g. baseline's bucket queue)

    def touch(self, key: str, value: Any) -> None:
        keys = self.keys
        if key in keys:
            keys.move_to_end(key)
        keys[key] = value
