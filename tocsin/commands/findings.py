"""`tocsin findings list [--json]`."""

from __future__ import annotations

import argparse
import json
from typing import Any

from sqlalchemy import select

from incidents.findings_store import FindingRow
from tocsin.commands import Subcommands
from tocsin.runtime import database
from tocsin.settings import get_settings


def register(sub: Subcommands) -> None:
    p = sub.add_parser("findings", help="what the detectors found")
    fsub = p.add_subparsers(dest="findings_command", required=True, metavar="ACTION")
    ls = fsub.add_parser("list", help="list findings, newest first")
    ls.add_argument("--json", action="store_true", help="a JSON array")
    ls.add_argument("--rule", default=None, help="only this rule id")
    ls.add_argument("--limit", type=int, default=0, help="at most this many (0 = all)")
    ls.set_defaults(func=cmd_list)


def row_json(row: FindingRow) -> dict[str, Any]:
    return {
        "finding_id": row.finding_id,
        "rule_id": row.rule_id,
        "severity": row.severity,
        "nature": row.nature,
        "tenant_ids": row.tenant_ids,
        "tenants": row.tenants,
        "group_key": row.group_key,
        "actor_ids": row.actor_ids,
        "source_ips": row.source_ips,
        "data_categories": row.data_categories,
        "records": row.records,
        "subjects": row.subjects,
        "count": row.count,
        "first_seen": row.first_seen.isoformat(),
        "last_seen": row.last_seen.isoformat(),
        "evidence": row.evidence,
        "summary": row.summary,
    }


def cmd_list(args: argparse.Namespace) -> int:
    engine, factory = database(get_settings())
    query = select(FindingRow).order_by(FindingRow.first_seen.desc(), FindingRow.finding_id)
    if args.rule:
        query = query.where(FindingRow.rule_id == args.rule)
    if args.limit:
        query = query.limit(args.limit)
    with factory() as session:
        rows = [row_json(r) for r in session.scalars(query)]
    engine.dispose()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        print(
            f"{r['first_seen']}  {r['rule_id']:9} {r['severity']:8} x{r['count']:<5} "
            f"{','.join(r['tenant_ids'])}  {r['summary']}"
        )
    return 0
