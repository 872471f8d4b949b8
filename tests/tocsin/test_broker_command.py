"""`tocsin broker` takes its Tansu child down with it on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tocsin.dev.broker import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.extend(int(p) for p in text)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_sigterm_stops_the_tansu_child() -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tocsin.cli", "broker", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    tansu = 0
    try:
        assert wait_for_port("127.0.0.1", port, 30), "the broker did not start"
        children = _children(proc.pid)
        assert len(children) == 1 and _alive(children[0])
        tansu = children[0]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        deadline = time.monotonic() + 10
        while _alive(tansu) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(tansu), "tansu still running after its parent's SIGTERM"
        assert not wait_for_port("127.0.0.1", port, 0.5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        if tansu and _alive(tansu):  # only when the test failed: leave nothing running
            os.kill(tansu, signal.SIGKILL)
