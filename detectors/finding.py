"""`Finding`: what a rule reports. The contract between detectors and incidents."""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

MAX_EVIDENCE = 50


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Nature(StrEnum):
    CONFIDENTIALITY = "confidentiality"
    INTEGRITY = "integrity"
    AVAILABILITY = "availability"
    ATTEMPT = "attempt"  # failures only, nothing reached: a security incident, not a breach


class TenantImpact(BaseModel):
    """What one affected customer (the data owner) has at stake in a finding."""

    model_config = ConfigDict(frozen=True)

    events: int = 0
    records: int = 0
    subjects: int = 0


class Finding(BaseModel):
    """One finding per (rule, group key) per dedup period.

    A rule re-emits the same `finding_id` with updated aggregates while further matches
    arrive; every field is the *current* value derived from detector state (never an
    increment), so storing the last emitted version is idempotent under replay.

    `tenant_ids` are the affected customers: the owner of the data (`resource.tenant_id`) for
    access events, the account's tenant for auth events. `tenants` gives each one's counts.
    """

    model_config = ConfigDict(frozen=True)

    finding_id: str
    rule_id: str
    severity: Severity
    nature: frozenset[Nature]
    tenant_ids: tuple[str, ...]
    tenants: dict[str, TenantImpact] = Field(default_factory=dict)
    group_key: str
    actor_ids: tuple[str, ...] = ()
    source_ips: tuple[str, ...] = ()
    data_categories: frozenset[str] = frozenset()
    records: Annotated[int, Field(ge=0)] = 0
    subjects: Annotated[int, Field(ge=0)] = 0
    count: Annotated[int, Field(ge=1)] = 1
    first_seen: datetime
    last_seen: datetime
    evidence: tuple[str, ...] = ()
    summary: str


def finding_id(rule_id: str, group_key: str, window_start: datetime) -> str:
    """Deterministic id: sha256(rule id, group key, window start), 32 hex characters."""
    material = f"{rule_id}\x1f{group_key}\x1f{window_start.isoformat()}".encode()
    return hashlib.sha256(material).hexdigest()[:32]
