"""`PartitionDetector`: the detection state of ONE Kafka partition of one stream.

Streams:
- `auth`: auth rules partitioned by tenant (topic `saas.auth.v1`, key = tenant id);
- `access`: access rules partitioned by tenant (topic `saas.access.v1`);
- `by_ip`: rules partitioned by source IP (AUTH-002 password spraying), fed by the repartition
  topic `tocsin.by-ip.v1` that the ingest stage fills with the events `needs_repartition`
  selects.

Event time only. The watermark is the largest event time seen in the partition minus the
allowed lateness; an event older than the watermark is *late*: counted, ignored by every rule.
Events are evaluated in arrival order (no buffering: a finding leaves with the batch that
triggers it); windows are kept sorted by event time, so out-of-order events within the
lateness are placed where they belong.

Restart safety: `snapshot()` captures everything (watermark, windows with the events they
hold, open findings and their dedup periods, `new_value` histories, baselines, travel
history) as zlib-compressed JSON. The pipeline stores it with the consumed offsets in one
transaction and, after a crash, restores it and replays the events after those offsets: the
same snapshot and the same event sequence give the same emissions, with the same finding ids
and values (findings carry current aggregates, never increments).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import zlib
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from operator import attrgetter
from typing import Any

from pydantic import ValidationError

from consumers.conventions import StreamName as StreamName  # re-exported: the callers' name
from consumers.events import AccessEvent, AuthEvent, Event
from detectors.errors import SnapshotError
from detectors.filters import ALWAYS, Const, Node, Predicate, leaves, predicate, specialize
from detectors.finding import Finding
from detectors.rule import Rule
from detectors.state import Agg, Clock, KeyMap, RuleState

SNAPSHOT_VERSION = 1
ENTRIES_VERSION = 2  # `header()` + per-key entries (`changes()`), see `restore_entries`
# kinds whose per-key state does not depend on the rule's parameters: kept across a retune
PORTABLE_KINDS = frozenset({"new_value", "baseline", "travel"})


@dataclass(frozen=True, slots=True)
class Emission:
    """A new or updated finding, with the evidence events the rule still held for it."""

    finding: Finding
    evidence_events: tuple[Event, ...]


@dataclass(frozen=True, slots=True)
class DetectorStats:
    keys: int  # live group keys (windows, histories, baselines, open match findings)
    evictions: int  # state dropped for capacity (LRU caps, per-key entry caps)
    late_events: int  # events older than the watermark, ignored
    events: int  # events given to `process`
    expired: int  # group keys forgotten because the watermark passed their window
    open_findings: int  # findings whose dedup period is still remembered


def rules_for_stream(rules: Sequence[Rule], stream: StreamName) -> list[Rule]:
    if stream == "by_ip":
        return [r for r in rules if r.partition == "source_ip"]
    return [r for r in rules if r.stream == stream and r.partition == "tenant"]


def needs_repartition(rules: Sequence[Rule], event: Event) -> bool:
    """True when some `source_ip`-partitioned rule cares about `event` (republish by IP)."""
    for rule in rules:
        if rule.partition == "source_ip" and type(event) is rule.model and rule.wants(event):
            return True
    return False


# what the dispatch table of one event type may grow to (combinations of field values)
MAX_DISPATCH = 512

Entry = tuple[Callable[[Any, float, RuleState], None], RuleState, Predicate | None]


class Dispatch:
    """Which rules an event can match, decided by the enumerated fields their filters test.

    For every combination of values of those fields (`action`; `outcome`, `operation`,
    `actor.kind`, `tls`…) the table holds the rules whose filter can still hold, each with
    the rest of its filter once those fields are known (None: nothing left to test). An
    event then costs one lookup plus what is left of the filters it can match, instead of
    every filter of the stream."""

    __slots__ = ("every", "key", "paths", "table")

    def __init__(
        self, paths: tuple[str, ...], table: dict[Any, tuple[Entry, ...]], every: tuple[Entry, ...]
    ) -> None:
        self.paths = paths
        self.table = table
        self.every = every  # a combination missing from the table: the whole filters
        self.key: Callable[[Any], Any] = attrgetter(*paths) if paths else _no_key

    @classmethod
    def build(cls, pairs: Sequence[tuple[Rule, RuleState]]) -> Dispatch:
        every = tuple((r.evaluate, s, _residual(r.match_node)) for r, s in pairs)
        domains: dict[str, tuple[Any, ...]] = {}
        uses: Tally[str] = Tally()
        for rule, _ in pairs:
            seen = set()
            for leaf in leaves(rule.match_node):
                if leaf.path is not None and leaf.domain is not None:
                    domains[leaf.path] = leaf.domain
                    seen.add(leaf.path)
            uses.update(seen)
        paths: list[str] = []
        size = 1
        for path in sorted(uses, key=lambda p: (-uses[p], len(domains[p]), p)):
            if size * len(domains[path]) <= MAX_DISPATCH:
                paths.append(path)
                size *= len(domains[path])
        table: dict[Any, tuple[Entry, ...]] = {}
        for combo in itertools.product(*(domains[p] for p in paths)):
            known = dict(zip(paths, combo, strict=True))
            entries = []
            for rule, state in pairs:
                rest = specialize(rule.match_node, known)
                if not (isinstance(rest, Const) and not rest.value):
                    entries.append((rule.evaluate, state, _residual(rest)))
            table[combo if len(paths) != 1 else combo[0]] = tuple(entries)
        return cls(tuple(paths), table, every)


def _no_key(_: Any) -> tuple[()]:
    return ()


def _residual(node: Node) -> Predicate | None:
    return None if node is ALWAYS else predicate(node)


# One stored piece of a partition's state: (rule id, slot, key, order, encoded value).
# Slot "o" holds an open finding, "k" a kind's per-key state. The order number places the key
# in its map's LRU order (-1: unchanged place); a value of None deletes the entry.
StoredEntry = tuple[str, str, str, int, bytes | None]
OPEN, KEYS = "o", "k"
_COMPRESS_OVER = 4096  # entries longer than this are stored zlib-compressed


_dumps = json.JSONEncoder(separators=(",", ":")).encode


def encode_entry(value: Any) -> bytes:
    return _pack(_dumps(value))


def _pack(text: str) -> bytes:
    raw = text.encode()
    return zlib.compress(raw, 1) if len(raw) > _COMPRESS_OVER else raw


def decode_entry(data: bytes) -> Any:
    # JSON never starts with "x" (0x78), the first byte of a zlib stream
    return json.loads(zlib.decompress(data) if data[:1] == b"x" else data)


class _OneKey:
    """A state holding one key, for the kinds' `dump_keys` (which dump a whole state)."""

    __slots__ = ("clock", "extra", "keys", "open")

    def __init__(self, state: RuleState, key: str, value: Any) -> None:
        self.clock = state.clock
        self.open = state.open
        self.extra = state.extra
        self.keys = {key: value}


def _load_event(tag: str, body: Any) -> Event:
    return (AuthEvent if tag == "u" else AccessEvent).model_validate(body)


def _order(keymap: KeyMap[Any]) -> dict[str, int]:
    """Order numbers for the keys moved since the last checkpoint, after all earlier ones."""
    moved = keymap.moved_in_order()
    base = keymap.seq
    keymap.seq = base + len(moved)
    return {key: base + i for i, key in enumerate(moved)}


def _fingerprint(rule: Rule) -> str:
    data = rule.config.model_dump(mode="json")
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class PartitionDetector:
    """Runs the rules of one stream over one partition's events, in arrival order."""

    def __init__(
        self,
        rules: Sequence[Rule],
        *,
        stream: StreamName,
        lateness: timedelta = timedelta(seconds=60),
    ) -> None:
        if stream not in ("auth", "access", "by_ip"):
            raise ValueError(f"unknown stream {stream!r}")
        if lateness < timedelta(0):
            raise ValueError("lateness must not be negative")
        self.stream: StreamName = stream
        self.lateness = lateness
        self._lateness = lateness.total_seconds()
        self.rules: tuple[Rule, ...] = tuple(rules_for_stream(rules, stream))
        self.clock = Clock()
        self.max_time = float("-inf")
        self.states: tuple[RuleState, ...] = tuple(r.new_state(self.clock) for r in self.rules)
        pairs = list(zip(self.rules, self.states, strict=True))
        self._by_type: dict[type, Dispatch] = {
            model: Dispatch.build([(r, s) for r, s in pairs if r.model is model])
            for model in (AuthEvent, AccessEvent)
        }
        self._events = 0
        self._late = 0
        self._fingerprints = [_fingerprint(r) for r in self.rules]
        # (rule id, slot) of stored entries no longer valid, deleted by the next checkpoint
        self.orphans: set[tuple[str, str]] = set()
        # event id -> (event, its JSON text) for the entries of this and the last checkpoint
        self._texts: dict[str, tuple[Event, str]] = {}
        self._texts_old: dict[str, tuple[Event, str]] = {}
        # True once the caller announces watermarks (by-IP partitions): event times then
        # never move the watermark
        self.external_watermark = False

    # -- processing ---------------------------------------------------------------------

    def process(self, events: Sequence[Event], *, watermark: float | None = None) -> list[Emission]:
        """Feed a batch (already de-duplicated by event id). Returns the findings opened or
        updated by this batch, each once, with its current aggregates.

        `watermark` (epoch seconds) replaces the partition's own: a repartitioned stream
        mixes several upstream partitions, so its watermark is the minimum they announce,
        and lateness was already decided upstream (no event is dropped here). Once given,
        the detector keeps to announced watermarks (never moving backwards), also across
        `snapshot()` / `restore()`."""
        clock = self.clock
        lateness = self._lateness
        by_type = self._by_type
        max_time = self.max_time
        late = 0
        self._events += len(events)
        if watermark is not None:
            self.external_watermark = True
            clock.watermark = max(clock.watermark, watermark)
        if self.external_watermark:
            for event in events:
                t = event.occurred_at.timestamp()
                if t > max_time:
                    max_time = t
                d = by_type[type(event)]
                for evaluate, state, residual in d.table.get(d.key(event), d.every):
                    if residual is None or residual(event):
                        evaluate(event, t, state)
            events = ()
        for event in events:
            t = event.occurred_at.timestamp()
            if t > max_time:
                max_time = t
                clock.watermark = t - lateness
            elif t < clock.watermark:
                late += 1
                continue
            d = by_type[type(event)]
            for evaluate, state, residual in d.table.get(d.key(event), d.every):
                if residual is None or residual(event):
                    evaluate(event, t, state)
        self.max_time = max_time
        self._late += late
        out = self._emissions()
        for rule, state in zip(self.rules, self.states, strict=True):
            rule.sweep(state)
        return out

    def _emissions(self) -> list[Emission]:
        out: list[Emission] = []
        for rule, state in zip(self.rules, self.states, strict=True):
            if not state.dirty:
                continue
            note = state.open.note  # the finding changed: its stored entry is stale
            for agg in state.dirty.values():
                note(agg.key)
                finding = rule.to_finding(agg)
                cited = set(finding.evidence)
                held = tuple(ev for ev in agg.pending if str(ev.event_id) in cited)
                out.append(Emission(finding, held))
                agg.pending = []
            state.dirty = {}
        return out

    @property
    def watermark(self) -> float:
        return self.clock.watermark

    @property
    def late_events(self) -> int:
        return self._late

    @property
    def stats(self) -> DetectorStats:
        pairs = list(zip(self.rules, self.states, strict=True))
        return DetectorStats(
            keys=sum(r.live_keys(s) for r, s in pairs),
            evictions=sum(s.evictions for s in self.states),
            late_events=self._late,
            events=self._events,
            expired=sum(s.expired for s in self.states),
            open_findings=sum(len(s.open) for s in self.states),
        )

    # -- snapshot -----------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """All state as zlib-compressed JSON (no pickle: safe to load, readable to debug)."""
        events: dict[str, Event] = {}
        rules: dict[str, Any] = {}
        for rule, state in zip(self.rules, self.states, strict=True):
            rules[rule.id] = {
                "kind": rule.kind,
                "fingerprint": _fingerprint(rule),
                "open": [agg.dump() for agg in state.open.values()],
                "keys": rule.dump_keys(state, events),
                "evictions": state.evictions,
                "expired": state.expired,
            }
        doc = {
            "version": SNAPSHOT_VERSION,
            "stream": self.stream,
            "max_time": self.max_time if self.max_time != float("-inf") else None,
            "watermark": (
                self.clock.watermark
                if self.external_watermark and self.clock.watermark != float("-inf")
                else None
            ),
            "external_watermark": self.external_watermark,
            "events": self._events,
            "late": self._late,
            "event_table": {
                eid: ["u" if isinstance(ev, AuthEvent) else "a", ev.model_dump(mode="json")]
                for eid, ev in events.items()
            },
            "rules": rules,
        }
        return zlib.compress(json.dumps(doc, separators=(",", ":")).encode(), 1)

    @classmethod
    def restore(
        cls,
        data: bytes,
        rules: Sequence[Rule],
        *,
        stream: StreamName,
        lateness: timedelta = timedelta(seconds=60),
    ) -> PartitionDetector:
        """Rebuild a detector from `snapshot()`. Rules absent from the snapshot start empty;
        state of rules no longer configured is dropped; a retuned windowed rule restarts its
        windows but keeps its open findings (dedup)."""
        try:
            doc = json.loads(zlib.decompress(data))
        except (zlib.error, ValueError) as exc:
            raise SnapshotError(f"unreadable detector snapshot: {type(exc).__name__}") from None
        if not isinstance(doc, dict) or doc.get("version") != SNAPSHOT_VERSION:
            raise SnapshotError("unsupported detector snapshot version")
        if doc.get("stream") != stream:
            raise SnapshotError(f"snapshot of stream {doc.get('stream')!r}, not {stream!r}")
        det = cls(rules, stream=stream, lateness=lateness)
        try:
            events: dict[str, Event] = {
                eid: (AuthEvent if tag == "u" else AccessEvent).model_validate(body)
                for eid, (tag, body) in doc["event_table"].items()
            }
            if doc["max_time"] is not None:
                det.max_time = float(doc["max_time"])
                det.clock.watermark = det.max_time - det._lateness
            if doc["external_watermark"]:
                det.external_watermark = True
                wm = doc["watermark"]
                det.clock.watermark = float("-inf") if wm is None else float(wm)
            det._events = int(doc["events"])
            det._late = int(doc["late"])
            for rule, state in zip(det.rules, det.states, strict=True):
                saved = doc["rules"].get(rule.id)
                if saved is None or saved["kind"] != rule.kind:
                    continue
                for dumped in saved["open"]:
                    agg = Agg.load(dumped)
                    state.open[agg.key] = agg
                state.evictions = int(saved["evictions"])
                state.expired = int(saved["expired"])
                same = saved["fingerprint"] == _fingerprint(rule)
                if same or rule.kind in PORTABLE_KINDS:
                    rule.load_keys(state, saved["keys"], events)
        except (KeyError, TypeError, ValueError, ValidationError) as exc:
            raise SnapshotError(f"corrupt detector snapshot: {type(exc).__name__}") from None
        det.settle_keys()
        return det

    # -- incremental checkpoints --------------------------------------------------------
    #
    # A checkpoint stores a small header (watermark, counters, per rule its kind,
    # fingerprint and order counters) and one entry per key changed since the previous
    # checkpoint (`changes()`); `restore_entries` rebuilds from the header and every stored
    # entry exactly the state `restore(snapshot())` would give.

    @property
    def dirty_keys(self) -> int:
        """Keys (open findings and per-key state) changed since the last `settle()`."""
        return sum(len(s.keys.changed) + len(s.open.changed) for s in self.states)

    def changes(self) -> list[StoredEntry]:
        """The entries to write (or delete) for what changed since the last `settle()`."""
        # events still in a window are encoded once, not at every checkpoint that writes
        # their key: the texts of the previous checkpoint are reused, the others dropped
        self._texts_old, self._texts = self._texts, {}
        out: list[StoredEntry] = []
        for rule, state in zip(self.rules, self.states, strict=True):
            opened = state.open
            if opened.changed:
                order = _order(opened)
                for key in opened.changed:
                    agg = opened.get(key)
                    value = None if agg is None else encode_entry(agg.dump())
                    out.append((rule.id, OPEN, key, order.get(key, -1), value))
            if state.keys.changed:
                self._key_changes(rule, state, out)
        self._texts_old = {}
        return out

    def _key_changes(self, rule: Rule, state: RuleState, out: list[StoredEntry]) -> None:
        keys = state.keys
        order = _order(keys)
        custom = getattr(rule, "dump_key", None)
        for key in keys.changed:
            events: dict[str, Event] = {}
            if custom is not None:
                dumped = custom(state, key, events)
            else:
                value = keys.get(key)
                dumped = None
                if value is not None:
                    view: Any = _OneKey(state, key, value)
                    dumped = rule.dump_keys(view, events)[0]
            if dumped is None:
                out.append((rule.id, KEYS, key, -1, None))
                continue
            text = '{"v":' + _dumps(dumped)
            if events:
                table = ",".join(
                    f'"{eid}":{self._event_text(eid, ev)}' for eid, ev in events.items()
                )
                text += ',"e":{' + table + "}"
            out.append((rule.id, KEYS, key, order.get(key, -1), _pack(text + "}")))

    def _event_text(self, eid: str, ev: Event) -> str:
        hit = self._texts.get(eid) or self._texts_old.get(eid)
        if hit is None or hit[0] is not ev:
            tag = "u" if isinstance(ev, AuthEvent) else "a"
            hit = (ev, f'["{tag}",{ev.model_dump_json()}]')
        self._texts[eid] = hit
        return hit[1]

    def header(self) -> dict[str, Any]:
        """Everything but the keys (call after `changes()`: it hands out order numbers)."""
        rules = {
            rule.id: {
                "kind": rule.kind,
                "fingerprint": self._fingerprints[i],
                "evictions": state.evictions,
                "expired": state.expired,
                "keys_seq": state.keys.seq,
                "open_seq": state.open.seq,
            }
            for i, (rule, state) in enumerate(zip(self.rules, self.states, strict=True))
        }
        return {
            "version": ENTRIES_VERSION,
            "stream": self.stream,
            "max_time": self.max_time if self.max_time != float("-inf") else None,
            "watermark": (
                self.clock.watermark
                if self.external_watermark and self.clock.watermark != float("-inf")
                else None
            ),
            "external_watermark": self.external_watermark,
            "events": self._events,
            "late": self._late,
            "rules": rules,
        }

    def settle(self) -> None:
        """What `changes()` returned is stored: nothing has changed since."""
        for state in self.states:
            state.keys.settle()
            state.open.settle()
        self.orphans = set()

    def mark_all(self) -> None:
        """Every key counts as changed (nothing of this state is stored as entries yet)."""
        for state in self.states:
            state.keys.mark_all()
            state.open.mark_all()

    @classmethod
    def restore_entries(
        cls,
        header: Any,
        entries: Iterable[StoredEntry],
        rules: Sequence[Rule],
        *,
        stream: StreamName,
        lateness: timedelta = timedelta(seconds=60),
    ) -> PartitionDetector:
        """Rebuild a detector from `header()` and the stored entries, with the rules of
        `restore()`. Entries of rules no longer configured, or no longer valid (another kind,
        a retuned windowed rule), are listed in `orphans`: the next checkpoint deletes them."""
        if not isinstance(header, dict) or header.get("version") != ENTRIES_VERSION:
            raise SnapshotError("unsupported detector checkpoint version")
        if header.get("stream") != stream:
            raise SnapshotError(f"checkpoint of stream {header.get('stream')!r}, not {stream!r}")
        det = cls(rules, stream=stream, lateness=lateness)
        grouped: dict[tuple[str, str], list[tuple[int, str, bytes]]] = {}
        for rule_id, slot, key, seq, value in entries:
            if value is not None:
                grouped.setdefault((rule_id, slot), []).append((seq, key, value))
        try:
            det._restore_scalars(header)
            for rule, state in zip(det.rules, det.states, strict=True):
                det._restore_rule(rule, state, header["rules"].get(rule.id), grouped)
        except (KeyError, TypeError, ValueError, ValidationError, zlib.error) as exc:
            raise SnapshotError(f"corrupt detector checkpoint: {type(exc).__name__}") from None
        configured = {rule.id for rule in det.rules}
        det.orphans |= {(rid, slot) for rid, slot in grouped if rid not in configured}
        det.settle_keys()
        return det

    def settle_keys(self) -> None:
        for state in self.states:
            state.keys.settle()
            state.open.settle()

    def _restore_scalars(self, doc: dict[str, Any]) -> None:
        if doc["max_time"] is not None:
            self.max_time = float(doc["max_time"])
            self.clock.watermark = self.max_time - self._lateness
        if doc["external_watermark"]:
            self.external_watermark = True
            wm = doc["watermark"]
            self.clock.watermark = float("-inf") if wm is None else float(wm)
        self._events = int(doc["events"])
        self._late = int(doc["late"])

    def _restore_rule(
        self,
        rule: Rule,
        state: RuleState,
        saved: dict[str, Any] | None,
        grouped: dict[tuple[str, str], list[tuple[int, str, bytes]]],
    ) -> None:
        if saved is None or saved["kind"] != rule.kind:
            self.orphans |= {(rule.id, slot) for slot in (OPEN, KEYS) if (rule.id, slot) in grouped}
            return
        for _seq, _key, value in sorted(grouped.get((rule.id, OPEN), ())):
            agg = Agg.load(decode_entry(value))
            state.open[agg.key] = agg
        state.open.seq = int(saved["open_seq"])
        state.keys.seq = int(saved["keys_seq"])
        state.evictions = int(saved["evictions"])
        state.expired = int(saved["expired"])
        rows = sorted(grouped.get((rule.id, KEYS), ()))
        if not rows:
            return
        if saved["fingerprint"] != _fingerprint(rule) and rule.kind not in PORTABLE_KINDS:
            self.orphans.add((rule.id, KEYS))
            return
        docs = [(key, decode_entry(value)) for _seq, key, value in rows]
        custom = getattr(rule, "load_entries", None)
        if custom is not None:
            custom(state, [(key, doc["v"]) for key, doc in docs])
            return
        events = {
            eid: _load_event(tag, body)
            for _key, doc in docs
            for eid, (tag, body) in doc.get("e", {}).items()
        }
        rule.load_keys(state, [doc["v"] for _key, doc in docs], events)
