from __future__ import annotations

from detectors.engine import PartitionDetector
from detectors.rule import Rule
from tests.detectors.builders import Events, latest, make_rule, run

DAY = 86400.0


def new_country(**extra: object) -> Rule:
    config: dict[str, object] = {
        "kind": "new_value",
        "stream": "auth",
        "filter": {"action": "login_success"},
        "field": "country",
        "learning": "14d",
        "summary": "new {values}",
    }
    config.update(extra)
    return make_rule(**config)


def test_new_country_after_learning_fires_once_per_value(ev: Events) -> None:
    events = [
        ev.auth("login_success", at=0, country="FR"),
        ev.auth("login_success", at=3 * DAY, country="BE"),  # learnt during learning
        ev.auth("login_success", at=15 * DAY, country="BE"),  # known
        ev.auth("login_success", at=15 * DAY + 60, country="BR"),  # new: finding
        ev.auth("login_success", at=15 * DAY + 120, country="BR"),  # now known
        ev.auth("login_failure", at=15 * DAY + 130, country="CN"),  # not a success
    ]
    _, out = run([new_country()], events, stream="auth")
    (f,) = latest(out).values()
    assert f.count == 1
    assert f.summary == "new BR"
    assert f.evidence == (str(events[3].event_id),)


def test_learning_period_is_per_account(ev: Events) -> None:
    events = [
        ev.auth("login_success", at=0, actor="old", country="FR"),
        ev.auth("login_success", at=20 * DAY, actor="new", country="FR"),
        ev.auth("login_success", at=20 * DAY + 60, actor="new", country="DE"),  # learning
        ev.auth("login_success", at=20 * DAY + 120, actor="old", country="DE"),  # finding
    ]
    _, out = run([new_country()], events, stream="auth")
    assert [f.actor_ids for f in latest(out).values()] == [("old",)]


def test_groups_are_capped_with_counted_evictions(ev: Events) -> None:
    rule = new_country(max_keys=2)
    events = [ev.auth("login_success", at=i, actor=f"u{i}") for i in range(5)]
    det, _ = run([rule], events, stream="auth")
    assert det.stats.keys == 2
    assert det.stats.evictions == 3


def test_history_survives_snapshot_and_restore(ev: Events) -> None:
    rule = new_country()
    det = PartitionDetector([rule], stream="auth")
    det.process([ev.auth("login_success", at=0, country="FR")])
    det = PartitionDetector.restore(det.snapshot(), [rule], stream="auth")
    out = det.process(
        [
            ev.auth("login_success", at=20 * DAY, country="FR"),
            ev.auth("login_success", at=20 * DAY + 1, country="IT"),
        ]
    )
    assert [em.finding.summary for em in out] == ["new IT"]
