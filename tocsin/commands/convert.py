"""`tocsin convert`: real logs into contract events (JSONL, or produced to the auth topic)."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from consumers.errors import ConfigError, TocsinError
from consumers.events import Service
from tocsin.commands import Subcommands
from tocsin.settings import get_settings

_TENANT = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def register(sub: Subcommands) -> None:
    p = sub.add_parser("convert", help="convert real logs into contract events")
    kinds = p.add_subparsers(dest="convert_kind", required=True, metavar="FORMAT")
    s = kinds.add_parser(
        "sshd",
        help="OpenSSH / pam_unix syslog lines (auth.log, secure) into auth events",
        description="Failed password, Accepted, Invalid user and pam_unix authentication "
        "failure lines become login_failure / login_success events; the lines that cannot "
        "be used are counted in the summary printed on stderr.",
    )
    s.add_argument("file", type=Path, metavar="FILE", help="the log file ('-' for stdin)")
    s.add_argument("--tenant", required=True, help="tenant_id of the events")
    s.add_argument(
        "--year", type=int, required=True, help="year of the first line (syslog lines carry none)"
    )
    s.add_argument(
        "--service",
        default=Service.TEL4B.value,
        choices=[svc.value for svc in Service],
        help="service of the events",
    )
    dest = s.add_mutually_exclusive_group()
    dest.add_argument(
        "--out", type=Path, default=None, help="write JSONL here (default: standard output)"
    )
    dest.add_argument(
        "--produce", action="store_true", help="produce to TOCSIN_TOPIC_AUTH (key = tenant) instead"
    )
    s.set_defaults(func=cmd_convert_sshd)


def cmd_convert_sshd(args: argparse.Namespace) -> int:
    from consumers.sshd import convert_lines

    if not _TENANT.match(args.tenant):
        raise ConfigError("--tenant: 1 to 64 letters, digits, '-' or '_'")
    if not 1970 <= args.year <= 9999:
        raise ConfigError(f"--year: not a year: {args.year}")
    if str(args.file) == "-":
        text, source = sys.stdin.read(), "stdin"
    else:
        try:
            text = args.file.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise TocsinError(f"{args.file}: {exc.strerror or exc}") from None
        source = args.file.name
    result = convert_lines(
        text.splitlines(),
        tenant=args.tenant,
        year=args.year,
        source=source,
        service=Service(args.service),
    )
    lines = [ev.model_dump_json(exclude_none=True) for ev in result.events]
    if args.produce:
        _produce(lines, key=args.tenant)
    elif args.out is not None:
        with args.out.open("w", encoding="utf-8") as fp:
            fp.writelines(line + "\n" for line in lines)
    else:
        sys.stdout.writelines(line + "\n" for line in lines)
        sys.stdout.flush()
    print(json.dumps(result.summary(), ensure_ascii=False), file=sys.stderr)
    return 0


def _produce(values: list[str], *, key: str) -> None:
    from kafka import KafkaProducer

    from consumers.topics import ensure_topics
    from tocsin.runtime import bootstrap_of

    settings = get_settings()
    bootstrap = bootstrap_of(settings)
    client = settings.kafka_security.client_options()
    ensure_topics(
        bootstrap=bootstrap,
        topics=[settings.topic_auth],
        partitions=settings.topic_partitions,
        replication=settings.topic_replication,
        client_options=client,
    )
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=10, **client)
    try:
        for value in values:
            producer.send(settings.topic_auth, key=key.encode(), value=value.encode())
        producer.flush()
    finally:
        producer.close(timeout=10)
