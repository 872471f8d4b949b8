"""`tocsin doctor`: a short health report of this installation's configuration."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Literal

from tocsin.commands import Subcommands
from tocsin.settings import Settings, get_settings

# geoip2fast's and MaxMind's country files are rebuilt every week: past this, addresses
# reassigned since (IPv6 blocks move often) may be placed in the wrong country
GEOIP_STALE_DAYS = 90

Status = Literal["ok", "warn", "fail"]


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str


def register(sub: Subcommands) -> None:
    p = sub.add_parser("doctor", help="health report: database, broker, country database, rules")
    p.add_argument("--json", action="store_true", help="the report as JSON")
    p.set_defaults(func=cmd_doctor)


def cmd_doctor(args: argparse.Namespace) -> int:
    settings = get_settings()
    checks = [_database(settings), _kafka(settings), _geoip(settings), _rules(settings)]
    if args.json:
        print(json.dumps([asdict(c) for c in checks], indent=2, ensure_ascii=False))
    else:
        width = max(len(c.name) for c in checks)
        for c in checks:
            print(f"{c.status:4}  {c.name:{width}}  {c.detail}")
    return 1 if any(c.status == "fail" for c in checks) else 0


def _database(settings: Settings) -> Check:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy.engine import make_url

    from incidents.db import make_engine
    from tocsin.dbschema import alembic_config

    shown = make_url(settings.database_url).render_as_string(hide_password=True)
    head = ScriptDirectory.from_config(alembic_config(settings.database_url)).get_current_head()
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        return Check("database", "fail", f"{shown}: cannot connect ({type(exc).__name__})")
    finally:
        engine.dispose()
    if current != head:
        return Check(
            "database",
            "fail",
            f"{shown}: schema at {current or 'nothing'}, expected {head} (run `tocsin db upgrade`)",
        )
    return Check("database", "ok", f"{shown}: schema at {head}")


def _kafka(settings: Settings) -> Check:
    if not settings.kafka_bootstrap:
        return Check(
            "kafka", "warn", "TOCSIN_KAFKA_BOOTSTRAP not set (only `tocsin demo` runs without it)"
        )
    from kafka import KafkaConsumer

    topics = [settings.topic_auth, settings.topic_access, settings.topic_by_ip, settings.topic_dlq]
    try:
        consumer = KafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap,
            request_timeout_ms=10_000,
            bootstrap_timeout_ms=5_000,
            **settings.kafka_security.client_options(),
        )
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        return Check(
            "kafka", "fail", f"{settings.kafka_bootstrap}: cannot connect ({type(exc).__name__})"
        )
    try:
        counts = {t: len(consumer.partitions_for_topic(t) or ()) for t in topics}
    finally:
        consumer.close()
    listed = ", ".join(f"{t} ({n or 'missing'})" for t, n in counts.items())
    # `tocsin ingest` creates the missing ones; fewer by-IP partitions than auth is legal
    status: Status = "ok" if all(counts.values()) else "warn"
    return Check("kafka", status, f"{settings.kafka_bootstrap}: partitions {listed}")


def _geoip(settings: Settings) -> Check:
    from consumers import geo
    from consumers.errors import ConfigError

    try:
        info = geo.configure(settings.geoip_file)
    except ConfigError as exc:
        return Check("geoip", "fail", str(exc))
    where = "bundled" if settings.geoip_file is None else str(info.path)
    if info.built is None:
        return Check("geoip", "warn", f"{where}: {info.source or 'no source'}, date unknown")
    age = (datetime.now(UTC) - info.built).days
    status: Status = "ok" if age <= GEOIP_STALE_DAYS else "warn"
    advice = (
        ""
        if status == "ok"
        else (f"; older than {GEOIP_STALE_DAYS} days, point TOCSIN_GEOIP_FILE at a fresher file")
    )
    return Check(
        "geoip",
        status,
        f"{where}: {info.source}, built {info.built.date()} ({age} days ago){advice}",
    )


def _rules(settings: Settings) -> Check:
    from consumers.errors import TocsinError
    from detectors.catalogue import load_rules

    try:
        rules = load_rules(settings.rules, timezone=settings.timezone)
    except TocsinError as exc:
        return Check("rules", "fail", str(exc))
    origin = "default catalogue" if settings.rules is None else str(settings.rules)
    return Check("rules", "ok", f"{origin}: {len(rules)} rules")
