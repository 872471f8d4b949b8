"""Prometheus (docs/architecture.md §12): the exposition and the database collector.

- `start_metrics_server(port)` exposes the default registry for ingest workers;
  `metrics_payload()` renders it for the console's `/metrics` route.
- `TocsinDbCollector` reads the database at scrape time (with a short cache) and exports the
  incident, deadline, notice and outbox gauges: `register_db_collector(factory)` in the console
  and the ingest workers (several exporters of the same facts: dashboards and rules aggregate
  them with `max`/`min`).

Nothing here runs at import time except the definition of the collector's metric names.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from incidents.clocks import ClockPolicy
    from tocsin.settings import Settings


log = logging.getLogger("tocsin.telemetry")

# --------------------------------------------------------------------------------------------
# Prometheus: exposition
# --------------------------------------------------------------------------------------------


def start_metrics_server(port: int, *, addr: str | None = None) -> None:
    """Expose the default registry on `http://addr:port/metrics` (a daemon thread). Callers
    pass `Settings.metrics_bind` (`TOCSIN_METRICS_HOST`); without it, loopback outside a
    container and all interfaces inside one."""
    from tocsin.settings import default_metrics_host

    start_http_server(port, addr=addr or default_metrics_host())


def metrics_payload(registry: CollectorRegistry = REGISTRY) -> tuple[bytes, str]:
    """The text exposition of `registry` and its content type, for the console's `/metrics`."""
    return generate_latest(registry), CONTENT_TYPE_LATEST


# --------------------------------------------------------------------------------------------
# Prometheus: database facts read at scrape time
# --------------------------------------------------------------------------------------------

UNASSESSED: Final = "unassessed"
SEVERITY_LABELS: Final = ("low", "medium", "high", "very_high", UNASSESSED)
CLOCK_LABELS: Final = ("customer", "cnil")
NOTICE_KIND_LABELS: Final = ("customer", "cnil", "data_subject", "public")
NOTICE_STATUS_LABELS: Final = ("draft", "approved", "sent", "rejected")
OUTBOX_STATE_LABELS: Final = ("pending", "retry", "sending", "sent", "uncertain", "failed")
# Notice statuses that count as "approved" for the deadline alert.
APPROVED_NOTICE_STATUSES: Final = frozenset({"approved", "sent"})

DB_METRICS: Final[dict[str, tuple[str, tuple[str, ...]]]] = {
    "tocsin_incidents": ("Incidents by status and ENISA severity band.", ("status", "severity")),
    "tocsin_deadline_nearest_seconds": (
        "Seconds left to the nearest open deadline of each clock (negative when overdue).",
        ("clock",),
    ),
    "tocsin_deadline_unapproved_nearest_seconds": (
        "Seconds left to the nearest open deadline whose notice is not approved yet.",
        ("clock",),
    ),
    "tocsin_incidents_overdue": (
        "Open incidents with at least one overdue clock of this kind.",
        ("clock",),
    ),
    "tocsin_notices": ("Notice versions by kind and workflow status.", ("kind", "status")),
    "tocsin_outbox_messages": ("Outbox e-mails by delivery state.", ("state",)),
    "tocsin_telemetry_db_up": ("1 when the last database read for metrics succeeded.", ()),
    "tocsin_telemetry_db_read_seconds": ("Duration of the last database read for metrics.", ()),
}


@dataclass(frozen=True)
class DbSnapshot:
    """What the database says, as of `now`: the values of the scrape-time gauges."""

    incidents: dict[tuple[str, str], int] = field(default_factory=dict)
    nearest: dict[str, float] = field(default_factory=dict)
    unapproved_nearest: dict[str, float] = field(default_factory=dict)
    overdue: dict[str, int] = field(default_factory=dict)
    notices: dict[tuple[str, str], int] = field(default_factory=dict)
    outbox: dict[str, int] = field(default_factory=dict)


def _approved_notices(session: Session) -> set[tuple[int, str, str]] | None:
    """(incident id, kind, tenant id or "") of notices approved or sent; None when the
    notices tables are not available."""
    try:
        from notifiers import models as notice_models
    except ImportError:
        return None
    from sqlalchemy import select

    notice = notice_models.Notice
    rows = session.execute(
        select(notice.incident_id, notice.kind, notice.tenant_id)
        .where(notice.status.in_(sorted(APPROVED_NOTICE_STATUSES)))
        .distinct()
    )
    return {(int(i), str(k), str(t or "")) for i, k, t in rows}


def _outbox_counts(session: Session) -> dict[str, int]:
    try:
        from notifiers import models as notice_models
    except ImportError:
        return {}
    from sqlalchemy import func, select

    outbox = notice_models.OutboxMessage
    rows = session.execute(select(outbox.state, func.count()).group_by(outbox.state))
    return {str(state): int(n) for state, n in rows}


def _notice_counts(session: Session) -> dict[tuple[str, str], int]:
    try:
        from notifiers import models as notice_models
    except ImportError:
        return {}
    from sqlalchemy import func, select

    notice = notice_models.Notice
    rows = session.execute(
        select(notice.kind, notice.status, func.count()).group_by(notice.kind, notice.status)
    )
    return {(str(k), str(s)): int(n) for k, s, n in rows}


@dataclass
class _OpenIncident:
    """What `incidents.clocks.compute_clocks` needs of an open incident, read as plain rows:
    building 10,000 ORM objects and their relationships per scrape costs seconds."""

    id: int
    aware_at: datetime
    tenant_ids: list[str] = field(default_factory=list)
    facts: list[Any] = field(default_factory=list)


def _open_incidents(session: Session) -> tuple[list[_OpenIncident], dict[str, Any]]:
    from sqlalchemy import select

    from incidents.enums import OPEN_STATUSES
    from incidents.models import ClockFact, Customer, Incident, IncidentTenant

    incidents, tenants = Incident.__table__, IncidentTenant.__table__
    facts, customers_table = ClockFact.__table__, Customer.__table__
    is_open = incidents.c.status.in_([s.value for s in OPEN_STATUSES])
    found = {
        int(i): _OpenIncident(id=int(i), aware_at=aware)
        for i, aware in session.execute(select(incidents.c.id, incidents.c.aware_at).where(is_open))
    }
    tenant_ids: set[str] = set()
    for incident_id, tenant_id in session.execute(
        select(tenants.c.incident_id, tenants.c.tenant_id)
        .join(incidents, incidents.c.id == tenants.c.incident_id)
        .where(is_open)
        .order_by(tenants.c.incident_id, tenants.c.tenant_id)
    ):
        found[int(incident_id)].tenant_ids.append(str(tenant_id))
        tenant_ids.add(str(tenant_id))
    for row in session.execute(
        select(facts)
        .join(incidents, incidents.c.id == facts.c.incident_id)
        .where(is_open)
        .order_by(facts.c.id)
    ):
        found[int(row.incident_id)].facts.append(row)
    customers: dict[str, Any] = {}
    if tenant_ids:
        for row in session.execute(
            select(customers_table).where(customers_table.c.tenant_id.in_(sorted(tenant_ids)))
        ):
            customers[str(row.tenant_id)] = row
    return list(found.values()), customers


def read_snapshot(*, session: Session, policy: ClockPolicy, now: datetime) -> DbSnapshot:
    """Read the gauges' values. Deadlines come from `incidents.clocks` (never re-derived)."""
    from sqlalchemy import func, select

    from incidents import clocks
    from incidents.models import Incident

    incidents: dict[tuple[str, str], int] = {}
    for status, band, count in session.execute(
        select(Incident.status, Incident.severity_band, func.count()).group_by(
            Incident.status, Incident.severity_band
        )
    ):
        key = (str(status), str(band) if band else UNASSESSED)
        incidents[key] = incidents.get(key, 0) + int(count)

    open_incidents, customers = _open_incidents(session)
    approved = _approved_notices(session) or set()
    nearest: dict[str, float] = {}
    unapproved: dict[str, float] = {}
    overdue = dict.fromkeys(CLOCK_LABELS, 0)
    for incident in open_incidents:
        state = clocks.compute_clocks(
            aware_at=incident.aware_at,
            tenant_ids=incident.tenant_ids,
            facts=incident.facts,
            customers=customers,
            policy=policy,
            now=now,
        )
        overdue_here: set[str] = set()
        for clk in state.all:
            if not clk.is_open or clk.informative:  # the customer's CNIL clock, not ours
                continue
            name = clk.clock.value
            left = clk.remaining_seconds
            nearest[name] = min(nearest.get(name, left), left)
            if (incident.id, name, clk.tenant_id or "") not in approved:
                unapproved[name] = min(unapproved.get(name, left), left)
            if clk.state.value == "overdue":
                overdue_here.add(name)
        for name in overdue_here:
            overdue[name] = overdue.get(name, 0) + 1
    return DbSnapshot(
        incidents=incidents,
        nearest=nearest,
        unapproved_nearest=unapproved,
        overdue=overdue,
        notices=_notice_counts(session),
        outbox=_outbox_counts(session),
    )


def _gauge(name: str) -> GaugeMetricFamily:
    help_text, labels = DB_METRICS[name]
    return GaugeMetricFamily(name, help_text, labels=list(labels))


class TocsinDbCollector(Collector):
    """Exports `DB_METRICS` from the database, cached `ttl_seconds` so a scrape is cheap and
    concurrent scrapes read once. A failed read exports `tocsin_telemetry_db_up 0` only."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        policy: ClockPolicy,
        ttl_seconds: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._factory = factory
        self._policy = policy
        self._ttl = ttl_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._snapshot: DbSnapshot | None = None
        self._taken_at = float("-inf")
        self._ok = False
        self._read_seconds = 0.0
        self.reads = 0

    def describe(self) -> Iterable[Metric]:
        return [_gauge(name) for name in DB_METRICS]

    def snapshot(self) -> DbSnapshot | None:
        """The cached snapshot, refreshed when older than the TTL (None when unreadable)."""
        with self._lock:
            if self._monotonic() - self._taken_at < self._ttl:
                return self._snapshot if self._ok else None
            started = self._monotonic()
            try:
                with self._factory() as session:
                    snap = read_snapshot(
                        session=session, policy=self._policy, now=datetime.now(UTC)
                    )
            except Exception as exc:  # a scrape never fails because the database does
                log.warning("metrics: database read failed (%s)", type(exc).__name__)
                self._snapshot, self._ok = None, False
            else:
                self._snapshot, self._ok = snap, True
            self.reads += 1
            self._taken_at = self._monotonic()
            self._read_seconds = self._taken_at - started
            return self._snapshot

    def collect(self) -> Iterable[Metric]:
        snap = self.snapshot()
        up = _gauge("tocsin_telemetry_db_up")
        up.add_metric([], 1.0 if snap is not None else 0.0)
        read = _gauge("tocsin_telemetry_db_read_seconds")
        read.add_metric([], self._read_seconds)
        if snap is None:
            return [up, read]
        incidents = _gauge("tocsin_incidents")
        statuses = sorted({*(s for s, _ in snap.incidents), *_incident_statuses()})
        severities = sorted({*(b for _, b in snap.incidents), *SEVERITY_LABELS})
        for status in statuses:
            for band in severities:
                incidents.add_metric([status, band], float(snap.incidents.get((status, band), 0)))
        nearest = _gauge("tocsin_deadline_nearest_seconds")
        for clock, seconds in sorted(snap.nearest.items()):
            nearest.add_metric([clock], seconds)
        unapproved = _gauge("tocsin_deadline_unapproved_nearest_seconds")
        for clock, seconds in sorted(snap.unapproved_nearest.items()):
            unapproved.add_metric([clock], seconds)
        overdue = _gauge("tocsin_incidents_overdue")
        for clock in sorted({*CLOCK_LABELS, *snap.overdue}):
            overdue.add_metric([clock], float(snap.overdue.get(clock, 0)))
        notices = _gauge("tocsin_notices")
        kinds = sorted({*NOTICE_KIND_LABELS, *(k for k, _ in snap.notices)})
        states = sorted({*NOTICE_STATUS_LABELS, *(s for _, s in snap.notices)})
        for kind in kinds:
            for status in states:
                notices.add_metric([kind, status], float(snap.notices.get((kind, status), 0)))
        outbox = _gauge("tocsin_outbox_messages")
        for state in sorted({*OUTBOX_STATE_LABELS, *snap.outbox}):
            outbox.add_metric([state], float(snap.outbox.get(state, 0)))
        return [incidents, nearest, unapproved, overdue, notices, outbox, up, read]


def _incident_statuses() -> tuple[str, ...]:
    from incidents.enums import IncidentStatus

    return tuple(s.value for s in IncidentStatus)


_INSTALLED: dict[int, TocsinDbCollector] = {}
_INSTALL_LOCK = threading.Lock()


def register_db_collector(
    factory: sessionmaker[Session],
    *,
    settings: Settings | None = None,
    registry: CollectorRegistry = REGISTRY,
    ttl_seconds: float = 10.0,
) -> TocsinDbCollector:
    """Register the database collector once per registry (later calls return the first one).
    Clock policy from `settings.clocks` (default: `get_settings()`)."""
    from incidents.clocks import ClockPolicy

    with _INSTALL_LOCK:
        existing = _INSTALLED.get(id(registry))
        if existing is not None:
            return existing
        if settings is None:
            from tocsin.settings import get_settings

            settings = get_settings()
        collector = TocsinDbCollector(
            factory, policy=ClockPolicy.from_settings(settings.clocks), ttl_seconds=ttl_seconds
        )
        registry.register(collector)
        _INSTALLED[id(registry)] = collector
        return collector


def unregister_db_collector(registry: CollectorRegistry = REGISTRY) -> None:
    """Remove the collector `register_db_collector` installed (tests, shutdown)."""
    with _INSTALL_LOCK:
        collector = _INSTALLED.pop(id(registry), None)
        if collector is not None:
            registry.unregister(collector)
