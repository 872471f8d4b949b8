"""Incident commands: `incidents list/show/transition`, `register export`, `audit verify`,
`purge`, `clock`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from incidents import audit, clocks, retention, schemas, service
from incidents import register as register_mod
from incidents.clocks import ClockPolicy
from incidents.db import make_engine, session_factory, transaction
from incidents.enums import IncidentStatus
from tocsin.commands import Subcommands
from tocsin.commands import breaches as breach_commands
from tocsin.commands import notice_fields as notice_fields_commands
from tocsin.settings import Settings, get_settings

DEFAULT_ACTOR = "cli"


def register(sub: Subcommands) -> None:
    p = sub.add_parser("incidents", help="list, show and move incidents")
    isub = p.add_subparsers(dest="incidents_command", required=True, metavar="ACTION")
    ls = isub.add_parser("list", help="incidents, nearest deadline first")
    ls.add_argument("--json", action="store_true", help="JSON array (ISO-8601 UTC times)")
    ls.add_argument(
        "--status",
        action="append",
        choices=[s.value for s in IncidentStatus],
        help="only these statuses (repeatable)",
    )
    ls.add_argument("--limit", type=int, default=1000)
    ls.set_defaults(func=cmd_list)
    sh = isub.add_parser("show", help="one incident with findings, tenants, clocks, audit")
    sh.add_argument("ref", metavar="REF")
    sh.add_argument("--json", action="store_true")
    sh.set_defaults(func=cmd_show)
    tr = isub.add_parser("transition", help="change an incident's status (audited)")
    tr.add_argument("ref", metavar="REF")
    tr.add_argument("status", metavar="STATUS", choices=[s.value for s in IncidentStatus])
    tr.add_argument("--reason", default=None, help="why (required to dismiss)")
    tr.add_argument(
        "--as",
        dest="actor",
        default=DEFAULT_ACTOR,
        metavar="EMAIL",
        help="who does it (recorded in the audit chain)",
    )
    tr.set_defaults(func=cmd_transition)
    notice_fields_commands.register(isub)
    breach_commands.register_actions(isub)

    p = sub.add_parser("register", help="the breach register (GDPR Art. 33(5))")
    rsub = p.add_subparsers(dest="register_command", required=True, metavar="ACTION")
    ex = rsub.add_parser("export", help="every incident, notified or not")
    ex.add_argument("--format", dest="fmt", choices=["csv", "html"], default="csv")
    ex.add_argument("--output", type=Path, required=True, metavar="FILE")
    ex.set_defaults(func=cmd_register_export)

    p = sub.add_parser("audit", help="the tamper-evident audit chain")
    asub = p.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    ve = asub.add_parser("verify", help="exit 0 if intact, 1 naming the first bad entry")
    ve.set_defaults(func=cmd_audit_verify)

    p = sub.add_parser("purge", help="delete raw evidence past the retention period")
    p.add_argument(
        "--older-than-days",
        type=int,
        default=None,
        metavar="N",
        help="default: TOCSIN_RETENTION_DAYS (180)",
    )
    p.add_argument(
        "--every",
        type=float,
        default=None,
        metavar="HOURS",
        help="keep running: purge now, then every HOURS (stops on SIGTERM)",
    )
    p.set_defaults(func=cmd_purge)

    p = sub.add_parser("clock", help="fire deadline escalations (loop; --once for one tick)")
    p.add_argument("--once", action="store_true")
    p.set_defaults(func=cmd_clock)


def policy_of(settings: Settings) -> ClockPolicy:
    return ClockPolicy.from_settings(settings.clocks)


@contextmanager
def _session(settings: Settings) -> Iterator[Session]:
    engine = make_engine(settings.database_url)
    try:
        with transaction(session_factory(engine)) as session:
            yield session
    finally:
        engine.dispose()


def _dump(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def cmd_list(args: argparse.Namespace) -> int:
    settings = get_settings()
    policy = policy_of(settings)
    now = datetime.now(UTC)
    with _session(settings) as session:
        rows = service.list_incidents(
            session=session,
            status=args.status,
            limit=args.limit,
            offset=0,
            order="deadline",
            policy=policy,
            now=now,
        )
        items = schemas.summaries(session=session, incidents=rows, policy=policy, now=now)
    if args.json:
        _dump([i.model_dump(mode="json") for i in items])
        return 0
    print(f"{'REF':<14}{'STATUS':<11}{'SEVERITY':<10}{'CLOCK':<10}{'NEXT DUE (UTC)':<22}RULES")
    for i in items:
        due = i.next_due.strftime("%Y-%m-%d %H:%M") if i.next_due else "-"
        print(
            f"{i.ref:<14}{i.status:<11}{i.severity_band or '-':<10}{i.clock_state:<10}"
            f"{due:<22}{' '.join(i.rule_ids)}"
        )
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    settings = get_settings()
    policy = policy_of(settings)
    with _session(settings) as session:
        incident = service.require_by_ref(session=session, ref=args.ref)
        detail = schemas.detail(
            session=session, incident=incident, policy=policy, now=datetime.now(UTC)
        )
    data = detail.model_dump(mode="json")
    if args.json:
        _dump(data)
        return 0
    for key in (
        "ref",
        "title",
        "status",
        "severity_band",
        "severity_score",
        "detected_at",
        "aware_at",
        "customer_due",
        "cnil_due",
        "clock_state",
    ):
        print(f"{key:<16}{data[key]}")
    for t in data["tenants"]:
        print(
            f"tenant {t['tenant_id']}: persons≈{t['persons']} records≈{t['records']} "
            f"events={t['events']} due {t['customer_due']} ({t['customer_clock_state']})"
        )
    for f in data["findings"]:
        print(f"finding {f['rule_id']} ×{f['count']} {f['first_seen']} → {f['last_seen']}")
    return 0


def cmd_transition(args: argparse.Namespace) -> int:
    settings = get_settings()
    with _session(settings) as session:
        incident = service.require_by_ref(session=session, ref=args.ref)
        before = incident.status
        service.transition(
            session=session,
            incident=incident,
            to=args.status,
            actor_email=args.actor,
            reason=args.reason,
            now=datetime.now(UTC),
        )
        ref, after = incident.ref, incident.status
    print(f"{ref}: {before} → {after}")
    return 0


def cmd_register_export(args: argparse.Namespace) -> int:
    settings = get_settings()
    with _session(settings) as session:
        text = register_mod.export(
            session=session, fmt=args.fmt, policy=policy_of(settings), now=datetime.now(UTC)
        )
    args.output.write_text(text, encoding="utf-8", newline="")
    print(f"register written to {args.output}", file=sys.stderr)
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    settings = get_settings()
    with _session(settings) as session:
        result = audit.verify(session=session)
    if result.ok:
        print(result.describe())
        return 0
    print(f"tocsin: {result.describe()}", file=sys.stderr)
    return 1


def cmd_purge(args: argparse.Namespace) -> int:
    settings = get_settings()
    days = args.older_than_days if args.older_than_days is not None else settings.retention_days
    if days < 1:
        print("tocsin: --older-than-days must be at least 1", file=sys.stderr)
        return 2
    if args.every is None:
        _purge_once(settings, days)
        return 0
    if args.every <= 0:
        print("tocsin: --every must be a positive number of hours", file=sys.stderr)
        return 2
    from tocsin import telemetry
    from tocsin.shutdown import StopSignal

    telemetry.configure_logging(settings.log_level)
    telemetry.init_sentry(settings, "purge")
    stop = StopSignal().install()
    if settings.metrics_port:  # liveness for the container's healthcheck
        telemetry.start_metrics_server(settings.metrics_port, addr=settings.metrics_bind)
    while not stop.is_set():
        _purge_once(settings, days)
        stop.wait(args.every * 3600)
    return 0


def _purge_once(settings: Settings, days: int) -> None:
    cutoff = datetime.now(UTC) - timedelta(days=days)
    with _session(settings) as session:
        deleted = retention.purge(session=session, older_than=cutoff, actor=DEFAULT_ACTOR)
    print(
        json.dumps({"deleted_evidence_events": deleted, "older_than": cutoff.isoformat()}),
        flush=True,
    )


def _tick(settings: Settings, policy: ClockPolicy) -> list[dict[str, Any]]:
    with _session(settings) as session:
        fired = clocks.tick(session=session, now=datetime.now(UTC), policy=policy)
        return [
            {
                "ref": e.incident.ref,
                "clock": e.clock,
                "tenant_id": e.tenant_id or None,
                "threshold_hours": e.threshold_hours,
                "due_at": e.due_at.isoformat(),
            }
            for e in fired
        ]


def cmd_clock(args: argparse.Namespace) -> int:
    from tocsin.shutdown import StopSignal

    settings = get_settings()
    policy = policy_of(settings)
    stop = StopSignal() if args.once else StopSignal().install()
    while True:
        fired = _tick(settings, policy)
        print(json.dumps({"at": datetime.now(UTC).isoformat(), "escalations": fired}), flush=True)
        if args.once or stop.wait(settings.clocks.tick_seconds):
            return 0
