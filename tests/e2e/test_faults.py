"""Faults (docs/architecture.md §14): a DB outage, a broker restart (with the worker running, and
with the worker down), scale-out with a replica joining mid-stream; kill -9 is in
`test_pipeline.py`. After each, every produced event is accounted for and the findings,
incidents and notices equal a clean run's."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.e2e.harness import (
    START,
    assert_accounted,
    clean_run,
    findings_snapshot,
    kill9,
    make_env,
    outcome,
    outcome_diff,
    produce,
    progress,
    run_ingest,
    simulated,
    start_ingest,
    traffic,
    wait_until,
)
from tests.e2e.tcpproxy import TcpProxy
from tocsin.dev.broker import EmbeddedBroker
from tocsin.dev.simulator import ATTACKS

pytestmark = pytest.mark.timeout(600)


@pytest.mark.parametrize("fresh_db_url", ["postgresql"], indirect=True)
def test_database_outage_of_thirty_seconds_loses_nothing(
    broker: EmbeddedBroker, fresh_db_url: str, tmp_path: Path, workers: list
) -> None:
    scenario = traffic(5000, list(ATTACKS), seed=21)
    expected = clean_run(broker, tmp_path, scenario)

    url = make_url(fresh_db_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    env = make_env(broker, proxied)
    try:
        half = len(scenario.events) // 2
        landed = produce(env, scenario.events[:half])
        proc = start_ingest(env)
        workers.append(proc)
        assert wait_until(lambda: progress(env) >= half, timeout=90)
        proxy.cut()
        # arrives while the database is unreachable, poison included
        landed += produce(env, scenario.events[half:], scenario.poison)
        time.sleep(30)
        assert proc.poll() is None, "the worker must survive the outage"
        proxy.restore()
        assert wait_until(lambda: outcome(fresh_db_url) == expected, timeout=120), (
            "after the outage the worker resumes and catches up: "
            + outcome_diff(outcome(fresh_db_url), expected)
        )
        assert_accounted(env, scenario, landed)
        proc.terminate()
        assert proc.wait(timeout=60) == 0
    finally:
        proxy.close()
    got = outcome(fresh_db_url)
    assert got == expected, outcome_diff(got, expected)


@pytest.mark.parametrize("fresh_db_url", ["postgresql"], indirect=True)
def test_second_replica_joining_mid_stream_changes_nothing(
    broker: EmbeddedBroker, fresh_db_url: str, tmp_path: Path, workers: list
) -> None:
    scenario = traffic(8000, list(ATTACKS), seed=31)
    expected = clean_run(broker, tmp_path, scenario)
    env = make_env(broker, fresh_db_url, partitions=4)
    landed = produce(env, scenario.events, scenario.poison)
    first = start_ingest(env, TOCSIN_BATCH_MAX_RECORDS="200")
    workers.append(first)
    assert wait_until(lambda: len(findings_snapshot(fresh_db_url)) > 0, timeout=90)
    second = start_ingest(env, TOCSIN_BATCH_MAX_RECORDS="200")
    workers.append(second)
    time.sleep(8)
    kill9(first)  # and the first one dies: its partitions move to the second
    assert wait_until(lambda: outcome(fresh_db_url) == expected, timeout=180), outcome_diff(
        outcome(fresh_db_url), expected
    )
    second.terminate()
    assert second.wait(timeout=60) == 0
    run_ingest(env, max_idle=2)
    got = outcome(fresh_db_url)
    assert got == expected, outcome_diff(got, expected)
    assert_accounted(env, scenario, landed)


def _before_and_after(broker: EmbeddedBroker, folder: Path) -> tuple[list, list, dict]:  # type: ignore[type-arg]
    """Traffic before a broker restart, traffic 60 days later after it (the earlier traffic
    set the watermarks), and what one worker leaves after both on a broker that never
    restarted."""
    before = simulated(2000, ["brute_force", "password_spraying"], seed=41)
    after = simulated(
        4000, ["brute_force", "password_spraying"], seed=42, start=START + timedelta(days=60)
    )
    from tocsin.dbschema import upgrade

    url = f"sqlite:///{folder / 'clean-restart.db'}"
    upgrade(url)
    env = make_env(broker, url)
    produce(env, before)
    run_ingest(env)
    produce(env, after)
    run_ingest(env)
    return before, after, outcome(url)


@pytest.mark.parametrize("fresh_db_url", ["postgresql"], indirect=True)
def test_broker_restart_reconnects_and_continues(
    broker: EmbeddedBroker, fresh_db_url: str, tmp_path: Path, workers: list
) -> None:
    before, after, expected = _before_and_after(broker, tmp_path)
    # a private broker: restarting it must not disturb other tests
    with EmbeddedBroker(log_path=tmp_path / "tansu.log") as private:
        env = make_env(private, fresh_db_url)
        produce(env, before)
        proc = start_ingest(env)
        workers.append(proc)
        assert wait_until(lambda: progress(env) == len(before), timeout=90)
        private.restart()  # memory-only broker: topics and offsets are gone
        env.create_topics()
        produce(env, after)
        assert wait_until(lambda: progress(env) == len(after), timeout=180), (
            "after the restart the worker reconnects and reads the new log from its start"
        )
        assert wait_until(lambda: outcome(fresh_db_url) == expected, timeout=60), outcome_diff(
            outcome(fresh_db_url), expected
        )
        assert proc.poll() is None
        proc.terminate()
        assert proc.wait(timeout=60) == 0


@pytest.mark.parametrize("fresh_db_url", ["postgresql"], indirect=True)
def test_a_worker_restarted_after_the_broker_resumes_in_the_new_log(
    broker: EmbeddedBroker, fresh_db_url: str, tmp_path: Path, workers: list
) -> None:
    """The worker is down while the broker loses its log: its checkpoints hold offsets of
    the old log, which must not be used in the new one (they would skip new events)."""
    before, after, expected = _before_and_after(broker, tmp_path)
    with EmbeddedBroker(log_path=tmp_path / "tansu.log") as private:
        env = make_env(private, fresh_db_url)
        produce(env, before)
        run_ingest(env)
        assert progress(env) == len(before)
        private.restart()
        env.create_topics()
        produce(env, after)  # more events per partition than the checkpoints' offsets
        run_ingest(env)
        assert progress(env) == len(after)
        got = outcome(fresh_db_url)
        assert got == expected, outcome_diff(got, expected)
