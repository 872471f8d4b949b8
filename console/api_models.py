"""What the JSON API answers, as pydantic models: the OpenAPI document describes every
response from them (`response_model` on each route of `api.py`, `api_breaches.py` and
`api_notice_fields.py`).

The read models (`views.py`, `notices_view.py`, `notice_fields_view.py`) build plain dicts;
these models name the fields a client relies on, with their types, and let the rest through
(`extra="allow"`), so a field a read model adds is answered before it is described here.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class _Out(BaseModel):
    model_config = ConfigDict(extra="allow")


class HealthOut(_Out):
    database: bool
    version: str


class UserOut(_Out):
    id: int
    email: str
    role: str
    active: bool
    lang: str | None = None


class MeOut(UserOut):
    csrf_token: str


class IncidentSummaryOut(_Out):
    """An incident as the queue lists it."""

    ref: str
    status: str
    title: str | None = None
    tenants: list[str]
    rule_ids: list[str]
    nature: list[str]
    detected_at: str
    aware_at: str
    next_due: str | None = None
    cnil_due: str
    customer_due: str | None = None
    clock_state: str
    declared: bool | None = None


class IncidentPageOut(_Out):
    items: list[IncidentSummaryOut]
    total: int
    page: int
    per_page: int


class AuditEntryOut(_Out):
    seq: int
    at: str
    actor: str
    action: str
    data: dict[str, Any] | None = None
    hash: str


class NoticeOut(_Out):
    """A notice with its approval and delivery state."""

    id: int
    incident_ref: str | None = None
    kind: str
    scope: str | None = None
    tenant_id: str | None = None
    version: int
    language: str
    status: str
    subject: str | None = None
    text_body: str | None = None
    signers: list[str]
    missing: list[Any]
    approved_by: str | None = None
    dpo_approved_by: str | None = None
    sent_at: str | None = None
    delivery: str | None = None


class IncidentOut(IncidentSummaryOut):
    """An incident with its findings, clocks, assessment, notices and audit trail."""

    first_seen: str
    last_seen: str
    allowed_transitions: list[str]
    tenant_rows: list[dict[str, Any]]
    clocks: list[dict[str, Any]]
    findings: list[dict[str, Any]]
    evidence: list[dict[str, Any]]
    severity: dict[str, Any]
    comments: list[dict[str, Any]]
    timeline: list[dict[str, Any]]
    audit: list[AuditEntryOut]
    notices: list[NoticeOut]


class TransitionOut(_Out):
    ref: str
    status: str


class DoneOut(_Out):
    """A change recorded on incident `ref`."""

    ref: str
    ok: bool


class AwareAtOut(_Out):
    ref: str
    aware_at: str


class DraftedOut(_Out):
    ref: str
    written: int


class AssessmentOut(_Out):
    """A recorded assessment: the score, who is told and why, and who decided."""

    ref: str
    score: float
    band: str
    notify_customer: bool | None = None
    notify_cnil: bool | None = None
    notify_subjects: bool | None = None
    notify_public: bool | None = None
    recommendation_overridden: bool
    art34_exemption: str | None = None
    justification: str | None = None
    decided_by: str | None = None
    advice: Any = None
    factors: Any = None
    reasons: Any = None


class DeliveryReportOut(_Out):
    sent: int
    retried: int
    failed: int
    uncertain: int


class SentNoticeOut(NoticeOut):
    report: DeliveryReportOut


class RegisterEntryOut(_Out):
    """One row of the Art. 33(5) register (`incidents.register.FIELDS`)."""

    ref: str
    status: str


class TokenOut(_Out):
    id: int
    email: str
    name: str
    state: str
    created_at: str
    expires_at: str
    last_used_at: str | None = None
    revoked_at: str | None = None


class NewTokenOut(TokenOut):
    token: str


class LinkedOut(_Out):
    ref: str
    linked: list[str]


class MergedOut(_Out):
    ref: str
    merged_into: str


class NoticeFieldsOut(_Out):
    """The notice facts: values, allowed choices and suggested standard measures."""

    values: dict[str, Any]
    nature: list[str]
    attempt: bool
    qualified: dict[str, Any] | None = None
    choices: dict[str, dict[str, str]]
    suggestions: dict[str, Any]


class NoticeFieldsChangedOut(_Out):
    ref: str
    changed: list[str]
    values: dict[str, Any]


class QualifiedOut(_Out):
    ref: str
    nature: list[str]
    qualified_nature: list[str] | None = None
