"""Core commands: broker, db, ingest, simulate, demo."""

from __future__ import annotations

import argparse
import json
import math
import resource
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from consumers.conventions import is_aware
from consumers.errors import ConfigError
from tocsin.commands import Subcommands
from tocsin.settings import get_settings


def register(sub: Subcommands) -> None:
    p = sub.add_parser("broker", help="run the embedded Kafka-compatible broker (Tansu)")
    p.add_argument("--port", type=int, default=9092)
    p.add_argument("--host", default="127.0.0.1")
    p.set_defaults(func=cmd_broker)

    p = sub.add_parser("db", help="database schema")
    dbsub = p.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    up = dbsub.add_parser("upgrade", help="apply Alembic migrations to TOCSIN_DATABASE_URL")
    up.add_argument("revision", nargs="?", default="head")
    up.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="retry the connection for this long before giving up (a database "
        "that is still starting)",
    )
    up.set_defaults(func=cmd_db_upgrade)

    p = sub.add_parser("ingest", help="consume, detect, correlate, draft (the pipeline)")
    p.add_argument(
        "--max-idle",
        type=float,
        default=None,
        metavar="SECONDS",
        help="exit 0 once caught up and idle for this long",
    )
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("simulate", help="produce synthetic traffic with labelled attacks")
    p.add_argument("--events", type=int, default=10_000, help="normal events to produce")
    p.add_argument("--rate", type=float, default=0.0, help="events/s (0 = as fast as possible)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--start", default=None, help="event time of the first event (ISO 8601)")
    p.add_argument("--tenants", type=int, default=40)
    p.add_argument(
        "--attack",
        action="append",
        default=[],
        metavar="NAME",
        help="inject this attack (repeatable; 'all' for every one)",
    )
    p.add_argument(
        "--attack-every",
        type=int,
        default=None,
        metavar="N",
        help="repeat the attacks every N normal events",
    )
    p.add_argument("--list-attacks", action="store_true")
    p.add_argument("--out", type=Path, default=None, help="write JSONL here instead of Kafka")
    p.add_argument(
        "--labels",
        type=Path,
        default=None,
        help="also write the ground truth (event_id → attack) as JSON here",
    )
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("demo", help="broker + SQLite + ingest + simulator + console, locally")
    p.add_argument("--port", type=int, default=8000, help="console port")
    p.add_argument("--rate", type=float, default=50.0, help="simulated events/s")
    p.add_argument("--dir", type=Path, default=Path("var/demo"), help="demo state folder")
    p.set_defaults(func=cmd_demo)


def cmd_broker(args: argparse.Namespace) -> int:
    from tocsin.dev.broker import EmbeddedBroker

    def _terminate(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM stops Tansu as Ctrl-C does (the `finally` below)

    signal.signal(signal.SIGTERM, _terminate)
    broker = EmbeddedBroker(port=args.port, host=args.host)
    try:
        broker.start()
        print(f"tansu listening on {broker.bootstrap} (memory only; Ctrl-C to stop)", flush=True)
        assert broker.process is not None  # noqa: S101 - started above
        return broker.process.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        broker.stop()


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from tocsin.dbschema import upgrade, wait_for_database

    settings = get_settings()
    if args.wait < 0:
        raise ConfigError("--wait: must be 0 or more seconds")
    if args.wait:
        wait_for_database(settings.database_url, timeout=args.wait)
    upgrade(settings.database_url, args.revision)
    print(f"database at {args.revision}")
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from tocsin import runtime, telemetry
    from tocsin.housekeeping import Housekeeper

    settings = get_settings()
    telemetry.configure_logging(settings.log_level)
    telemetry.init_sentry(settings, component="ingest")
    if settings.smtp_url is not None:  # set: it must be usable (unset: `tocsin notify` sends)
        settings.require_smtp_url()
        runtime.check_smtp(settings)
    engine, factory = runtime.database(settings)
    runtime.require_schema(engine, settings.database_url)
    if settings.metrics_port:
        telemetry.start_metrics_server(settings.metrics_port, addr=settings.metrics_bind)
        telemetry.register_db_collector(factory)
    loop, pipeline = runtime.build_ingest(settings, session_factory=factory)
    loop.install_signal_handlers()
    runtime.tune_gc()
    keeper = Housekeeper(settings, factory)
    keeper.start()
    try:
        stats = loop.run(max_idle=args.max_idle)
    finally:
        keeper.stop()
        if pipeline.producer is not None:
            pipeline.producer.close(timeout=10)
        engine.dispose()
    rate = stats.rate([settings.topic_auth, settings.topic_access])
    pauses = sorted(pipeline.stats.checkpoint_pauses)
    summary = {
        "polled": stats.polled,
        "valid": stats.valid,
        "invalid": stats.invalid,
        "duplicates": pipeline.stats.duplicates,
        "findings_changed": pipeline.stats.findings_changed,
        "checkpoints": pipeline.stats.checkpoints,
        "failures": stats.failures,
        "isolated": stats.isolated,  # records dead-lettered because handling them failed
        # input records per second, from the first batch polled to the last one handled
        "records_per_s": None if rate is None else round(rate, 1),
        # seconds each periodic checkpoint held the worker, and the final one apart
        "checkpoint_p50_s": _quantile(pauses, 0.5),
        "checkpoint_p99_s": _quantile(pauses, 0.99),
        "checkpoint_max_s": round(pauses[-1], 4) if pauses else None,
        "flush_checkpoint_s": (
            None if pipeline.stats.flush_pause is None else round(pipeline.stats.flush_pause, 4)
        ),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    print(json.dumps(summary), file=sys.stderr)
    return 0


def _quantile(ordered: list[float], q: float) -> float | None:
    """The `q` quantile of sorted values (nearest rank), rounded to 0.1 ms."""
    if not ordered:
        return None
    return round(ordered[max(0, math.ceil(q * len(ordered)) - 1)], 4)


def _parse_start(value: str | None) -> datetime:
    if value is None:
        now = datetime.now(UTC)
        return now.replace(minute=0, second=0, microsecond=0)
    try:
        start = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ConfigError(f"--start: not an ISO 8601 time: {value!r}") from exc
    if not is_aware(start):
        raise ConfigError("--start: give an offset (e.g. 2026-11-26T08:00:00+01:00)")
    return start.astimezone(UTC)


def cmd_simulate(args: argparse.Namespace) -> int:
    from tocsin.dev import simulator

    if args.list_attacks:
        for name, scenario in simulator.ATTACKS.items():
            print(f"{name:24} {','.join(scenario.rule_ids):18} {scenario.description}")
        return 0
    attacks = list(simulator.ATTACKS) if "all" in args.attack else args.attack
    unknown = [a for a in attacks if a not in simulator.ATTACKS]
    if unknown:
        raise ConfigError(f"--attack: unknown scenario(s) {unknown}; see --list-attacks")
    sim = simulator.Simulator(seed=args.seed, start=_parse_start(args.start), tenants=args.tenants)
    events = sim.events(count=args.events, attacks=attacks, attack_every=args.attack_every)
    labels: dict[str, str] = {}
    if args.out is not None:
        with args.out.open("w", encoding="utf-8") as fp:
            for ev in events:
                fp.write(
                    json.dumps(
                        {"stream": ev.stream, "key": ev.key, "label": ev.label, "value": ev.value},
                        separators=(",", ":"),
                    )
                    + "\n"
                )
                if ev.label:
                    labels[ev.value["event_id"]] = ev.label
        n = sum(1 for _ in args.out.open(encoding="utf-8"))
    else:
        n = _produce(events, args.rate, labels)
    if args.labels is not None:
        args.labels.write_text(json.dumps(labels, indent=0, sort_keys=True), encoding="utf-8")
    print(f"{n} events ({len(labels)} attack events)", file=sys.stderr)
    return 0


def _produce(events: Any, rate: float, labels: dict[str, str]) -> int:
    from kafka import KafkaProducer

    from consumers.topics import ensure_topics
    from tocsin.runtime import bootstrap_of

    settings = get_settings()
    bootstrap = bootstrap_of(settings)
    client = settings.kafka_security.client_options()
    ensure_topics(
        bootstrap=bootstrap,
        topics=[settings.topic_auth, settings.topic_access],
        partitions=settings.topic_partitions,
        replication=settings.topic_replication,
        client_options=client,
    )
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=10, batch_size=256 * 1024, **client
    )
    topic = {"auth": settings.topic_auth, "access": settings.topic_access}
    started = time.monotonic()
    n = 0
    try:
        for ev in events:
            producer.send(
                topic[ev.stream],
                key=ev.key.encode(),
                value=json.dumps(ev.value, separators=(",", ":")).encode(),
            )
            if ev.label:
                labels[ev.value["event_id"]] = ev.label
            n += 1
            if rate > 0:
                ahead = n / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
        producer.flush()
    finally:
        producer.close(timeout=10)
    return n


def cmd_demo(args: argparse.Namespace) -> int:
    from tocsin.dev.demo import run_demo

    return run_demo(console_port=args.port, rate=args.rate, folder=args.dir)
