"""Drafting notices from an incident (docs/architecture.md §10): idempotent, cheap to call often.

`draft_notices` is called by the ingest pipeline and the console after any incident change.
It loads the incident's findings, evidence, customers and existing notices in four queries,
builds each notice's context, and compares a fingerprint of the *material* facts (numbers,
categories, natures, rules, services, severity, status) with the latest version:

- no notice yet → version 1, phase `initial`, status `draft`;
- the latest version is still a `draft` and the facts changed → the draft is re-rendered in
  place (a draft never left the house; only approved versions are legal communications);
- the latest version was approved or sent and the facts changed → a new version, phase
  `complementary` (Art. 33(4)), status `draft`; earlier versions are kept untouched;
- the latest version was rejected → a new version only when the facts changed since;
- nothing changed → nothing is written.

Pure attempts (nature `attempt`: failures only, nothing reached) draft nothing until the RSSI
qualifies them as a breach. Every fact of a notice comes from the incident's structured fields
(`incidents.notice_fields`) or from the findings; what nobody entered stays None and prints
« [à compléter] ».

Who gets what: every affected tenant whose customer role is `processor` (or unknown) gets a
customer notice built from its own share of the incident only. Tenants in the `controller`
role (AVM Up's own processing) feed the CNIL and data-subject notices, drafted when the
current severity assessment decides so (`notify_cnil`; `notify_subjects` without an Art. 34(3)
exemption; `notify_public` for the public communication of Art. 34(3)(c)). An incident with
no tenant is AVM Up's own processing too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from consumers.conventions import SYSTEM_ACTOR
from incidents import clocks as incident_clocks
from incidents import notice_fields
from incidents.enums import CustomerRole, IncidentStatus
from incidents.findings_store import EvidenceEvent, FindingRow
from incidents.models import Customer, Incident, IncidentFinding, IncidentTenant
from notifiers import service as notice_service
from notifiers import wording
from notifiers.enums import NoticeKind, NoticePhase, NoticeStatus
from notifiers.models import GLOBAL_SCOPE, Notice
from notifiers.render import render_notice
from notifiers.schemas import (
    CnilNoticeContext,
    CustomerNoticeContext,
    DataSubjectNoticeContext,
    DraftPolicy,
    EvidenceLine,
    NoticeContext,
    PublicNoticeContext,
)

__all__ = ["DraftPolicy", "IncidentFacts", "draft_notices", "load_facts"]

ESTABLISHED = frozenset({IncidentStatus.CONFIRMED, IncidentStatus.NOTIFIED, IncidentStatus.CLOSED})
DRAFTABLE = frozenset(
    {
        IncidentStatus.DETECTED,
        IncidentStatus.TRIAGE,
        IncidentStatus.CONFIRMED,
        IncidentStatus.NOTIFIED,
    }
)
# Context fields that do not make a change "material" (they move with every event, or are
# AVM Up's own details): an approved notice is not re-notified for them.
NON_MATERIAL = frozenset(
    {
        "generated_at",
        "next_update",
        "version",
        "phase",
        "last_seen",
        "evidence",
        "evidence_omitted",
        "accounts",
        "ongoing",
        "previous_receipt",
        "late",
        "reasons_for_delay",
        "org",
    }
)


@dataclass(frozen=True)
class IncidentFacts:
    """Everything drafting reads about one incident, loaded once."""

    incident: Incident
    findings: list[FindingRow]
    evidence: list[dict[str, Any]]  # evidence event payloads, by event time
    tenants: dict[str, IncidentTenant]
    customers: dict[str, Customer]

    def role_of(self, tenant_id: str) -> CustomerRole:
        customer = self.customers.get(tenant_id)
        if customer is None:
            return CustomerRole.PROCESSOR
        return CustomerRole(customer.role)


def load_facts(*, session: Session, incident: Incident) -> IncidentFacts:
    findings = list(
        session.scalars(
            select(FindingRow)
            .join(IncidentFinding, IncidentFinding.finding_id == FindingRow.finding_id)
            .where(IncidentFinding.incident_id == incident.id)
            .order_by(FindingRow.first_seen, FindingRow.finding_id)
        )
    )
    event_ids = sorted({eid for f in findings for eid in f.evidence})
    evidence: list[dict[str, Any]] = []
    if event_ids:
        rows = session.scalars(
            select(EvidenceEvent)
            .where(EvidenceEvent.event_id.in_(event_ids))
            .order_by(EvidenceEvent.occurred_at, EvidenceEvent.event_id)
        )
        evidence = [dict(r.payload, _occurred_at=r.occurred_at) for r in rows]
    tenants = {t.tenant_id: t for t in incident.tenants}
    customers = incident_clocks.load_customers(session=session, tenant_ids=tenants)
    return IncidentFacts(
        incident=incident,
        findings=findings,
        evidence=evidence,
        tenants=tenants,
        customers=customers,
    )


def _sorted(values: Iterable[str]) -> list[str]:
    return sorted(set(values))


def _event_touches(payload: dict[str, Any], tenant_id: str) -> bool:
    resource = payload.get("resource") or {}
    return payload.get("tenant_id") == tenant_id or resource.get("tenant_id") == tenant_id


def _event_only_of(payload: dict[str, Any], tenant_id: str) -> bool:
    """True when every tenant reference of the event is `tenant_id` (the actor belongs to
    that customer and the data it reached too): only then may identifying fields be shown."""
    resource = payload.get("resource") or {}
    return payload.get("tenant_id") == tenant_id and resource.get("tenant_id", tenant_id) == (
        tenant_id
    )


def _evidence_line(payload: dict[str, Any], tenant_id: str) -> EvidenceLine:
    actor = payload.get("actor") or {}
    staff = str(actor.get("kind", "")).startswith(wording.STAFF_ACTOR)
    own = _event_only_of(payload, tenant_id) and not staff
    resource = payload.get("resource") or {}

    def code(value: Any) -> str | None:
        return str(value) if value else None

    return EvidenceLine(
        occurred_at=payload["_occurred_at"],
        service=str(payload.get("service", "")),
        interface=str(payload.get("interface", "")),
        action=code(payload.get("action")),
        operation=code(payload.get("operation")),
        resource_type=code(resource.get("type")),
        outcome=code(payload.get("outcome")),
        staff=staff,
        records=payload.get("records"),
        actor_id=str(actor["id"]) if own and actor.get("id") else None,
        source_ip=str(payload["source_ip"]) if own and payload.get("source_ip") else None,
        user_agent=str(payload["user_agent"]) if own and payload.get("user_agent") else None,
    )


def _count(value: int) -> int | None:
    """A count from the findings; 0 means Tocsin could not count (a login, a takeover whose
    reads were not measured), never that nothing was reached."""
    return value if value > 0 else None


def _base_fields(
    *,
    facts: IncidentFacts,
    findings: Sequence[FindingRow],
    language: str,
    persons: int | None,
    records: int | None,
    first_seen: datetime,
    last_seen: datetime,
    services: list[str],
    reach: list[str],
    now: datetime,
    policy: DraftPolicy,
) -> dict[str, Any]:
    incident = facts.incident
    status = IncidentStatus(incident.status)
    rule_ids = _sorted(f.rule_id for f in findings) or _sorted(incident.rule_ids)
    natures = notice_fields.effective_nature(incident)
    categories = _sorted(c for f in findings for c in f.data_categories) or _sorted(
        incident.data_categories
    )
    ongoing = status in (IncidentStatus.DETECTED, IncidentStatus.TRIAGE, IncidentStatus.CONFIRMED)
    return {
        "incident_ref": incident.ref,
        "language": language,
        "timezone": policy.timezone,
        "generated_at": now,
        "detected_at": incident.detected_at,
        "aware_at": incident.aware_at,
        "first_seen": first_seen,
        "last_seen": last_seen,
        "ongoing": ongoing,
        "established": status in ESTABLISHED,
        "natures": natures,
        "rule_ids": rule_ids,
        "services": services,
        "data_categories": categories,
        "persons": persons,
        "records": records,
        "reach": reach if persons is None or records is None else [],
        "severity_band": incident.severity_band,
        "measures_taken": wording.measures(incident.measures),
        "measures_proposed": wording.measures(incident.measures_proposed),
        "cause": incident.cause,
        "origin": incident.origin,
        "origin_detail": incident.origin_detail,
        "subprocessors_involved": incident.subprocessors_involved,
        "subprocessors": incident.subprocessors,
        "breach_ongoing": incident.breach_ongoing,
        "breach_ended_at": incident.breach_ended_at,
        "org": policy.org,
        "next_update": now + timedelta(hours=policy.next_update_hours) if ongoing else None,
        "summary": incident.summary or "",
    }


def _reads_across(payload: dict[str, Any]) -> bool:
    resource = payload.get("resource") or {}
    owner = resource.get("tenant_id")
    return bool(owner) and owner != payload.get("tenant_id")


def customer_context(
    *,
    facts: IncidentFacts,
    tenant_id: str,
    phase: NoticePhase,
    version: int,
    now: datetime,
    policy: DraftPolicy,
) -> CustomerNoticeContext:
    """The context of ONE customer's notice: only that tenant's numbers, findings and
    evidence enter it (tenant isolation)."""
    share = facts.tenants[tenant_id]
    customer = facts.customers.get(tenant_id)
    language = customer.language if customer is not None else policy.default_language
    findings = [f for f in facts.findings if tenant_id in f.tenant_ids]
    events = [e for e in facts.evidence if _event_touches(e, tenant_id)]
    services = _sorted(str(e["service"]) for e in events if e.get("service")) or _sorted(
        facts.incident.services
    )
    accounts = _sorted(
        str(e["actor"]["id"])
        for e in events
        if _event_only_of(e, tenant_id)
        and (e.get("actor") or {}).get("id")
        and not str((e.get("actor") or {}).get("kind", "")).startswith(wording.STAFF_ACTOR)
    )
    # This customer's data read from another customer's account: told from its side.
    cross = any(
        _reads_across(e) and (e.get("resource") or {}).get("tenant_id") == tenant_id for e in events
    )
    # This customer's account read another customer's data (that customer is never named).
    reader = any(_reads_across(e) and e.get("tenant_id") == tenant_id for e in events)
    shown = events[: policy.max_evidence_lines]
    fields = _base_fields(
        facts=facts,
        findings=findings,
        language=language,
        persons=_count(share.persons),
        records=_count(share.records),
        first_seen=share.first_seen,
        last_seen=share.last_seen,
        services=services,
        reach=accounts[:20],
        now=now,
        policy=policy,
    )
    if len(facts.tenants) > 1:
        fields["summary"] = ""  # free text about several customers: never in one's notice
    return CustomerNoticeContext(
        **fields,
        phase=phase,
        version=version,
        tenant_id=tenant_id,
        customer_name=customer.name if customer is not None else tenant_id,
        accounts=accounts[:50],
        evidence=[_evidence_line(e, tenant_id) for e in shown],
        evidence_omitted=len(events) - len(shown),
        cross_customer=cross,
        reader_side=reader and not cross,
    )


def _controller_share(
    facts: IncidentFacts, now: datetime, policy: DraftPolicy, language: str
) -> dict[str, Any]:
    tenants = [
        t for tid, t in facts.tenants.items() if facts.role_of(tid) is CustomerRole.CONTROLLER
    ]
    incident = facts.incident
    if not tenants:
        # AVM Up's own processing, declared with no tenant: the incident's own numbers
        # (None when nobody entered them: « [à compléter] », never a guessed zero).
        return _base_fields(
            facts=facts,
            findings=facts.findings,
            language=language,
            persons=incident.persons_estimate,
            records=incident.records_estimate,
            first_seen=incident.first_seen,
            last_seen=incident.last_seen,
            services=_sorted(str(e["service"]) for e in facts.evidence if e.get("service"))
            or _sorted(incident.services),
            reach=[],
            now=now,
            policy=policy,
        )
    ids = {t.tenant_id for t in tenants}
    findings = [f for f in facts.findings if ids & set(f.tenant_ids)]
    events = [e for e in facts.evidence if any(_event_touches(e, t) for t in ids)]
    persons = incident.persons_estimate
    if persons is None:
        persons = _count(sum(t.persons for t in tenants))
    records = incident.records_estimate
    if records is None:
        records = _count(sum(t.records for t in tenants))
    accounts = {
        str((e.get("actor") or {}).get("id")) for e in events if (e.get("actor") or {}).get("id")
    }
    reach = [f"{len(accounts)}"] if accounts else []
    return _base_fields(
        facts=facts,
        findings=findings,
        language=language,
        persons=persons,
        records=records,
        first_seen=min(t.first_seen for t in tenants),
        last_seen=max(t.last_seen for t in tenants),
        services=_sorted(str(e["service"]) for e in events if e.get("service"))
        or _sorted(incident.services),
        reach=reach,
        now=now,
        policy=policy,
    )


def _subjects_informed(facts: IncidentFacts) -> str:
    assessment = facts.incident.current_assessment
    if assessment is not None and assessment.notify_subjects and not (assessment.art34_exemption):
        return "Prévue : information des personnes concernées en préparation (article 34 du RGPD)"
    if assessment is not None and assessment.notify_public:
        return (
            "Prévue : communication publique, l'information individuelle exigeant des "
            "efforts disproportionnés (article 34, 3, c)"
        )
    if assessment is not None and assessment.art34_exemption:
        labels = {
            "a_unintelligible": "données incompréhensibles pour les tiers (article 34, 3, a)",
            "b_measures_taken": "mesures ultérieures rendant le risque élevé improbable "
            "(article 34, 3, b)",
            "c_disproportionate_effort": "efforts disproportionnés : communication publique "
            "(article 34, 3, c)",
        }
        label = labels.get(assessment.art34_exemption, assessment.art34_exemption)
        why = f" – {assessment.art34_justification}" if assessment.art34_justification else ""
        return f"Non nécessaire : {label}{why}"
    return (
        "Non nécessaire : risque non élevé pour les droits et libertés des personnes selon "
        "l'évaluation de gravité (méthode ENISA 2013)"
    )


def cnil_context(
    *,
    facts: IncidentFacts,
    phase: NoticePhase,
    version: int,
    now: datetime,
    policy: DraftPolicy,
    previous_receipt: str | None = None,
    reasons_for_delay: str | None = None,
) -> CnilNoticeContext:
    fields = _controller_share(facts, now, policy, "fr")
    due = cnil_due_of(facts.incident, policy)
    categories = fields["data_categories"]
    incident = facts.incident
    return CnilNoticeContext(
        **fields,
        phase=phase,
        version=version,
        cnil_due=due,
        late=now > due,
        reasons_for_delay=reasons_for_delay,
        circumstances=_declared_circumstances(facts.incident)
        or (
            "Détection automatique par l'outil de surveillance Tocsin (règles "
            + ", ".join(fields["rule_ids"])
            + ") sur les journaux d'authentification et d'accès des services, puis "
            "qualification par l'équipe sécurité."
        ),
        subject_categories=incident.subject_categories,
        directly_identifiable=bool(
            set(categories) & {"identification", "electronic_identification"}
        ),
        consequences=wording.cnil_consequences(
            natures=fields["natures"], data_categories=categories
        ),
        harms=wording.cnil_harms(categories),
        measures_planned=wording.measures(incident.measures_planned),
        measures_long_term=wording.measures(incident.measures_long_term),
        data_subjects_informed=_subjects_informed(facts),
        previous_receipt=previous_receipt,
    )


SOURCE_LABELS_FR = {
    "detected": "contrôle d'AVM Up",
    "staff_report": "signalement d'un membre du personnel",
    "customer_report": "signalement d'un client",
    "subprocessor_report": "signalement d'un sous-traitant",
    "authority": "signalement d'une autorité",
    "data_subject": "signalement d'une personne concernée",
    "other": "autre signalement",
}


def _declared_circumstances(incident: Incident) -> str | None:
    """How a declared breach came to light (None for a detected one)."""
    if not incident.declared:
        return None
    label = SOURCE_LABELS_FR.get(incident.source, "signalement")
    return f"Violation déclarée à la suite d'un {label}" + (
        f" : {incident.summary}" if incident.summary else "."
    )


def cnil_due_of(incident: Incident, policy: DraftPolicy) -> datetime:
    return incident_clocks.cnil_due(
        aware_at=incident.aware_at,
        policy=incident_clocks.ClockPolicy(cnil_hours=policy.cnil_hours),
    )


def data_subject_context(
    *, facts: IncidentFacts, phase: NoticePhase, version: int, now: datetime, policy: DraftPolicy
) -> DataSubjectNoticeContext:
    language = policy.default_language
    fields = _controller_share(facts, now, policy, language)
    persons = set(facts.incident.subject_categories or ())
    holders = not persons or bool(persons & wording.ACCOUNT_HOLDERS)
    return DataSubjectNoticeContext(
        **fields,
        phase=phase,
        version=version,
        account_holders=holders,
        advice=wording.advice(
            language=language, data_categories=fields["data_categories"], account_holders=holders
        ),
    )


def public_context(
    *, facts: IncidentFacts, phase: NoticePhase, version: int, now: datetime, policy: DraftPolicy
) -> PublicNoticeContext:
    language = policy.default_language
    fields = _controller_share(facts, now, policy, language)
    persons = set(facts.incident.subject_categories or ())
    holders = not persons or bool(persons & wording.ACCOUNT_HOLDERS)
    return PublicNoticeContext(
        **fields,
        phase=phase,
        version=version,
        advice=wording.advice(
            language=language, data_categories=fields["data_categories"], account_holders=holders
        ),
    )


def fingerprint(context: NoticeContext) -> str:
    data = context.model_dump(mode="json", exclude=set(NON_MATERIAL))
    material = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(material.encode()).hexdigest()


def should_draft(incident: Incident, policy: DraftPolicy) -> bool:
    status = IncidentStatus(incident.status)
    if status not in DRAFTABLE or notice_fields.is_attempt(incident):
        return False
    if status in (IncidentStatus.CONFIRMED, IncidentStatus.NOTIFIED):
        return True
    return policy.draft_on_critical and incident.finding_severity == "critical"


def _latest(notices: Iterable[Notice]) -> dict[tuple[str, str], list[Notice]]:
    out: dict[tuple[str, str], list[Notice]] = {}
    for notice in sorted(notices, key=lambda n: n.version):
        out.setdefault((notice.kind, notice.scope), []).append(notice)
    return out


def _phase_for(history: Sequence[Notice]) -> NoticePhase:
    told = any(n.status in (NoticeStatus.APPROVED, NoticeStatus.SENT) for n in history)
    return NoticePhase.COMPLEMENTARY if told else NoticePhase.INITIAL


def _previous_receipt(history: Sequence[Notice]) -> str | None:
    receipts = [n.cnil_receipt for n in history if n.cnil_receipt]
    return receipts[0] if receipts else None


class _Drafter:
    def __init__(
        self,
        *,
        session: Session,
        facts: IncidentFacts,
        existing: list[Notice],
        now: datetime,
        policy: DraftPolicy,
    ) -> None:
        self.session = session
        self.facts = facts
        self.history = _latest(existing)
        self.now = now
        self.policy = policy
        self.written: list[Notice] = []

    def ensure(self, kind: NoticeKind, scope: str, tenant_id: str | None, build: Any) -> None:
        """`build(phase, version)` makes the context; write a version only on change."""
        history = self.history.get((kind.value, scope), [])
        latest = history[-1] if history else None
        phase = _phase_for(history)
        if latest is not None and latest.status == NoticeStatus.DRAFT:
            context = build(_phase_for(history[:-1]), latest.version)
            digest = fingerprint(context)
            # The organisation block (settings) refreshes a draft, never re-notifies.
            org = context.org.model_dump(mode="json")
            if digest != latest.fingerprint or (latest.context or {}).get("org") != org:
                self._fill(latest, context, digest)
                notice_service.void_signatures(session=self.session, notice=latest, now=self.now)
            return
        version = latest.version + 1 if latest is not None else 1
        context = build(phase, version)
        digest = fingerprint(context)
        if latest is not None and digest == latest.fingerprint:
            return
        notice = Notice(
            incident_id=self.facts.incident.id,
            kind=kind.value,
            scope=scope,
            tenant_id=tenant_id,
            version=version,
            status=NoticeStatus.DRAFT,
            created_at=self.now,
        )
        self._fill(notice, context, digest)
        self.session.add(notice)

    def _fill(self, notice: Notice, context: NoticeContext, digest: str) -> None:
        tenant = getattr(context, "tenant_id", None)
        rendered = render_notice(context, override_dir=self.policy.override_dir)
        notice.phase = context.phase.value
        notice.language = context.language
        notice.subject = rendered.subject
        notice.text_body = rendered.text
        notice.html_body = rendered.html
        notice.context = context.model_dump(mode="json")
        notice.fingerprint = digest
        notice.tenant_id = tenant
        notice.updated_at = self.now
        self.written.append(notice)


def draft_notices(
    *, session: Session, incident: Incident, now: datetime, policy: DraftPolicy
) -> list[Notice]:
    """Create or refresh the drafts `incident` calls for. Returns the notices written (new
    versions and refreshed drafts); an empty list when nothing changed. Not committed."""
    if not should_draft(incident, policy):
        return []
    facts = load_facts(session=session, incident=incident)
    existing = list(session.scalars(select(Notice).where(Notice.incident_id == incident.id)))
    drafter = _Drafter(session=session, facts=facts, existing=existing, now=now, policy=policy)

    told = incident.current_assessment
    for tenant_id in sorted(facts.tenants):
        if facts.role_of(tenant_id) is CustomerRole.CONTROLLER:
            continue
        if told is not None and not told.notify_customer:
            continue  # an attempt that reached no data (Art. 4(12)), or the RSSI's decision
        drafter.ensure(
            NoticeKind.CUSTOMER,
            tenant_id,
            tenant_id,
            lambda phase, version, t=tenant_id: customer_context(
                facts=facts, tenant_id=t, phase=phase, version=version, now=now, policy=policy
            ),
        )

    # AVM Up's own processing: a controller tenant, or a declared incident with no tenant.
    controller = not facts.tenants or any(
        facts.role_of(t) is CustomerRole.CONTROLLER for t in facts.tenants
    )
    assessment = incident.current_assessment
    if controller and assessment is not None and assessment.notify_cnil:
        history = drafter.history.get((NoticeKind.CNIL.value, GLOBAL_SCOPE), [])
        drafter.ensure(
            NoticeKind.CNIL,
            GLOBAL_SCOPE,
            None,
            lambda phase, version: cnil_context(
                facts=facts,
                phase=phase,
                version=version,
                now=now,
                policy=policy,
                previous_receipt=_previous_receipt(history),
            ),
        )
    if (
        controller
        and assessment is not None
        and assessment.notify_subjects
        and not assessment.art34_exemption
    ):
        drafter.ensure(
            NoticeKind.DATA_SUBJECT,
            GLOBAL_SCOPE,
            None,
            lambda phase, version: data_subject_context(
                facts=facts, phase=phase, version=version, now=now, policy=policy
            ),
        )
    if controller and assessment is not None and assessment.notify_public:
        drafter.ensure(
            NoticeKind.PUBLIC,
            GLOBAL_SCOPE,
            None,
            lambda phase, version: public_context(
                facts=facts, phase=phase, version=version, now=now, policy=policy
            ),
        )
    session.flush()
    return drafter.written


# -- incidents merged by correlation ------------------------------------------------------


def decided_incidents(session: Session, incident_ids: Sequence[int]) -> set[int]:
    """The incidents among `incident_ids` with a notice a person has decided on (approved,
    sent or rejected): correlation must not merge them away (`incidents.flows`)."""
    if not incident_ids:
        return set()
    return set(
        session.scalars(
            select(Notice.incident_id)
            .where(
                Notice.incident_id.in_(list(incident_ids)),
                Notice.status != NoticeStatus.DRAFT.value,
            )
            .distinct()
        )
    )


def retire_drafts(
    *, session: Session, incident: Incident, into: Incident, now: datetime
) -> list[Notice]:
    """The drafts of an incident merged into another are rejected by Tocsin, with the reason
    (the kept incident drafts its own notices, with the merged facts); audited."""
    retired = list(
        session.scalars(
            select(Notice).where(
                Notice.incident_id == incident.id, Notice.status == NoticeStatus.DRAFT.value
            )
        )
    )
    reason = f"incident merged into {into.ref}"
    for notice in retired:
        notice_service.mark_rejected(
            session=session, notice=notice, actor=SYSTEM_ACTOR, reason=reason, now=now
        )
    session.flush()
    return retired
