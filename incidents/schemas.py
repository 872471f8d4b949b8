"""Read shapes of incidents (CLI `--json`, console API). Times are ISO-8601 UTC."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from incidents import audit, clocks
from incidents.clocks import ClockPolicy, IncidentClocks
from incidents.findings_store import FindingRow
from incidents.models import Customer, Incident, IncidentFinding, SeverityAssessment


class ClockRead(BaseModel):
    model_config = ConfigDict(frozen=True)

    clock: str
    tenant_id: str | None
    due_at: datetime
    state: str
    remaining_seconds: float
    met_at: datetime | None
    late: bool
    stop_justification: str | None
    informative: bool = False  # the customer's CNIL deadline (processor-only), not AVM Up's


class TenantRead(BaseModel):
    model_config = ConfigDict(frozen=True)

    tenant_id: str
    name: str | None
    role: str
    events: int
    records: int
    persons: int
    first_seen: datetime
    last_seen: datetime
    customer_due: datetime
    customer_clock_state: str


class SeverityRead(BaseModel):
    model_config = ConfigDict(frozen=True)

    dpc: float
    ei: float
    cb_confidentiality: float
    cb_integrity: float
    cb_availability: float
    malicious: bool
    score: float
    band: str
    persons: int
    unintelligible: bool
    notify_customer: bool
    notify_cnil: bool
    notify_subjects: bool
    notify_public: bool
    recommendation_overridden: bool
    art34_exemption: str | None
    art34_justification: str | None
    source: str
    justification: str
    rationale: dict[str, Any]
    assessed_by: str
    assessed_at: datetime


class FindingRead(BaseModel):
    model_config = ConfigDict(frozen=True)

    finding_id: str
    rule_id: str
    severity: str
    tenant_ids: list[str]
    count: int
    records: int
    subjects: int
    first_seen: datetime
    last_seen: datetime
    summary: str


class AuditRead(BaseModel):
    model_config = ConfigDict(frozen=True)

    seq: int
    at: datetime
    actor: str
    action: str
    data: dict[str, Any]


class IncidentSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    ref: str
    title: str
    status: str
    severity_band: str | None
    severity_score: float | None
    finding_severity: str
    nature: list[str]  # confidentiality / integrity / availability, or ["attempt"]
    tenant_ids: list[str]
    rule_ids: list[str]
    first_seen: datetime
    last_seen: datetime
    detected_at: datetime
    aware_at: datetime
    customer_due: datetime | None
    cnil_due: datetime
    clock_state: str
    customer_clock_state: str | None
    cnil_clock_state: str
    next_due: datetime | None
    source: str = "detected"
    declared: bool = False
    cnil_own: bool = True  # False: processor only, the 72 h are the customer's


class IncidentDetail(IncidentSummary):
    aware_justification: str | None
    summary: str
    services: list[str]
    persons_estimate: int | None
    records_estimate: int | None
    occurred_from: datetime | None
    occurred_to: datetime | None
    discovered_at: datetime | None
    data_categories: list[str]
    consequences: str
    measures: str
    resolution_reason: str | None
    closed_at: datetime | None
    clocks: list[ClockRead]
    tenants: list[TenantRead]
    findings: list[FindingRead]
    severity: SeverityRead | None
    severity_history: list[SeverityRead]
    audit: list[AuditRead]


def summary(*, incident: Incident, clocks_: IncidentClocks) -> IncidentSummary:
    return IncidentSummary(
        ref=incident.ref,
        title=incident.title,
        status=incident.status,
        severity_band=incident.severity_band,
        severity_score=incident.severity_score,
        finding_severity=incident.finding_severity,
        nature=list(incident.nature),
        tenant_ids=incident.tenant_ids,
        rule_ids=list(incident.rule_ids),
        first_seen=incident.first_seen,
        last_seen=incident.last_seen,
        detected_at=incident.detected_at,
        aware_at=incident.aware_at,
        customer_due=clocks_.customer_due,
        cnil_due=clocks_.cnil.due_at,
        clock_state=clocks_.state.value,
        customer_clock_state=clocks_.customer_state.value if clocks_.customer_state else None,
        cnil_clock_state=clocks_.cnil.state.value,
        next_due=clocks_.next_due,
        source=incident.source,
        declared=incident.declared,
        cnil_own=clocks_.cnil_own,
    )


def summaries(
    *, session: Session, incidents: list[Incident], policy: ClockPolicy, now: datetime
) -> list[IncidentSummary]:
    customers = clocks.load_customers(
        session=session, tenant_ids=(t for i in incidents for t in i.tenant_ids)
    )
    return [
        summary(
            incident=i,
            clocks_=clocks.incident_clocks(incident=i, customers=customers, policy=policy, now=now),
        )
        for i in incidents
    ]


def _severity(row: SeverityAssessment) -> SeverityRead:
    return SeverityRead.model_validate(row, from_attributes=True)


def detail(
    *, session: Session, incident: Incident, policy: ClockPolicy, now: datetime
) -> IncidentDetail:
    customers: Mapping[str, Customer] = clocks.load_customers(
        session=session, tenant_ids=incident.tenant_ids
    )
    cl = clocks.incident_clocks(incident=incident, customers=customers, policy=policy, now=now)
    per_tenant = {c.tenant_id: c for c in cl.customers}
    findings = session.scalars(
        select(FindingRow)
        .join(IncidentFinding, IncidentFinding.finding_id == FindingRow.finding_id)
        .where(IncidentFinding.incident_id == incident.id)
        .order_by(FindingRow.first_seen)
    )
    base = summary(incident=incident, clocks_=cl).model_dump()
    return IncidentDetail(
        **base,
        aware_justification=incident.aware_justification,
        summary=incident.summary,
        services=list(incident.services or []),
        persons_estimate=incident.persons_estimate,
        records_estimate=incident.records_estimate,
        occurred_from=incident.occurred_from,
        occurred_to=incident.occurred_to,
        discovered_at=incident.discovered_at,
        data_categories=list(incident.data_categories),
        consequences=incident.consequences,
        measures=incident.measures,
        resolution_reason=incident.resolution_reason,
        closed_at=incident.closed_at,
        clocks=[
            ClockRead(**{**c.as_dict(), "due_at": c.due_at, "met_at": c.met_at}) for c in cl.all
        ],
        tenants=[
            TenantRead(
                tenant_id=t.tenant_id,
                name=customers[t.tenant_id].name if t.tenant_id in customers else None,
                role=customers[t.tenant_id].role if t.tenant_id in customers else "processor",
                events=t.events,
                records=t.records,
                persons=t.persons,
                first_seen=t.first_seen,
                last_seen=t.last_seen,
                customer_due=per_tenant[t.tenant_id].due_at,
                customer_clock_state=per_tenant[t.tenant_id].state.value,
            )
            for t in incident.tenants
        ],
        findings=[FindingRead.model_validate(f, from_attributes=True) for f in findings],
        severity=_severity(incident.current_assessment) if incident.current_assessment else None,
        severity_history=[_severity(a) for a in incident.assessments],
        audit=[
            AuditRead.model_validate(e, from_attributes=True)
            for e in audit.entries_for(session=session, subject=incident.ref)
        ],
    )
