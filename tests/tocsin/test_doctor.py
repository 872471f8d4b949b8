"""`tocsin doctor`: the health report, on a real database and the real broker."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from consumers import geo
from consumers.topics import ensure_topics
from tocsin.cli import main
from tocsin.commands.doctor import GEOIP_STALE_DAYS
from tocsin.dev.broker import EmbeddedBroker
from tocsin.settings import get_settings


@pytest.fixture
def environ(fresh_db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.setenv("TOCSIN_DATABASE_URL", fresh_db_url)
    monkeypatch.delenv("TOCSIN_KAFKA_BOOTSTRAP", raising=False)
    monkeypatch.delenv("TOCSIN_GEOIP_FILE", raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()
    geo.configure(None)


def report(capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, dict[str, str]]]:
    code = main(["doctor", "--json"])
    checks = json.loads(capsys.readouterr().out)
    return code, {c["name"]: c for c in checks}


def test_a_healthy_installation(
    environ: pytest.MonkeyPatch, broker: EmbeddedBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    tag = uuid.uuid4().hex[:8]
    topics = {name: f"{name}.{tag}" for name in ("auth", "access", "by_ip", "dlq")}
    ensure_topics(bootstrap=broker.bootstrap, topics=list(topics.values()), partitions=3)
    environ.setenv("TOCSIN_KAFKA_BOOTSTRAP", broker.bootstrap)
    for name, topic in topics.items():
        environ.setenv(f"TOCSIN_TOPIC_{name.upper()}", topic)
    get_settings.cache_clear()
    code, checks = report(capsys)
    assert code == 0, checks
    assert checks["database"]["status"] == "ok"
    assert "schema at" in checks["database"]["detail"]
    assert checks["kafka"]["status"] == "ok"
    assert f"{topics['auth']} (3)" in checks["kafka"]["detail"]
    assert checks["rules"]["status"] == "ok"
    built = geo.database_info().built
    assert built is not None
    assert f"built {built.date()}" in checks["geoip"]["detail"]
    stale = (datetime.now(UTC) - built).days > GEOIP_STALE_DAYS
    assert checks["geoip"]["status"] == ("warn" if stale else "ok")
    assert ("TOCSIN_GEOIP_FILE" in checks["geoip"]["detail"]) == stale


def test_problems_are_named(
    environ: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    environ.setenv("TOCSIN_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    environ.setenv("TOCSIN_GEOIP_FILE", str(tmp_path / "missing.dat.gz"))
    get_settings.cache_clear()
    code, checks = report(capsys)
    assert code == 1
    assert checks["database"]["status"] == "fail"
    assert "tocsin db upgrade" in checks["database"]["detail"]
    assert checks["kafka"]["status"] == "warn"
    assert "TOCSIN_KAFKA_BOOTSTRAP" in checks["kafka"]["detail"]
    assert checks["geoip"]["status"] == "fail"
    assert checks["geoip"]["detail"].startswith("TOCSIN_GEOIP_FILE: no such file")
    # the text report says the same, one line per check
    assert main(["doctor"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["fail", "database"],
        ["warn", "kafka"],
        ["fail", "geoip"],
        ["ok", "rules"],
    ]


def test_ingest_refuses_a_wrong_country_database(
    environ: pytest.MonkeyPatch,
    broker: EmbeddedBroker,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    environ.setenv("TOCSIN_KAFKA_BOOTSTRAP", broker.bootstrap)
    environ.setenv("TOCSIN_METRICS_PORT", "0")
    environ.setenv("TOCSIN_GEOIP_FILE", str(tmp_path / "missing.dat.gz"))
    get_settings.cache_clear()
    assert main(["ingest", "--max-idle", "1"]) == 2
    assert "TOCSIN_GEOIP_FILE: no such file" in capsys.readouterr().err


def test_an_unreachable_broker_fails(
    environ: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tocsin.dev.broker import free_port

    environ.setenv("TOCSIN_KAFKA_BOOTSTRAP", f"127.0.0.1:{free_port()}")
    get_settings.cache_clear()
    code, checks = report(capsys)
    assert code == 1
    assert checks["kafka"]["status"] == "fail"
    assert "cannot connect" in checks["kafka"]["detail"]
    assert checks["database"]["status"] == "ok"
