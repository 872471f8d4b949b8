"""Pydantic shapes: the render contexts of the three notices, edits, and drafting policy.

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


class Contacts(_Frozen):
    organisation: Line = "AVM Up (AVM Informatique, Lyon)"
    dpo_email: Line = "dpo@avmup.com"
    rssi_email: Line = "rssi@avmup.com"
    privacy_email: Line = "privacy@avmup.com"


class EvidenceLine(_Frozen):
    """One evidence event as shown to a customer: identifying fields only when the event
    belongs entirely to that customer (see `flows.customer_context`)."""

    occurred_at: datetime
    service: Line
    interface: Line
    what: Line
    records: int | None = None
    actor_id: Line | None = None
    source_ip: Line | None = None
    user_agent: Line | None = None


class NoticeBase(_Frozen):
    incident_ref: Line
    language: Line = "fr"
    phase: NoticePhase
    version: int
    timezone: Line = "Europe/Paris"
    generated_at: datetime
    detected_at: datetime
    aware_at: datetime
    first_seen: datetime
    last_seen: datetime
    ongoing: bool
    established: bool
    natures: list[Line]  # confidentiality / integrity / availability
    rule_ids: list[Line]
    services: list[Line]
    data_categories: list[Line]
    persons: int
    records: int
    severity_band: Line | None = None
    measures_taken: list[Para]
    measures_proposed: list[Para]
    contacts: Contacts = Contacts()
    next_update: datetime | None = None
    # A declared breach: what the person who declared it wrote (empty for detected ones).
    summary: Para = ""


class CustomerNoticeContext(NoticeBase):
    """Art. 33(2)/(3) notice from AVM Up (processor) to ONE customer (controller).

    Built from that customer's share of the incident only: no other tenant id, name, count or
    evidence ever enters this object.
    """

    kind: NoticeKind = NoticeKind.CUSTOMER
    tenant_id: Line
    customer_name: Line
    accounts: list[Line] = Field(default_factory=list)
    evidence: list[EvidenceLine] = Field(default_factory=list)
    evidence_omitted: int = 0


class CnilNoticeContext(NoticeBase):
    """The CNIL teleservice sections (LEGAL.md), AVM Up acting as controller."""

    kind: NoticeKind = NoticeKind.CNIL
    cnil_due: datetime
    late: bool
    reasons_for_delay: Para | None = None
    origin: Line
    cause: Line
    circumstances: Para
    subject_categories: list[Line]
    directly_identifiable: bool
    consequences: list[Line]
    harms: list[Line]
    measures_long_term: list[Para]
    data_subjects_informed: Line
    processors_involved: Line
    previous_receipt: Line | None = None


class DataSubjectNoticeContext(NoticeBase):
    """Art. 34(2): clear and plain language to the persons concerned."""

    kind: NoticeKind = NoticeKind.DATA_SUBJECT
    advice: list[Para]


class PublicNoticeContext(NoticeBase):
    """Art. 34(3)(c): a public communication, when telling each person would involve
    disproportionate effort; the same items as the data-subject notice, for everyone."""

    kind: NoticeKind = NoticeKind.PUBLIC
    advice: list[Para]


NoticeContext = (CustomerNoticeContext | CnilNoticeContext | DataSubjectNoticeContext
                 | PublicNoticeContext)


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
    timezone: Line = "Europe/Paris"
    override_dir: Path | None = None
    contacts: Contacts = Contacts()
    next_update_hours: float = 24.0
    max_evidence_lines: int = 20
    cnil_hours: float = 72.0

    @classmethod
    def from_settings(cls, settings: Any) -> DraftPolicy:
        """From `tocsin.settings.Settings` (duck-typed: this package never imports `tocsin`).
        Reads `draft_on_critical`, `timezone`, `clocks.cnil_hours` and, when present,
        `notice_language`, `notice_override_dir`."""
        return cls(
            draft_on_critical=bool(settings.draft_on_critical),
            timezone=str(settings.timezone),
            cnil_hours=float(settings.clocks.cnil_hours),
            default_language=str(getattr(settings, "notice_language", "fr") or "fr"),
            override_dir=getattr(settings, "notice_override_dir", None),
        )
