"""Builders for notifier tests: an incident across several customers, written with the ORM.

Numbers are distinct per tenant so that a leak is visible by searching the rendered text.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from incidents.findings_store import EvidenceEvent, FindingRow
from incidents.models import (
    Customer,
    Incident,
    IncidentFinding,
    IncidentTenant,
    SeverityAssessment,
)
from notifiers import service
from notifiers.flows import draft_notices
from notifiers.models import Notice
from notifiers.schemas import DraftPolicy, NoticeEdit, Organisation

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=3)
RSSI = "rssi@avmup.com"
DPO = "dpo@avmup.com"
SIGNERS = {"rssi": RSSI, "dpo": DPO}

# AVM Up's identity as configured in production (TOCSIN_ORG__*).
ORG = Organisation(
    name="AVM Up (AVM Informatique)",
    siren="123 456 789",
    address="1 rue de l'Exemple, 69000 Lyon",
    representative="Jeanne Martin",
    dpo_name="Paul Durand",
    dpo_phone="+33 4 00 00 00 00",
    dpo_email="dpo@avmup.com",
    rssi_email="rssi@avmup.com",
    privacy_email="privacy@avmup.com",
)
POLICY = DraftPolicy(org=ORG)

# Every structured field a notice prints, as the RSSI would enter them.
FIELDS: dict[str, Any] = {
    "cause": "external_malicious",
    "origin": "hacking",
    "subprocessors_involved": "no",
    "breach_ongoing": "no",
    "breach_ended_at": T0 + timedelta(hours=3),
    "subject_categories": ["customers"],
    "measures": "sessions du compte révoquées\nmot de passe réinitialisé",
    "measures_proposed": "vérifier les exports récents",
    "measures_planned": "revue des droits d'export",
    "measures_long_term": "authentification multifacteur pour tous les comptes",
}


def complete(incident: Incident) -> Incident:
    """Enter every structured notice field on `incident` (not flushed)."""
    for name, value in FIELDS.items():
        setattr(incident, name, value)
    return incident


@dataclass(frozen=True)
class TenantSpec:
    tenant_id: str
    name: str
    email: str
    persons: int
    records: int
    actor: str
    ip: str
    user_agent: str = "Mozilla/5.0"
    role: str = "processor"
    language: str = "fr"
    service: str = "faxbis"


@dataclass
class Built:
    incident: Incident
    tenants: list[TenantSpec]
    findings: list[FindingRow] = field(default_factory=list)


THREE = [
    TenantSpec(
        "acme-corp",
        "Acme Industries",
        "dpo@acme.example",
        1234,
        5678,
        "u-acme-17",
        "198.51.100.17",
        service="faxbis",
    ),
    TenantSpec(
        "globex_42",
        "Globex Logistique",
        "rgpd@globex.example",
        2345,
        6789,
        "u-globex-99",
        "203.0.113.99",
        service="smsbis",
    ),
    TenantSpec(
        "initech",
        "Initech Santé",
        "privacy@initech.example",
        3456,
        7890,
        "u-initech-5",
        "192.0.2.55",
        service="tel4b",
    ),
]

# AVM Up's own processing: the tenant whose notices go to the CNIL and the persons.
CONTROLLER = TenantSpec(
    "avm-own",
    "AVM Informatique",
    "it@avmup.com",
    321,
    654,
    "u-avm-1",
    "192.0.2.10",
    role="controller",
)


def _event(spec: TenantSpec, at: datetime, *, access: bool) -> dict[str, Any]:
    base: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "occurred_at": at.isoformat(),
        "service": spec.service,
        "tenant_id": spec.tenant_id,
        "actor": {"id": spec.actor, "kind": "customer_user"},
        "source_ip": spec.ip,
        "user_agent": spec.user_agent,
        "interface": "web",
        "tls": True,
    }
    if access:
        base.update(
            {
                "operation": "export",
                "records": spec.records,
                "resource": {"type": "contact", "tenant_id": spec.tenant_id},
                "data_categories": ["identification"],
                "outcome": "allowed",
            }
        )
    else:
        base.update({"action": "login_success"})
    return base


def build_incident(
    session: Session,
    *,
    tenants: list[TenantSpec] | None = None,
    status: str = "confirmed",
    severity: str = "high",
    ref: str | None = None,
    aware_at: datetime = T0,
    assessment: dict[str, Any] | None = None,
    customers: bool = True,
    fields: bool = True,
) -> Built:
    specs = tenants if tenants is not None else THREE
    seq = int(uuid.uuid4().int % 9000) + 1
    incident = Incident(
        ref=ref or f"INC-2026-{seq:04d}",
        year=2026,
        seq=seq,
        status=status,
        title="test",
        first_seen=T0,
        last_seen=T0 + timedelta(hours=2),
        detected_at=T0 + timedelta(minutes=5),
        aware_at=aware_at,
        rule_ids=["AUTH-003", "ACC-002"],
        nature=["confidentiality"],
        data_categories=["identification", "security"],
        finding_severity=severity,
        severity_band="high",
        created_at=T0,
        updated_at=T0,
    )
    if fields:
        complete(incident)
    session.add(incident)
    session.flush()
    built = Built(incident=incident, tenants=specs)
    for i, spec in enumerate(specs):
        if customers:
            session.merge(
                Customer(
                    tenant_id=spec.tenant_id,
                    name=spec.name,
                    contact_email=spec.email,
                    language=spec.language,
                    notify_delay_hours=24.0,
                    role=spec.role,
                )
            )
        start = T0 + timedelta(minutes=10 * i)
        events = [
            _event(spec, start, access=False),
            _event(spec, start + timedelta(minutes=1), access=True),
        ]
        for ev in events:
            session.add(
                EvidenceEvent(
                    event_id=ev["event_id"],
                    stream="test",
                    tenant_id=spec.tenant_id,
                    occurred_at=datetime.fromisoformat(ev["occurred_at"]),
                    payload=ev,
                )
            )
        finding = FindingRow(
            finding_id=uuid.uuid4().hex,
            rule_id="ACC-002",
            severity=severity,
            nature=["confidentiality"],
            tenant_ids=[spec.tenant_id],
            tenants={
                spec.tenant_id: {"events": 2, "records": spec.records, "subjects": spec.persons}
            },
            group_key=f"{spec.tenant_id}|{spec.actor}",
            actor_ids=[spec.actor],
            source_ips=[spec.ip],
            data_categories=["identification", "security"],
            records=spec.records,
            subjects=spec.persons,
            count=2,
            first_seen=start,
            last_seen=start + timedelta(minutes=1),
            evidence=[e["event_id"] for e in events],
            summary=f"exfiltration by {spec.actor} on {spec.tenant_id}",
        )
        session.add(finding)
        session.flush()
        session.add(IncidentFinding(incident_id=incident.id, finding_id=finding.finding_id))
        session.add(
            IncidentTenant(
                incident_id=incident.id,
                tenant_id=spec.tenant_id,
                events=2,
                records=spec.records,
                persons=spec.persons,
                first_seen=start,
                last_seen=start + timedelta(minutes=1),
            )
        )
        built.findings.append(finding)
    if assessment is not None:
        values: dict[str, Any] = {
            "dpc": 2.0,
            "ei": 1.0,
            "score": 3.5,
            "band": "high",
            "persons": 0,
            "notify_customer": True,
            "notify_cnil": True,
            "notify_subjects": True,
            "source": "auto",
            "assessed_by": "tocsin",
            "assessed_at": T0,
        }
        values.update(assessment)
        session.add(SeverityAssessment(incident_id=incident.id, **values))
    session.flush()
    session.refresh(incident)
    return built


def drafts(
    session: Session, incident: Incident, *, now: datetime = NOW, policy: DraftPolicy = POLICY
) -> list[Notice]:
    """Draft (or refresh) the notices of `incident`; those written or changed."""
    return draft_notices(session=session, incident=incident, now=now, policy=policy)


def draft_one(session: Session, *, now: datetime = NOW, **build: Any) -> Notice:
    """Build an incident (`build_incident`'s arguments) and draft its one notice."""
    [notice] = drafts(session, build_incident(session, **build).incident, now=now)
    return notice


def add_evidence(session: Session, built: Built, event: dict[str, Any], *findings: int) -> None:
    """Store `event` as evidence at NOW and list it in the findings of those indexes."""
    session.add(
        EvidenceEvent(
            event_id=event["event_id"],
            stream="t",
            tenant_id=event["tenant_id"],
            occurred_at=NOW,
            payload=event,
        )
    )
    for i in findings:
        built.findings[i].evidence = [*built.findings[i].evidence, event["event_id"]]


def acting(
    session: Session, notice: Notice, role: str = "rssi", by: str | None = None
) -> dict[str, Any]:
    """Who acts on `notice`, at NOW: `role`, by the RSSI's or the DPO's address unless `by`
    names another (keyword arguments of the notice service)."""
    return {
        "session": session,
        "notice": notice,
        "user_email": by or SIGNERS[role],
        "user_role": role,
        "now": NOW,
    }


def approve(
    session: Session,
    notice: Notice,
    role: str = "rssi",
    *,
    by: str | None = None,
    edits: NoticeEdit | None = None,
    reasons_for_delay: str | None = None,
    **extra: Any,
) -> Notice:
    """Sign `notice` as `role` (see `acting`); `extra` as `service.approve` takes it."""
    return service.approve(
        **acting(session, notice, role, by),
        edits=edits,
        reasons_for_delay=reasons_for_delay,
        **extra,
    )


def reject(
    session: Session, notice: Notice, reason: str, role: str = "rssi", by: str | None = None
) -> Notice:
    """Reject `notice` with `reason` as `role` (see `acting`)."""
    return service.reject(**acting(session, notice, role, by), reason=reason)
