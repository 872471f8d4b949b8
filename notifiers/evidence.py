"""The evidence events drafting reads, typed (docs/architecture.md §10).

An evidence event is stored as the JSON of the validated event (`incidents.findings_store.
EvidenceEvent.payload`). `Evidence.from_payload` reads it once, when an incident's facts are
loaded, into the few fields the notices need; drafting never walks the raw mapping again. A
field that is absent or empty reads as None; an actor kind that `ActorKind` does not know
reads as None too (not staff).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from consumers.events import ActorKind
from notifiers.schemas import EvidenceLine

_ACTOR_KINDS = frozenset(kind.value for kind in ActorKind)


def _text(value: Any) -> str | None:
    """`value` as text; None when it is absent or empty."""
    return str(value) if value else None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _actor_kind(value: Any) -> ActorKind | None:
    return ActorKind(value) if value in _ACTOR_KINDS else None


@dataclass(frozen=True, slots=True)
class Evidence:
    """One evidence event: who acted (`tenant_id`, the actor), on whose data
    (`resource_tenant`, None for an auth event), and the codes a notice puts in words."""

    occurred_at: datetime
    tenant_id: str | None = None
    service: str | None = None
    interface: str | None = None
    actor_id: str | None = None
    actor_kind: ActorKind | None = None
    source_ip: str | None = None
    user_agent: str | None = None
    action: str | None = None
    operation: str | None = None
    outcome: str | None = None
    resource_type: str | None = None
    resource_tenant: str | None = None
    records: int | None = None

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any], occurred_at: datetime) -> Evidence:
        """The stored event `payload`, read once; `occurred_at` is the stored event time."""
        actor = _mapping(payload.get("actor"))
        resource = _mapping(payload.get("resource"))
        records = payload.get("records")
        return cls(
            occurred_at=occurred_at,
            tenant_id=_text(payload.get("tenant_id")),
            service=_text(payload.get("service")),
            interface=_text(payload.get("interface")),
            actor_id=_text(actor.get("id")),
            actor_kind=_actor_kind(actor.get("kind")),
            source_ip=_text(payload.get("source_ip")),
            user_agent=_text(payload.get("user_agent")),
            action=_text(payload.get("action")),
            operation=_text(payload.get("operation")),
            outcome=_text(payload.get("outcome")),
            resource_type=_text(resource.get("type")),
            resource_tenant=_text(resource.get("tenant_id")),
            records=records if isinstance(records, int) else None,
        )

    @property
    def staff(self) -> bool:
        """True when a member of AVM Up's staff acted (never named to a customer)."""
        return self.actor_kind is not None and self.actor_kind.is_staff

    @property
    def reads_across(self) -> bool:
        """True when the actor's customer reached another customer's data."""
        return self.resource_tenant is not None and self.resource_tenant != self.tenant_id

    def touches(self, tenant_id: str) -> bool:
        """True when the event involves `tenant_id`: its actor or the data reached."""
        return tenant_id in (self.tenant_id, self.resource_tenant)

    def only_of(self, tenant_id: str) -> bool:
        """True when every tenant reference of the event is `tenant_id` (the actor belongs to
        that customer and the data it reached too): only then may identifying fields be
        shown."""
        return self.tenant_id == tenant_id and self.resource_tenant in (None, tenant_id)

    def identifies(self, tenant_id: str) -> bool:
        """True when `tenant_id`'s notice may name the actor, its address and its browser:
        the event is only that customer's and no member of the staff acted."""
        return self.only_of(tenant_id) and not self.staff

    def line(self, tenant_id: str) -> EvidenceLine:
        """The event as shown in `tenant_id`'s notice (identifying fields per `identifies`)."""
        own = self.identifies(tenant_id)
        return EvidenceLine(
            occurred_at=self.occurred_at,
            service=self.service or "",
            interface=self.interface or "",
            action=self.action,
            operation=self.operation,
            resource_type=self.resource_type,
            outcome=self.outcome,
            staff=self.staff,
            records=self.records,
            actor_id=self.actor_id if own else None,
            source_ip=self.source_ip if own else None,
            user_agent=self.user_agent if own else None,
        )
