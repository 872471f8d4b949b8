"""SIGTERM stops the long-running commands cleanly: exit status 0, the loop's last line
printed, nothing cut off (what `docker compose stop` relies on)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from incidents.db import make_engine, session_factory
from incidents.models import AuditEntry
from tocsin.dev.broker import free_port
from tocsin.shutdown import StopSignal

TOCSIN = str(Path(sys.executable).with_name("tocsin"))


def _env(db_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")}
    return {**env, "TOCSIN_DATABASE_URL": db_url, "TOCSIN_METRICS_PORT": "0", **extra}


def _first_line(proc: subprocess.Popen[str]) -> dict[str, object]:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, proc.stderr.read() if proc.stderr else "no output"
    data: dict[str, object] = json.loads(line)
    return data


def _terminate(proc: subprocess.Popen[str]) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("SIGTERM ignored")
    return proc.returncode, out


def test_notify_stops_on_sigterm(fresh_db_url: str, tmp_path: Path) -> None:
    env = _env(fresh_db_url, TOCSIN_SMTP_URL=f"smtps://127.0.0.1:{free_port()}")
    proc = subprocess.Popen(
        [TOCSIN, "notify", "--interval", "600"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert _first_line(proc)["sent"] == 0
        code, out = _terminate(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 0
    assert json.loads(out.strip().splitlines()[-1])["stopped"] is True


def test_purge_every_runs_at_once_and_stops_on_sigterm(fresh_db_url: str, tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [TOCSIN, "purge", "--every", "24"],
        env=_env(fresh_db_url),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = _first_line(proc)
        code, _ = _terminate(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert first["deleted_evidence_events"] == 0 and code == 0
    engine = make_engine(fresh_db_url)
    with session_factory(engine)() as session:
        actions = list(session.scalars(select(AuditEntry.action)))
    engine.dispose()
    assert actions.count("retention.purge") == 1


def test_purge_every_must_be_positive(fresh_db_url: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [TOCSIN, "purge", "--every", "0"],
        env=_env(fresh_db_url),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2 and "--every" in result.stderr


def test_stop_signal_is_set_by_sigterm() -> None:
    previous = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    try:
        stop = StopSignal().install()
        assert not stop.is_set() and stop.wait(0.01) is False
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait(5) is True and stop.is_set()
    finally:
        signal.signal(signal.SIGTERM, previous[0])
        signal.signal(signal.SIGINT, previous[1])


def test_clock_loop_stops_on_sigterm(fresh_db_url: str, tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [TOCSIN, "clock"],
        env=_env(fresh_db_url),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert _first_line(proc)["escalations"] == []
        code, _ = _terminate(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 0
