"""Every legal time of an incident, computed from its facts (docs/architecture.md §7): pure
functions of their inputs, no session and no wall clock (the caller passes `now`). Reading and
writing the facts is `incidents.clock_store`; callers reach both through `incidents.clocks`.

- `aware_at` is a fact on the incident (defaults to `detected_at`; moved only with a
  justification by `incidents.service.set_aware_at`).
- `customer` clock, one per affected tenant: `aware_at` + the customer's contractual delay
  (`Customer.notify_delay_hours`, else `ClockPolicy.customer_hours_default`).
- `cnil` clock: `aware_at` + `ClockPolicy.cnil_hours` (72 h; 96 h if the Omnibus passes).

All arithmetic is on aware UTC datetimes: 72 h are 72 real hours whatever the DST changes of
the local time zone in between. A clock is overdue strictly *after* its due time ("not later
than").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from consumers.conventions import aware_utc
from incidents.enums import Clock, ClockFactKind, ClockState, CustomerRole
from incidents.exceptions import InvalidClockChange

if TYPE_CHECKING:  # the rows are read, never built here: no SQLAlchemy at import time
    from incidents.models import Customer, Incident


class ClockSettings(Protocol):
    """What `ClockPolicy.from_settings` reads: the fields of `tocsin.settings.Clocks` (this
    package never imports `tocsin`)."""

    @property
    def cnil_hours(self) -> float: ...
    @property
    def customer_hours_default(self) -> float: ...
    @property
    def escalate_hours(self) -> Sequence[float]: ...
    @property
    def due_soon_hours(self) -> float: ...


@dataclass(frozen=True)
class ClockPolicy:
    """Clock settings, built by the caller (the CLI/pipeline from `Settings.clocks`). The
    defaults here are the only ones: `tocsin.settings.Clocks` reads them."""

    cnil_hours: float = 72.0
    customer_hours_default: float = 24.0
    escalate_hours: tuple[float, ...] = (48.0, 24.0, 6.0)
    due_soon_hours: float = 12.0
    escalate_overdue: bool = True

    def __post_init__(self) -> None:
        if self.cnil_hours <= 0 or self.customer_hours_default <= 0 or self.due_soon_hours < 0:
            raise ValueError("clock delays must be positive")
        if any(h <= 0 for h in self.escalate_hours):
            raise ValueError("escalation thresholds must be positive hours")

    @classmethod
    def from_settings(cls, clocks: ClockSettings) -> ClockPolicy:
        """From any object with the fields of `tocsin.settings.Clocks`."""
        return cls(
            cnil_hours=float(clocks.cnil_hours),
            customer_hours_default=float(clocks.customer_hours_default),
            escalate_hours=tuple(float(h) for h in clocks.escalate_hours),
            due_soon_hours=float(clocks.due_soon_hours),
        )

    @property
    def cnil_delay(self) -> timedelta:
        return timedelta(hours=self.cnil_hours)

    @property
    def due_soon(self) -> timedelta:
        return timedelta(hours=self.due_soon_hours)

    def thresholds(self) -> list[float]:
        """Escalation thresholds in hours left, largest first; 0 means overdue."""
        found = sorted(set(self.escalate_hours), reverse=True)
        return [*found, 0.0] if self.escalate_overdue else found


def utc(value: datetime, name: str) -> datetime:
    """`value` in UTC; a naive datetime is refused with `InvalidClockChange` naming it."""
    return aware_utc(value, name, error=InvalidClockChange)


def cnil_due(*, aware_at: datetime, policy: ClockPolicy) -> datetime:
    return utc(aware_at, "aware_at") + policy.cnil_delay


def customer_delay(*, customer: Customer | None, policy: ClockPolicy) -> timedelta:
    hours = customer.notify_delay_hours if customer is not None else None
    return timedelta(hours=hours if hours else policy.customer_hours_default)


def customer_due(*, aware_at: datetime, customer: Customer | None, policy: ClockPolicy) -> datetime:
    return utc(aware_at, "aware_at") + customer_delay(customer=customer, policy=policy)


def state_of(
    *,
    due: datetime,
    now: datetime,
    policy: ClockPolicy,
    met_at: datetime | None = None,
    stopped: bool = False,
) -> ClockState:
    """The state of one clock. Met wins over stopped; overdue strictly after `due`."""
    if met_at is not None:
        return ClockState.MET
    if stopped:
        return ClockState.STOPPED
    now = utc(now, "now")
    if now > due:
        return ClockState.OVERDUE
    if due - now <= policy.due_soon:
        return ClockState.DUE_SOON
    return ClockState.RUNNING


OPEN_CLOCK_STATES = (ClockState.RUNNING, ClockState.DUE_SOON, ClockState.OVERDUE)
_URGENCY = {
    ClockState.OVERDUE: 0,
    ClockState.DUE_SOON: 1,
    ClockState.RUNNING: 2,
    ClockState.MET: 3,
    ClockState.STOPPED: 4,
}


@dataclass(frozen=True)
class ClockStatus:
    clock: Clock
    tenant_id: str | None
    started_at: datetime
    due_at: datetime
    state: ClockState
    remaining_seconds: float
    met_at: datetime | None = None
    late: bool = False
    stop_justification: str | None = None
    # The CNIL clock of a processor-only incident: the customer's deadline, shown for
    # information; never escalated nor counted as AVM Up's.
    informative: bool = False

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_CLOCK_STATES

    def as_dict(self) -> dict[str, Any]:
        return {
            "clock": self.clock.value,
            "tenant_id": self.tenant_id,
            "due_at": self.due_at.isoformat(),
            "state": self.state.value,
            "remaining_seconds": round(self.remaining_seconds, 3),
            "met_at": self.met_at.isoformat() if self.met_at else None,
            "late": self.late,
            "stop_justification": self.stop_justification,
            "informative": self.informative,
        }


@dataclass(frozen=True)
class IncidentClocks:
    cnil: ClockStatus
    customers: tuple[ClockStatus, ...] = field(default_factory=tuple)

    @property
    def all(self) -> tuple[ClockStatus, ...]:
        return (self.cnil, *self.customers)

    @property
    def own(self) -> tuple[ClockStatus, ...]:
        """The clocks AVM Up must meet (all but an informative CNIL clock)."""
        return tuple(c for c in self.all if not c.informative) or self.all

    @property
    def cnil_own(self) -> bool:
        return not self.cnil.informative

    @property
    def customer_due(self) -> datetime | None:
        """The earliest open customer deadline; the earliest one when all are closed."""
        open_ = [c.due_at for c in self.customers if c.is_open]
        if open_:
            return min(open_)
        return min((c.due_at for c in self.customers), default=None)

    @property
    def customer_state(self) -> ClockState | None:
        if not self.customers:
            return None
        return min((c.state for c in self.customers), key=_URGENCY.__getitem__)

    @property
    def state(self) -> ClockState:
        """The most urgent state over all clocks (overdue > due_soon > running > met >
        stopped)."""
        return min((c.state for c in self.own), key=_URGENCY.__getitem__)

    @property
    def next_due(self) -> datetime | None:
        open_ = [c.due_at for c in self.own if c.is_open]
        return min(open_) if open_ else None


class FactLike(Protocol):
    """What the clock computation reads of a `ClockFact` (an ORM row or a light tuple)."""

    @property
    def id(self) -> int: ...
    @property
    def clock(self) -> str: ...
    @property
    def tenant_id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def at(self) -> datetime: ...
    @property
    def justification(self) -> str | None: ...


@dataclass
class _FactState:
    met_at: datetime | None = None
    stopped: bool = False
    justification: str | None = None


def fact_states(facts: Iterable[FactLike]) -> dict[tuple[str, str], _FactState]:
    """What the facts say of each (clock, tenant): met when, stopped or not, and why."""
    states: dict[tuple[str, str], _FactState] = {}
    for fact in sorted(facts, key=lambda f: f.id or 0):
        st = states.setdefault((fact.clock, fact.tenant_id or ""), _FactState())
        if fact.kind == ClockFactKind.MET:
            st.met_at = fact.at if st.met_at is None else min(st.met_at, fact.at)
        elif fact.kind == ClockFactKind.STOPPED:
            st.stopped, st.justification = True, fact.justification
        elif fact.kind == ClockFactKind.RESUMED:
            st.stopped, st.justification = False, None
    return states


def _status(
    clock: Clock,
    tenant_id: str | None,
    start: datetime,
    due: datetime,
    fact: _FactState | None,
    now: datetime,
    policy: ClockPolicy,
    informative: bool = False,
) -> ClockStatus:
    fact = fact or _FactState()
    state = state_of(due=due, now=now, policy=policy, met_at=fact.met_at, stopped=fact.stopped)
    return ClockStatus(
        clock=clock,
        tenant_id=tenant_id,
        started_at=start,
        due_at=due,
        state=state,
        remaining_seconds=(due - now).total_seconds(),
        met_at=fact.met_at,
        late=fact.met_at is not None and fact.met_at > due,
        stop_justification=fact.justification if state == ClockState.STOPPED else None,
        informative=informative,
    )


def incident_clocks(
    *, incident: Incident, customers: Mapping[str, Customer], policy: ClockPolicy, now: datetime
) -> IncidentClocks:
    """All clocks of an incident. `customers` maps tenant ids to their `Customer` rows
    (missing tenants get the default delay)."""
    return compute_clocks(
        aware_at=incident.aware_at,
        tenant_ids=incident.tenant_ids,
        facts=incident.clock_facts,
        customers=customers,
        policy=policy,
        now=now,
    )


def cnil_is_own(*, tenant_ids: Iterable[str], customers: Mapping[str, Customer]) -> bool:
    """The CNIL clock is AVM Up's when AVM Up is controller: an incident with no tenant
    (its own processing) or a tenant whose customer role is `controller`. For processor-only
    incidents the 72 h belong to the customer (Art. 33(1) and (2))."""
    ids = list(tenant_ids)
    return not ids or any(
        t in customers and customers[t].role == CustomerRole.CONTROLLER.value for t in ids
    )


def compute_clocks(
    *,
    aware_at: datetime,
    tenant_ids: Iterable[str],
    facts: Iterable[FactLike],
    customers: Mapping[str, Customer],
    policy: ClockPolicy,
    now: datetime,
) -> IncidentClocks:
    """The clocks from the bare facts (used for queues without loading whole incidents)."""
    now = utc(now, "now")
    aware = utc(aware_at, "aware_at")
    states = fact_states(facts)
    tenant_ids = list(tenant_ids)
    cnil = _status(
        Clock.CNIL,
        None,
        aware,
        aware + policy.cnil_delay,
        states.get((Clock.CNIL.value, "")),
        now,
        policy,
        informative=not cnil_is_own(tenant_ids=tenant_ids, customers=customers),
    )
    per_tenant = tuple(
        _status(
            Clock.CUSTOMER,
            tenant,
            aware,
            aware + customer_delay(customer=customers.get(tenant), policy=policy),
            states.get((Clock.CUSTOMER.value, tenant)),
            now,
            policy,
        )
        for tenant in tenant_ids
    )
    return IncidentClocks(cnil=cnil, customers=per_tenant)


def customer_delays(
    *, customers: Mapping[str, Customer], tenant_ids: Iterable[str], policy: ClockPolicy
) -> dict[str, timedelta]:
    return {t: customer_delay(customer=customers.get(t), policy=policy) for t in tenant_ids}


def next_open_due(
    *,
    aware_at: datetime,
    tenant_ids: Sequence[str],
    facts: Sequence[FactLike],
    delays: Mapping[str, timedelta],
    policy: ClockPolicy,
    cnil_own: bool = True,
) -> datetime | None:
    """`compute_clocks(...).next_due` without building the statuses (queue ordering): the
    earliest due of the clocks neither met nor stopped. `delays` from `customer_delays`;
    `cnil_own` from `cnil_is_own` (an informative CNIL clock is not AVM Up's to meet)."""
    default = timedelta(hours=policy.customer_hours_default)
    cnil_own = cnil_own or not tenant_ids
    if not facts:
        candidates = [delays.get(t, default) for t in tenant_ids]
        if cnil_own:
            candidates.append(policy.cnil_delay)
        return aware_at + min(candidates)
    states = fact_states(facts)

    def closed(clock: Clock, tenant: str) -> bool:
        st = states.get((clock.value, tenant))
        return st is not None and (st.met_at is not None or st.stopped)

    dues = [] if closed(Clock.CNIL, "") or not cnil_own else [policy.cnil_delay]
    dues.extend(delays.get(t, default) for t in tenant_ids if not closed(Clock.CUSTOMER, t))
    return aware_at + min(dues) if dues else None


def due_escalations(
    *, clocks: IncidentClocks, fired: Sequence[tuple[str, str, float]], policy: ClockPolicy
) -> list[tuple[ClockStatus, float]]:
    """Pure: which (clock, threshold) must fire now. Only the tightest threshold crossed is
    fired (no burst of three alerts when an incident opens late); a threshold is skipped
    once it or a tighter one fired; thresholds at or above the clock's full delay never
    fire (a 24 h customer clock does not alert '24 h left' at birth)."""
    out = []
    for status in clocks.all:
        if not status.is_open or status.informative:
            continue
        tenant = status.tenant_id or ""
        total_hours = (status.due_at - status.started_at).total_seconds() / 3600
        left_hours = status.remaining_seconds / 3600
        crossed = [
            t
            for t in policy.thresholds()
            if t < total_hours and ((t == 0 and left_hours < 0) or (t > 0 and left_hours <= t))
        ]
        if not crossed:
            continue
        tightest = min(crossed)
        done = [t for (c, ten, t) in fired if c == status.clock.value and ten == tenant]
        if any(t <= tightest for t in done):
            continue
        out.append((status, tightest))
    return out
