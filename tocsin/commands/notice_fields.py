"""`tocsin incidents fields REF` (the structured facts notices are rendered from) and
`tocsin incidents qualify REF` (a pure attempt qualified as a breach). Changes are made as a
console user whose role is `rssi` (`--as EMAIL`), audited, and the drafts are refreshed."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from accounts.roles import Role
from console import notice_fields_view
from incidents import notice_fields, service
from incidents.db import make_engine, session_factory, transaction
from incidents.exceptions import InvalidIncidentInput
from notifiers import flows
from notifiers.exceptions import ApprovalDenied
from notifiers.schemas import DraftPolicy
from tocsin.commands import Subcommands
from tocsin.commands.notices import _user_role
from tocsin.settings import get_settings


def register(isub: Subcommands) -> None:
    fi = isub.add_parser(
        "fields",
        help="show or set the structured facts of the notices "
        "(cause, origin, sub-processors, ongoing, persons, measures)",
    )
    fi.add_argument("ref", metavar="REF")
    fi.add_argument(
        "--set",
        dest="values",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a field to set (repeatable); an empty VALUE clears it; lists "
        "(subject_categories) are comma-separated; measures: one per line "
        "with '\\n' or ';'. Fields: " + ", ".join(notice_fields.FIELDS),
    )
    fi.add_argument(
        "--as",
        dest="as_email",
        default=None,
        metavar="EMAIL",
        help="the RSSI making the change (required with --set)",
    )
    fi.add_argument("--lang", default="fr", choices=["fr", "en"])
    fi.set_defaults(func=cmd_fields)
    qu = isub.add_parser("qualify", help="qualify a pure attempt as a personal data breach")
    qu.add_argument("ref", metavar="REF")
    qu.add_argument(
        "--nature", action="append", required=True, choices=list(notice_fields.BREACH_NATURES)
    )
    qu.add_argument("--justification", required=True)
    qu.add_argument("--as", dest="as_email", required=True, metavar="EMAIL")
    qu.set_defaults(func=cmd_qualify)


def _parse(item: str) -> tuple[str, Any]:
    name, sep, raw = item.partition("=")
    name = name.strip()
    if not sep or name not in notice_fields.FIELDS:
        raise InvalidIncidentInput(
            f"--set {item!r}: NAME=VALUE with NAME one of " + ", ".join(notice_fields.FIELDS)
        )
    value = raw.strip()
    if not value:
        return name, None
    if name == "subject_categories":
        return name, [v.strip() for v in value.split(",") if v.strip()]
    if name in notice_fields.COUNT_FIELDS:
        try:
            return name, int(value)
        except ValueError:
            raise InvalidIncidentInput(f"{name}: a whole number") from None
    if name == "breach_ended_at":
        try:
            return name, datetime.fromisoformat(value)
        except ValueError:
            raise InvalidIncidentInput(f"{name}: an ISO 8601 date and time") from None
    if name.startswith("measures"):
        value = value.replace("\\n", "\n").replace(";", "\n")
    return name, value


def _require_rssi(session: Session, email: str | None) -> str:
    if not email:
        raise ApprovalDenied("--as EMAIL: the RSSI making the change")
    role = _user_role(session, email)
    if role is not Role.RSSI:
        raise ApprovalDenied(f"only the RSSI may change notice facts (role {role.value!r})")
    return email


def cmd_fields(args: argparse.Namespace) -> int:
    settings = get_settings()
    changes = dict(_parse(item) for item in args.values)
    with transaction(session_factory(make_engine(settings.database_url))) as session:
        incident = service.require_by_ref(session=session, ref=args.ref)
        if changes:
            actor = _require_rssi(session, args.as_email)
            notice_fields.update(
                session=session, incident=incident, actor_email=actor, changes=changes
            )
            flows.draft_notices(
                session=session,
                incident=incident,
                now=datetime.now(UTC),
                policy=DraftPolicy.from_settings(settings),
            )
        print(
            json.dumps(
                notice_fields_view.view(incident=incident, language=args.lang),
                indent=2,
                ensure_ascii=False,
            )
        )
    return 0


def cmd_qualify(args: argparse.Namespace) -> int:
    settings = get_settings()
    with transaction(session_factory(make_engine(settings.database_url))) as session:
        incident = service.require_by_ref(session=session, ref=args.ref)
        actor = _require_rssi(session, args.as_email)
        notice_fields_view.qualify(
            session=session,
            incident=incident,
            actor_email=actor,
            data=notice_fields_view.QualifyIn(nature=args.nature, justification=args.justification),
            policy=DraftPolicy.from_settings(settings),
        )
        print(
            json.dumps(
                {
                    "ref": incident.ref,
                    "nature": list(incident.nature),
                    "qualified_nature": incident.qualified_nature,
                }
            )
        )
    return 0
