"""Declared breaches from the console and the API: the request shapes, and the actions
that call `incidents.declared` and redraft the notices (shared by the pages and the API)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.orm import Session

from accounts.models import User
from incidents import declared
from incidents import service as incident_service
from incidents.models import Incident
from notifiers import flows as notice_flows
from notifiers.exceptions import InvalidNoticeTransition
from notifiers.schemas import DraftPolicy


class DeclareIn(BaseModel):
    """A breach nobody's rule saw. `tenant_ids` empty = AVM Up's own processing."""

    model_config = ConfigDict(extra="forbid")
    tenant_ids: list[str] = Field(default_factory=list, max_length=1000)
    source: str = Field(max_length=32)
    nature: list[str] = Field(max_length=4)
    data_categories: list[str] = Field(default_factory=list, max_length=16)
    services: list[str] = Field(default_factory=list, max_length=16)
    persons: int | None = Field(default=None, ge=0, le=declared.MAX_COUNT)
    records: int | None = Field(default=None, ge=0, le=declared.MAX_COUNT)
    occurred_from: datetime | None = None
    occurred_to: datetime | None = None
    discovered_at: datetime | None = None
    aware_at: datetime | None = None
    aware_justification: str | None = Field(default=None, max_length=4000)
    title: str = Field(default="", max_length=2000)
    summary: str = Field(default="", max_length=10_000)
    confirmed: bool = False

    @model_validator(mode="after")
    def _no_nul(self) -> DeclareIn:
        """A NUL character is never text a person typed (and PostgreSQL refuses it)."""
        for name, value in self:
            values = value if isinstance(value, list) else [value]
            if any(isinstance(v, str) and "\x00" in v for v in values):
                raise ValueError(f"{name}: contains a NUL character")
        return self

    def declaration(self) -> declared.Declaration:
        return declared.Declaration(
            source=self.source,
            nature=self.nature,
            tenant_ids=self.tenant_ids,
            data_categories=self.data_categories,
            services=self.services,
            persons=self.persons,
            records=self.records,
            occurred_from=self.occurred_from,
            occurred_to=self.occurred_to,
            discovered_at=self.discovered_at,
            aware_at=self.aware_at,
            aware_justification=self.aware_justification,
            title=self.title,
            summary=self.summary,
            confirmed=self.confirmed,
        )


FindingId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\x00]+$")]


class FindingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    finding_ids: list[FindingId] = Field(min_length=1, max_length=1000)


class MergeIn(BaseModel):
    """Merge this incident into `into` (this one is dismissed as "merged into …")."""

    model_config = ConfigDict(extra="forbid")
    into: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9-]+$")
    reason: str = Field(min_length=1, max_length=4000, pattern=r"^[^\x00]+$")


def declare(*, session: Session, user: User, data: DeclareIn, policy: DraftPolicy) -> Incident:
    incident = declared.declare(
        session=session,
        declaration=data.declaration(),
        actor_email=user.email,
        now=datetime.now(UTC),
    )
    notice_flows.draft_notices(
        session=session, incident=incident, now=datetime.now(UTC), policy=policy
    )
    return incident


def attach(
    *, session: Session, user: User, ref: str, data: FindingsIn, policy: DraftPolicy
) -> list[str]:
    found = incident_service.require_by_ref(session=session, ref=ref)
    linked = declared.attach_findings(
        session=session, incident=found, finding_ids=data.finding_ids, actor_email=user.email
    )
    notice_flows.draft_notices(
        session=session, incident=found, now=datetime.now(UTC), policy=policy
    )
    return linked


def merge(
    *, session: Session, user: User, ref: str, data: MergeIn, policy: DraftPolicy
) -> Incident:
    """Merge incident `ref` into `data.into`. An incident with a notice a person approved,
    sent or rejected keeps its identity (merge the other way); the drafts of the absorbed
    one are retired with the reason; the kept one redrafts its notices."""
    gone = incident_service.require_by_ref(session=session, ref=ref)
    keep = incident_service.require_by_ref(session=session, ref=data.into)
    if notice_flows.decided_incidents(session, [gone.id]):
        raise InvalidNoticeTransition(
            f"{gone.ref} has notices approved, sent or rejected: merge {keep.ref} into it"
        )
    now = datetime.now(UTC)
    declared.merge(
        session=session,
        absorbed=gone,
        into=keep,
        actor_email=user.email,
        reason=data.reason,
        now=now,
    )
    notice_flows.retire_drafts(session=session, incident=gone, into=keep, now=now)
    notice_flows.draft_notices(session=session, incident=keep, now=now, policy=policy)
    return keep
