"""Notice commands: `notices list/show/draft/approve/reject/cnil-export/cnil-receipt/outbox/
resolve`, `customers import/list`, `notify`.

Who approves is checked against the console's users table: `--as EMAIL` must name an active
console user whose role is `rssi` (`tocsin user add EMAIL --role rssi`).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from accounts import users
from accounts.roles import Role
from consumers.conventions import is_aware
from incidents import service as incident_service
from incidents.db import make_engine, session_factory, transaction
from incidents.models import Incident
from notifiers import cnil, customers, flows, outbox, service
from notifiers.exceptions import ApprovalDenied, NoticeError
from notifiers.models import Notice, OutboxMessage
from notifiers.schemas import DraftPolicy, NoticeEdit
from tocsin.commands import Subcommands
from tocsin.settings import Settings, get_settings
from tocsin.shutdown import StopSignal


def register(sub: Subcommands) -> None:
    p = sub.add_parser("notices", help="breach notices: list, show, approve, export")
    nsub = p.add_subparsers(dest="notices_command", required=True, metavar="ACTION")

    ls = nsub.add_parser("list", help="every notice version")
    ls.add_argument("--json", action="store_true")
    ls.add_argument("--incident", metavar="REF")
    ls.add_argument("--status", choices=["draft", "approved", "sent", "rejected"])
    ls.set_defaults(func=cmd_list)

    sh = nsub.add_parser("show", help="the rendered notice (subject and text part)")
    sh.add_argument("id", type=int)
    sh.add_argument("--html", action="store_true", help="print the HTML part instead")
    sh.set_defaults(func=cmd_show)

    dr = nsub.add_parser("draft", help="(re)draft the notices an incident calls for")
    dr.add_argument("ref")
    dr.set_defaults(func=cmd_draft)

    ap = nsub.add_parser("approve", help="approve a draft (RSSI only); queues its e-mail")
    ap.add_argument("id", type=int)
    ap.add_argument("--as", dest="as_email", required=True, metavar="EMAIL")
    ap.add_argument("--reasons-for-delay", metavar="TEXT")
    ap.add_argument("--subject", help="edited subject")
    ap.add_argument("--text-file", type=Path, help="edited plain-text body (UTF-8 file)")
    ap.add_argument("--recipients", help="data-subject notice: comma-separated addresses")
    ap.set_defaults(func=cmd_approve)

    rj = nsub.add_parser("reject", help="reject a draft (RSSI only)")
    rj.add_argument("id", type=int)
    rj.add_argument("--as", dest="as_email", required=True, metavar="EMAIL")
    rj.add_argument("--reason", required=True)
    rj.set_defaults(func=cmd_reject)

    ex = nsub.add_parser("cnil-export", help="printable HTML + JSON form fields of a CNIL notice")
    ex.add_argument("id", type=int)
    ex.add_argument("--out", type=Path, default=Path("."), help="directory (default: .)")
    ex.set_defaults(func=cmd_cnil_export)

    rc = nsub.add_parser("cnil-receipt", help="record the CNIL receipt number (filed by hand)")
    rc.add_argument("id", type=int)
    rc.add_argument("receipt")
    rc.add_argument("--as", dest="as_email", required=True, metavar="EMAIL")
    rc.add_argument("--filed-at", help="ISO 8601 with offset (default: now)")
    rc.set_defaults(func=cmd_cnil_receipt)

    ob = nsub.add_parser("outbox", help="e-mails queued, sent, failed or uncertain")
    ob.add_argument("--json", action="store_true")
    ob.set_defaults(func=cmd_outbox)

    rs = nsub.add_parser(
        "resolve",
        help="decide an uncertain delivery after checking the mail log for its Message-ID",
    )
    rs.add_argument("outbox_id", type=int)
    rs.add_argument("--as", dest="as_email", required=True, metavar="EMAIL")
    group = rs.add_mutually_exclusive_group(required=True)
    group.add_argument("--sent", action="store_true", help="the server did accept it")
    group.add_argument("--requeue", action="store_true", help="it was not sent: send again")
    rs.set_defaults(func=cmd_resolve)

    c = sub.add_parser("customers", help="customer contacts and contractual delays")
    csub = c.add_subparsers(dest="customers_command", required=True, metavar="ACTION")
    im = csub.add_parser(
        "import",
        help="upsert from CSV: tenant_id,name,contact_email[,language,notify_delay_hours,role]",
    )
    im.add_argument("file", type=Path)
    im.set_defaults(func=cmd_customers_import)
    cl = csub.add_parser("list", help="known customers")
    cl.add_argument("--json", action="store_true")
    cl.set_defaults(func=cmd_customers_list)

    nt = sub.add_parser("notify", help="deliver the outbox (loop; --once for one pass)")
    nt.add_argument("--once", action="store_true")
    nt.add_argument("--interval", type=float, default=30.0, help="seconds between passes")
    nt.set_defaults(func=cmd_notify)


def _factory(settings: Settings) -> sessionmaker[Session]:
    return session_factory(make_engine(settings.database_url))


def _dump(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def _output(
    rows: list[dict[str, Any]], *, as_json: bool, line: Callable[[dict[str, Any]], str]
) -> int:
    """The rows as JSON, or one `line` each."""
    if as_json:
        _dump(rows)
        return 0
    for r in rows:
        print(line(r))
    return 0


def _user_role(session: Session, email: str) -> Role:
    """The role of an active console user; unknown or inactive users have none."""
    user = users.active_user(session=session, email=email)
    if user is None:
        raise ApprovalDenied(f"{email!r} is not an active console user")
    return user.role


def _notice_row(notice: Notice, ref: str) -> dict[str, Any]:
    return {
        "id": notice.id,
        "incident_ref": ref,
        "kind": notice.kind,
        "phase": notice.phase,
        "version": notice.version,
        "status": notice.status,
        "tenant_id": notice.tenant_id,
        "language": notice.language,
        "subject": notice.subject,
        "edited": notice.edited,
        "approved_by": notice.approved_by,
        "approved_at": notice.approved_at.isoformat() if notice.approved_at else None,
        "dpo_approved_by": notice.dpo_approved_by,
        "dpo_approved_at": (notice.dpo_approved_at.isoformat() if notice.dpo_approved_at else None),
        "sent_at": notice.sent_at.isoformat() if notice.sent_at else None,
        "cnil_receipt": notice.cnil_receipt,
    }


def cmd_list(args: argparse.Namespace) -> int:
    settings = get_settings()
    with _factory(settings)() as session:
        incident_id = None
        if args.incident:
            found = incident_service.get_by_ref(session=session, ref=args.incident)
            if found is None:
                raise NoticeError(f"no incident {args.incident}")
            incident_id = found.id
        notices = service.list_notices(session=session, incident_id=incident_id, status=args.status)
        refs: dict[int, str] = {}
        if notices:
            ids = {n.incident_id for n in notices}
            for incident_id_, ref in session.execute(
                select(Incident.id, Incident.ref).where(Incident.id.in_(ids))
            ):
                refs[incident_id_] = ref
        rows = [_notice_row(n, refs.get(n.incident_id, "")) for n in notices]
    return _output(
        rows,
        as_json=args.json,
        line=lambda r: (
            f"{r['id']:>6}  {r['incident_ref']:<14} {r['kind']:<12} {r['phase']:<13} "
            f"v{r['version']:<3} {r['status']:<9} {r['tenant_id'] or '-':<20} {r['language']}"
        ),
    )


def cmd_show(args: argparse.Namespace) -> int:
    with _factory(get_settings())() as session:
        notice = service.get(session=session, notice_id=args.id)
        if args.html:
            sys.stdout.write(notice.html_body)
        else:
            sys.stdout.write(f"Subject: {notice.subject}\n\n{notice.text_body}")
    return 0


def cmd_draft(args: argparse.Namespace) -> int:
    settings = get_settings()
    with transaction(_factory(settings)) as session:
        found = incident_service.get_by_ref(session=session, ref=args.ref)
        if found is None:
            raise NoticeError(f"no incident {args.ref}")
        written = flows.draft_notices(
            session=session,
            incident=found,
            now=datetime.now(UTC),
            policy=DraftPolicy.from_settings(settings),
        )
        print(
            json.dumps(
                [
                    {"id": n.id, "kind": n.kind, "version": n.version, "tenant_id": n.tenant_id}
                    for n in written
                ]
            )
        )
    return 0


def cmd_approve(args: argparse.Namespace) -> int:
    settings = get_settings()
    text = args.text_file.read_text(encoding="utf-8") if args.text_file else None
    edits = NoticeEdit(subject=args.subject, text=text) if (args.subject or text) else None
    recipients = [r.strip() for r in args.recipients.split(",")] if args.recipients else None
    with transaction(_factory(settings)) as session:
        role = _user_role(session, args.as_email)
        notice = service.get(session=session, notice_id=args.id)
        service.approve(
            session=session,
            notice=notice,
            user_email=args.as_email,
            user_role=role,
            edits=edits,
            reasons_for_delay=args.reasons_for_delay,
            now=datetime.now(UTC),
            cnil_hours=settings.clocks.cnil_hours,
            recipients=recipients,
        )
        if notice.status == "approved":
            print(f"notice {notice.id} approved ({notice.kind} v{notice.version})")
        else:
            print(
                f"notice {notice.id} signed by the {role.upper()} ({notice.kind} "
                f"v{notice.version}); waiting for "
                + ", ".join(
                    r.upper() for r, sig in service.signatures(notice).items() if sig is None
                )
            )
    return 0


def cmd_reject(args: argparse.Namespace) -> int:
    with transaction(_factory(get_settings())) as session:
        role = _user_role(session, args.as_email)
        notice = service.get(session=session, notice_id=args.id)
        service.reject(
            session=session,
            notice=notice,
            user_email=args.as_email,
            user_role=role,
            reason=args.reason,
            now=datetime.now(UTC),
        )
        print(f"notice {notice.id} rejected")
    return 0


def cmd_cnil_export(args: argparse.Namespace) -> int:
    with _factory(get_settings())() as session:
        notice = service.get(session=session, notice_id=args.id)
        export = cnil.export(notice)
        ref = notice.incident.ref
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"{ref}-cnil-v{notice.version}"
    html_path, json_path = stem.with_suffix(".html"), stem.with_suffix(".json")
    html_path.write_text(export.html, encoding="utf-8")
    json_path.write_text(
        json.dumps(export.form, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    print(html_path)
    print(json_path)
    return 0


def cmd_cnil_receipt(args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    filed = now
    if args.filed_at:
        filed = datetime.fromisoformat(args.filed_at)
        if not is_aware(filed):
            raise NoticeError("--filed-at needs a UTC offset (e.g. 2026-11-26T10:00+01:00)")
        filed = filed.astimezone(UTC)
    with transaction(_factory(get_settings())) as session:
        role = _user_role(session, args.as_email)
        notice = service.get(session=session, notice_id=args.id)
        service.record_cnil_receipt(
            session=session,
            notice=notice,
            receipt=args.receipt,
            user_email=args.as_email,
            user_role=role,
            filed_at=filed,
            now=now,
        )
        print(f"notice {notice.id}: receipt {notice.cnil_receipt} recorded")
    return 0


def cmd_outbox(args: argparse.Namespace) -> int:
    with _factory(get_settings())() as session:
        rows = list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        data = [
            {
                "id": r.id,
                "kind": r.kind,
                "notice_id": r.notice_id,
                "escalation_id": r.escalation_id,
                "incident_ref": r.reference,
                "state": r.state,
                "attempts": r.attempts,
                "message_id": r.message_id,
                "next_attempt_at": r.next_attempt_at.isoformat(),
                "sent_at": r.sent_at.isoformat() if r.sent_at else None,
                "last_error": r.last_error,
            }
            for r in rows
        ]
    return _output(
        data,
        as_json=args.json,
        line=lambda r: (
            f"{r['id']:>6}  {r['incident_ref']:<14} {r['kind']:<12} {r['state']:<10} "
            f"attempts={r['attempts']} {r['message_id']}"
        ),
    )


def cmd_resolve(args: argparse.Namespace) -> int:
    with transaction(_factory(get_settings())) as session:
        role = _user_role(session, args.as_email)
        row = outbox.resolve_uncertain(
            session=session,
            outbox_id=args.outbox_id,
            sent=bool(args.sent),
            user_email=args.as_email,
            user_role=role,
            now=datetime.now(UTC),
        )
        print(f"outbox {row.id}: {row.state}")
    return 0


def cmd_customers_import(args: argparse.Namespace) -> int:
    settings = get_settings()
    with transaction(_factory(settings)) as session:
        result = customers.import_csv(
            session=session,
            path=args.file,
            default_delay_hours=settings.clocks.customer_hours_default,
        )
    print(
        json.dumps(
            {"created": result.created, "updated": result.updated, "unchanged": result.unchanged}
        )
    )
    return 0


def cmd_customers_list(args: argparse.Namespace) -> int:
    with _factory(get_settings())() as session:
        rows = [
            {
                "tenant_id": c.tenant_id,
                "name": c.name,
                "contact_email": c.contact_email,
                "language": c.language,
                "notify_delay_hours": c.notify_delay_hours,
                "role": c.role,
            }
            for c in customers.list_customers(session=session)
        ]
    return _output(
        rows,
        as_json=args.json,
        line=lambda r: (
            f"{r['tenant_id']:<24} {r['role']:<10} {r['language']}  "
            f"{r['notify_delay_hours']:>5g} h  {r['name']}"
        ),
    )


def cmd_notify(args: argparse.Namespace) -> int:
    from tocsin import telemetry

    settings = get_settings()
    telemetry.configure_logging(settings.log_level)
    telemetry.init_sentry(settings, "notify")
    settings.require_smtp_url()
    smtp = outbox.SmtpConfig.from_settings(settings)
    if smtp is None:
        raise NoticeError("TOCSIN_SMTP_URL is not set (smtp://host:587 or smtps://host:465)")
    factory = _factory(settings)
    if settings.metrics_port:
        telemetry.start_metrics_server(settings.metrics_port, addr=settings.metrics_bind)
    # SIGTERM (docker compose stop) finishes the message in hand, then returns: no row is
    # left `sending`, so a stop never makes one `uncertain`.
    stop = StopSignal() if args.once else StopSignal().install()
    while True:
        report = outbox.deliver_due(
            session_factory=factory, smtp=smtp, now=datetime.now(UTC), stop=stop.is_set
        )
        print(
            json.dumps(
                {
                    "at": datetime.now(UTC).isoformat(),
                    "sent": report.sent,
                    "retried": report.retried,
                    "failed": report.failed,
                    "uncertain": report.uncertain,
                    "escalations_queued": report.escalations_queued,
                }
            ),
            flush=True,
        )
        if args.once:
            return 0 if report.failed == 0 and report.uncertain == 0 else 1
        if stop.wait(max(1.0, args.interval)):
            print(json.dumps({"at": datetime.now(UTC).isoformat(), "stopped": True}), flush=True)
            return 0
