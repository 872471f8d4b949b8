"""Pydantic shapes: the render contexts of the notices, edits, and drafting policy.

Every string that reaches a template goes through `Line` (one line: CR, LF and other control
characters become spaces) or `Para` (multi-line: CR and control characters other than LF
removed). Values are never templates themselves, so `{{7*7}}` stays literal; the HTML parts are
autoescaped by the environment.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from consumers.conventions import DEFAULT_TIMEZONE
from incidents.deadlines import ClockPolicy
from notifiers.enums import NoticeKind, NoticePhase

_CONTROL_LINE = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]+")
_CONTROL_PARA = re.compile(r"[\x00-\x09\x0b-\x1f\x7f\u0085\u2028\u2029]+")


def one_line(value: str) -> str:
    """Collapse every control character (CR, LF, TAB, NUL, U+2028...) to one space."""
    return _CONTROL_LINE.sub(" ", value).strip()


def paragraph(value: str) -> str:
    """Keep line feeds, normalise CRLF/CR to LF, drop other control characters."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL_PARA.sub(" ", value).strip()


Line = Annotated[str, AfterValidator(one_line)]
Para = Annotated[str, AfterValidator(paragraph)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Organisation(_Frozen):
    """AVM Up's identity on the notices, from settings (`TOCSIN_ORG__*`). None = not
    configured: printed « [à compléter] », and a notice that needs it cannot be approved."""

    name: Line | None = None
    siren: Line | None = None
    address: Line | None = None
    representative: Line | None = None
    dpo_name: Line | None = None
    dpo_email: Line | None = None
    dpo_phone: Line | None = None
    rssi_email: Line | None = None
    privacy_email: Line | None = None


class EvidenceLine(_Frozen):
    """One evidence event as shown to a customer: identifying fields only when the event
    belongs entirely to that customer (see `flows.customer_context`). The event's codes
    (`action`, `operation`, `resource_type`, `outcome`) are put in words by the templates."""

    occurred_at: datetime
    service: Line
    interface: Line
    action: Line | None = None
    operation: Line | None = None
    resource_type: Line | None = None
    outcome: Line | None = None
    staff: bool = False
    records: int | None = None
    actor_id: Line | None = None
    source_ip: Line | None = None
    user_agent: Line | None = None


class NoticeBase(_Frozen):
    """Facts common to every notice. A None field is a fact nobody has entered: the
    templates print « [à compléter] » and `missing_fields` lists it (approval refused)."""

    incident_ref: Line
    language: Line = "fr"
    phase: NoticePhase
    version: int
    timezone: Line = DEFAULT_TIMEZONE
    generated_at: datetime
    detected_at: datetime
    aware_at: datetime
    first_seen: datetime
    last_seen: datetime
    ongoing: bool  # the incident is still being handled (a next update is promised)
    established: bool
    natures: list[Line]  # confidentiality / integrity / availability
    rule_ids: list[Line]
    services: list[Line]
    data_categories: list[Line]
    persons: int | None  # None: Tocsin cannot count them (« à déterminer »)
    records: int | None
    reach: list[Line] = Field(default_factory=list)  # what is known when a count is not
    severity_band: Line | None = None
    measures_taken: list[Para] | None = None
    measures_proposed: list[Para] | None = None
    cause: Line | None = None
    origin: Line | None = None
    origin_detail: Para | None = None
    subprocessors_involved: Line | None = None
    subprocessors: Para | None = None
    breach_ongoing: Line | None = None
    breach_ended_at: datetime | None = None
    org: Organisation = Organisation()
    next_update: datetime | None = None
    # A declared breach: what the person who declared it wrote (empty for detected ones).
    summary: Para = ""

    @property
    def contacts(self) -> dict[str, str]:
        """The organisation block under the names templates used before `org` (a per-customer
        override may still read them); unset values read « [à compléter] »."""
        tbc = "[to be completed]" if self.language == "en" else "[à compléter]"
        org = self.org
        return {
            "organisation": org.name or tbc,
            "dpo_email": org.dpo_email or tbc,
            "rssi_email": org.rssi_email or tbc,
            "privacy_email": org.privacy_email or tbc,
        }


class CustomerNoticeContext(NoticeBase):
    """Art. 33(2)/(3) notice from AVM Up (processor) to ONE customer (controller).

    Built from that customer's share of the incident only: no other tenant id, name, count or
    evidence ever enters this object. `cross_customer` is set when the customer's data was
    read from another customer's account (the cause lies in AVM Up's separation between
    customers; the reading customer is never named); `reader_side` when this customer's
    account read data that was not its own (a neutral notice, without the owner).
    """

    kind: NoticeKind = NoticeKind.CUSTOMER
    tenant_id: Line
    customer_name: Line
    accounts: list[Line] = Field(default_factory=list)
    evidence: list[EvidenceLine] = Field(default_factory=list)
    evidence_omitted: int = 0
    cross_customer: bool = False
    reader_side: bool = False


class CnilNoticeContext(NoticeBase):
    """The CNIL teleservice sections (docs/architecture.md §10), AVM Up acting as controller."""

    kind: NoticeKind = NoticeKind.CNIL
    cnil_due: datetime
    late: bool
    reasons_for_delay: Para | None = None
    circumstances: Para
    subject_categories: list[Line] | None = None
    directly_identifiable: bool
    consequences: list[Line]
    harms: list[Line]
    measures_planned: list[Para] | None = None
    measures_long_term: list[Para] | None = None
    data_subjects_informed: Line
    previous_receipt: Line | None = None


class DataSubjectNoticeContext(NoticeBase):
    """Art. 34(2): clear and plain language to the persons concerned."""

    kind: NoticeKind = NoticeKind.DATA_SUBJECT
    advice: list[Para]
    account_holders: bool = True


class PublicNoticeContext(NoticeBase):
    """Art. 34(3)(c): a public communication, when telling each person would involve
    disproportionate effort; the same items as the data-subject notice, for everyone."""

    kind: NoticeKind = NoticeKind.PUBLIC
    advice: list[Para]


NoticeContext = (
    CustomerNoticeContext | CnilNoticeContext | DataSubjectNoticeContext | PublicNoticeContext
)

# The organisation fields each kind of notice prints, and the setting that fills each.
ORG_SETTINGS = {
    "name": "TOCSIN_ORG__NAME",
    "siren": "TOCSIN_ORG__SIREN",
    "address": "TOCSIN_ORG__ADDRESS",
    "representative": "TOCSIN_ORG__REPRESENTATIVE",
    "dpo_name": "TOCSIN_ORG__DPO_NAME",
    "dpo_email": "TOCSIN_ORG__DPO_EMAIL",
    "dpo_phone": "TOCSIN_ORG__DPO_PHONE",
    "rssi_email": "TOCSIN_ORG__RSSI_EMAIL",
    "privacy_email": "TOCSIN_ORG__PRIVACY_EMAIL",
}
_ORG_NEEDED = {
    "customer": ("name", "dpo_email", "rssi_email"),
    "cnil": tuple(ORG_SETTINGS),
    "data_subject": ("name", "dpo_email", "privacy_email"),
    "public": ("name", "dpo_email", "privacy_email"),
}
_FIELDS_NEEDED = {
    "customer": (
        "measures_taken",
        "measures_proposed",
        "cause",
        "origin",
        "subprocessors_involved",
        "breach_ongoing",
    ),
    "cnil": (
        "measures_taken",
        "measures_planned",
        "measures_long_term",
        "cause",
        "origin",
        "subprocessors_involved",
        "breach_ongoing",
        "subject_categories",
    ),
    "data_subject": ("measures_taken", "breach_ongoing"),
    "public": ("measures_taken", "breach_ongoing"),
}


def missing_fields(kind: str, context: dict[str, Any]) -> list[str]:
    """The facts a notice of `kind` still prints as « [à compléter] »: incident fields by
    name (`cause`, `measures_taken`...) and organisation settings (`TOCSIN_ORG__SIREN`...)."""
    missing = [f for f in _FIELDS_NEEDED.get(kind, ()) if context.get(f) is None]
    if context.get("breach_ongoing") == "no" and context.get("breach_ended_at") is None:
        missing.append("breach_ended_at")
    org = context.get("org") or {}
    missing += [ORG_SETTINGS[f] for f in _ORG_NEEDED.get(kind, ()) if not org.get(f)]
    return missing


class RenderedNotice(_Frozen):
    subject: str
    text: str
    html: str


class NoticeEdit(BaseModel):
    """What the RSSI may change at approval: the subject and the plain-text body. The HTML
    part of an edited notice is regenerated from the edited text (escaped), so no HTML is ever
    typed by hand."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    subject: Annotated[Line, Field(min_length=1, max_length=250)] | None = None
    text: Annotated[Para, Field(min_length=1, max_length=100_000)] | None = None


class DraftPolicy(_Frozen):
    """How and when notices are drafted. Built by the shell from settings."""

    draft_on_critical: bool = True
    default_language: Line = "fr"
    timezone: Line = DEFAULT_TIMEZONE
    override_dir: Path | None = None
    org: Organisation = Organisation()
    next_update_hours: float = 24.0
    max_evidence_lines: int = 20
    cnil_hours: float = ClockPolicy.cnil_hours

    @classmethod
    def from_settings(cls, settings: Any) -> DraftPolicy:
        """From `tocsin.settings.Settings` (duck-typed: this package never imports `tocsin`).
        Reads `draft_on_critical`, `timezone`, `clocks.cnil_hours` and, when present,
        `notice_language`, `notice_override_dir` and `org` (the organisation block)."""
        org = getattr(settings, "org", None)
        return cls(
            draft_on_critical=bool(settings.draft_on_critical),
            timezone=str(settings.timezone),
            cnil_hours=float(settings.clocks.cnil_hours),
            default_language=str(getattr(settings, "notice_language", "fr") or "fr"),
            override_dir=getattr(settings, "notice_override_dir", None),
            org=Organisation(**org.model_dump()) if org is not None else Organisation(),
        )
