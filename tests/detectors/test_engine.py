from __future__ import annotations

import functools
import json
import zlib
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consumers.events import AuthEvent, Event
from detectors.catalogue import load_rules
from detectors.engine import Emission, PartitionDetector, StreamName, needs_repartition
from detectors.errors import SnapshotError
from detectors.finding import Finding
from detectors.rule import Rule
from tests.detectors.builders import T0, Events, latest, make_rule, mixed_traffic

STREAMS: tuple[StreamName, ...] = ("auth", "access", "by_ip")


def split(rules: list[Rule], events: list[Event]) -> dict[StreamName, list[Event]]:
    auth: list[Event] = [e for e in events if isinstance(e, AuthEvent)]
    return {
        "auth": auth,
        "access": [e for e in events if not isinstance(e, AuthEvent)],
        "by_ip": [e for e in auth if needs_repartition(rules, e)],
    }


def feed(det: PartitionDetector, events: list[Event], batch: int) -> list[Emission]:
    out: list[Emission] = []
    for i in range(0, len(events), batch):
        out.extend(det.process(events[i : i + batch]))
    return out


def test_every_catalogue_rule_fires_on_the_mixed_traffic(ev: Events, catalogue: list[Rule]) -> None:
    streams = split(catalogue, mixed_traffic(ev))
    fired: set[str] = set()
    for stream in STREAMS:
        det = PartitionDetector(catalogue, stream=stream)
        fired |= {em.finding.rule_id for em in feed(det, streams[stream], 50)}
    assert fired == {r.id for r in catalogue}


@pytest.mark.parametrize("stream", STREAMS)
@pytest.mark.parametrize("cut", [0.3, 0.5, 0.8])
def test_snapshot_restore_mid_stream_gives_identical_emissions(
    catalogue: list[Rule], stream: StreamName, cut: float
) -> None:
    events = split(catalogue, mixed_traffic(Events()))[stream]
    at = int(len(events) * cut)
    straight = PartitionDetector(catalogue, stream=stream)
    expected = feed(straight, events, 25)

    first = PartitionDetector(catalogue, stream=stream)
    got = feed(first, events[:at], 25)
    snap = first.snapshot()
    restored = PartitionDetector.restore(snap, catalogue, stream=stream)
    got += feed(restored, events[at:], 25)
    assert latest(got) == latest(expected)
    # replay after a crash: the same snapshot and the same events give the same emissions
    replays = [
        [em.finding for em in feed(PartitionDetector.restore(snap, catalogue, stream=stream),
                                   events[at:], 25)]
        for _ in range(2)
    ]  # fmt: skip
    assert replays[0] == replays[1]
    assert latest(got[-len(replays[0]) :] if replays[0] else []) == {
        f.finding_id: f for f in replays[0]
    }


def test_snapshot_with_aligned_batches_is_byte_identical(catalogue: list[Rule]) -> None:
    events = split(catalogue, mixed_traffic(Events()))["auth"]
    straight = PartitionDetector(catalogue, stream="auth")
    feed(straight, events, 20)
    part = PartitionDetector(catalogue, stream="auth")
    feed(part, events[:200], 20)
    restored = PartitionDetector.restore(part.snapshot(), catalogue, stream="auth")
    feed(restored, events[200:], 20)
    assert restored.snapshot() == straight.snapshot()
    assert restored.stats == straight.stats


def test_snapshot_is_json_not_pickle(ev: Events, catalogue: list[Rule]) -> None:
    det = PartitionDetector(catalogue, stream="auth")
    det.process([ev.auth(at=i) for i in range(3)])
    doc = json.loads(zlib.decompress(det.snapshot()))
    assert doc["stream"] == "auth"
    assert len(doc["event_table"]) == 3  # the failures held in AUTH-001/003 windows, once


def test_restore_refuses_garbage_and_another_stream(catalogue: list[Rule]) -> None:
    with pytest.raises(SnapshotError):
        PartitionDetector.restore(b"not a snapshot", catalogue, stream="auth")
    snap = PartitionDetector(catalogue, stream="auth").snapshot()
    with pytest.raises(SnapshotError, match="stream"):
        PartitionDetector.restore(snap, catalogue, stream="access")


def test_restore_with_a_retuned_rule_keeps_findings_and_long_memory(ev: Events) -> None:
    events = [ev.auth(at=i) for i in range(12)]
    det = PartitionDetector(load_rules(), stream="auth")
    first = latest(det.process(events))
    assert {f.rule_id for f in first.values()} == {"AUTH-001"}
    tuned = [r if r.id != "AUTH-001" else make_rule(
        id="AUTH-001", kind="threshold", stream="auth", filter={"action": "login_failure"},
        window="5m", count=3) for r in load_rules()]  # fmt: skip
    det2 = PartitionDetector.restore(det.snapshot(), tuned, stream="auth")
    out = latest(det2.process([ev.auth(at=20)]))
    # the open finding (same period) is updated, not duplicated
    assert set(out) == set(first)
    assert next(iter(out.values())).count == 13


def test_late_events_are_counted_and_ignored_by_every_rule(
    ev: Events, catalogue: list[Rule]
) -> None:
    det = PartitionDetector(catalogue, stream="access", lateness=timedelta(seconds=10))
    det.process([ev.access(at=100)])
    out = det.process([ev.access(at=50, tls=False), ev.access(at=89.9, owner="t9")])
    assert out == []
    assert det.stats.late_events == 2
    assert det.process([ev.access(at=90, owner="t9")]) != []  # exactly at the watermark


def test_state_is_bounded_by_active_windows(ev: Events) -> None:
    brute = make_rule(kind="threshold", stream="auth", filter={"action": "login_failure"},
                      window="5m", count=10)  # fmt: skip
    det = PartitionDetector([brute], stream="auth")
    for i in range(200):
        det.process([ev.auth(at=i * 30, actor=f"u{i}")])
    stats = det.stats
    # 5 min window + 1 min lateness at one event per 30 s: about 12 live accounts
    assert stats.keys <= 13
    assert stats.expired >= 187
    assert stats.evictions == 0


def test_per_key_entries_are_capped(ev: Events) -> None:
    rule = make_rule(kind="distinct", stream="auth", partition="source_ip", field="actor.id",
                     filter={"action": "login_failure"}, window="1h", count=50,
                     max_entries=10)  # fmt: skip
    det = PartitionDetector([rule], stream="by_ip")
    det.process([ev.auth(at=i, actor="same") for i in range(25)])
    assert det.stats.evictions == 15


def test_needs_repartition_selects_what_ip_rules_need(ev: Events, catalogue: list[Rule]) -> None:
    assert needs_repartition(catalogue, ev.auth("login_failure"))
    assert not needs_repartition(catalogue, ev.auth("login_success"))
    assert not needs_repartition(catalogue, ev.access())
    tenant_only = [r for r in catalogue if r.partition == "tenant"]
    assert not needs_repartition(tenant_only, ev.auth("login_failure"))


def test_streams_run_their_own_rules(catalogue: list[Rule]) -> None:
    ids = {s: {r.id for r in PartitionDetector(catalogue, stream=s).rules} for s in STREAMS}
    assert ids["by_ip"] == {"AUTH-002"}
    assert ids["auth"] == {"AUTH-001", "AUTH-003", "AUTH-004", "AUTH-005", "AUTH-006"}
    assert ids["access"] == {f"ACC-00{i}" for i in range(1, 10)}


def test_emissions_carry_only_held_events_of_their_evidence(
    ev: Events, catalogue: list[Rule]
) -> None:
    det = PartitionDetector(catalogue, stream="access")
    for em in feed(det, split(catalogue, mixed_traffic(ev))["access"], 40):
        held = {str(e.event_id) for e in em.evidence_events}
        assert held <= set(em.finding.evidence)
        assert len(held) == len(em.evidence_events)


@functools.cache
def _access_traffic() -> tuple[list[Rule], list[Event], dict[str, Finding]]:
    rules = load_rules()
    events = split(rules, mixed_traffic(Events()))["access"]
    reference = latest(feed(PartitionDetector(rules, stream="access"), events, len(events)))
    return rules, events, reference


@settings(max_examples=10, deadline=None)
@given(sizes=st.lists(st.integers(min_value=1, max_value=300), min_size=1, max_size=30))
def test_batch_boundaries_never_change_the_findings(sizes: list[int]) -> None:
    rules, events, reference = _access_traffic()
    det = PartitionDetector(rules, stream="access")
    out: list[Emission] = []
    i = 0
    for size in sizes * (len(events) // sum(sizes) + 1):
        if i >= len(events):
            break
        out.extend(det.process(events[i : i + size]))
        i += size
    assert latest(out) == reference
    assert len(reference) >= 9


def test_announced_watermark_replaces_event_time_and_survives_restore(ev: Events) -> None:
    spray = make_rule(kind="distinct", stream="auth", partition="source_ip", field="actor.id",
                      filter={"action": "login_failure"}, window="10m", count=3)  # fmt: skip
    det = PartitionDetector([spray], stream="by_ip")
    base = T0.timestamp()
    # one upstream partition runs an hour ahead of another: nothing is late or evicted
    assert det.process([ev.auth(at=3600, actor="a")], watermark=float("-inf")) == []
    assert det.process([ev.auth(at=0, actor="b")], watermark=base - 60) == []
    assert det.watermark == base - 60
    restored = PartitionDetector.restore(det.snapshot(), [spray], stream="by_ip")
    assert restored.watermark == base - 60
    out = restored.process([ev.auth(at=30, actor="c"), ev.auth(at=3601, actor="d")])
    assert restored.watermark == base - 60  # event times no longer move it
    assert restored.stats.late_events == 0
    assert [em.finding.count for em in out] == []  # a, d are an hour away from b, c
    out = restored.process([ev.auth(at=3602, actor="e")], watermark=base + 100)
    (f,) = latest(out).values()
    assert f.count == 3
    assert restored.watermark == base + 100
    restored.process([], watermark=base)  # never backwards
    assert restored.watermark == base + 100
