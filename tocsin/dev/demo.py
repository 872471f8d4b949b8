"""`tocsin demo`: everything on one machine, nothing to install but the package.

Starts the embedded broker (unless `TOCSIN_KAFKA_BOOTSTRAP` is set), migrates a SQLite file,
creates demo users and customers, runs an SMTP sink that writes each message to a file, then
`tocsin ingest`, `tocsin simulate` (normal traffic with every attack) and `tocsin console` as
child processes, and prints where to look. Ctrl-C stops them all.
"""

from __future__ import annotations

import csv
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from accounts.roles import Role
from tocsin.dev.broker import EmbeddedBroker, free_port, wait_for_port

DEMO_USERS = (
    ("rssi@avmup.com", Role.RSSI),
    ("analyste@avmup.com", Role.ANALYST),
    ("dpo@avmup.com", Role.DPO),
    ("admin@avmup.com", Role.ADMIN),
)


def _tocsin(*args: str, env: dict[str, str], **kwargs: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "tocsin.cli", *args], env=env, **kwargs)


def _run(*args: str, env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "tocsin.cli", *args], env=env, check=True, stdout=subprocess.DEVNULL
    )


class MailSink:
    """A loopback SMTP server (aiosmtpd) that stores each message as an .eml file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self._controller: Any = None

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        folder = self.folder
        folder.mkdir(parents=True, exist_ok=True)

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
                data: bytes = envelope.original_content or envelope.content
                stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
                name = f"{stamp}-{secrets.token_hex(3)}.eml"
                (folder / name).write_bytes(data)
                return "250 OK"

        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()


def _write_customers(path: Path, tenants: list[str]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fp:
        writer = csv.writer(fp)
        writer.writerow(
            ["tenant_id", "name", "contact_email", "language", "notify_delay_hours", "role"]
        )
        for i, tenant in enumerate(tenants):
            role = "controller" if tenant == "avmup" else "processor"
            delay = 24 if i % 3 else 48
            writer.writerow(
                [
                    tenant,
                    f"Client {tenant}",
                    f"securite@{tenant}.example",
                    "fr" if i % 7 else "en",
                    delay,
                    role,
                ]
            )


def run_demo(*, console_port: int, rate: float, folder: Path) -> int:
    from tocsin.dev import simulator

    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "tocsin.db"
    if db.exists():
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    broker: EmbeddedBroker | None = None
    bootstrap = os.environ.get("TOCSIN_KAFKA_BOOTSTRAP")
    if not bootstrap:
        broker = EmbeddedBroker(log_path=folder / "tansu.log").start()
        bootstrap = broker.bootstrap
    mail = MailSink(folder / "mail")
    mail.start()
    metrics_port = free_port()
    env = {
        **os.environ,
        "TOCSIN_DEMO": "true",
        "TOCSIN_DATABASE_URL": f"sqlite:///{db.resolve()}",
        "TOCSIN_KAFKA_BOOTSTRAP": bootstrap,
        "TOCSIN_SECRET_KEY": secrets.token_urlsafe(32),
        "TOCSIN_SMTP_URL": f"smtp+plain://127.0.0.1:{mail.port}",  # the sink has no STARTTLS
        "TOCSIN_SMTP_ALLOW_PLAINTEXT": "true",
        "TOCSIN_METRICS_PORT": str(metrics_port),
        "TOCSIN_CHECKPOINT_SECONDS": "5",
        "TOCSIN_CLOCKS__TICK_SECONDS": "5",
        # the simulated live traffic runs event time faster than the wall clock
        "TOCSIN_MAX_FUTURE_SECONDS": str(366 * 86400),
    }
    _run("db", "upgrade", env=env)
    password = secrets.token_urlsafe(9)
    for email, role in DEMO_USERS:
        _run("user", "add", email, "--role", role, env={**env, "TOCSIN_PASSWORD": password})
    sim = simulator.Simulator(seed=7, start=datetime.now(UTC))
    _write_customers(folder / "customers.csv", sim.tenant_ids())
    _run("customers", "import", str(folder / "customers.csv"), env=env)

    logs = open(folder / "processes.log", "ab")  # noqa: SIM115 - closed at exit
    now = datetime.now(UTC).replace(microsecond=0)
    # about nine days of history with every attack, so the queue is not empty, then a live
    # trickle that repeats the attacks
    subprocess.run(
        [
            sys.executable,
            "-m",
            "tocsin.cli",
            "simulate",
            "--events",
            "30000",
            "--seed",
            "7",
            "--start",
            (now - timedelta(days=9)).isoformat(),
            "--attack",
            "all",
        ],
        env=env,
        check=True,
        stdout=logs,
        stderr=logs,
    )
    children = [
        _tocsin("ingest", env=env, stdout=logs, stderr=logs),
        _tocsin(
            "console",
            "--host",
            "127.0.0.1",
            "--port",
            str(console_port),
            "--insecure-cookies",
            env=env,
            stdout=logs,
            stderr=logs,
        ),
        _tocsin(
            "simulate",
            "--events",
            "5000000",
            "--rate",
            str(rate),
            "--seed",
            "8",
            "--start",
            now.isoformat(),
            "--attack",
            "all",
            "--attack-every",
            "5000",
            env=env,
            stdout=logs,
            stderr=logs,
        ),
    ]
    wait_for_port("127.0.0.1", console_port, 30)
    print(
        f"""
Tocsin demo is running (plain HTTP, insecure cookies: for this machine only).

  console     http://127.0.0.1:{console_port}/      password for every demo user: {password}
              users: {", ".join(e for e, _ in DEMO_USERS)}
  metrics     http://127.0.0.1:{metrics_port}/metrics (ingest)  ·  /metrics on the console
  broker      {bootstrap}{" (embedded Tansu, memory only)" if broker else ""}
  database    {db}
  mail sink   {folder / "mail"}/*.eml  (SMTP on 127.0.0.1:{mail.port})
  logs        {folder / "processes.log"}

Simulated traffic: {rate:g} events/s with every attack of the catalogue, repeated.
Notices print « [à compléter] » for AVM Up's identity until TOCSIN_ORG__NAME, __SIREN,
__ADDRESS, __REPRESENTATIVE, __DPO_NAME and __DPO_PHONE are set (environment or .env).
Ctrl-C stops everything.
""",
        flush=True,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.is_set():
            if any(c.poll() is not None for c in children[:2]):
                print("a demo process stopped; see processes.log", file=sys.stderr)
                break
            stop.wait(1.0)
    except KeyboardInterrupt:
        pass
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for child in children:
            try:
                child.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                child.kill()
        mail.stop()
        if broker is not None:
            broker.stop()
        logs.close()
    return 0
