from __future__ import annotations

from datetime import timedelta

from detectors.finding import MAX_EVIDENCE, finding_id
from detectors.rule import Rule
from tests.detectors.builders import T0, Events, latest, make_rule, run


def brute(count: int = 3, window: str = "60s", dedup: str = "1h") -> Rule:
    return make_rule(
        kind="threshold",
        stream="auth",
        filter={"action": "login_failure"},
        window=window,
        count=count,
        dedup=dedup,
    )


def test_exactly_n_events_spanning_exactly_the_window_fire(ev: Events) -> None:
    events = [ev.auth(at=0), ev.auth(at=30), ev.auth(at=60)]
    _, out = run([brute()], events, stream="auth")
    found = latest(out)
    assert len(found) == 1
    (f,) = found.values()
    assert f.count == 3
    assert f.first_seen == T0 and f.last_seen == T0 + timedelta(seconds=60)
    assert f.evidence == tuple(str(e.event_id) for e in events)


def test_n_events_just_wider_than_the_window_do_not_fire(ev: Events) -> None:
    events = [ev.auth(at=0), ev.auth(at=30), ev.auth(at=60.001)]
    _, out = run([brute()], events, stream="auth")
    assert out == []


def test_n_minus_one_events_do_not_fire(ev: Events) -> None:
    _, out = run([brute()], [ev.auth(at=0), ev.auth(at=1)], stream="auth")
    assert out == []


def test_out_of_order_within_lateness_fires_like_in_order(ev: Events) -> None:
    a, b, c = ev.auth(at=0), ev.auth(at=30), ev.auth(at=50)
    _, ordered = run([brute()], [a, b, c], stream="auth")
    _, shuffled = run([brute()], [c, a, b], stream="auth")
    f1, f2 = next(iter(latest(ordered).values())), next(iter(latest(shuffled).values()))
    assert f1.finding_id == f2.finding_id
    assert f1.count == f2.count == 3
    assert f2.first_seen == T0


def test_out_of_order_event_completing_an_earlier_window(ev: Events) -> None:
    # 0 and 10, then 100 (no window of 60 s holds 3); a late-arriving 55 completes [0, 55]
    events = [ev.auth(at=0), ev.auth(at=10), ev.auth(at=100), ev.auth(at=55)]
    _, out = run([brute(window="60s")], events, stream="auth", lateness=timedelta(seconds=90))
    (f,) = latest(out).values()
    assert f.first_seen == T0
    # 0, 10, 55 fire; 100, held in the key's window, falls in the same dedup period
    assert f.count == 4


def test_late_events_beyond_lateness_are_ignored_and_counted(ev: Events) -> None:
    events = [ev.auth(at=1000), ev.auth(at=0), ev.auth(at=1), ev.auth(at=2)]
    det, out = run([brute()], events, stream="auth")
    assert out == []
    assert det.stats.late_events == 3
    assert det.stats.events == 4


def test_groups_do_not_mix(ev: Events) -> None:
    events = [
        ev.auth(at=0, actor="alice"),
        ev.auth(at=1, actor="bob"),
        ev.auth(at=2, actor="alice", tenant="t2"),
        ev.auth(at=3, actor="bob"),
        ev.auth(at=4, actor="alice"),
    ]
    _, out = run([brute()], events, stream="auth")
    assert out == []
    _, out = run([brute()], [*events, ev.auth(at=5, actor="bob")], stream="auth")
    (f,) = latest(out).values()
    assert f.group_key == "t1|bob"
    assert f.actor_ids == ("bob",)


def test_one_finding_per_dedup_period_then_a_new_one(ev: Events) -> None:
    rule = brute(dedup="10m")
    first = [ev.auth(at=i) for i in range(3)]
    more = [ev.auth(at=100 + i) for i in range(5)]
    after = [ev.auth(at=700 + i) for i in range(3)]
    _, out = run([rule], first + more + after, stream="auth")
    found = latest(out)
    assert len(found) == 2
    f1, f2 = sorted(found.values(), key=lambda f: f.first_seen)
    assert f1.count == 8  # 3 that fired + 5 updates in the same period
    assert f1.finding_id == finding_id("T-1", "t1|alice", T0)
    assert f2.count == 3
    assert f2.finding_id == finding_id("T-1", "t1|alice", T0 + timedelta(seconds=700))
    assert len({em.finding.finding_id for em in out}) == 2


def test_each_update_reemits_current_aggregates(ev: Events) -> None:
    events = [ev.auth(at=i) for i in range(6)]
    _, out = run([brute()], events, stream="auth")
    assert [em.finding.count for em in out] == [3, 4, 5, 6]
    assert len({em.finding.finding_id for em in out}) == 1


def test_batching_emits_once_per_batch_with_the_same_final_value(ev: Events) -> None:
    events = [ev.auth(at=i) for i in range(6)]
    _, one_by_one = run([brute()], events, stream="auth")
    _, batched = run([brute()], events, stream="auth", batch=100)
    assert len(batched) == 1
    assert latest(batched) == latest(one_by_one)


def test_evidence_is_capped_and_keeps_the_first_ids(ev: Events) -> None:
    events = [ev.auth(at=i) for i in range(80)]
    _, out = run([brute()], events, stream="auth", batch=7)
    (f,) = latest(out).values()
    assert f.count == 80
    assert len(f.evidence) == MAX_EVIDENCE
    assert f.evidence == tuple(str(e.event_id) for e in events[:MAX_EVIDENCE])
    held = {str(e.event_id) for em in out for e in em.evidence_events}
    assert held == set(f.evidence)


def test_evidence_events_are_the_window_events_at_firing(ev: Events) -> None:
    events = [ev.auth(at=i) for i in range(3)]
    _, out = run([brute()], events, stream="auth")
    (em,) = out
    assert em.evidence_events == tuple(events)


def test_sum_threshold_counts_records_not_events(ev: Events) -> None:
    rule = make_rule(
        kind="threshold",
        stream="access",
        filter={"operation": ["update", "delete"]},
        window="10m",
        count=500,
        sum="records",
    )
    events = [
        ev.access("delete", at=0, records=200),
        ev.access("read", at=10, records=900),
        ev.access("update", at=20, records=299),
    ]
    _, out = run([rule], events, stream="access")
    assert out == []
    _, out = run([rule], [*events, ev.access("delete", at=600, records=1)], stream="access")
    (f,) = latest(out).values()
    assert f.records == 500
    assert f.count == 3


def test_finding_ids_are_deterministic_across_runs() -> None:
    ids = []
    for _ in range(2):
        e = Events()
        _, out = run([brute()], [e.auth(at=i * 5) for i in range(10)], stream="auth")
        ids.append([(em.finding.finding_id, em.finding.count) for em in out])
    assert ids[0] == ids[1]


def test_evidence_keeps_the_earliest_events_whatever_the_arrival_order(ev: Events) -> None:
    events = [ev.auth(at=i) for i in range(60)]
    shuffled = events[55:] + events[:55]  # the last five arrive first (within lateness)
    _, a = run([brute()], events, stream="auth", batch=10)
    _, b = run([brute()], shuffled, stream="auth", batch=10)
    (fa,), (fb,) = latest(a).values(), latest(b).values()
    assert fa.evidence == fb.evidence == tuple(str(e.event_id) for e in events[:MAX_EVIDENCE])
    assert fa.count == fb.count == 60
