"""The incident queue in deadline order (docs/architecture.md §7): open incidents by their
nearest open clock, keyed in Python from bare columns and read in growing windows so that a
page needs only a fraction of the rows; then the others, newest first, paged in SQL.

Deadlines are those `incidents.clocks` computes; nothing here writes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from incidents import clocks
from incidents.clocks import ClockPolicy
from incidents.enums import OPEN_STATUSES
from incidents.models import ClockFact, Incident, IncidentTenant


@dataclass(frozen=True)
class _Fact:
    id: int
    clock: str
    tenant_id: str
    kind: str
    at: datetime
    justification: str | None


FAR = datetime.max.replace(tzinfo=UTC)
_FIRST_WINDOW = 256
_IDS_PER_QUERY = 1000  # bound parameters in an IN list, at most
DeadlineKey = tuple[datetime, int]


def heads_of(session: Session, window: Select[Any]) -> list[tuple[int, datetime]]:
    rows = (
        session.connection().execute(window.with_only_columns(Incident.id, Incident.aware_at)).all()
    )
    return [(row[0], row[1]) for row in rows]


def deadline_keys(
    *,
    session: Session,
    opened: Select[Incident],
    heads: Sequence[tuple[int, datetime]],
    delays: dict[str, timedelta],
    policy: ClockPolicy,
    controllers: dict[str, bool] | None = None,
) -> list[DeadlineKey]:
    """(next open due or FAR, id) of `heads` (id, aware_at), some of the incidents
    `opened` selects, from bare columns: their tenants, their clock facts and their
    customers' delays (`delays` caches them across calls). The due is
    `clocks.next_open_due`, i.e. what `clocks.compute_clocks(...).next_due` gives from the
    same facts."""
    if not heads:
        return []
    conn = session.connection()  # Core rows: no ORM overhead on thousands of tuples
    ids: Any = [i for i, _ in heads]
    if len(ids) > _IDS_PER_QUERY:  # cheaper than a long IN list; extra rows are ignored
        ids = opened.with_only_columns(Incident.id).where(
            Incident.aware_at >= min(a for _, a in heads),
            Incident.aware_at <= max(a for _, a in heads),
        )
    tenants: dict[int, list[str]] = {}
    for incident_id, tenant_id in conn.execute(
        select(IncidentTenant.incident_id, IncidentTenant.tenant_id).where(
            IncidentTenant.incident_id.in_(ids)
        )
    ).all():
        tenants.setdefault(incident_id, []).append(tenant_id)
    facts: dict[int, list[_Fact]] = {}
    for row in conn.execute(
        select(
            ClockFact.incident_id,
            ClockFact.id,
            ClockFact.clock,
            ClockFact.tenant_id,
            ClockFact.kind,
            ClockFact.at,
            ClockFact.justification,
        ).where(ClockFact.incident_id.in_(ids))
    ).all():
        facts.setdefault(row[0], []).append(_Fact(*row[1:]))
    controllers = {} if controllers is None else controllers
    unseen = {t for ts in tenants.values() for t in ts} - delays.keys()
    if unseen:
        customers = clocks.load_customers(session=session, tenant_ids=unseen)
        delays.update(clocks.customer_delays(customers=customers, tenant_ids=unseen, policy=policy))
        controllers.update(
            {t: clocks.cnil_is_own(tenant_ids=[t], customers=customers) for t in unseen}
        )
    keyed: list[DeadlineKey] = []
    for incident_id, aware_at in heads:
        mine = tenants.get(incident_id, [])
        nxt = clocks.next_open_due(
            aware_at=aware_at,
            tenant_ids=mine,
            facts=facts.get(incident_id, []),
            delays=delays,
            policy=policy,
            cnil_own=not mine or any(controllers.get(t, False) for t in mine),
        )
        keyed.append((FAR if nxt is None else nxt, incident_id))
    return keyed


def open_deadline_keys(
    *, session: Session, opened: Select[Incident], want: int, policy: ClockPolicy
) -> tuple[list[DeadlineKey], int | None]:
    """The `want` smallest deadline keys of the incidents `opened` selects (open ones), in
    order, and how many such incidents there are when every one had to be keyed (else None).

    They are read by (aware_at, id) in growing windows. Every due is aware_at plus at least
    `clocks.min_delay`, so once the `want`-th smallest key found is at most (the last
    aware_at read + min_delay, the last id read), no incident not read yet can come before
    it: the result is the one the full computation gives, from a fraction of the rows
    (all of them for deep pages, or when every clock is met or stopped)."""
    floor = clocks.min_delay(session=session, policy=policy)
    delays: dict[str, timedelta] = {}
    controllers: dict[str, bool] = {}
    keyed: list[DeadlineKey] = []
    seen = 0
    last: tuple[datetime, int] | None = None
    size = max(_FIRST_WINDOW, 2 * want)
    while True:
        window = opened
        if last is not None:
            window = window.where(
                Incident.aware_at >= last[0],
                or_(Incident.aware_at > last[0], Incident.id > last[1]),
            )
        window = window.order_by(Incident.aware_at, Incident.id).limit(size)
        heads = heads_of(session, window)
        previous = last[0] if last is not None else None
        for _, aware_at in heads:
            if previous is not None and aware_at < previous:
                # The database orders aware_at otherwise than Python does (a value stored
                # in another text format on SQLite?): no bound holds, key them all.
                keyed = deadline_keys(
                    session=session,
                    opened=opened,
                    heads=heads_of(session, opened),
                    delays={},
                    policy=policy,
                )
                keyed.sort()
                return keyed[:want], len(keyed)
            previous = aware_at
        keyed.extend(
            deadline_keys(
                session=session,
                opened=opened,
                heads=heads,
                delays=delays,
                policy=policy,
                controllers=controllers,
            )
        )
        keyed.sort()
        del keyed[want:]  # a key past the `want` smallest is never needed
        seen += len(heads)
        if len(heads) < size:
            return keyed, seen
        last = heads[-1][1], heads[-1][0]
        # Not read yet: aware_at > last's, or equal with a greater id; so each key is
        # > (last aware_at + floor, last id).
        if want == 0 or (len(keyed) == want and keyed[-1] <= (last[0] + floor, last[1])):
            return keyed, None
        size *= 2


def deadline_page(
    *, session: Session, base: Select[Incident], limit: int, offset: int, policy: ClockPolicy
) -> list[int]:
    """Incident ids of one page in deadline order: open incidents keyed in Python from bare
    columns (`open_deadline_keys`), then the others newest first, paged in SQL."""
    open_values = [s.value for s in OPEN_STATUSES]
    limit, offset = max(0, limit), max(0, offset)
    keyed, n_open = open_deadline_keys(
        session=session,
        opened=base.where(Incident.status.in_(open_values)),
        want=offset + limit,
        policy=policy,
    )
    page = [i for _, i in keyed[offset : offset + limit]]
    rest = limit - len(page)
    if rest > 0 and n_open is not None:  # None: the open incidents filled the page
        closed = (
            base.with_only_columns(Incident.id)
            .where(Incident.status.not_in(open_values))
            .order_by(Incident.detected_at.desc(), Incident.id.desc())
            .offset(max(0, offset - n_open))
            .limit(rest)
        )
        page.extend(session.connection().execute(closed).scalars())
    return page


__all__ = ["FAR", "DeadlineKey", "deadline_keys", "deadline_page", "heads_of", "open_deadline_keys"]
