from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest


@pytest.fixture
def workers() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Background processes started by a test; whatever is still running at teardown is
    killed, so a failed test leaves no worker behind."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=20)
