"""Realistic synthetic traffic for AVM Up's six services, with labelled attack scenarios.

Pure: no Kafka, no clock, no network. `Simulator(...).events(count=...)` yields `SimEvent`s in
event-time order (or in a bounded arrival disorder, `disorder=`); `tocsin simulate` sends them
to Kafka or to a JSONL file (`write_jsonl`). Attack scenarios (`ATTACKS`) cover every rule of
the default catalogue; their events carry the scenario name (`label`) and instance
(`attack_id`) as ground truth for `tocsin.dev.evaluation`.

Normal traffic is generated session by session from a non-homogeneous Poisson process
(thinning) whose intensity follows the Paris working day and week:

* customers (many tenants, mostly French, some Belgian, Spanish, German, Italian; users and
  admins; office NAT and home addresses; MFA for some; typos on passwords; a few legitimate
  travellers inside the EU/EEA; occasional bulk-but-normal exports);
* API keys of the tenants' integrations (servers in France, around the clock, lighter at
  night); CRM synchronisations read hundreds of records an hour and now and then export a
  whole contact book (over the 1,000-record floor, under 8x their own hourly baseline);
* AVM Up staff (support, maintenance, admin) on weekdays, sessions opened 09:05-17:00 Paris
  and done by ~17:30, always with a ticket id when they reach customer data;
* system jobs (campaign sending, retention purges, credential audits), day and night.

Normal traffic is kept below every default threshold of the catalogue (docs/architecture.md §4)
by per-actor budgets over sliding windows (records read or exported per hour, records deleted
or updated per 10 minutes, denied accesses per 10 minutes) and by never using `tls: false`,
never reaching another tenant's data, never reading `security` data except by `system`.

Determinism: the population comes from `Random(f"{seed}:population")`, normal traffic from
`Random(f"{seed}:traffic")` and each attack instance from its own `Random`, so the same seed
gives byte-identical output, and adding attacks never changes the normal events.
Event ids are UUIDs drawn from those generators (never `uuid4`).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from random import Random

from consumers.conventions import Stream, is_aware
from tocsin.dev.simulator.attacks import _ATTACK_FNS, ATTACKS, AttackScenario, _AttackContext
from tocsin.dev.simulator.output import (
    SimEvent,
    SimulatorError,
    UnknownAttack,
    read_jsonl,
    write_jsonl,
)
from tocsin.dev.simulator.traffic import SERVICES, STAFF_TENANT, _Population, _Traffic

__all__ = [
    "ATTACKS",
    "SERVICES",
    "STAFF_TENANT",
    "AttackScenario",
    "SimEvent",
    "Simulator",
    "SimulatorError",
    "Stream",
    "UnknownAttack",
    "read_jsonl",
    "write_jsonl",
]

# --------------------------------------------------------------------------------------------
# The simulator


@dataclass(order=True)
class _Planned:
    position: int  # number of normal events emitted before injection
    order: int
    name: str = field(compare=False)
    instance: int = field(compare=False)


class Simulator:
    """Synthetic traffic for the six services. Pure and deterministic for a seed."""

    def __init__(
        self,
        *,
        seed: int = 0,
        start: datetime,
        tenants: int = 40,
        users_per_tenant: int = 25,
        staff: int = 12,
        sessions_per_user_day: float = 0.6,
        travellers: float = 0.03,
        disorder: timedelta = timedelta(0),
    ) -> None:
        """`disorder` > 0 delays each event's *arrival* by a random 0..disorder (services
        publish independently): the output is then in arrival order, not event-time order,
        and no event arrives after one more than `disorder` younger than it. Keep it below
        the detectors' allowed lateness (60 s by default) or events will be late."""
        if not is_aware(start):
            raise SimulatorError("start must be an aware datetime (naive times are invalid)")
        if tenants < 1 or users_per_tenant < 1 or staff < 0:
            raise SimulatorError("need at least one tenant and one user per tenant")
        if sessions_per_user_day <= 0:
            raise SimulatorError("sessions_per_user_day must be positive")
        if disorder < timedelta(0):
            raise SimulatorError("disorder must not be negative")
        self.seed = seed
        self.start = start.astimezone(UTC)
        self.tenants = tenants
        self.users_per_tenant = users_per_tenant
        self.staff = staff
        self.sessions_per_user_day = sessions_per_user_day
        self.travellers = travellers
        self.disorder = disorder

    def tenant_ids(self) -> list[str]:
        """The customer accounts this simulator's traffic belongs to (AVM Up's own staff
        tenant included), e.g. to import matching customer contacts."""
        pop = self._population()
        return sorted({t.id for t in pop.tenants} | {STAFF_TENANT})

    def _population(self) -> _Population:
        return _Population.build(
            seed=self.seed,
            start=self.start,
            tenants=self.tenants,
            users_per_tenant=self.users_per_tenant,
            staff=self.staff,
            travellers=self.travellers,
        )

    def events(
        self, *, count: int, attacks: Sequence[str] = (), attack_every: int | None = None
    ) -> Iterator[SimEvent]:
        """`count` normal events in event-time order (occurred_at spaced realistically from
        `start`), with each named attack injected once at some point (or repeatedly every
        `attack_every` normal events), interleaved in time order; attack events carry `label`.

        Single injections are spread over the second half of the stream; an attack that
        needs history (`min_history`) waits until event time has reached `start +
        min_history` (if the stream ends first, it is appended at that time).
        """
        unknown = [a for a in attacks if a not in ATTACKS]
        if unknown:
            raise UnknownAttack(
                f"unknown attack(s): {', '.join(unknown)}; known: {', '.join(ATTACKS)}"
            )
        if count < 0 or (attack_every is not None and attack_every < 1):
            raise SimulatorError("count must be >= 0 and attack_every >= 1")
        ordered = self._run(count, list(attacks), attack_every)
        return self._shuffle(ordered) if self.disorder > timedelta(0) else ordered

    def _shuffle(self, ordered: Iterator[SimEvent]) -> Iterator[SimEvent]:
        """Arrival order: each event delayed by a random 0..disorder after its event time."""
        rng = Random(f"{self.seed}:disorder")
        span = self.disorder.total_seconds()
        pending: list[tuple[datetime, int, SimEvent]] = []
        for seq, ev in enumerate(ordered):
            t = datetime.fromisoformat(ev.value["occurred_at"])
            while pending and pending[0][0] <= t:
                yield heapq.heappop(pending)[2]
            heapq.heappush(pending, (t + timedelta(seconds=rng.uniform(0, span)), seq, ev))
        while pending:
            yield heapq.heappop(pending)[2]

    def _plan(self, count: int, attacks: list[str], every: int | None) -> list[_Planned]:
        plan: list[_Planned] = []
        if every is None:
            n = len(attacks)
            for i, name in enumerate(attacks):
                pos = count // 2 + (count * 2 // 5) * (i + 1) // (n + 1)
                plan.append(_Planned(pos, i, name, 0))
        else:
            k = 1
            while k * every <= count:
                for name in attacks:
                    plan.append(_Planned(k * every, len(plan), name, k - 1))
                k += 1
        plan.sort()
        return plan

    def _run(self, count: int, attacks: list[str], every: int | None) -> Iterator[SimEvent]:
        pop = self._population()
        traffic = _Traffic(
            pop, seed=self.seed, start=self.start, sessions_per_user_day=self.sessions_per_user_day
        )
        plan = self._plan(count, attacks, every)
        waiting: list[_Planned] = []  # due but waiting for enough history
        heap: list[tuple[datetime, int, SimEvent]] = []
        seq = 0
        emitted = 0
        clock = self.start

        def inject(item: _Planned, t0: datetime) -> None:
            nonlocal seq
            scenario = ATTACKS[item.name]
            ctx = _AttackContext(
                rng=Random(f"{self.seed}:attack:{item.name}:{item.instance}"),
                t0=t0,
                pop=pop,
                instance=item.instance,
            )
            attack_id = f"{item.name}#{item.instance}"
            for t, stream, key, value in _ATTACK_FNS[item.name](ctx):
                seq += 1
                ev = SimEvent(stream, key, value, scenario.name, attack_id)
                heapq.heappush(heap, (max(t, t0), seq, ev))

        def release(now: datetime) -> None:
            still = []
            for item in waiting:
                if now >= self.start + ATTACKS[item.name].min_history:
                    inject(item, now)
                else:
                    still.append(item)
            waiting[:] = still

        while emitted < count:
            session = traffic.next_session()
            horizon = traffic.t
            while heap and heap[0][0] <= horizon and emitted < count:
                t, _, ev = heapq.heappop(heap)
                clock = t
                yield ev
                if ev.label is None:
                    emitted += 1
                    while plan and plan[0].position <= emitted:
                        waiting.append(plan.pop(0))
                    if waiting:
                        release(clock)
            for t, stream, key, value in session:
                seq += 1
                heapq.heappush(heap, (t, seq, SimEvent(stream, key, value, None)))
        waiting.extend(plan)
        for item in waiting:
            inject(item, max(clock, self.start + ATTACKS[item.name].min_history))
        while heap:
            t, _, ev = heapq.heappop(heap)
            if ev.label is not None:
                yield ev
