from __future__ import annotations

from datetime import timedelta

from detectors.geo import distance_km
from detectors.rule import Rule
from tests.detectors.builders import T0, Events, latest, rule, run

HOUR = 3600.0


def test_distances_are_plausible() -> None:
    paris_tokyo = distance_km("FR", "JP")
    assert paris_tokyo is not None and 9500 < paris_tokyo < 10000
    assert distance_km("FR", "ZZ") is None


def test_paris_then_tokyo_two_hours_later_is_impossible(ev: Events, catalogue: list[Rule]) -> None:
    auth005 = rule(catalogue, "AUTH-005")
    a = ev.auth("login_success", at=0, country="FR", ip="192.0.2.1")
    b = ev.auth("login_success", at=2 * HOUR, country="JP", ip="192.0.2.2")
    _, out = run([auth005], [a, b], stream="auth")
    (f,) = latest(out).values()
    assert f.count == 2
    assert f.first_seen == T0 and f.last_seen == T0 + timedelta(hours=2)
    assert f.evidence == (str(a.event_id), str(b.event_id))
    assert f.source_ips == ("192.0.2.1", "192.0.2.2")
    assert "FR and JP" in f.summary
    assert "192.0.2" not in f.summary


def test_possible_travel_and_neighbours_do_not_fire(ev: Events, catalogue: list[Rule]) -> None:
    auth005 = rule(catalogue, "AUTH-005")
    events = [
        ev.auth("login_success", at=0, country="FR"),
        ev.auth("login_success", at=14 * HOUR, country="JP"),  # ~690 km/h: a plane
        ev.auth("login_success", at=0, country="FR", actor="b"),
        ev.auth("login_success", at=60, country="BE", actor="b"),  # under min_km
        ev.auth("login_failure", at=0, country="US", actor="c"),
        ev.auth("login_success", at=60, country="FR", actor="c"),  # a failure is no login
    ]
    _, out = run([auth005], events, stream="auth")
    assert out == []


def test_out_of_order_login_is_compared_with_its_neighbours_in_time(
    ev: Events, catalogue: list[Rule]
) -> None:
    auth005 = rule(catalogue, "AUTH-005")
    first = ev.auth("login_success", at=0, country="FR")
    last = ev.auth("login_success", at=50, country="FR")
    middle = ev.auth("login_success", at=20, country="US")  # arrives last
    _, out = run([auth005], [first, last, middle], stream="auth")
    (f,) = latest(out).values()
    assert f.first_seen == T0
    assert f.count >= 2
    assert str(middle.event_id) in f.evidence


def test_travel_state_expires_and_is_capped(ev: Events) -> None:
    from detectors.engine import PartitionDetector
    from tests.detectors.builders import make_rule

    travel = make_rule(kind="travel", stream="auth", filter={"action": "login_success"},
                       horizon="1h", max_keys=3)  # fmt: skip
    det = PartitionDetector([travel], stream="auth")
    det.process([ev.auth("login_success", at=i, actor=f"u{i}") for i in range(5)])
    assert det.stats.keys == 3
    assert det.stats.evictions == 2
    det.process([ev.auth("login_success", at=2 * HOUR, actor="late")])
    # a fourth account evicts the least recent one, then the sweep forgets the two others,
    # whose last logins are beyond the horizon
    assert det.stats.keys == 1
    assert (det.stats.evictions, det.stats.expired) == (3, 2)
