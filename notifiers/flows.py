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
from collections.abc import Callable, Iterable, Sequence
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
from notifiers.evidence import Evidence
from notifiers.models import GLOBAL_SCOPE, Notice
from notifiers.render import render_notice
from notifiers.schemas import (
    CnilNoticeContext,
    CustomerNoticeContext,
    DataSubjectNoticeContext,
    DraftPolicy,
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
    evidence: list[Evidence]  # the evidence events, by event time
    tenants: dict[str, IncidentTenant]
    customers: dict[str, Customer]

    def role_of(self, tenant_id: str) -> CustomerRole:
        customer = self.customers.get(tenant_id)
        if customer is None:
            return CustomerRole.PROCESSOR
        return customer.role


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
    evidence: list[Evidence] = []
    if event_ids:
        rows = session.scalars(
            select(EvidenceEvent)
            .where(EvidenceEvent.event_id.in_(event_ids))
            .order_by(EvidenceEvent.occurred_at, EvidenceEvent.event_id)
        )
        evidence = [Evidence.from_payload(r.payload, r.occurred_at) for r in rows]
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
    status = incident.status
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


def _services(events: Iterable[Evidence], incident: Incident) -> list[str]:
    """The services the events name; the incident's own list when none does."""
    return _sorted(e.service for e in events if e.service) or _sorted(incident.services)


def _or_count(estimate: int | None, counted: int) -> int | None:
    """The number a person entered for the incident; else the findings' count."""
    return estimate if estimate is not None else _count(counted)


def _addressee(facts: IncidentFacts, tenant_id: str, policy: DraftPolicy) -> tuple[str, str]:
    """The language of `tenant_id`'s notice and the name it is addressed to."""
    customer = facts.customers.get(tenant_id)
    if customer is None:
        return policy.default_language, tenant_id
    return customer.language, customer.name


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
    language, name = _addressee(facts, tenant_id, policy)
    events = [e for e in facts.evidence if e.touches(tenant_id)]
    accounts = _sorted(e.actor_id for e in events if e.actor_id and e.identifies(tenant_id))
    # This customer's data read from another customer's account: told from its side.
    cross = any(e.reads_across and e.resource_tenant == tenant_id for e in events)
    # This customer's account read another customer's data (that customer is never named).
    reader = any(e.reads_across and e.tenant_id == tenant_id for e in events)
    shown = events[: policy.max_evidence_lines]
    fields = _base_fields(
        facts=facts,
        findings=[f for f in facts.findings if tenant_id in f.tenant_ids],
        language=language,
        persons=_count(share.persons),
        records=_count(share.records),
        first_seen=share.first_seen,
        last_seen=share.last_seen,
        services=_services(events, facts.incident),
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
        customer_name=name,
        accounts=accounts[:50],
        evidence=[e.line(tenant_id) for e in shown],
        evidence_omitted=len(events) - len(shown),
        cross_customer=cross,
        reader_side=reader and not cross,
    )


def _own_processing(
    facts: IncidentFacts, now: datetime, policy: DraftPolicy, language: str
) -> dict[str, Any]:
    """AVM Up's own processing, declared with no tenant: the incident's own numbers (None
    when nobody entered them: « [à compléter] », never a guessed zero)."""
    incident = facts.incident
    return _base_fields(
        facts=facts,
        findings=facts.findings,
        language=language,
        persons=incident.persons_estimate,
        records=incident.records_estimate,
        first_seen=incident.first_seen,
        last_seen=incident.last_seen,
        services=_services(facts.evidence, incident),
        reach=[],
        now=now,
        policy=policy,
    )


def _controller_share(
    facts: IncidentFacts, now: datetime, policy: DraftPolicy, language: str
) -> dict[str, Any]:
    """The facts of the tenants in the `controller` role (AVM Up's own processing), for the
    CNIL, data-subject and public notices."""
    tenants = [
        t for tid, t in facts.tenants.items() if facts.role_of(tid) is CustomerRole.CONTROLLER
    ]
    if not tenants:
        return _own_processing(facts, now, policy, language)
    incident = facts.incident
    ids = {t.tenant_id for t in tenants}
    events = [e for e in facts.evidence if any(e.touches(t) for t in ids)]
    accounts = {e.actor_id for e in events if e.actor_id}
    return _base_fields(
        facts=facts,
        findings=[f for f in facts.findings if ids & set(f.tenant_ids)],
        language=language,
        persons=_or_count(incident.persons_estimate, sum(t.persons for t in tenants)),
        records=_or_count(incident.records_estimate, sum(t.records for t in tenants)),
        first_seen=min(t.first_seen for t in tenants),
        last_seen=max(t.last_seen for t in tenants),
        services=_services(events, incident),
        reach=[f"{len(accounts)}"] if accounts else [],
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


def _to_the_persons(
    facts: IncidentFacts, now: datetime, policy: DraftPolicy
) -> tuple[dict[str, Any], bool]:
    """The facts told to the persons (individually or publicly), in the default language, with
    the advice they are given; and whether they hold an account with AVM Up's services."""
    language = policy.default_language
    fields = _controller_share(facts, now, policy, language)
    persons = set(facts.incident.subject_categories or ())
    holders = not persons or bool(persons & wording.ACCOUNT_HOLDERS)
    fields["advice"] = wording.advice(
        language=language, data_categories=fields["data_categories"], account_holders=holders
    )
    return fields, holders


def data_subject_context(
    *, facts: IncidentFacts, phase: NoticePhase, version: int, now: datetime, policy: DraftPolicy
) -> DataSubjectNoticeContext:
    fields, holders = _to_the_persons(facts, now, policy)
    return DataSubjectNoticeContext(**fields, phase=phase, version=version, account_holders=holders)


def public_context(
    *, facts: IncidentFacts, phase: NoticePhase, version: int, now: datetime, policy: DraftPolicy
) -> PublicNoticeContext:
    fields, _holders = _to_the_persons(facts, now, policy)
    return PublicNoticeContext(**fields, phase=phase, version=version)


def fingerprint(context: NoticeContext) -> str:
    data = context.model_dump(mode="json", exclude=set(NON_MATERIAL))
    material = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(material.encode()).hexdigest()


def should_draft(incident: Incident, policy: DraftPolicy) -> bool:
    status = incident.status
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

    def ensure(
        self,
        kind: NoticeKind,
        scope: str,
        tenant_id: str | None,
        build: Callable[[NoticePhase, int], NoticeContext],
    ) -> None:
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
        notice.phase = context.phase
        notice.language = context.language
        notice.subject = rendered.subject
        notice.text_body = rendered.text
        notice.html_body = rendered.html
        notice.context = context.model_dump(mode="json")
        notice.fingerprint = digest
        notice.tenant_id = tenant
        notice.updated_at = self.now
        self.written.append(notice)


def _customer_builder(
    facts: IncidentFacts, tenant_id: str, now: datetime, policy: DraftPolicy
) -> Callable[[NoticePhase, int], NoticeContext]:
    """What `_Drafter.ensure` calls to build `tenant_id`'s customer notice."""
    return lambda phase, version: customer_context(
        facts=facts, tenant_id=tenant_id, phase=phase, version=version, now=now, policy=policy
    )


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
            _customer_builder(facts, tenant_id, now, policy),
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
