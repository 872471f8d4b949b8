"""Incremental checkpoints: the entries written since the previous checkpoint, applied to
what was stored before, restore exactly the state a full snapshot restores."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumers.events import Event
from detectors.catalogue import load_rules
from detectors.engine import PartitionDetector, StreamName
from detectors.rule import Rule
from tests.detectors.builders import Events, make_rule

Store = dict[tuple[str, str, str], tuple[int, bytes]]


def small_rules() -> list[Rule]:
    """The catalogue plus rules with tiny caps and windows: evictions and expiry happen."""
    tiny = [
        make_rule(id="T-NV", kind="new_value", stream="auth", field="country",
                  learning="10m", max_keys=3, max_values=2, group_by=["tenant_id", "actor.id"]),
        make_rule(id="T-BL", kind="baseline", stream="access", sum="records", bucket="5m",
                  floor=30, factor=2, history=2, max_keys=3, group_by=["tenant_id", "actor.id"]),
        make_rule(id="T-TR", kind="travel", stream="auth", horizon="20m", max_keys=2,
                  min_km=100, filter={"action": "login_success"},
                  group_by=["tenant_id", "actor.id"]),
        make_rule(id="T-TH", kind="threshold", stream="auth", window="2m", count=3,
                  max_entries=4, filter={"action": "login_failure"},
                  group_by=["tenant_id", "actor.id"]),
        make_rule(id="T-DI", kind="distinct", stream="auth", window="3m", count=2,
                  field="actor.id", filter={"action": "login_failure"},
                  group_by=["tenant_id", "source_ip"]),
    ]  # fmt: skip
    return [*load_rules(), *tiny]


RULES = small_rules()
ACTORS = ["a", "b", "c", "d", "e"]
COUNTRIES = ["FR", "JP", "US", "BR"]
IPS = ["198.51.100.1", "198.51.100.2", "203.0.113.9"]

step = st.tuples(
    st.sampled_from(["login_failure", "login_success", "read", "export", "delete"]),
    st.floats(min_value=-50, max_value=400),  # time step (negative: disorder)
    st.sampled_from(ACTORS),
    st.sampled_from(["t1", "t2"]),
    st.sampled_from(COUNTRIES),
    st.sampled_from(IPS),
    st.integers(min_value=1, max_value=40),
)


def build(ev: Events, steps: list[tuple[Any, ...]]) -> list[Event]:
    out: list[Event] = []
    at = 0.0
    for action, dt, actor, tenant, country, ip, records in steps:
        at = max(at + dt, 0.0)
        if action.startswith("login"):
            out.append(ev.auth(action, at=at, actor=actor, tenant=tenant, country=country, ip=ip))
        else:
            out.append(ev.access(action, at=at, actor=actor, tenant=tenant, country=country,
                                 ip=ip, records=records))  # fmt: skip
    return out


def checkpoint(det: PartitionDetector, store: Store) -> dict[str, Any]:
    for rule_id, slot, key, seq, value in det.changes():
        if value is None:
            store.pop((rule_id, slot, key), None)
        else:
            old = store.get((rule_id, slot, key))
            store[(rule_id, slot, key)] = (seq if seq >= 0 or old is None else old[0], value)
    header = det.header()
    det.settle()
    return header


def stored(store: Store) -> list[tuple[str, str, str, int, bytes]]:
    return [(r, s, k, seq, v) for (r, s, k), (seq, v) in store.items()]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    stream=st.sampled_from(["auth", "access", "by_ip"]),
    steps=st.lists(step, min_size=1, max_size=120),
    cuts=st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=6),
    tail=st.lists(step, min_size=1, max_size=30),
)
def test_entries_restore_the_state_of_a_full_snapshot(
    stream: StreamName, steps: list[Any], cuts: list[int], tail: list[Any]
) -> None:
    ev = Events()
    events = build(ev, steps)
    det = PartitionDetector(RULES, stream=stream)
    store: Store = {}
    header = checkpoint(det, store)  # an empty first checkpoint
    i = 0
    for cut in cuts:  # several checkpoints, with batches between them
        for j in range(i, min(i + cut, len(events)), 7):
            det.process(events[j : min(j + 7, i + cut)])
        i = min(i + cut, len(events))
        header = checkpoint(det, store)
    full = det.snapshot()
    by_entries = PartitionDetector.restore_entries(header, stored(store), RULES, stream=stream)
    by_snapshot = PartitionDetector.restore(full, RULES, stream=stream)
    assert by_entries.snapshot() == by_snapshot.snapshot() == full
    assert by_entries.orphans == set()
    nxt = events[i:] + build(ev, tail)
    a = [(e.finding, e.evidence_events) for e in by_entries.process(nxt)]
    b = [(e.finding, e.evidence_events) for e in by_snapshot.process(nxt)]
    assert a == b
    assert by_entries.snapshot() == by_snapshot.snapshot()


def test_a_checkpoint_writes_what_changed_not_the_state(ev: Events) -> None:
    det = PartitionDetector(load_rules(), stream="auth")
    det.process([ev.auth("login_success", at=i, actor=f"u{i}") for i in range(500)])
    first = det.changes()
    det.header()
    det.settle()
    assert len(first) >= 500
    det.process([ev.auth("login_success", at=600, actor="u7")])
    again = det.changes()
    assert 0 < len(again) <= 10  # the one account's keys, not the 500
    assert all("u7" in key for _r, _s, key, _q, _v in again)


def test_expired_keys_are_deleted(ev: Events) -> None:
    rule = make_rule(kind="threshold", stream="auth", window="1m", count=5,
                     filter={"action": "login_failure"})  # fmt: skip
    det = PartitionDetector([rule], stream="auth")
    det.process([ev.auth(at=0, actor="gone")])
    assert [(k, v is not None) for _r, _s, k, _q, v in det.changes()] == [("t1|gone", True)]
    det.settle()
    det.process([ev.auth(at=3600, actor="other")])  # the watermark passes "gone"'s window
    changed = {k: v is not None for _r, _s, k, _q, v in det.changes()}
    assert changed == {"t1|gone": False, "t1|other": True}


def test_entries_of_rules_no_longer_configured_are_orphans(ev: Events) -> None:
    det = PartitionDetector(RULES, stream="auth")
    det.process([ev.auth(at=i, actor="x") for i in range(12)])
    store: Store = {}
    header = checkpoint(det, store)
    kept = [r for r in RULES if r.id != "AUTH-001"]
    back = PartitionDetector.restore_entries(header, stored(store), kept, stream="auth")
    assert ("AUTH-001", "o") in back.orphans
    assert {rid for rid, _slot in back.orphans} == {"AUTH-001"}
