from __future__ import annotations

from datetime import timedelta

from detectors.finding import finding_id
from detectors.rule import Rule
from tests.detectors.builders import T0, Events, latest, make_rule, run

HOUR = 3600.0


def exfil() -> Rule:
    return make_rule(
        kind="baseline",
        stream="access",
        filter={"operation": ["read", "export"], "outcome": "allowed"},
        sum="records",
        bucket="1h",
        floor=1000,
        factor=10,
        summary="{total} records, baseline {baseline}, threshold {threshold}",
    )


def test_floor_applies_without_history(ev: Events) -> None:
    events = [ev.access("export", at=0, records=600), ev.access("export", at=60, records=400)]
    _, out = run([exfil()], events, stream="access")
    assert out == []  # 1000 is not above max(1000, …)
    more = ev.access("read", at=120, records=1)
    _, out = run([exfil()], [*events, more], stream="access")
    (f,) = latest(out).values()
    assert f.records == 1001
    assert f.count == 3
    assert f.first_seen == T0
    bucket_start = T0.replace(minute=0, second=0)
    assert f.finding_id == finding_id("T-1", "t1|alice", bucket_start)
    assert set(f.evidence) == {str(e.event_id) for e in [*events, more]}


def test_factor_times_the_actors_own_baseline(ev: Events) -> None:
    # a heavy but regular user: 500 records an hour for 5 hours
    events = [ev.access("export", at=h * HOUR, records=500) for h in range(5)]
    # then 4,900 in one hour: above the floor, below 10 × 500
    events += [ev.access("export", at=5 * HOUR + i, records=490) for i in range(10)]
    _, out = run([exfil()], events, stream="access")
    assert out == []
    events.append(ev.access("export", at=5 * HOUR + 100, records=101))
    _, out = run([exfil()], events, stream="access")
    (f,) = latest(out).values()
    assert f.records == 5001
    assert f.summary == "5001 records, baseline 500.0, threshold 5000"


def test_actors_do_not_mix_and_denied_access_does_not_count(ev: Events) -> None:
    events = [
        ev.access("export", at=0, records=900, actor="a"),
        ev.access("export", at=1, records=900, actor="b"),
        ev.access("export", at=2, records=900, actor="a", outcome="denied"),
    ]
    _, out = run([exfil()], events, stream="access")
    assert out == []


def test_updates_in_the_same_bucket_update_the_finding(ev: Events) -> None:
    events = [ev.access("export", at=i * 60, records=700) for i in range(4)]
    _, out = run([exfil()], events, stream="access")
    found = latest(out)
    assert len(found) == 1
    assert next(iter(found.values())).records == 2800
    later = ev.access("export", at=HOUR + 10, records=5)  # next bucket: below threshold
    _, out2 = run([exfil()], [*events, later], stream="access")
    assert latest(out2) == found
    assert next(iter(found.values())).last_seen == T0 + timedelta(seconds=180)


def test_closed_buckets_are_folded_into_history_as_the_watermark_passes(ev: Events) -> None:
    from detectors.engine import PartitionDetector

    det = PartitionDetector([exfil()], stream="access")
    det.process([ev.access("read", at=i, actor=f"u{i}", records=10 + i) for i in range(3)])
    (state,) = det.states
    assert all(len(group[1]) == 1 for group in state.keys.values())  # open buckets
    det.process([ev.access("read", at=2 * HOUR, actor="other", records=1)])
    # the first hour is closed: its sums are history, its buckets are gone
    assert [state.keys[f"t1|u{i}"][0] for i in range(3)] == [[10.0], [11.0], [12.0]]
    assert all(not state.keys[f"t1|u{i}"][1] for i in range(3))
    assert det.stats.keys == 4
