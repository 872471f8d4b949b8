"""Findings for the benchmarks that seed a database: one shape, numbered."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from incidents.findings_store import FindingRow


def bench_finding(
    i: int,
    *,
    at: datetime,
    actor_id: str,
    source_ip: str,
    data_categories: list[str],
    summary: str,
    **extra: Any,
) -> FindingRow:
    """Finding number `i`: a high AUTH-001 finding on tenant `t{i % 50}`, ten events, no
    record read, seen once at `at`; `extra` sets more columns."""
    return FindingRow(
        finding_id=f"bench-{i}",
        rule_id="AUTH-001",
        severity="high",
        nature=["confidentiality"],
        tenant_ids=[f"t{i % 50}"],
        tenants={f"t{i % 50}": {"events": 10, "records": 0, "subjects": 0}},
        group_key=f"g{i}",
        actor_ids=[actor_id],
        source_ips=[source_ip],
        data_categories=data_categories,
        records=0,
        subjects=0,
        count=10,
        first_seen=at,
        last_seen=at,
        evidence=[],
        summary=summary,
        **extra,
    )
