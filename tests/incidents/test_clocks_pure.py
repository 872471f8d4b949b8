"""Legal clock arithmetic (pure): GDPR Art. 33 deadlines, boundaries and DST."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from incidents import clock_store, clocks, deadlines
from incidents.clocks import ClockPolicy, ClockStatus, IncidentClocks
from incidents.enums import Clock, ClockState
from incidents.exceptions import InvalidClockChange
from incidents.models import Customer

PARIS = ZoneInfo("Europe/Paris")
POLICY = ClockPolicy()
AWARE = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)


def test_cnil_due_is_72_real_hours_after_awareness() -> None:
    assert clocks.cnil_due(aware_at=AWARE, policy=POLICY) == AWARE + timedelta(hours=72)
    omnibus = ClockPolicy(cnil_hours=96)
    assert clocks.cnil_due(aware_at=AWARE, policy=omnibus) == AWARE + timedelta(hours=96)


def test_exactly_72h_is_still_in_time_and_one_microsecond_later_is_overdue() -> None:
    due = clocks.cnil_due(aware_at=AWARE, policy=POLICY)
    assert clocks.state_of(due=due, now=AWARE + timedelta(hours=72), policy=POLICY) == (
        ClockState.DUE_SOON
    )
    late = AWARE + timedelta(hours=72, microseconds=1)
    assert clocks.state_of(due=due, now=late, policy=POLICY) == ClockState.OVERDUE


def test_due_soon_starts_exactly_at_the_threshold() -> None:
    due = clocks.cnil_due(aware_at=AWARE, policy=POLICY)
    just_before = due - timedelta(hours=12, seconds=1)
    assert clocks.state_of(due=due, now=just_before, policy=POLICY) == ClockState.RUNNING
    assert clocks.state_of(due=due, now=due - timedelta(hours=12), policy=POLICY) == (
        ClockState.DUE_SOON
    )


def test_met_wins_over_overdue_and_stopped() -> None:
    due = AWARE
    later = AWARE + timedelta(days=3)
    assert (
        clocks.state_of(due=due, now=later, policy=POLICY, met_at=later, stopped=True)
        == ClockState.MET
    )
    assert clocks.state_of(due=due, now=later, policy=POLICY, stopped=True) == (ClockState.STOPPED)


@pytest.mark.parametrize(
    ("aware_local", "due_local"),
    [
        # Spring forward (2026-03-29 02:00 → 03:00 in Paris): 72 real hours end one
        # wall-clock hour "later" than the same local time + 3 days.
        (datetime(2026, 3, 28, 12, 0, tzinfo=PARIS), datetime(2026, 3, 31, 13, 0, tzinfo=PARIS)),
        # Fall back (2026-10-25 03:00 → 02:00): one wall-clock hour "earlier".
        (datetime(2026, 10, 24, 12, 0, tzinfo=PARIS), datetime(2026, 10, 27, 11, 0, tzinfo=PARIS)),
    ],
)
def test_dst_in_paris_does_not_shift_the_72h_deadline(
    aware_local: datetime, due_local: datetime
) -> None:
    due = clocks.cnil_due(aware_at=aware_local, policy=POLICY)
    assert due == due_local
    assert due - aware_local.astimezone(UTC) == timedelta(hours=72)
    assert due.tzinfo == UTC


def test_customer_delay_is_contractual_with_default() -> None:
    fast = Customer(
        tenant_id="acme", name="Acme", contact_email="sec@acme.test", notify_delay_hours=12.0
    )
    assert clocks.customer_due(aware_at=AWARE, customer=fast, policy=POLICY) == (
        AWARE + timedelta(hours=12)
    )
    assert clocks.customer_due(aware_at=AWARE, customer=None, policy=POLICY) == (
        AWARE + timedelta(hours=24)
    )


def test_naive_times_are_refused() -> None:
    with pytest.raises(InvalidClockChange):
        clocks.cnil_due(aware_at=datetime(2026, 1, 1), policy=POLICY)


def _status(
    clock: Clock,
    left_h: float,
    total_h: float,
    tenant: str | None = None,
    state: ClockState = ClockState.RUNNING,
) -> ClockStatus:
    now = AWARE + timedelta(hours=total_h - left_h)
    due = AWARE + timedelta(hours=total_h)
    return ClockStatus(
        clock=clock,
        tenant_id=tenant,
        started_at=AWARE,
        due_at=due,
        state=state,
        remaining_seconds=(due - now).total_seconds(),
    )


def test_escalation_thresholds_fire_tightest_crossed_once() -> None:
    at_48 = IncidentClocks(cnil=_status(Clock.CNIL, 48, 72))
    [(status, threshold)] = clocks.due_escalations(clocks=at_48, fired=[], policy=POLICY)
    assert (status.clock, threshold) == (Clock.CNIL, 48.0)
    assert clocks.due_escalations(clocks=at_48, fired=[("cnil", "", 48.0)], policy=POLICY) == []
    # Opened late with 5 h left: only the 6 h alert, not a burst of three.
    late = IncidentClocks(cnil=_status(Clock.CNIL, 5, 72))
    assert [t for _, t in clocks.due_escalations(clocks=late, fired=[], policy=POLICY)] == [6.0]
    # Overdue after the 6 h alert: the overdue (0 h) escalation.
    over = IncidentClocks(cnil=_status(Clock.CNIL, -0.1, 72, state=ClockState.OVERDUE))
    assert [
        t for _, t in clocks.due_escalations(clocks=over, fired=[("cnil", "", 6.0)], policy=POLICY)
    ] == [0.0]


def test_customer_24h_clock_does_not_alert_at_birth_but_at_6h() -> None:
    birth = IncidentClocks(
        cnil=_status(Clock.CNIL, 72, 72), customers=(_status(Clock.CUSTOMER, 24, 24, "acme"),)
    )
    assert clocks.due_escalations(clocks=birth, fired=[], policy=POLICY) == []
    six = IncidentClocks(
        cnil=_status(Clock.CNIL, 54, 72), customers=(_status(Clock.CUSTOMER, 6, 24, "acme"),)
    )
    found = clocks.due_escalations(clocks=six, fired=[], policy=POLICY)
    assert [(s.clock, s.tenant_id, t) for s, t in found] == [(Clock.CUSTOMER, "acme", 6.0)]


def test_met_or_stopped_clocks_never_escalate() -> None:
    met = IncidentClocks(cnil=_status(Clock.CNIL, 1, 72, state=ClockState.MET))
    stopped = IncidentClocks(cnil=_status(Clock.CNIL, 1, 72, state=ClockState.STOPPED))
    assert clocks.due_escalations(clocks=met, fired=[], policy=POLICY) == []
    assert clocks.due_escalations(clocks=stopped, fired=[], policy=POLICY) == []


def test_policy_from_settings_duck_typed() -> None:
    class Clocks:
        cnil_hours = 96
        customer_hours_default = 48
        escalate_hours = (72, 12)
        due_soon_hours = 6

    policy = ClockPolicy.from_settings(Clocks())
    assert policy == ClockPolicy(
        cnil_hours=96, customer_hours_default=48, escalate_hours=(72.0, 12.0), due_soon_hours=6
    )
    assert policy.thresholds() == [72.0, 12.0, 0.0]


def test_the_deadline_computation_needs_no_session() -> None:
    """The pure part of the clocks imports no ORM session, the persistence part does."""

    def imported(module: object) -> set[str]:
        tree = ast.parse(Path(str(getattr(module, "__file__", ""))).read_text())
        return {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
            for alias in node.names
        }

    assert "Session" not in imported(deadlines)
    assert "Session" in imported(clock_store)
    assert clocks.tick is clock_store.tick and clocks.ClockPolicy is deadlines.ClockPolicy
