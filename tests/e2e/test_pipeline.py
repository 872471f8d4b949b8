"""Simulated traffic (normal + every labelled attack) through the real broker and
`tocsin ingest`, on PostgreSQL: findings per rule, incidents with their tenants and clocks,
and restart safety under kill -9."""

from __future__ import annotations

import collections
import time
from datetime import timedelta

import pytest

from tests.e2e.harness import (
    assert_accounted,
    clean_run,
    kill9,
    make_env,
    outcome,
    outcome_diff,
    produce,
    progress,
    run_ingest,
    simulated,
    start_ingest,
    tocsin_json,
    traffic,
    wait_until,
)
from tocsin.dev.broker import EmbeddedBroker
from tocsin.dev.simulator import ATTACKS

pytestmark = pytest.mark.timeout(600)


@pytest.mark.parametrize("fresh_db_url", ["postgresql"], indirect=True)
def test_every_attack_is_found_and_becomes_an_incident(
    broker: EmbeddedBroker, fresh_db_url: str
) -> None:
    env = make_env(broker, fresh_db_url)
    events = simulated(6000, list(ATTACKS))
    invalid = [("auth", b"t", b"{broken"), ("access", b"t", b'{"event_id": 1}')]
    produce(env, events, invalid)
    result = run_ingest(env)
    assert '"invalid": 2' in result.stderr

    findings = tocsin_json(env, "findings", "list", "--json")
    by_rule: dict[str, list[dict]] = collections.defaultdict(list)
    for f in findings:
        by_rule[f["rule_id"]].append(f)
    labels = {ev.value["event_id"]: ev.label for ev in events if ev.label}
    rows = []
    for name, scenario in ATTACKS.items():
        attack_ids = {eid for eid, label in labels.items() if label == name}
        for rule in scenario.rule_ids:
            hits = [f for f in by_rule[rule] if attack_ids & set(f["evidence"])]
            rows.append((rule, name, len(hits)))
            assert hits, f"{rule} missed the {name} attack"
    # normal traffic raises nothing high or critical
    attack_ids = set(labels)
    false_high = [
        f
        for f in findings
        if f["severity"] in ("high", "critical") and not attack_ids & set(f["evidence"])
    ]
    assert false_high == []
    for rule, name, n in sorted(rows):
        print(f"{rule:9} {name:22} findings={n}")  # noqa: T201 - the per-rule report

    incidents = tocsin_json(env, "incidents", "list", "--json")
    assert incidents, "findings must open incidents"
    linked_rules = {r for inc in incidents for r in inc["rule_ids"]}
    assert {f["rule_id"] for f in findings} <= linked_rules
    for inc in incidents:
        assert inc["tenant_ids"], inc["ref"]
        assert inc["cnil_due"] is not None
        aware = _ts(inc["aware_at"])
        assert _ts(inc["cnil_due"]) - aware == timedelta(hours=72)
    spraying = by_rule["AUTH-002"]
    assert any(len(f["tenant_ids"]) > 1 for f in spraying), "spraying spans tenants"
    spray_incident = [i for i in incidents if "AUTH-002" in i["rule_ids"]]
    assert any(len(i["tenant_ids"]) > 1 for i in spray_incident)


def _ts(value: str):  # type: ignore[no-untyped-def]
    from datetime import datetime

    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.mark.parametrize("fresh_db_url", ["postgresql"], indirect=True)
def test_kill_minus_nine_gives_the_same_outcome_as_a_clean_run(
    broker: EmbeddedBroker, fresh_db_url: str, tmp_path, workers: list
) -> None:  # type: ignore[no-untyped-def]
    scenario = traffic(8000, list(ATTACKS), seed=11)
    expected = clean_run(broker, tmp_path, scenario)
    assert len(expected["findings"]) >= len(ATTACKS) and expected["incidents"]

    crashy = make_env(broker, fresh_db_url)
    landed = produce(crashy, scenario.events, scenario.poison)
    total = len(scenario.events) + len(scenario.poison)
    for quarter in (1, 2, 3):  # kill -9 at three different points, mid-batch
        proc = start_ingest(crashy, TOCSIN_BATCH_MAX_RECORDS="200")
        workers.append(proc)
        assert wait_until(lambda q=quarter: progress(crashy) >= q * total // 4, timeout=90)
        time.sleep(0.3 * quarter)  # between checkpoints
        kill9(proc)
    run_ingest(crashy)
    got = outcome(fresh_db_url)
    assert got == expected, outcome_diff(got, expected)
    assert_accounted(crashy, scenario, landed)
