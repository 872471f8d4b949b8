"""A real Prometheus (Debian package, loopback) scrapes a process exposing Tocsin's metrics
and answers a dashboard query; the alert rules load and evaluate without error."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = "/usr/bin/prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "tocsin.json"

EXPORTER = textwrap.dedent(
    """
    import sys, time
    from datetime import UTC, datetime, timedelta
    from consumers import metrics
    from tocsin.telemetry import start_metrics_server

    topic = "saas.auth.v1"
    metrics.init_topic_series([topic])
    start_metrics_server(int(sys.argv[1]), addr="127.0.0.1")
    print("ready", flush=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        metrics.EVENTS_CONSUMED.labels(topic=topic, service="faxbis").inc(50)
        metrics.EVENTS_CONSUMED.labels(topic=topic, service="smsbis").inc(5)
        metrics.observe_detection_latency(datetime.now(UTC) - timedelta(milliseconds=300))
        metrics.CONSUMER_LAG.labels(topic=topic, partition="0").set(7)
        time.sleep(0.1)
    """
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback http
        return json.loads(response.read())


def _stop(proc: subprocess.Popen[Any]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture
def exporter() -> Iterator[int]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", EXPORTER, str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        yield port
    finally:
        _stop(proc)


@pytest.fixture
def prometheus(tmp_path: Path, exporter: int) -> Iterator[str]:
    port = _free_port()
    shutil.copy(ROOT / "deploy" / "prometheus" / "alerts.yml", tmp_path / "alerts.yml")
    (tmp_path / "prometheus.yml").write_text(
        textwrap.dedent(f"""
        global:
          scrape_interval: 1s
          evaluation_interval: 1s
        rule_files: [alerts.yml]
        scrape_configs:
          - job_name: tocsin-ingest
            static_configs:
              - targets: ["127.0.0.1:{exporter}"]
        """)
    )
    log = (tmp_path / "prometheus.log").open("w")
    proc = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (tmp_path / "prometheus.log").read_text()
            try:
                with urllib.request.urlopen(f"{base}/-/ready", timeout=2):  # noqa: S310
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield base
    finally:
        _stop(proc)
        log.close()


def _query_until(base: str, expr: str, timeout: float = 45) -> list[dict[str, Any]]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    deadline = time.monotonic() + timeout
    while True:
        body = _get(url)
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.5)


def _panel_expr(title: str) -> str:
    dashboard = json.loads(DASHBOARD.read_text())
    panel = next(p for p in dashboard["panels"] if p.get("title") == title)
    expr: str = panel["targets"][0]["expr"]
    return expr.replace("$__rate_interval", "10s")


@pytest.mark.timeout(120)
def test_prometheus_scrapes_tocsin_and_answers_a_dashboard_query(prometheus: str) -> None:
    result = _query_until(prometheus, _panel_expr("Ingest rate by service"))
    rates = {r["metric"]["service"]: float(r["value"][1]) for r in result}
    assert rates.get("faxbis", 0) > rates.get("smsbis", 0) > 0
    assert all(set(r["metric"]) == {"service"} for r in result)  # summed by service only

    latency = _query_until(prometheus, _panel_expr("Detection latency"))
    assert latency and 0.25 <= float(latency[0]["value"][1]) <= 0.5

    up = _query_until(prometheus, 'up{job="tocsin-ingest"}')
    assert [float(r["value"][1]) for r in up] == [1.0]

    rules = _get(f"{prometheus}/api/v1/rules")["data"]["groups"]
    loaded = [rule for group in rules for rule in group["rules"]]
    assert len(loaded) >= 10
    deadline = time.monotonic() + 20
    while any(rule.get("lastEvaluation", "").startswith("0001") for rule in loaded):
        assert time.monotonic() < deadline
        time.sleep(0.5)
        loaded = [
            r for g in _get(f"{prometheus}/api/v1/rules")["data"]["groups"] for r in g["rules"]
        ]
    assert all(rule["health"] == "ok" for rule in loaded), [
        (r["name"], r.get("lastError")) for r in loaded if r["health"] != "ok"
    ]
    firing = {
        a["labels"]["alertname"] for a in _get(f"{prometheus}/api/v1/alerts")["data"]["alerts"]
    }
    assert "TocsinIngestDown" not in firing
