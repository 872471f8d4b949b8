"""Builders for the incidents tests (plain functions, no fixtures)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from detectors.finding import Finding, Nature, Severity, TenantImpact
from incidents.findings_store import FindingRow

T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 3, 10, 9, 5, tzinfo=UTC)


def make_finding(
    fid: str,
    *,
    rule_id: str = "AUTH-001",
    tenants: dict[str, tuple[int, int, int]] | None = None,
    actor_ids: tuple[str, ...] = (),
    source_ips: tuple[str, ...] = (),
    first_seen: datetime = T0,
    last_seen: datetime | None = None,
    categories: frozenset[str] = frozenset(),
    nature: frozenset[Nature] = frozenset({Nature.CONFIDENTIALITY}),
    count: int = 1,
    severity: Severity = Severity.HIGH,
) -> Finding:
    """`tenants` maps tenant id to (events, records, subjects)."""
    tenants = tenants or {"acme": (10, 0, 0)}
    impacts = {t: TenantImpact(events=e, records=r, subjects=s) for t, (e, r, s) in tenants.items()}
    return Finding(
        finding_id=fid,
        rule_id=rule_id,
        severity=severity,
        nature=nature,
        tenant_ids=tuple(sorted(tenants)),
        tenants=impacts,
        group_key=f"k-{fid}",
        actor_ids=actor_ids,
        source_ips=source_ips,
        data_categories=categories,
        records=sum(r for _, r, _ in tenants.values()),
        subjects=sum(s for _, _, s in tenants.values()),
        count=count,
        first_seen=first_seen,
        last_seen=last_seen or first_seen + timedelta(minutes=5),
        evidence=(),
        summary=f"test finding {fid}",
    )


def row_values(finding: Finding) -> dict[str, Any]:
    data = finding.model_dump()
    for name in ("tenant_ids", "actor_ids", "source_ips", "evidence"):
        data[name] = list(data[name])
    data["nature"] = sorted(str(n) for n in finding.nature)
    data["data_categories"] = sorted(finding.data_categories)
    return data


def store_findings(session: Session, findings: Sequence[Finding]) -> list[FindingRow]:
    """Insert or overwrite finding rows (last emission wins), as the pipeline stores them."""
    rows = []
    for finding in findings:
        values = row_values(finding)
        row = session.get(FindingRow, finding.finding_id)
        if row is None:
            row = FindingRow(**values)
            session.add(row)
        else:
            for key, value in values.items():
                setattr(row, key, value)
        rows.append(row)
    session.flush()
    return rows
