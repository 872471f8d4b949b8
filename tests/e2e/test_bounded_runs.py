"""Bounded runs (`tocsin ingest --max-idle S`) through the real broker: real sshd logs
converted with `tocsin convert sshd`, topics with more partitions than tenants, a run split
in two, a quiet topic, and IPv6 sources without a `country`."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from kafka.partitioner.default import murmur2

from consumers.events import AuthEvent
from detectors.catalogue import load_rules
from tests.detectors.test_real_logs import ELASTIC, LOGHUB, convert, detect
from tests.e2e.harness import (
    Env,
    findings_snapshot,
    make_env,
    outcome,
    outcome_diff,
    run_ingest,
    snapshot_diff,
    tocsin,
)
from tocsin.dbschema import upgrade
from tocsin.dev.broker import EmbeddedBroker

pytestmark = pytest.mark.timeout(600)

# two tenants on a six-partition topic: four partitions never carry an event
LOGS = {"loghub": LOGHUB, "elastic": ELASTIC}
PARTITIONS = 6
RULES = ("AUTH-001", "AUTH-002", "AUTH-003")
# in the middle of the password spraying of 187.141.143.180 (09:12:48 - 09:20:02), once it
# has failed on 22 of its 28 accounts (the rule fires at 20)
SPLIT = datetime(2025, 12, 10, 9, 19, 15, tzinfo=UTC)


def expected_findings() -> dict[str, tuple[Any, ...]]:
    """What the in-process tests find on the same events: each tenant's log in its own
    order, as its auth partition reads it; the rules keyed by source IP over both logs in
    event-time order, as the by-IP partitions run them."""
    rules = load_rules()
    by_ip = {r.id for r in rules if r.partition == "source_ip"}
    logs = {tenant: convert(path, tenant=tenant) for tenant, path in LOGS.items()}
    found = [f for events in logs.values() for f in detect(rules, events) if f.rule_id not in by_ip]
    merged = sorted(
        (e for events in logs.values() for e in events),
        key=lambda e: (e.occurred_at, str(e.event_id)),
    )
    found += [f for f in detect(rules, merged) if f.rule_id in by_ip]
    return {
        f.finding_id: (
            f.rule_id,
            str(f.severity),
            f.tenant_ids,
            f.group_key,
            f.count,
            f.first_seen,
            f.last_seen,
            tuple(sorted(f.evidence)),
            f.records,
        )
        for f in found
    }


def only(snapshot: dict[str, tuple[Any, ...]], rules: Sequence[str]) -> dict[str, tuple[Any, ...]]:
    """The findings of `rules` (the database keeps a finding's evidence ids sorted)."""
    return {k: (*v[:7], tuple(sorted(v[7])), *v[8:]) for k, v in snapshot.items() if v[0] in rules}


def converted(env: Env, folder: Path) -> list[tuple[str, str]]:
    """(tenant, JSON value) of every event `tocsin convert sshd` makes of the logs."""
    out = []
    for tenant, path in LOGS.items():
        target = folder / f"{tenant}.jsonl"
        result = tocsin(
            env,
            "convert",
            "sshd",
            str(path),
            "--tenant",
            tenant,
            "--year",
            "2025",
            "--out",
            str(target),
        )
        assert json.loads(result.stderr.splitlines()[-1])["events"] > 0
        out += [(tenant, line) for line in target.read_text(encoding="utf-8").splitlines()]
    return out


def produce(env: Env, values: Sequence[tuple[str, str]]) -> None:
    producer = Producer(
        {
            "bootstrap.servers": env.broker.bootstrap,
            "linger.ms": 10,
            "partitioner": "murmur2_random",
        }
    )  # as kafka-python places keys
    for tenant, value in values:
        producer.produce(env.topics["auth"], key=tenant.encode(), value=value.encode())
        producer.poll(0)
    assert producer.flush(60) == 0


def test_tenants_land_on_two_of_the_six_partitions() -> None:
    used = {(murmur2(t.encode()) & 0x7FFFFFFF) % PARTITIONS for t in LOGS}
    assert len(used) == 2


@pytest.mark.parametrize("fresh_db_url", ["postgresql"], indirect=True)
def test_real_logs_find_what_the_in_process_tests_find(
    broker: EmbeddedBroker, fresh_db_url: str
) -> None:
    env = make_env(broker, fresh_db_url, partitions=PARTITIONS)
    reports = []
    for tenant, path in LOGS.items():
        result = tocsin(
            env, "convert", "sshd", str(path), "--tenant", tenant, "--year", "2025", "--produce"
        )
        reports.append(json.loads(result.stderr.splitlines()[-1]))
    run = run_ingest(env, max_idle=5)
    summary = json.loads(run.stderr.strip().splitlines()[-1])
    assert summary["valid"] >= sum(r["events"] for r in reports)
    assert summary["invalid"] == 0

    expected = only(expected_findings(), RULES)
    got = only(findings_snapshot(fresh_db_url), RULES)
    assert got == expected, snapshot_diff(got, expected)
    # password spraying, held by the by-IP partitions until the end of the input
    spraying = {v[3] for v in got.values() if v[0] == "AUTH-002"}
    assert spraying == {"187.141.143.180", "91.197.232.109"}
    assert {v[0] for v in got.values()} == set(RULES)


def test_two_bounded_runs_give_the_findings_of_one(broker: EmbeddedBroker, tmp_path: Path) -> None:
    urls = []
    for name in ("one", "two"):
        url = f"sqlite:///{tmp_path / f'{name}.db'}"
        upgrade(url)
        urls.append(url)
    one = make_env(broker, urls[0], partitions=PARTITIONS)
    two = make_env(broker, urls[1], partitions=PARTITIONS)
    values = converted(one, tmp_path)
    at = [AuthEvent.model_validate_json(v).occurred_at for _, v in values]
    first = [v for v, t in zip(values, at, strict=True) if t < SPLIT]
    second = [v for v, t in zip(values, at, strict=True) if t >= SPLIT]
    assert first and second

    produce(one, values)
    run_ingest(one, max_idle=5)
    whole = outcome(urls[0])
    assert only(whole["findings"], RULES) == only(expected_findings(), RULES)

    produce(two, first)
    run_ingest(two, max_idle=5)
    half = findings_snapshot(urls[1])
    produce(two, second)
    run_ingest(two, max_idle=5)
    split = outcome(urls[1])
    assert split == whole, outcome_diff(split, whole)
    # the first run's end wrote the spraying seen so far; the second brought it up to date
    (spray_id,) = [
        k for k, v in whole["findings"].items() if v[0] == "AUTH-002" and v[3] == "187.141.143.180"
    ]
    assert half[spray_id][4] < whole["findings"][spray_id][4]


def test_a_quiet_topic_ends_after_max_idle(broker: EmbeddedBroker, fresh_db_url: str) -> None:
    env = make_env(broker, fresh_db_url, partitions=PARTITIONS)
    started = time.monotonic()
    result = run_ingest(env, max_idle=40, timeout=200, extra_env={"TOCSIN_LOG_LEVEL": "INFO"})
    elapsed = time.monotonic() - started
    assert elapsed >= 40
    # from the start of consumption to the exit: 40 s, then at most one poll (0.5 s) and
    # the work of that loop turn (announcing watermarks, a checkpoint)
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    (began,) = [line for line in lines if line.get("msg") == "consuming"]
    (ended,) = [line for line in lines if line.get("msg") == "caught up and idle; stopping"]
    waited = (_at(ended) - _at(began)).total_seconds()
    assert 40 <= waited <= 40 + 0.5 + 2.5, waited
    assert json.loads(result.stderr.strip().splitlines()[-1])["valid"] == 0


def _at(line: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(line["ts"]))


def _event(**fields: Any) -> str:
    return json.dumps(
        {
            "event_id": str(uuid.uuid4()),
            "service": "smsbis",
            "tls": True,
            "interface": "web",
            **fields,
        },
        default=str,
    )


def test_ipv6_sources_without_country_are_placed(broker: EmbeddedBroker, fresh_db_url: str) -> None:
    env = make_env(broker, fresh_db_url, partitions=2)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=20)
    actor = {"id": "alice", "kind": "customer_user"}
    logins = [
        _event(
            occurred_at=(start + timedelta(days=d, hours=9)).isoformat(),
            tenant_id="t6",
            actor=actor,
            source_ip="2a01:e0a:1f2:3::10",
            action="login_success",
        )
        for d in range(17)
    ]
    abroad = start + timedelta(days=17, hours=10)
    logins.append(
        _event(
            occurred_at=abroad.isoformat(),
            tenant_id="t6",
            actor=actor,
            source_ip="2804:14c:bd14:b::d3",
            action="login_success",
        )
    )
    access = {
        "operation": "read",
        "resource": {"type": "contact", "tenant_id": "t6"},
        "data_categories": ["identification"],
        "records": 3,
        "outcome": "allowed",
    }
    reads = [
        _event(
            occurred_at=(abroad + timedelta(minutes=5)).isoformat(),
            tenant_id="t6",
            actor={"id": "key-us", "kind": "api_key"},
            source_ip="2600:1f18:4:5::7",
            **access,
        ),
        _event(
            occurred_at=(abroad + timedelta(minutes=6)).isoformat(),
            tenant_id="t6",
            actor={"id": "key-fr", "kind": "api_key"},
            source_ip="2a01:cb00:12::9",
            **access,
        ),
    ]
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    for value in logins:
        producer.produce(env.topics["auth"], key=b"t6", value=value.encode())
    for value in reads:
        producer.produce(env.topics["access"], key=b"t6", value=value.encode())
    assert producer.flush(30) == 0
    run = run_ingest(env, max_idle=5)
    assert json.loads(run.stderr.strip().splitlines()[-1])["invalid"] == 0

    found = findings_snapshot(fresh_db_url)
    new_country = [v for v in found.values() if v[0] == "AUTH-004"]
    outside = [v for v in found.values() if v[0] == "ACC-007"]
    assert [(v[3], v[5]) for v in new_country] == [("t6|alice", abroad)]
    assert [v[3] for v in outside] == ["t6|key-us"]  # not the French key
