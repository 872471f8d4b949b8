"""Read models shared by the pages and the API: plain dicts built from the services' objects.

Every read goes through the incidents services (filters, deadline order, findings and
evidence): no SQL here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session

from consumers.conventions import SYSTEM_ACTOR
from incidents import audit as audit_chain
from incidents import clocks as clock_service
from incidents import service as incident_service
from incidents import severity
from incidents.clocks import ClockPolicy, IncidentClocks
from incidents.enums import CustomerRole, IncidentStatus, SeverityBand
from incidents.findings_store import EvidenceEvent, FindingRow
from incidents.models import AuditEntry, Incident, SeverityAssessment
from notifiers import attention

PER_PAGE = 50
MAX_EVIDENCE_SHOWN = 200
BANDS = tuple(b.value for b in SeverityBand)
STATUSES = tuple(s.value for s in IncidentStatus)


@dataclass(frozen=True)
class QueueFilters:
    status: str | None = None
    band: str | None = None
    tenant: str | None = None
    q: str | None = None
    open_only: bool = True
    due: str | None = None  # DUE_FILTERS
    notices: str | None = None  # NOTICE_FILTERS

    @classmethod
    def parse(
        cls,
        *,
        status: str | None,
        band: str | None,
        tenant: str | None,
        q: str | None,
        scope: str | None,
        due: str | None = None,
        notices: str | None = None,
    ) -> QueueFilters:
        """Unknown values are ignored (never passed to a query)."""
        return cls(
            status=status if status in STATUSES else None,
            band=band if band in BANDS else None,
            tenant=(tenant or "").strip()[:64] or None,
            q=(q or "").strip()[:100] or None,
            open_only=scope != "all",
            due=due if due in DUE_FILTERS else None,
            notices=notices if notices in NOTICE_FILTERS else None,
        )


def clock_dict(status: clock_service.ClockStatus) -> dict[str, Any]:
    return {
        "clock": status.clock.value,
        "tenant_id": status.tenant_id,
        "due_at": status.due_at.isoformat(),
        "state": status.state.value,
        "remaining_seconds": round(status.remaining_seconds),
        "met_at": status.met_at.isoformat() if status.met_at else None,
        "late": status.late,
        "stop_justification": status.stop_justification,
        "informative": status.informative,
    }


def summary(incident: Incident, clocks: IncidentClocks) -> dict[str, Any]:
    nxt = clocks.next_due if incident.is_open else None
    return {
        "ref": incident.ref,
        "title": incident.title,
        "title_edited": incident.title_edited,
        "status": incident.status,
        "severity_band": incident.severity_band,
        "severity_score": incident.severity_score,
        "finding_severity": incident.finding_severity,
        "tenants": [t.tenant_id for t in incident.tenants],
        "rule_ids": list(incident.rule_ids or []),
        "nature": list(incident.nature or []),
        "detected_at": incident.detected_at.isoformat(),
        "aware_at": incident.aware_at.isoformat(),
        "next_due": nxt.isoformat() if nxt else None,
        "clock_state": clocks.state.value,
        "cnil_due": clocks.cnil.due_at.isoformat(),
        "customer_due": clocks.customer_due.isoformat() if clocks.customer_due else None,
        "source": incident.source,
        "declared": incident.declared,
        "cnil_own": clocks.cnil_own,
    }


def queue(
    *,
    session: Session,
    policy: ClockPolicy,
    filters: QueueFilters,
    page: int,
    per_page: int = PER_PAGE,
    now: datetime | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """One page of the queue, nearest deadline first, and the total after filtering."""
    now = now or datetime.now(UTC)
    status: incident_service.StatusFilter = None
    if filters.status is not None:
        status = filters.status
    elif filters.open_only:
        status = [s for s in IncidentStatus if s.is_open]
    ids = notice_ids(filters.notices)
    if filters.due is not None:  # a window of deadlines: keyed in Python, paged here
        due = due_ids(
            session=session,
            policy=policy,
            status=status,
            band=filters.band,
            tenant=filters.tenant,
            q=filters.q,
            due=filters.due,
            now=now,
            ids=ids,
        )
        total = len(due)
        rows = incident_service.get_many(
            session=session, ids=due[(page - 1) * per_page : page * per_page]
        )
    else:
        total = incident_service.count_incidents(
            session=session,
            status=status,
            band=filters.band,
            tenant_id=filters.tenant,
            q=filters.q,
            ids=ids,
        )
        rows = incident_service.list_incidents(
            session=session,
            status=status,
            band=filters.band,
            tenant_id=filters.tenant,
            q=filters.q,
            limit=per_page,
            offset=(page - 1) * per_page,
            order="deadline",
            policy=policy,
            now=now,
            ids=ids,
        )
    customers = clock_service.load_customers(
        session=session, tenant_ids=(t for i in rows for t in i.tenant_ids)
    )
    return [
        summary(
            i,
            clock_service.incident_clocks(incident=i, customers=customers, policy=policy, now=now),
        )
        for i in rows
    ], total


DUE_FILTERS = ("overdue", "24h")
NOTICE_FILTERS = ("dpo", "delivery")


def notice_ids(which: str | None) -> Select[Any] | None:
    """The incidents with a notice awaiting the DPO, or with a delivery problem."""
    if which == "dpo":
        return attention.incidents_awaiting_dpo()
    if which == "delivery":
        return attention.incidents_with_delivery_problems()
    return None


def due_ids(
    *,
    session: Session,
    policy: ClockPolicy,
    due: str,
    now: datetime,
    status: incident_service.StatusFilter = None,
    band: str | None = None,
    tenant: str | None = None,
    q: str | None = None,
    ids: Select[Any] | None = None,
) -> list[int]:
    """Open incidents by nearest deadline: overdue ones (`due="overdue"`), or those due
    within the next 24 hours and not overdue yet (`"24h"`)."""
    keys = incident_service.open_deadlines(
        session=session, policy=policy, status=status, band=band, tenant_id=tenant, q=q, ids=ids
    )
    if due == "overdue":
        return [i for when, i in keys if when < now]
    soon = now + timedelta(hours=24)
    return [i for when, i in keys if now <= when <= soon]


def _flatten(payload: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for key, value in payload.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.extend(_flatten(value, name + "."))
        elif isinstance(value, list):
            out.append((name, ", ".join(str(v) for v in value)))
        elif value is not None:
            out.append((name, str(value)))
    return out


def severity_form(incident: Incident, findings: list[FindingRow]) -> dict[str, Any]:
    """The calculator's current inputs: the latest assessment, else pre-filled ones."""
    current = incident.current_assessment
    if current is not None:
        return {
            "dpc": current.dpc,
            "ei": current.ei,
            "cb_confidentiality": current.cb_confidentiality,
            "cb_integrity": current.cb_integrity,
            "cb_availability": current.cb_availability,
            "malicious": current.malicious,
            "persons": current.persons,
            "unintelligible": current.unintelligible,
            "score": current.score,
            "band": current.band,
            "justification": current.justification,
            "source": current.source,
            "assessed_by": current.assessed_by,
            "assessed_at": current.assessed_at.isoformat(),
            "notify_customer": current.notify_customer,
            "notify_cnil": current.notify_cnil,
            "notify_subjects": current.notify_subjects,
            "notify_public": current.notify_public,
            "overridden": current.recommendation_overridden,
            "art34_exemption": current.art34_exemption,
            "art34_justification": current.art34_justification,
            "advice": (current.rationale or {}).get("advice"),
            "factors": (current.rationale or {}).get("factors") or {},
            "reasons": list((current.rationale or {}).get("recommendation", [])),
            "rationale": {
                k: v
                for k, v in (current.rationale or {}).items()
                if k not in ("recommendation", "advice", "factors")
            },
        }
    persons = sum(t.persons for t in incident.tenants)
    inputs = severity.prefill(
        [
            severity.FindingFacts(
                rule_id=f.rule_id,
                nature=frozenset(f.nature),
                data_categories=frozenset(f.data_categories),
                subjects=f.subjects,
            )
            for f in findings
        ],
        persons=persons,
    )
    value = severity.score(inputs)
    return {
        "dpc": inputs.dpc,
        "ei": inputs.ei,
        "cb_confidentiality": inputs.cb_confidentiality,
        "cb_integrity": inputs.cb_integrity,
        "cb_availability": inputs.cb_availability,
        "malicious": inputs.malicious,
        "persons": inputs.persons,
        "unintelligible": inputs.unintelligible,
        "score": value,
        "band": severity.band(value).value,
        "justification": "",
        "source": "prefill",
        "assessed_by": None,
        "assessed_at": None,
        "notify_customer": None,
        "notify_cnil": None,
        "notify_subjects": None,
        "notify_public": None,
        "overridden": False,
        "art34_exemption": None,
        "art34_justification": None,
        "advice": None,
        "factors": {},
        "reasons": [],
        "rationale": dict(inputs.rationale),
    }


TIMELINE_ACTIONS = frozenset(
    {
        "incident.transition",
        "incident.aware_at",
        "incident.opened",
        "incident.created",
        "incident.merged",
        "outbox.sent",
        "incident.declared",
        "incident.absorbed",
        "severity.assessed",
    }
)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _finding_event(f: FindingRow) -> dict[str, Any]:
    """A finding on the timeline: written by Tocsin itself."""
    return {
        "at": f.first_seen.isoformat(),
        "kind": "finding",
        "what": f"{f.rule_id}: {f.summary}",
        "who": SYSTEM_ACTOR,
        "rule_id": f.rule_id,
        "summary": f.summary,
        "count": f.count,
        "records": f.records,
        "actor_ids": list(f.actor_ids or []),
    }


def _on_timeline(action: str) -> bool:
    return action in TIMELINE_ACTIONS or action.startswith(("notice.", "clock."))


def _audit_event(entry: AuditEntry) -> dict[str, Any]:
    """An audited action on the timeline; a move between statuses says from where to where."""
    data = entry.data or {}
    what = entry.action
    moved: dict[str, Any] = {}
    if entry.action in ("incident.transition", "incident.merged"):
        what = f"{data.get('from')} → {data.get('to')}"
        if data.get("reason"):
            what += f" ({data.get('reason')})"
        moved = {"from": data.get("from"), "to": data.get("to"), "reason": data.get("reason")}
    return {
        "at": entry.at.isoformat(),
        "kind": entry.action,
        "what": what,
        "who": entry.actor,
        **moved,
    }


def _timeline(findings: list[FindingRow], audit_rows: list[AuditEntry]) -> list[dict[str, Any]]:
    """Findings and the audited actions worth showing, oldest first."""
    timeline = [_finding_event(f) for f in findings]
    timeline.extend(_audit_event(e) for e in audit_rows if _on_timeline(e.action))
    timeline.sort(key=lambda item: str(item["at"]))
    return timeline


def _finding_row(f: FindingRow) -> dict[str, Any]:
    return {
        "finding_id": f.finding_id,
        "rule_id": f.rule_id,
        "severity": f.severity,
        "count": f.count,
        "records": f.records,
        "subjects": f.subjects,
        "first_seen": f.first_seen.isoformat(),
        "last_seen": f.last_seen.isoformat(),
        "summary": f.summary,
        "actor_ids": list(f.actor_ids or []),
        "source_ips": list(f.source_ips or []),
        "tenant_ids": list(f.tenant_ids or []),
    }


def _tenant_rows(incident: Incident) -> list[dict[str, Any]]:
    return [
        {
            "tenant_id": t.tenant_id,
            "events": t.events,
            "records": t.records,
            "persons": t.persons,
            "first_seen": t.first_seen.isoformat(),
            "last_seen": t.last_seen.isoformat(),
        }
        for t in incident.tenants
    ]


def _evidence_rows(evidence: Sequence[EvidenceEvent]) -> list[dict[str, Any]]:
    return [
        {
            "event_id": e.event_id,
            "stream": e.stream,
            "tenant_id": e.tenant_id,
            "occurred_at": e.occurred_at.isoformat(),
            "fields": _flatten(dict(e.payload or {})),
        }
        for e in evidence
    ]


def _comments(incident: Incident) -> list[dict[str, Any]]:
    return [
        {
            "kind": d.kind,
            "text": d.text,
            "justification": d.justification,
            "author": d.author,
            "at": d.created_at.isoformat(),
        }
        for d in incident.decisions
    ]


def audit_rows(entries: list[AuditEntry]) -> list[dict[str, Any]]:
    """An incident's audit trail, oldest first."""
    return [
        {
            "seq": a.seq,
            "at": a.at.isoformat(),
            "actor": a.actor,
            "action": a.action,
            "data": a.data,
            "hash": a.hash,
        }
        for a in entries
    ]


def _facts(incident: Incident) -> dict[str, Any]:
    """What the incident records of itself, as entered or computed."""
    return {
        "first_seen": incident.first_seen.isoformat(),
        "last_seen": incident.last_seen.isoformat(),
        "aware_justification": incident.aware_justification,
        "aware_set_by": incident.aware_set_by,
        "summary": incident.summary,
        "services": list(incident.services or []),
        "persons_estimate": incident.persons_estimate,
        "records_estimate": incident.records_estimate,
        "occurred_from": _iso(incident.occurred_from),
        "occurred_to": _iso(incident.occurred_to),
        "discovered_at": _iso(incident.discovered_at),
        "nature": list(incident.nature or []),
        "data_categories": list(incident.data_categories or []),
        "consequences": incident.consequences,
        "measures": incident.measures,
        "not_notified_justification": incident.not_notified_justification,
        "resolution_reason": incident.resolution_reason,
    }


def detail(
    *, session: Session, incident: Incident, policy: ClockPolicy, now: datetime | None = None
) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    clocks = clock_service.clocks_for(session=session, incident=incident, policy=policy, now=now)
    findings = incident_service.findings_for(session=session, incident=incident)
    evidence = incident_service.evidence_for(
        session=session, incident=incident, limit=MAX_EVIDENCE_SHOWN
    )
    entries = audit_chain.entries_for(session=session, subject=incident.ref)
    allowed = sorted(
        (s.value for s in incident_service.allowed_transitions(incident.status)), key=STATUSES.index
    )  # workflow order; dismissal has its own form
    roles = incident_service.roles_of(session=session, incident=incident)
    return {
        **summary(incident, clocks),
        **_facts(incident),
        "roles": sorted({CustomerRole(r).value for r in roles}),
        "allowed_transitions": allowed,
        "tenant_rows": _tenant_rows(incident),
        "clocks": [clock_dict(c) for c in clocks.all],
        "findings": [_finding_row(f) for f in findings],
        "evidence": _evidence_rows(evidence),
        "severity": severity_form(incident, findings),
        "comments": _comments(incident),
        "timeline": _timeline(findings, entries),
        "audit": audit_rows(entries),
    }


def assessment_json(ref: str, row: SeverityAssessment) -> dict[str, Any]:
    """A recorded assessment: the score, who is told and why, and who decided."""
    rationale = row.rationale or {}
    return {
        "ref": ref,
        "score": row.score,
        "band": row.band,
        "notify_customer": row.notify_customer,
        "notify_cnil": row.notify_cnil,
        "notify_subjects": row.notify_subjects,
        "notify_public": row.notify_public,
        "recommendation_overridden": row.recommendation_overridden,
        "art34_exemption": row.art34_exemption,
        "justification": row.justification,
        "decided_by": row.assessed_by,
        "advice": rationale.get("advice"),
        "factors": rationale.get("factors"),
        "reasons": rationale.get("recommendation"),
    }
