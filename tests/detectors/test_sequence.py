from __future__ import annotations

from datetime import timedelta

from detectors.rule import Rule
from tests.detectors.builders import T0, Events, latest, make_rule, run


def takeover(failures: int = 3, window: str = "15m") -> Rule:
    return make_rule(
        kind="sequence",
        stream="auth",
        window=window,
        steps=[
            {"name": "failures", "filter": {"action": "login_failure"}, "count": failures},
            {"name": "login", "filter": {"action": "login_success"}},
        ],
        summary="{steps}",
    )


def test_failures_then_success_fire_at_the_success(ev: Events) -> None:
    fails = [ev.auth("login_failure", at=i * 60) for i in range(3)]
    ok = ev.auth("login_success", at=900)  # exactly 15 min after the first failure
    _, out = run([takeover()], [*fails, ok], stream="auth")
    (em,) = out
    assert em.finding.count == 4
    assert em.finding.first_seen == T0
    assert em.finding.last_seen == T0 + timedelta(seconds=900)
    assert em.finding.summary == "failures then login"
    assert em.evidence_events == (*fails, ok)


def test_sequence_longer_than_the_window_does_not_fire(ev: Events) -> None:
    fails = [ev.auth("login_failure", at=i * 60) for i in range(3)]
    ok = ev.auth("login_success", at=900.5)
    _, out = run([takeover()], [*fails, ok], stream="auth")
    assert out == []


def test_order_matters_success_before_failures_is_no_takeover(ev: Events) -> None:
    ok = ev.auth("login_success", at=0)
    fails = [ev.auth("login_failure", at=10 + i) for i in range(3)]
    _, out = run([takeover()], [ok, *fails], stream="auth")
    assert out == []


def test_too_few_failures_do_not_fire(ev: Events) -> None:
    events = [ev.auth("login_failure", at=0), ev.auth("login_failure", at=1)]
    _, out = run([takeover()], [*events, ev.auth("login_success", at=2)], stream="auth")
    assert out == []


def test_a_failure_arriving_late_but_within_lateness_completes_the_sequence(ev: Events) -> None:
    f1, f2, f3 = (ev.auth("login_failure", at=i) for i in range(3))
    ok = ev.auth("login_success", at=30)
    _, out = run([takeover()], [f1, f2, ok, f3], stream="auth")
    (f,) = latest(out).values()
    assert f.count == 4
    assert f.first_seen == T0


def test_accounts_do_not_mix(ev: Events) -> None:
    fails = [ev.auth("login_failure", at=i, actor="alice") for i in range(3)]
    _, out = run([takeover()], [*fails, ev.auth("login_success", at=5, actor="bob")], stream="auth")
    assert out == []


def test_late_success_is_ignored(ev: Events) -> None:
    fails = [ev.auth("login_failure", at=i) for i in range(3)]
    events = [*fails, ev.auth("login_failure", at=500), ev.auth("login_success", at=20)]
    det, out = run([takeover()], events, stream="auth")
    assert out == []
    assert det.stats.late_events == 1


def test_the_completing_event_is_always_in_the_capped_evidence(ev: Events) -> None:
    fails = [ev.auth("login_failure", at=i) for i in range(70)]
    ok = ev.auth("login_success", at=80)
    _, out = run([takeover()], [*fails, ok], stream="auth", batch=100)
    (f,) = latest(out).values()
    assert f.count == 71
    assert len(f.evidence) == 50
    assert f.evidence[:49] == tuple(str(e.event_id) for e in fails[:49])
    assert f.evidence[49] == str(ok.event_id)
