"""docker-compose.yml run natively, without Docker, the way an operator starts it.

The compose file is parsed; each Tocsin service runs its own `command` with its `environment`
over the example env file edited as the runbook says (deploy/env.example → tocsin.env, the
staging SMTP lines uncommented, `change-me` replaced), read with the same dotenv syntax. Host
names are mapped to local equivalents: `kafka` → a fresh embedded broker (Tansu), `postgres`
→ a fresh database on the local PostgreSQL with the roles that deploy/postgres/initdb creates
(the same script, run natively), `mailpit` → an SMTP server on loopback that, like Mailpit,
offers no STARTTLS; `/run/secrets/*` → random secret files. The services must reach ready by
their own healthchecks, a simulated attack must become an incident whose approved notice
arrives at the sink, and SIGTERM must stop each service within its grace period with no
`uncertain` outbox row.
"""

from __future__ import annotations

import csv
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from aiosmtpd.controller import Controller
from dotenv import dotenv_values
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.conftest import PG_ADMIN_URL
from tocsin.dev.broker import EmbeddedBroker, free_port
from tocsin.dev.simulator import Simulator

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
TOCSIN = str(Path(sys.executable).with_name("tocsin"))
REFUSE = DEPLOY / "bin" / "refuse-placeholders"
ROLES_SCRIPT = DEPLOY / "postgres" / "initdb" / "10-tocsin-roles.sh"
RSSI = "rssi@avmup.com"
LONG_RUNNING = ("ingest", "notify", "purge", "console")


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def _seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", duration):
        total += float(number) * units[unit]
    assert total > 0, duration
    return total


# ------------------------------------------------------------------------------ the sink


@dataclass
class PlainSink:
    """Records every message; offers no STARTTLS (aiosmtpd without a TLS context)."""

    received: list[bytes] = field(default_factory=list)
    ehlo_lines: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(bytes(envelope.original_content or envelope.content))
        return "250 2.0.0 queued"


@pytest.fixture
def sink() -> Iterator[tuple[PlainSink, int]]:
    handler = PlainSink()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


# ------------------------------------------------------------------------------ database


@dataclass
class LocalPostgres:
    database: str
    owner: str
    app: str

    def url(self, user: str) -> str:
        return str(
            make_url(PG_ADMIN_URL)
            .set(username=user, password=None, database=self.database)
            .render_as_string(hide_password=False)
        )


@pytest.fixture
def postgres(tmp_path: Path, secret_dir: Path) -> Iterator[LocalPostgres]:
    """A fresh database with the two roles, made by deploy/postgres/initdb run natively."""
    tag = uuid.uuid4().hex[:10]
    local = LocalPostgres(
        database=f"tocsin_deploy_{tag}", owner=f"tocsin_owner_{tag}", app=f"tocsin_app_{tag}"
    )
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{local.database}"'))
    admin_url = make_url(PG_ADMIN_URL)
    try:
        result = subprocess.run(
            ["sh", str(ROLES_SCRIPT)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={
                "PATH": os.environ["PATH"],
                "PGHOST": admin_url.host or "127.0.0.1",
                "PGPORT": str(admin_url.port or 5432),
                "POSTGRES_USER": admin_url.username or "postgres",
                "POSTGRES_DB": local.database,
                "TOCSIN_DB_OWNER": local.owner,
                "TOCSIN_DB_APP": local.app,
                "TOCSIN_DB_OWNER_PASSWORD_FILE": str(secret_dir / "tocsin_db_owner_password"),
                "TOCSIN_DB_APP_PASSWORD_FILE": str(secret_dir / "tocsin_db_app_password"),
            },
        )
        assert result.returncode == 0, result.stderr
        yield local
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{local.database}" WITH (FORCE)'))
            conn.execute(text(f'DROP ROLE IF EXISTS "{local.app}"'))
            conn.execute(text(f'DROP ROLE IF EXISTS "{local.owner}"'))
        admin.dispose()


@pytest.fixture
def secret_dir(tmp_path: Path) -> Path:
    """deploy/secrets/ made as the runbook says: one random value per file."""
    folder = tmp_path / "secrets"
    folder.mkdir()
    for name in _compose()["secrets"]:
        (folder / name).write_text(secrets.token_hex(32) + "\n")
    return folder


# ------------------------------------------------------------------------------ the services


@dataclass
class Mapping:
    """Compose host names and container paths → their local equivalents."""

    broker: str
    postgres: LocalPostgres
    smtp_port: int
    secret_dir: Path
    exports: Path
    ports: dict[str, dict[int, int]] = field(default_factory=dict)

    def port(self, service: str, container_port: int) -> int:
        return self.ports.setdefault(service, {}).setdefault(container_port, free_port())

    def value(self, service: str, key: str, value: str) -> str:
        if value.startswith("/run/secrets/"):
            return str(self.secret_dir / value.removeprefix("/run/secrets/"))
        if key == "TOCSIN_DATABASE_URL":
            url = make_url(value)
            assert url.host == "postgres" and url.database == "tocsin", value
            user = {"tocsin_owner": self.postgres.owner, "tocsin_app": self.postgres.app}
            return self.postgres.url(user[str(url.username)])
        if key == "TOCSIN_METRICS_PORT" and value != "0":
            return str(self.port(service, int(value)))
        value = value.replace("kafka:9092", self.broker)
        return value.replace("mailpit:1025", f"127.0.0.1:{self.smtp_port}")

    def command(self, service: str, command: list[str]) -> list[str]:
        assert command[0] == "tocsin", command
        out = [TOCSIN]
        args = iter(command[1:])
        for arg in args:
            out.append(arg)
            if arg == "--host":
                next(args)
                out.append("127.0.0.1")
            elif arg == "--port":
                out.append(str(self.port(service, int(next(args)))))
        return out

    def healthcheck(self, service: str, test: list[str]) -> list[str]:
        assert test[0] == "CMD", test
        argv = [sys.executable if a == "python" else a for a in test[1:]]
        for container_port, local in self.ports.get(service, {}).items():
            argv = [a.replace(f":{container_port}/", f":{local}/") for a in argv]
        return argv


# the organisation's identity, as the operator fills it in
ORGANISATION = {
    "TOCSIN_ORG__NAME": "AVM Up (AVM Informatique)",
    "TOCSIN_ORG__SIREN": "123 456 789",
    "TOCSIN_ORG__ADDRESS": "1 rue de l'Exemple, 69000 Lyon",
    "TOCSIN_ORG__REPRESENTATIVE": "Jeanne Martin",
    "TOCSIN_ORG__DPO_NAME": "Paul Durand",
    "TOCSIN_ORG__DPO_PHONE": "+33 4 00 00 00 00",
}
# the facts of the notice, as the RSSI enters them before approving
NOTICE_FACTS = (
    "cause=internal_accidental",
    "origin=wrong_person_displayed",
    "subprocessors_involved=no",
    "breach_ongoing=no",
    "measures=cloisonnement entre clients corrigé",
    "measures_proposed=vérifier les accès à vos données",
)


def operator_env_file(tmp_path: Path, *, staging: bool) -> Path:
    """deploy/env.example edited as the runbook says: secrets generated, and in staging the
    Mailpit lines uncommented in place of the relay's placeholder."""
    lines = []
    for line in (DEPLOY / "env.example").read_text().splitlines():
        if line == "TOCSIN_SECRET_KEY=change-me":
            line = f"TOCSIN_SECRET_KEY={secrets.token_urlsafe(48)}"
        elif staging and line == "TOCSIN_SMTP_URL=change-me":
            line = "# " + line
        elif staging and line.startswith("# TOCSIN_SMTP"):
            line = line.removeprefix("# ")
        elif line.startswith("# TOCSIN_ORG__"):
            name = line.removeprefix("# ").split("=", 1)[0]
            line = f"{name}={ORGANISATION[name]}"
        lines.append(line)
    path = tmp_path / "tocsin.env"
    path.write_text("\n".join(lines) + "\n")
    return path


def service_env(
    compose: dict[str, Any], name: str, env_file: Path, mapping: Mapping
) -> dict[str, str]:
    """env_file first, then `environment` over it (Compose's precedence), then the mapping."""
    svc = compose["services"][name]
    env: dict[str, str] = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8"}
    for entry in svc.get("env_file", []):
        assert entry["path"] == "./deploy/tocsin.env", entry
        env.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    env.update({k: str(v) for k, v in svc.get("environment", {}).items()})
    return {k: mapping.value(name, k, v) for k, v in env.items()}


@dataclass
class Running:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path


def _start(
    compose: dict[str, Any], name: str, env: dict[str, str], mapping: Mapping, logs: Path
) -> Running:
    log = logs / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            mapping.command(name, compose["services"][name]["command"]),
            env=env,
            cwd=mapping.exports,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Running(name, proc, log)


def _wait_healthy(
    compose: dict[str, Any], running: Running, mapping: Mapping, timeout: float = 90
) -> None:
    argv = mapping.healthcheck(
        running.name, compose["services"][running.name]["healthcheck"]["test"]
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert running.proc.poll() is None, running.log.read_text()[-3000:]
        if subprocess.run(argv, capture_output=True, timeout=30, check=False).returncode == 0:
            return
        time.sleep(0.5)
    pytest.fail(f"{running.name} never became healthy: {running.log.read_text()[-3000:]}")


def _tocsin(
    env: dict[str, str], cwd: Path, *args: str, extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TOCSIN, *args],
        env={**env, **(extra or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _until(what: str, probe: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(1)
    pytest.fail(f"timed out waiting for {what}")


# ------------------------------------------------------------------------------ the test


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """Kafka's stand-in, fresh for this deployment (the default topic names are used)."""
    with EmbeddedBroker(log_path=tmp_path / "tansu.log") as running:
        yield running


def test_staging_compose_runs_natively_end_to_end(
    tmp_path: Path,
    broker: EmbeddedBroker,
    postgres: LocalPostgres,
    secret_dir: Path,
    sink: tuple[PlainSink, int],
) -> None:
    compose = _compose()
    handler, smtp_port = sink
    exports = tmp_path / "exports"
    exports.mkdir()
    logs = tmp_path / "logs"
    logs.mkdir()
    mapping = Mapping(broker.bootstrap, postgres, smtp_port, secret_dir, exports)
    env_file = operator_env_file(tmp_path, staging=True)
    assert "mailpit" in {
        n for n, s in compose["services"].items() if "staging" in s.get("profiles", [])
    }
    envs = {
        name: service_env(compose, name, env_file, mapping) for name in ("migrate", *LONG_RUNNING)
    }
    assert "smtp+plain://127.0.0.1" in envs["notify"]["TOCSIN_SMTP_URL"]

    # migrate: as the owner, retrying the connection
    migrate = subprocess.run(
        mapping.command("migrate", compose["services"]["migrate"]["command"]),
        env=envs["migrate"],
        cwd=exports,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert migrate.returncode == 0, migrate.stderr
    assert "--wait" in compose["services"]["migrate"]["command"]

    # the application role reads and writes rows, and nothing more
    app_dsn = make_url(envs["console"]["TOCSIN_DATABASE_URL"]).set(drivername="postgresql")
    with psycopg.connect(app_dsn.render_as_string(hide_password=False)) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (postgres.app,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE TABLE intruder (id int)")
        conn.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DROP TABLE alembic_version")

    # operator set-up through the console's image: the RSSI, the customers' contacts
    console_env = envs["console"]
    added = _tocsin(
        console_env,
        exports,
        "user",
        "add",
        RSSI,
        "--role",
        "rssi",
        extra={"TOCSIN_PASSWORD": secrets.token_urlsafe(12)},
    )
    assert added.returncode == 0, added.stderr
    sim = Simulator(seed=11, start=datetime.now(UTC))
    with (exports / "customers.csv").open("w", newline="") as fp:
        writer = csv.writer(fp)
        writer.writerow(["tenant_id", "name", "contact_email"])
        for tenant in sim.tenant_ids():
            writer.writerow([tenant, f"Client {tenant}", f"securite@{tenant}.example"])
    imported = _tocsin(console_env, exports, "customers", "import", "customers.csv")
    assert imported.returncode == 0, imported.stderr

    running: dict[str, Running] = {}
    try:
        for name in LONG_RUNNING:
            running[name] = _start(compose, name, envs[name], mapping, logs)
        for name in LONG_RUNNING:
            _wait_healthy(compose, running[name], mapping)

        # a simulated attack, produced as the SaaS services would
        # a day of traffic that ended yesterday: no event is ahead of the wall clock (those
        # go to the DLQ as `future`)
        start = (datetime.now(UTC) - timedelta(days=2)).isoformat()
        produced = _tocsin(
            envs["ingest"],
            exports,
            "simulate",
            "--events",
            "1500",
            "--seed",
            "11",
            "--start",
            start,
            "--attack",
            "cross_tenant_read",
        )
        assert produced.returncode == 0, produced.stderr

        def incidents() -> list[dict[str, Any]]:
            out = _tocsin(console_env, exports, "incidents", "list", "--json")
            assert out.returncode == 0, out.stderr
            rows: list[dict[str, Any]] = json.loads(out.stdout)
            return rows

        assert _until("an incident", incidents, 120)

        def drafts() -> list[dict[str, Any]]:
            out = _tocsin(console_env, exports, "notices", "list", "--json", "--status", "draft")
            assert out.returncode == 0, out.stderr
            rows = [r for r in json.loads(out.stdout) if r["kind"] == "customer"]
            return rows

        draft = _until("a customer notice draft", drafts, 60)[0]
        ended = (datetime.now(UTC) - timedelta(hours=20)).replace(microsecond=0).isoformat()
        facts = [a for fact in (*NOTICE_FACTS, f"breach_ended_at={ended}") for a in ("--set", fact)]
        entered = _tocsin(
            console_env,
            exports,
            "incidents",
            "fields",
            str(draft["incident_ref"]),
            *facts,
            "--as",
            RSSI,
        )
        assert entered.returncode == 0, entered.stderr
        draft = next(d for d in drafts() if d["tenant_id"] == draft["tenant_id"])
        approved = _tocsin(
            console_env, exports, "notices", "approve", str(draft["id"]), "--as", RSSI
        )
        assert approved.returncode == 0, approved.stderr

        def delivered() -> list[bytes]:
            return [
                m
                for m in handler.received
                if f"securite@{draft['tenant_id']}.example".encode() in m
            ]

        mail = _until("the approved notice at the sink", delivered, 120)[0]
        message = message_from_bytes(mail, policy=policy.default)
        assert f"securite@{draft['tenant_id']}.example" in str(message["To"])
        assert str(draft["incident_ref"]) in str(message["Subject"]) + message.as_string()

        # a clean stop: SIGTERM, within each service's grace period, exit status 0
        for name in LONG_RUNNING:
            grace = _seconds(compose["services"][name]["stop_grace_period"])
            proc = running[name].proc
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pytest.fail(f"{name} ignored SIGTERM for {grace:g} s")
            assert code == 0, f"{name}: {running[name].log.read_text()[-3000:]}"
    finally:
        for run in running.values():
            if run.proc.poll() is None:
                run.proc.kill()
                run.proc.wait()

    with psycopg.connect(app_dsn.render_as_string(hide_password=False)) as conn:
        states = dict(
            conn.execute("SELECT state, count(*) FROM notice_outbox GROUP BY state").fetchall()
        )
    assert states.get("sent", 0) >= 1
    assert "uncertain" not in states and "sending" not in states, states


# ------------------------------------------------------------------------------ refusals


def test_production_example_refuses_to_start_until_edited(
    tmp_path: Path,
    broker: EmbeddedBroker,
    postgres: LocalPostgres,
    secret_dir: Path,
) -> None:
    compose = _compose()
    exports = tmp_path / "exports"
    exports.mkdir()
    mapping = Mapping(broker.bootstrap, postgres, free_port(), secret_dir, exports)
    env_file = operator_env_file(tmp_path, staging=False)
    migrate_env = service_env(compose, "migrate", env_file, mapping)
    assert _tocsin(migrate_env, exports, "db", "upgrade").returncode == 0
    for name in ("notify", "ingest"):
        env = service_env(compose, name, env_file, mapping)
        result = subprocess.run(
            mapping.command(name, compose["services"][name]["command"]),
            env=env,
            cwd=exports,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 2, (name, result.stderr)
        assert "TOCSIN_SMTP_URL" in result.stderr, name
    # the secret key left as it is in the example: the console refuses
    raw = tmp_path / "raw.env"
    raw.write_text((DEPLOY / "env.example").read_text())
    env = service_env(compose, "console", raw, mapping)
    result = subprocess.run(
        mapping.command("console", compose["services"]["console"]["command"]),
        env=env,
        cwd=exports,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2 and "TOCSIN_SECRET_KEY" in result.stderr, result.stderr
    # a database password secret left at the placeholder
    (secret_dir / "tocsin_db_app_password").write_text("change-me\n")
    result = _tocsin(service_env(compose, "purge", env_file, mapping), exports, "purge")
    assert result.returncode == 2, result.stderr
    assert "TOCSIN_DATABASE_PASSWORD_FILE" in result.stderr


def test_staging_smtp_without_the_plaintext_flag_is_refused(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "TOCSIN_SMTP_URL": "smtp+plain://127.0.0.1:1025",
        "TOCSIN_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
    }
    result = subprocess.run(
        [TOCSIN, "notify", "--once"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1 and "plain-text SMTP refused" in result.stderr


@pytest.mark.parametrize("service", ["postgres", "grafana", "kafka"])
def test_third_party_services_refuse_placeholder_secrets(service: str, tmp_path: Path) -> None:
    """The wrapper of docker-compose.yml, run natively with the same checks: a placeholder
    (or a missing secret) stops the service; real values let its command start."""
    svc = _compose()["services"][service]
    argv = svc.get("entrypoint") or svc["command"]
    assert argv[:2] == ["/bin/sh", "/opt/tocsin/refuse-placeholders"], service
    checks = argv[2 : argv.index("--")]
    assert checks
    env_values = {k: v for k, v in dotenv_values(DEPLOY / "kafka.env.example").items() if v}

    def run(good: bool) -> subprocess.CompletedProcess[str]:
        env = {"PATH": os.environ["PATH"]}
        local = []
        for check in checks:
            if check.startswith("/run/secrets/"):
                path = tmp_path / check.removeprefix("/run/secrets/")
                path.write_text(secrets.token_hex(16) if good else "change-me\n")
                local.append(str(path))
            else:
                value = env_values[check]
                env[check] = value.replace("change-me", secrets.token_hex(8)) if good else value
                local.append(check)
        return subprocess.run(
            ["sh", str(REFUSE), *local, "--", "echo", "started"],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    refused = run(good=False)
    assert refused.returncode == 1 and "placeholder" in refused.stderr
    assert "started" not in refused.stdout
    started = run(good=True)
    assert started.returncode == 0 and started.stdout.strip() == "started", started.stderr
