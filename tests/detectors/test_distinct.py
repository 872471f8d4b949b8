from __future__ import annotations

from datetime import timedelta

from detectors.engine import PartitionDetector
from detectors.rule import Rule
from tests.detectors.builders import T0, Events, latest, make_rule, run


def spraying(count: int = 3, window: str = "10m") -> Rule:
    return make_rule(
        kind="distinct",
        stream="auth",
        partition="source_ip",
        filter={"action": "login_failure"},
        field="actor.id",
        window=window,
        count=count,
        summary="{distinct} accounts in {tenants} tenants",
    )


def test_distinct_accounts_across_tenants_fire_per_source_ip(ev: Events) -> None:
    events = [
        ev.auth(at=0, actor="a", tenant="t1"),
        ev.auth(at=10, actor="a", tenant="t1"),  # same account again: still 1 distinct
        ev.auth(at=20, actor="b", tenant="t2"),
        ev.auth(at=600, actor="c", tenant="t3"),  # exactly 10 min after the first
    ]
    _, out = run([spraying()], events, stream="by_ip")
    (f,) = latest(out).values()
    assert f.group_key == "198.51.100.7"
    assert f.tenant_ids == ("t1", "t2", "t3")
    assert f.count == 4
    assert f.subjects == 3  # three accounts concerned
    assert f.summary == "3 accounts in 3 tenants"
    assert "198.51.100.7" not in f.summary
    assert f.source_ips == ("198.51.100.7",)


def test_window_edge_is_inclusive_and_one_past_it_is_not(ev: Events) -> None:
    events = [ev.auth(at=0, actor="a"), ev.auth(at=1, actor="b"), ev.auth(at=600.5, actor="c")]
    _, out = run([spraying()], events, stream="by_ip")
    assert out == []


def test_repeated_values_never_count_twice(ev: Events) -> None:
    events = [ev.auth(at=i, actor="a" if i % 2 else "b") for i in range(40)]
    _, out = run([spraying()], events, stream="by_ip")
    assert out == []


def test_source_ips_do_not_mix(ev: Events) -> None:
    events = [
        ev.auth(at=0, actor="a", ip="203.0.113.1"),
        ev.auth(at=1, actor="b", ip="203.0.113.2"),
        ev.auth(at=2, actor="c", ip="203.0.113.3"),
    ]
    _, out = run([spraying()], events, stream="by_ip")
    assert out == []


def test_out_of_order_and_late(ev: Events) -> None:
    a, b, c = ev.auth(at=100, actor="a"), ev.auth(at=70, actor="b"), ev.auth(at=120, actor="c")
    _, out = run([spraying()], [a, c, b], stream="by_ip")
    (f,) = latest(out).values()
    assert f.first_seen == T0 + timedelta(seconds=70)
    late = ev.auth(at=0, actor="z")
    det = PartitionDetector([spraying(count=4)], stream="by_ip")
    det.process([a, c, b])
    assert det.process([late]) == []
    assert det.stats.late_events == 1


def test_only_partition_matching_stream_runs_the_rule(ev: Events) -> None:
    events = [ev.auth(at=i, actor=f"u{i}") for i in range(5)]
    _, out = run([spraying()], events, stream="auth")
    assert out == []
