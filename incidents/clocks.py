"""Every legal time of an incident (docs/architecture.md §7), in one place for its callers:
the pure computation of the deadlines from their inputs (`incidents.deadlines`) and the rows
they are computed from and recorded in (`incidents.clock_store`).

- `aware_at` is a fact on the incident (defaults to `detected_at`; moved only with a
  justification by `incidents.service.set_aware_at`).
- `customer` clock, one per affected tenant: `aware_at` + the customer's contractual delay
  (`Customer.notify_delay_hours`, else `ClockPolicy.customer_hours_default`).
- `cnil` clock: `aware_at` + `ClockPolicy.cnil_hours` (72 h; 96 h if the Omnibus passes).
"""

from __future__ import annotations

from incidents.clock_store import (
    clocks_for,
    load_customers,
    mark_clock_met,
    mark_escalation_delivered,
    min_delay,
    pending_escalations,
    set_clock_stopped,
    tick,
)
from incidents.deadlines import (
    OPEN_CLOCK_STATES,
    ClockPolicy,
    ClockSettings,
    ClockStatus,
    FactLike,
    IncidentClocks,
    cnil_due,
    cnil_is_own,
    compute_clocks,
    customer_delay,
    customer_delays,
    customer_due,
    due_escalations,
    incident_clocks,
    next_open_due,
    state_of,
)

__all__ = [
    "OPEN_CLOCK_STATES",
    "ClockPolicy",
    "ClockSettings",
    "ClockStatus",
    "FactLike",
    "IncidentClocks",
    "clocks_for",
    "cnil_due",
    "cnil_is_own",
    "compute_clocks",
    "customer_delay",
    "customer_delays",
    "customer_due",
    "due_escalations",
    "incident_clocks",
    "load_customers",
    "mark_clock_met",
    "mark_escalation_delivered",
    "min_delay",
    "next_open_due",
    "pending_escalations",
    "set_clock_stopped",
    "state_of",
    "tick",
]
