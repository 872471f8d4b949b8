"""`make bench`: every figure of docs/architecture.md §14 in one run, side by side."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

STEPS = [
    ("throughput: bare consumer vs tocsin ingest", ["bench/ingest.py"]),
    ("scale-out: 1 vs 2 replicas", ["bench/replicas.py"]),
    ("latency at 5,000 events/s", ["bench/latency.py"]),
    ("detector memory: 1,000,000 events over 100,000 actors", ["bench/detectors_memory.py"]),
    ("console: queue and incident pages with 10,000 incidents", ["bench/console.py"]),
]


def main() -> int:
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}", flush=True)
    failed = 0
    for title, cmd in STEPS:
        print(f"\n== {title}", flush=True)
        rc = subprocess.run([sys.executable, *cmd], cwd=ROOT).returncode
        failed += rc != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
