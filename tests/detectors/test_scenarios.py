"""Scenario test: labelled simulated traffic (normal + every attack) through the real detection
engine with the default catalogue, partitioned as Kafka would partition it.

Every injected attack must be found by its rule(s) (recall 1.0 for every rule) and normal
traffic must raise no high or critical finding. The precision/recall table is printed (visible
with `-s`, and in the terminal summary)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from consumers.events import Event
from detectors.catalogue import load_rules
from detectors.finding import Finding, Nature, Severity
from detectors.rule import Rule
from tocsin.dev.evaluation import (
    DetectionRun,
    evaluate,
    format_table,
    parse_sim,
    partition_of,
    run,
    run_parsed,
    score,
)
from tocsin.dev.simulator import ATTACKS, SimEvent, Simulator

START = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # a Monday
COUNT = 30_000
CATALOGUE = (
    "AUTH-001",
    "AUTH-002",
    "AUTH-003",
    "AUTH-004",
    "AUTH-005",
    "AUTH-006",
    "ACC-001",
    "ACC-002",
    "ACC-003",
    "ACC-004",
    "ACC-005",
    "ACC-006",
    "ACC-007",
    "ACC-008",
    "ACC-009",
)


def simulator() -> Simulator:
    return Simulator(
        seed=11, start=START, tenants=24, users_per_tenant=10, staff=6, sessions_per_user_day=0.5
    )


@pytest.fixture(scope="module")
def rules() -> list[Rule]:
    return list(load_rules())


@pytest.fixture(scope="module")
def stream() -> list[tuple[SimEvent, Event]]:
    events = simulator().events(count=COUNT, attacks=list(ATTACKS), attack_every=COUNT // 3)
    return [(ev, parse_sim(ev)) for ev in events]


@pytest.fixture(scope="module")
def labelled(rules: list[Rule], stream: list[tuple[SimEvent, Event]]) -> DetectionRun:
    return run_parsed(stream, rules)


@pytest.fixture(scope="module")
def normal_only(rules: list[Rule], stream: list[tuple[SimEvent, Event]]) -> DetectionRun:
    # the simulator's normal events do not depend on the attacks injected (tested there)
    return run_parsed([(sim, ev) for sim, ev in stream if sim.label is None], rules)


def show(request: pytest.FixtureRequest, title: str, text: str) -> None:
    """Write to the terminal even without `-s` (pytest's terminal reporter, capture off)."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line("")
        reporter.write_line(title)
        for line in text.splitlines():
            reporter.write_line(line)


def test_every_attack_is_found_by_its_rules(
    labelled: DetectionRun, request: pytest.FixtureRequest
) -> None:
    scores = score(labelled, CATALOGUE)
    show(
        request, "precision / recall per rule (normal traffic + every attack)", format_table(scores)
    )
    assert labelled.events > COUNT
    for rule_id in CATALOGUE:
        s = scores[rule_id]
        assert s.injected >= 3, f"attacks not injected for {rule_id}"
        assert s.recall == 1.0, f"{rule_id} missed {s.missed}"
    assert all(s.severe_false_positives == 0 for s in scores.values()), {
        r: s.false_positive_examples for r, s in scores.items() if s.severe_false_positives
    }


def test_normal_traffic_raises_no_high_or_critical_finding(
    normal_only: DetectionRun, request: pytest.FixtureRequest
) -> None:
    severe = [
        f for f in normal_only.findings.values() if f.severity in (Severity.HIGH, Severity.CRITICAL)
    ]
    assert not severe, [f"{f.rule_id}: {f.summary}" for f in severe[:10]]
    assert not normal_only.labels
    scores = score(normal_only, CATALOGUE)
    show(request, "normal traffic only", format_table(scores))
    assert all(s.true_positives == 0 for s in scores.values())


def test_partitioning_does_not_change_the_findings(rules: list[Rule]) -> None:
    """Time-ordered input: one partition or six give the same findings (event time only)."""
    sim = Simulator(seed=5, start=START, tenants=12, users_per_tenant=8, staff=4)
    events = list(sim.events(count=6000, attacks=list(ATTACKS)))
    one = run(events, rules, partitions=1)
    six = run(events, rules, partitions=6)
    assert one.findings and set(one.findings) == set(six.findings)
    assert {f.rule_id for f in six.findings.values()} >= {"AUTH-002", "ACC-009"}
    scores = evaluate(events, rules, partitions=3)
    assert scores == score(six, [r.id for r in rules])
    assert all(scores[r].recall == 1.0 for r in CATALOGUE)


def _finding(rule_id: str, severity: Severity, evidence: tuple[str, ...]) -> Finding:
    t = START
    return Finding(
        finding_id=f"{rule_id}-{evidence[:1]}",
        rule_id=rule_id,
        severity=severity,
        nature=frozenset({Nature.CONFIDENTIALITY}),
        tenant_ids=("t1",),
        group_key="t1|u1",
        first_seen=t,
        last_seen=t,
        evidence=evidence,
        summary=f"{rule_id} test",
    )


def test_scoring_rules() -> None:
    findings = [
        _finding("AUTH-001", Severity.MEDIUM, ("e1", "n1")),  # brute_force#0: TP, found
        _finding("AUTH-004", Severity.LOW, ("e3",)),  # impossible_travel lists it in `also`
        _finding("AUTH-005", Severity.HIGH, ("n2",)),  # normal only: severe FP
        _finding("ACC-007", Severity.MEDIUM, ("n3",)),  # normal only: FP
    ]
    result = DetectionRun(
        findings={f.finding_id: f for f in findings},
        evidence={f.finding_id: set(f.evidence) for f in findings},
        labels={
            "e1": ("brute_force", "brute_force#0"),
            "e2": ("brute_force", "brute_force#1"),
            "e3": ("impossible_travel", "impossible_travel#0"),
        },
        instances={
            "brute_force#0": "brute_force",
            "brute_force#1": "brute_force",
            "impossible_travel#0": "impossible_travel",
        },
    )
    scores = score(result, ["AUTH-001", "AUTH-004", "AUTH-005", "ACC-007"])
    assert (scores["AUTH-001"].injected, scores["AUTH-001"].detected) == (2, 1)
    assert scores["AUTH-001"].missed == ("brute_force#1",)
    assert scores["AUTH-001"].recall == 0.5 and scores["AUTH-001"].precision == 1.0
    assert scores["AUTH-004"].true_positives == 1 and scores["AUTH-004"].injected == 0
    assert scores["AUTH-005"].false_positives == 1
    assert scores["AUTH-005"].severe_false_positives == 1
    assert scores["AUTH-005"].recall == 0.0 and scores["AUTH-005"].precision == 0.0
    assert scores["ACC-007"].severe_false_positives == 0
    assert scores["ACC-007"].false_positive_examples == ("medium: ACC-007 test",)
    table = format_table(scores)
    assert "AUTH-001" in table and "0.50" in table


def test_partition_of_is_stable_and_spreads_keys() -> None:
    keys = [f"notaire-{i:03d}" for i in range(60)]
    parts = [partition_of(k, 6) for k in keys]
    assert parts == [partition_of(k, 6) for k in keys]
    assert set(parts) == set(range(6))
    assert partition_of("notaire-001", 1) == 0


def test_out_of_order_arrival_within_lateness_still_finds_every_attack(
    rules: list[Rule],
) -> None:
    """Services publish independently: events arrive up to 30 s out of event-time order
    (allowed lateness 60 s). Every attack is still found, normal traffic stays quiet."""
    sim = Simulator(
        seed=5, start=START, tenants=12, users_per_tenant=8, staff=4, disorder=timedelta(seconds=30)
    )
    scores = evaluate(sim.events(count=6000, attacks=list(ATTACKS)), rules)
    assert all(scores[r].recall == 1.0 for r in CATALOGUE), {
        r: scores[r].missed for r in CATALOGUE if scores[r].missed
    }
    assert sum(s.severe_false_positives for s in scores.values()) == 0
