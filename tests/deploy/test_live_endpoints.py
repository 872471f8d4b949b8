"""The live `/metrics` of a real `tocsin ingest` (real broker, real traffic from
`tocsin simulate`) and of a real `tocsin console`, validated by `promtool check metrics`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tocsin.dev.broker import EmbeddedBroker, free_port

ROOT = Path(__file__).resolve().parents[2]
TOCSIN = [sys.executable, "-m", "tocsin.cli"]


def _scrape(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:  # noqa: S310
            body: bytes = resp.read()
            return body.decode()
    except OSError:
        return None


def _samples(text: str) -> dict[str, float]:
    """Sum of every sample value by sample name."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[sample.name] = out.get(sample.name, 0.0) + sample.value
    return out


def _promtool_check(text: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["/usr/bin/promtool", "check", "metrics"],
        input=text.encode(),
        capture_output=True,
        timeout=60,
        check=False,
    )


def _stop(proc: subprocess.Popen[Any]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture
def env(broker: EmbeddedBroker, fresh_db_url: str, tmp_path: Path) -> dict[str, str]:
    run = uuid.uuid4().hex[:8]
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")},
        "PYTHONPATH": str(ROOT),
        "TOCSIN_DATABASE_URL": fresh_db_url,
        "TOCSIN_KAFKA_BOOTSTRAP": broker.bootstrap,
        "TOCSIN_TOPIC_AUTH": f"t{run}.auth.v1",
        "TOCSIN_TOPIC_ACCESS": f"t{run}.access.v1",
        "TOCSIN_TOPIC_DLQ": f"t{run}.dlq.v1",
        "TOCSIN_TOPIC_BY_IP": f"t{run}.by-ip.v1",
        "TOCSIN_TOPIC_PARTITIONS": "2",
        "TOCSIN_CONSUMER_GROUP": f"g{run}",
        "TOCSIN_METRICS_PORT": str(free_port()),
        "TOCSIN_CHECKPOINT_SECONDS": "1",
        "TOCSIN_SECRET_KEY": uuid.uuid4().hex,
        "TOCSIN_LOG_LEVEL": "WARNING",
        "TOCSIN_RULES": "",
    }


@pytest.fixture
def ingest(env: dict[str, str], tmp_path: Path) -> Iterator[int]:
    env = {k: v for k, v in env.items() if v != ""}
    # about a day of traffic that ended before now (events ahead of the wall clock are refused)
    start = (datetime.now(UTC) - timedelta(days=2)).replace(microsecond=0).isoformat()
    simulate = subprocess.run(
        [
            *TOCSIN,
            "simulate",
            "--events",
            "6000",
            "--seed",
            "3",
            "--attack",
            "all",
            "--start",
            start,
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert simulate.returncode == 0, simulate.stderr
    log = (tmp_path / "ingest.log").open("w")
    proc = subprocess.Popen(
        [*TOCSIN, "ingest"], env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        yield int(env["TOCSIN_METRICS_PORT"])
        assert proc.poll() is None, (tmp_path / "ingest.log").read_text()[-3000:]
    finally:
        _stop(proc)
        log.close()


def _traffic_seen(samples: dict[str, float]) -> bool:
    return (
        samples.get("tocsin_events_consumed_total", 0) >= 6000
        and samples.get("tocsin_findings_total", 0) > 0
        and samples.get("tocsin_checkpoints_total", 0) > 0
        and samples.get("tocsin_incidents", 0) > 0
    )


@pytest.mark.timeout(180)
def test_live_ingest_metrics_pass_promtool(ingest: int) -> None:
    deadline = time.monotonic() + 90
    text, samples = "", {}
    while time.monotonic() < deadline:
        text = _scrape(ingest) or ""
        samples = _samples(text) if text else {}
        if _traffic_seen(samples):
            break
        time.sleep(1)
    assert samples.get("tocsin_events_consumed_total", 0) >= 6000, text[-2000:]
    assert samples["tocsin_findings_total"] > 0
    assert samples["tocsin_detection_latency_seconds_count"] > 0
    assert samples["tocsin_checkpoints_total"] > 0
    assert "tocsin_consumer_lag" in samples
    assert samples.get("tocsin_telemetry_db_up") == 1.0
    assert samples["tocsin_incidents"] > 0  # the attacks opened incidents
    result = _promtool_check(text)
    assert result.returncode == 0, (result.stdout + result.stderr).decode()


@pytest.fixture
def console(env: dict[str, str], tmp_path: Path) -> Iterator[int]:
    env = {k: v for k, v in env.items() if v != ""} | {"TOCSIN_LOG_LEVEL": "INFO"}
    port = free_port()
    log = (tmp_path / "console.log").open("w")
    proc = subprocess.Popen(
        [*TOCSIN, "console", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while _scrape(port) is None:
            assert proc.poll() is None, (tmp_path / "console.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "console did not start"
            time.sleep(0.3)
        yield port
    finally:
        _stop(proc)
        log.close()


@pytest.mark.timeout(120)
def test_live_console_metrics_pass_promtool(console: int) -> None:
    text = _scrape(console)
    assert text is not None
    samples = _samples(text)
    assert "process_resident_memory_bytes" in samples
    assert samples.get("tocsin_telemetry_db_up") == 1.0, text[-2000:]  # the DB collector runs
    assert "tocsin_incidents" in samples
    result = _promtool_check(text)
    assert result.returncode == 0, (result.stdout + result.stderr).decode()


@pytest.mark.timeout(120)
def test_live_console_access_log_is_scrubbed_json(console: int, tmp_path: Path) -> None:
    assert _scrape(console) is not None
    log_path = tmp_path / "console.log"
    deadline = time.monotonic() + 10
    while "/metrics" not in log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    text = log_path.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    access = [line for line in lines if line["logger"] == "uvicorn.access"]
    assert any("GET /metrics" in line["msg"] for line in access), text[-2000:]
    assert all(line["msg"].startswith("[ip]:") for line in access), text[-2000:]
    assert "127.0.0.1" not in text
