"""Faults (DESIGN §10, issue 8): a database outage, a broker restart, scale-out with a
replica joining mid-stream. After each, every produced event is accounted for and the
findings equal a clean run's."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.e2e.harness import (
    START,
    findings_snapshot,
    kill9,
    make_env,
    produce,
    progress,
    run_ingest,
    simulated,
    snapshot_diff,
    start_ingest,
    wait_until,
)
from tests.e2e.tcpproxy import TcpProxy
from tocsin.broker import EmbeddedBroker
from tocsin.dbschema import upgrade
from tocsin.simulator import ATTACKS

pytestmark = pytest.mark.timeout(600)


def _clean_run(broker: EmbeddedBroker, tmp_path: Path, events: list) -> dict:  # type: ignore[type-arg]
    url = f"sqlite:///{tmp_path / 'clean.db'}"
    upgrade(url)
    env = make_env(broker, url)
    produce(env, events)
    run_ingest(env)
    return findings_snapshot(url)


@pytest.mark.parametrize("fresh_db_url", ["postgresql"], indirect=True)
def test_database_outage_of_thirty_seconds_loses_nothing(
    broker: EmbeddedBroker, fresh_db_url: str, tmp_path: Path, workers: list
) -> None:
    events = simulated(5000, list(ATTACKS), seed=21)
    expected = _clean_run(broker, tmp_path, events)

    url = make_url(fresh_db_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    env = make_env(broker, proxied)
    try:
        half = len(events) // 2
        produce(env, events[:half])
        proc = start_ingest(env)
        workers.append(proc)
        assert wait_until(lambda: progress(env) >= half, timeout=90)
        proxy.cut()
        produce(env, events[half:])  # arrives while the database is unreachable
        time.sleep(30)
        assert proc.poll() is None, "the worker must survive the outage"
        proxy.restore()
        assert wait_until(lambda: findings_snapshot(fresh_db_url) == expected, timeout=120), (
            "after the outage the worker resumes and catches up"
        )
        proc.terminate()
        assert proc.wait(timeout=60) == 0
    finally:
        proxy.close()
    assert findings_snapshot(fresh_db_url) == expected


@pytest.mark.parametrize("fresh_db_url", ["postgresql"], indirect=True)
def test_second_replica_joining_mid_stream_changes_nothing(
    broker: EmbeddedBroker, fresh_db_url: str, tmp_path: Path, workers: list
) -> None:
    events = simulated(8000, list(ATTACKS), seed=31)
    expected = _clean_run(broker, tmp_path, events)
    env = make_env(broker, fresh_db_url, partitions=4)
    produce(env, events)
    first = start_ingest(env, TOCSIN_BATCH_MAX_RECORDS="200")
    workers.append(first)
    assert wait_until(lambda: len(findings_snapshot(fresh_db_url)) > 0, timeout=90)
    second = start_ingest(env, TOCSIN_BATCH_MAX_RECORDS="200")
    workers.append(second)
    time.sleep(8)
    kill9(first)  # and the first one dies: its partitions move to the second
    assert wait_until(lambda: findings_snapshot(fresh_db_url) == expected, timeout=180), (
        snapshot_diff(findings_snapshot(fresh_db_url), expected)
    )
    second.terminate()
    assert second.wait(timeout=60) == 0
    run_ingest(env, max_idle=2)
    assert findings_snapshot(fresh_db_url) == expected


@pytest.mark.parametrize("fresh_db_url", ["postgresql"], indirect=True)
def test_broker_restart_reconnects_and_continues(
    fresh_db_url: str, tmp_path: Path, workers: list
) -> None:
    # a private broker: restarting it must not disturb other tests
    with EmbeddedBroker(log_path=tmp_path / "tansu.log") as private:
        env = make_env(private, fresh_db_url)
        before = simulated(2000, ["brute_force"], seed=41)
        produce(env, before)
        proc = start_ingest(env)
        workers.append(proc)
        assert wait_until(
            lambda: any(v[0] == "AUTH-001" for v in findings_snapshot(fresh_db_url).values()),
            timeout=90,
        )
        private.restart()  # memory-only broker: topics and offsets are gone
        env.create_topics()
        found_before = set(findings_snapshot(fresh_db_url))
        # later in event time: what came before the restart set the watermarks
        after = simulated(2000, ["brute_force"], seed=42, start=START + timedelta(days=60))
        produce(env, after)
        assert wait_until(
            lambda: any(v[0] == "AUTH-001" for fid, v in findings_snapshot(fresh_db_url).items()
                        if fid not in found_before),
            timeout=180,
        ), "after the restart the worker reconnects and detects new traffic"
        assert proc.poll() is None
        proc.terminate()
        assert proc.wait(timeout=60) == 0
