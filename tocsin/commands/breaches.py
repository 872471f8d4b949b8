"""`tocsin incidents declare` (a breach nobody's rule saw) and `tocsin incidents assess REF`
(every ENISA input, the Art. 34(3) exemptions and the RSSI's decision on who is told).

`--as EMAIL` names an active console user: an analyst or the RSSI may declare and assess;
only the RSSI decides against the advice (`--notify-cnil`, `--notify-subjects`)."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.models import User
from accounts.roles import Role
from console import actions, notices_view, views
from consumers.conventions import is_aware
from incidents import declared, severity
from incidents import service as incident_service
from incidents.clocks import ClockPolicy
from incidents.db import make_engine, session_factory, transaction
from incidents.enums import Art34Exemption
from incidents.exceptions import InvalidDeclaration
from incidents.models import Incident
from notifiers import flows as notice_flows
from notifiers.exceptions import ApprovalDenied
from notifiers.schemas import DraftPolicy
from tocsin.commands import Subcommands
from tocsin.settings import get_settings

YES_NO = {"yes": True, "no": False}


def _when(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidDeclaration(name, f"not an ISO-8601 date and time: {value!r}") from None
    if not is_aware(parsed):
        raise InvalidDeclaration(name, "a time zone offset is required (e.g. +01:00 or Z)")
    return parsed


def register_actions(isub: Subcommands) -> None:
    """Adds `declare` and `assess` to `tocsin incidents`."""
    de = isub.add_parser("declare", help="declare a breach no rule saw (audited)")
    de.add_argument(
        "--tenant",
        action="append",
        default=[],
        metavar="T",
        help="affected tenant (repeatable; none = AVM Up's own processing)",
    )
    de.add_argument(
        "--source", required=True, choices=[s.value for s in declared.DECLARABLE_SOURCES]
    )
    de.add_argument(
        "--nature",
        action="append",
        default=[],
        required=True,
        choices=list(declared.NATURES),
        help="repeatable",
    )
    de.add_argument(
        "--category",
        action="append",
        default=[],
        choices=list(declared.DATA_CATEGORIES),
        help="data category (repeatable)",
    )
    de.add_argument(
        "--service", action="append", default=[], choices=list(declared.SERVICES), help="repeatable"
    )
    de.add_argument("--persons", type=int, default=None, help="approximate number")
    de.add_argument("--records", type=int, default=None, help="approximate number")
    de.add_argument("--occurred-from", default=None, metavar="ISO")
    de.add_argument("--occurred-to", default=None, metavar="ISO")
    de.add_argument("--discovered-at", default=None, metavar="ISO")
    de.add_argument(
        "--aware-at",
        default=None,
        metavar="ISO",
        help="moment of awareness (default now; needs --aware-justification)",
    )
    de.add_argument("--aware-justification", default=None)
    de.add_argument("--title", default="")
    de.add_argument("--summary", default="")
    de.add_argument("--confirmed", action="store_true", help="the breach is established")
    de.add_argument(
        "--as",
        dest="as_email",
        required=True,
        metavar="EMAIL",
        help="an analyst or the RSSI (console user)",
    )
    de.add_argument("--json", action="store_true", help="the incident as the API returns it")
    de.set_defaults(func=cmd_declare)

    asx = isub.add_parser("assess", help="ENISA inputs and the decision on who is told")
    asx.add_argument("ref", metavar="REF")
    asx.add_argument("--dpc", type=float, default=None, help="1..4 (default: current)")
    asx.add_argument("--ei", type=float, default=None, choices=severity.EI_VALUES)
    for name in ("confidentiality", "integrity", "availability"):
        asx.add_argument(f"--cb-{name}", type=float, default=None, choices=severity.CB_VALUES)
    asx.add_argument("--malicious", choices=["yes", "no"], default=None)
    asx.add_argument("--persons", type=int, default=None)
    asx.add_argument("--unintelligible", choices=["yes", "no"], default=None)
    asx.add_argument("--art34-exemption", choices=[e.value for e in Art34Exemption], default=None)
    asx.add_argument("--art34-justification", default=None)
    asx.add_argument(
        "--notify-cnil",
        choices=["yes", "no"],
        default=None,
        help="the RSSI's decision (default: follow the advice)",
    )
    asx.add_argument(
        "--notify-subjects",
        choices=["yes", "no"],
        default=None,
        help="the RSSI's decision (default: follow the advice)",
    )
    asx.add_argument("--justification", required=True)
    asx.add_argument("--as", dest="as_email", required=True, metavar="EMAIL")
    asx.add_argument("--json", action="store_true")
    asx.set_defaults(func=cmd_assess)


def _user(session: Session, email: str, *roles: Role) -> User:
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None or not user.active:
        raise ApprovalDenied(f"{email!r} is not an active console user")
    if user.role not in roles:
        raise ApprovalDenied(
            f"{email!r} is {user.role}: this needs " + " or ".join(r.value for r in roles)
        )
    return user


def _incident_json(session: Session, incident: Incident, policy: ClockPolicy) -> dict[str, Any]:
    return notices_view.incident_json(session=session, incident=incident, policy=policy)


def cmd_declare(args: argparse.Namespace) -> int:
    settings = get_settings()
    policy = ClockPolicy.from_settings(settings.clocks)
    drafts = DraftPolicy.from_settings(settings)
    engine = make_engine(settings.database_url)
    try:
        with transaction(session_factory(engine)) as session:
            user = _user(session, args.as_email, Role.ANALYST, Role.RSSI)
            declaration = declared.Declaration(
                source=args.source,
                nature=args.nature,
                tenant_ids=args.tenant,
                data_categories=args.category,
                services=args.service,
                persons=args.persons,
                records=args.records,
                occurred_from=_when(args.occurred_from, "occurred_from"),
                occurred_to=_when(args.occurred_to, "occurred_to"),
                discovered_at=_when(args.discovered_at, "discovered_at"),
                aware_at=_when(args.aware_at, "aware_at"),
                aware_justification=args.aware_justification,
                title=args.title,
                summary=args.summary,
                confirmed=args.confirmed,
            )
            incident = declared.declare(
                session=session,
                declaration=declaration,
                actor_email=user.email,
                now=datetime.now(UTC),
            )
            notice_flows.draft_notices(
                session=session, incident=incident, now=datetime.now(UTC), policy=drafts
            )
            data = _incident_json(session, incident, policy)
    finally:
        engine.dispose()
    if args.json:
        print(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        print(f"{data['ref']}: declared ({data['source']}, {data['status']})")
    return 0


def cmd_assess(args: argparse.Namespace) -> int:
    settings = get_settings()
    drafts = DraftPolicy.from_settings(settings)
    deciding = args.notify_cnil is not None or args.notify_subjects is not None
    engine = make_engine(settings.database_url)
    try:
        with transaction(session_factory(engine)) as session:
            roles = (Role.RSSI,) if deciding else (Role.ANALYST, Role.RSSI)
            user = _user(session, args.as_email, *roles)
            incident = incident_service.require_by_ref(session=session, ref=args.ref)
            current = incident.current_assessment
            base = (
                actions.severity_inputs(current)
                if current is not None
                else severity.SeverityInputs(dpc=1.0, ei=0.25)
            )
            changes: dict[str, Any] = {"rationale": {"edited_in": "cli"}}
            for name in (
                "dpc",
                "ei",
                "cb_confidentiality",
                "cb_integrity",
                "cb_availability",
                "persons",
            ):
                value = getattr(args, name)
                if value is not None:
                    changes[name] = value
            for name in ("malicious", "unintelligible"):
                if getattr(args, name) is not None:
                    changes[name] = YES_NO[getattr(args, name)]
            inputs = severity.with_overrides(base, **changes)
            row = incident_service.assess_severity(
                session=session,
                incident=incident,
                inputs=inputs,
                justification=args.justification,
                actor_email=user.email,
                art34_exemption=args.art34_exemption,
                art34_justification=args.art34_justification,
                notify_cnil=YES_NO.get(args.notify_cnil or ""),
                notify_subjects=YES_NO.get(args.notify_subjects or ""),
            )
            notice_flows.draft_notices(
                session=session, incident=incident, now=datetime.now(UTC), policy=drafts
            )
            out = views.assessment_json(incident.ref, row)
    finally:
        engine.dispose()
    if args.json:
        print(json.dumps(out, indent=2, ensure_ascii=False))
    else:
        print(
            f"{out['ref']}: {out['band']} ({out['score']}); customer "
            f"{'yes' if out['notify_customer'] else 'no'}, CNIL "
            f"{'yes' if out['notify_cnil'] else 'no'}, data subjects "
            f"{'yes' if out['notify_subjects'] else 'no'}"
            + (" (against the advice)" if out["recommendation_overridden"] else "")
        )
        for reason in out["reasons"] or []:
            print(f"  - {reason}")
    return 0
