"""Tenants and normal traffic: the population (tenants, users, API keys, staff), its
geography, the event builders, per-actor budgets and habits, and the session generator."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from random import Random
from typing import Any
from zoneinfo import ZoneInfo

from consumers.conventions import DEFAULT_TIMEZONE, Stream

PARIS = ZoneInfo(DEFAULT_TIMEZONE)
STAFF_TENANT = "avmup"
SERVICES = ("faxbis", "smsbis", "demat_manager", "campaign_manager", "tel4b", "cloudcontact")

# --------------------------------------------------------------------------------------------
# Geography: /16 prefixes checked against the offline geo database (tests verify them).

COUNTRY_PREFIXES: dict[str, tuple[str, ...]] = {
    "FR": (
        "90.12",
        "82.65",
        "109.220",
        "86.245",
        "78.192",
        "91.170",
        "2.6",
        "92.184",
        "90.45",
        "86.200",
        "176.150",
        "88.170",
    ),
    "BE": ("81.246", "84.195"),
    "DE": ("79.192", "91.64"),
    "ES": ("83.40", "88.0"),
    "IT": ("93.44", "79.12"),
    "NL": ("145.53", "84.80"),
    "PT": ("85.243", "89.152"),
    "US": ("3.80", "54.210"),
    "BR": ("189.20",),
    "NG": ("105.112", "197.210"),
    "SG": ("13.228",),
    "RU": ("176.59",),
    "CN": ("123.112", "36.110"),
    "VN": ("113.161", "14.161"),
}
FR_IPV6 = ("2a01:e0a", "2a01:cb00", "2a02:8428")  # Free, Orange, SFR
# /32s of attack sources outside the EU/EEA, also checked against the geo database
COUNTRY_IPV6: dict[str, str] = {"US": "2600:1f18", "BR": "2804:14c", "SG": "2406:3003"}
TENANT_COUNTRIES = (("FR", 88), ("BE", 5), ("ES", 3), ("DE", 2), ("IT", 2))
TRAVEL_COUNTRIES = ("BE", "DE", "ES", "IT", "NL", "PT")  # all EU: legit travel is not ACC-007
SECTORS = (
    "notaire",
    "clinique",
    "transport",
    "immo",
    "avocat",
    "btp",
    "assur",
    "mairie",
    "pharma",
    "compta",
    "agence",
    "ehpad",
    "garage",
    "cabinet",
    "hotel",
    "ecole",
)

BROWSERS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.0 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1",
)
API_AGENTS = (
    "avmup-sdk-python/2.3.1",
    "avmup-sdk-php/1.9.0",
    "curl/8.5.0",
    "Apache-HttpClient/4.5.14 (Java/17.0.9)",
    "crm-connector/3.2",
)

# (resource type, data categories, weight) per service
RESOURCES: dict[str, tuple[tuple[str, tuple[str, ...], int], ...]] = {
    "faxbis": (
        ("fax", ("identification", "content"), 6),
        ("phone_number", ("identification",), 1),
        ("contact", ("identification",), 2),
    ),
    "smsbis": (
        ("sms", ("identification", "content"), 6),
        ("contact", ("identification",), 2),
        ("campaign", ("identification",), 1),
    ),
    "demat_manager": (
        ("document", ("identification", "content"), 6),
        ("email", ("electronic_identification", "content"), 3),
    ),
    "campaign_manager": (
        ("campaign", ("identification", "electronic_identification"), 3),
        ("contact", ("identification", "electronic_identification"), 4),
        ("email", ("electronic_identification", "content"), 2),
    ),
    "tel4b": (
        ("call_record", ("identification",), 5),
        ("voicemail", ("identification", "content"), 3),
        ("phone_number", ("identification",), 1),
    ),
    "cloudcontact": (
        ("contact", ("identification", "electronic_identification"), 6),
        ("phone_number", ("identification",), 2),
    ),
}
# operations a user performs on each resource type, with weights
OPERATIONS: dict[str, tuple[tuple[str, int], ...]] = {
    "fax": (("read", 10), ("download", 4), ("forward", 2), ("delete", 1)),
    "sms": (("read", 10), ("search", 3), ("delete", 1)),
    "contact": (("read", 10), ("search", 5), ("update", 3), ("delete", 1)),
    "document": (("read", 10), ("download", 5), ("update", 1), ("forward", 1), ("delete", 1)),
    "email": (("read", 10), ("search", 3), ("forward", 2)),
    "campaign": (("read", 10), ("update", 3)),
    "call_record": (("read", 10), ("search", 4)),
    "voicemail": (("read", 10), ("download", 3), ("delete", 2)),
    "phone_number": (("read", 10), ("update", 2)),
    "user_account": (("read", 10), ("update", 2)),
}
EXPORTABLE = ("contact", "campaign", "call_record")

# Paris-local hour shape of customer activity and weekday factors (Mon..Sun)
HOUR_SHAPE = (
    0.02,
    0.01,
    0.01,
    0.01,
    0.01,
    0.03,
    0.10,
    0.40,
    1.00,
    1.40,
    1.50,
    1.30,
    0.80,
    0.90,
    1.30,
    1.40,
    1.30,
    1.00,
    0.60,
    0.35,
    0.25,
    0.20,
    0.12,
    0.05,
)
WEEKDAY = (1.0, 1.0, 1.0, 1.0, 0.95, 0.15, 0.08)
SHAPE_SUM = sum(HOUR_SHAPE)

# per-actor budgets that keep normal traffic under the default thresholds (docs/architecture.md §4)
READ_BUDGET = (timedelta(hours=1), 900)  # ACC-002: max(1000, 10 x baseline) per hour
WRITE_BUDGET = (timedelta(minutes=10), 300)  # ACC-006: 500 deleted/updated in 10 min
DENIED_BUDGET = (timedelta(minutes=10), 4)  # ACC-009: 50 denied in 10 min
READ_OPS = frozenset({"read", "search", "export", "download", "forward"})
WRITE_OPS = frozenset({"update", "delete"})


# --------------------------------------------------------------------------------------------
# Population


@dataclass
class _Tenant:
    id: str
    country: str
    services: tuple[str, ...]
    office_ips: tuple[str, ...]
    contacts: int
    users: list[_User] = field(default_factory=list)
    api_keys: list[_ApiKey] = field(default_factory=list)


@dataclass
class _User:
    id: str
    tenant: _Tenant
    kind: str  # customer_user | customer_admin
    country: str
    home_ip: str
    ua: str
    mfa: bool
    typo_rate: float
    weight: float
    service: str
    trip: tuple[datetime, datetime, str, str] | None = None  # start, end, country, ip
    first_login: datetime | None = None
    last_login: datetime | None = None
    last_country: str | None = None
    logins: int = 0
    countries: set[str] = field(default_factory=set)


@dataclass
class _ApiKey:
    id: str
    tenant: _Tenant
    ip: str
    ua: str
    service: str
    heavy: bool  # a CRM synchronisation: many records an hour, and full exports now and then
    rate: float  # sessions an hour in business hours


@dataclass
class _Staff:
    id: str
    kind: str  # staff_support | staff_maintenance | staff_admin
    ip: str
    ua: str


def _ip(rng: Random, country: str) -> str:
    prefix = rng.choice(COUNTRY_PREFIXES[country])
    return f"{prefix}.{rng.randint(1, 254)}.{rng.randint(1, 254)}"


def _ipv6(rng: Random) -> str:
    a, b, c = rng.getrandbits(16), rng.getrandbits(16), rng.randint(1, 0xFFFF)
    return f"{rng.choice(FR_IPV6)}:{a:x}:{b:x}::{c:x}"


def _ipv6_of(ip: str, country: str) -> str:
    """For an odd last byte, an IPv6 address of `country` made from the IPv4 one just drawn
    (no draw of its own: the rest of the stream stays the same); else `ip`."""
    a, b, c, d = (int(x) for x in ip.split("."))
    return f"{COUNTRY_IPV6[country]}:{a:x}{b:02x}:{c:x}::{d:x}" if d % 2 else ip


def _states_country(ip: str, event_id: str) -> bool:
    """Whether an event says its `country`. IPv6 events and about one public IPv4 event in
    five leave it out, as many producers do: the ingest stage looks it up from the address
    (every address here geolocates to the country the simulator means)."""
    address = ip_address(ip)
    if address.is_private:
        return True
    return address.version == 4 and int(event_id[-1], 16) >= 3


def _pick(rng: Random, options: Sequence[tuple[str, int]]) -> str:
    return rng.choices([o for o, _ in options], weights=[w for _, w in options])[0]


@dataclass
class _Population:
    tenants: list[_Tenant]
    users: list[_User]
    user_weights: list[float]
    api_keys: list[_ApiKey]
    staff: list[_Staff]
    attacked: set[str] = field(default_factory=set)  # victims already used by an attack

    @classmethod
    def build(
        cls,
        *,
        seed: int,
        start: datetime,
        tenants: int,
        users_per_tenant: int,
        staff: int,
        travellers: float,
    ) -> _Population:
        rng = Random(f"{seed}:population")
        all_tenants: list[_Tenant] = []
        all_users: list[_User] = []
        all_keys: list[_ApiKey] = []
        for i in range(tenants):
            tenant = _new_tenant(rng, i)
            n_users = max(2, round(users_per_tenant * rng.uniform(0.5, 1.5)))
            for j in range(n_users):
                kind = "customer_admin" if j < 1 + n_users // 15 else "customer_user"
                tenant.users.append(
                    _new_user(rng, tenant, kind, start=start, travellers=travellers)
                )
            for _ in range(rng.choices((0, 1, 2), (50, 35, 15))[0]):
                heavy = rng.random() < (0.7 if tenant.contacts > 900 else 0.15)  # CRM sync
                tenant.api_keys.append(_new_key(rng, tenant, heavy=heavy))
            all_users.extend(tenant.users)
            all_keys.extend(tenant.api_keys)
            all_tenants.append(tenant)
        biggest = max(all_tenants, key=lambda tn: tn.contacts)
        if not any(k.heavy for k in biggest.api_keys):  # the largest customer syncs its CRM
            biggest.contacts = max(biggest.contacts, 1500)
            key = _new_key(rng, biggest, heavy=True, ua="crm-connector/3.2")
            biggest.api_keys.append(key)
            all_keys.append(key)
        members = _new_staff(rng, staff)
        return cls(all_tenants, all_users, [u.weight for u in all_users], all_keys, members)


def _new_tenant(rng: Random, i: int) -> _Tenant:
    country = _pick(rng, TENANT_COUNTRIES)
    services = tuple(sorted(rng.sample(SERVICES, rng.choices((1, 2, 3), (5, 4, 2))[0])))
    return _Tenant(
        id=f"{rng.choice(SECTORS)}-{i + 1:03d}",
        country=country,
        services=services,
        office_ips=tuple(_ip(rng, country) for _ in range(rng.randint(1, 2))),
        contacts=int(rng.lognormvariate(6.5, 0.8)) + 50,
    )


def _new_user(
    rng: Random, tenant: _Tenant, kind: str, *, start: datetime, travellers: float
) -> _User:
    """A customer's user; a share of them (`travellers`) go abroad once."""
    country = tenant.country
    home_ip = _ipv6(rng) if country == "FR" and rng.random() < 0.2 else _ip(rng, country)
    user = _User(
        id=f"u-{rng.getrandbits(40):010x}",
        tenant=tenant,
        kind=kind,
        country=country,
        home_ip=home_ip,
        ua=rng.choice(BROWSERS),
        mfa=rng.random() < 0.35,
        typo_rate=rng.uniform(0.01, 0.08),
        weight=rng.lognormvariate(0.0, 0.7),
        service=rng.choice(tenant.services),
    )
    if rng.random() < travellers:
        begin = start + timedelta(days=rng.uniform(0, 45))
        trip_country = rng.choice([c for c in TRAVEL_COUNTRIES if c != country])
        user.trip = (
            begin,
            begin + timedelta(days=rng.uniform(2, 6)),
            trip_country,
            _ip(rng, trip_country),
        )
    return user


def _new_key(rng: Random, tenant: _Tenant, *, heavy: bool, ua: str | None = None) -> _ApiKey:
    """An API key of `tenant`; its agent drawn from the usual ones unless `ua` names it."""
    return _ApiKey(
        id=f"key-{rng.getrandbits(48):012x}",
        tenant=tenant,
        ip=_ip(rng, "FR"),
        ua=ua if ua is not None else rng.choice(API_AGENTS),
        service=rng.choice(tenant.services),
        heavy=heavy,
        rate=2.0 if heavy else 0.4,
    )


def _new_staff(rng: Random, staff: int) -> list[_Staff]:
    """AVM Up's own people: half support, a quarter maintenance, a quarter admins."""
    kinds = ["staff_support", "staff_maintenance", "staff_admin"]
    office = [_ip(rng, "FR") for _ in range(2)]
    return [
        _Staff(
            id=f"staff-{rng.getrandbits(32):08x}",
            kind=kinds[0] if k % 4 in (0, 1) else kinds[1] if k % 4 == 2 else kinds[2],
            ip=rng.choice(office),
            ua=rng.choice(BROWSERS[:4]),
        )
        for k in range(staff)
    ]


# --------------------------------------------------------------------------------------------
# Event builders


def _stamp(t: datetime, service: str) -> str:
    """RFC 3339 with offset; TEL4B reports Paris local time, the others UTC."""
    if service == "tel4b":
        return t.astimezone(PARIS).isoformat(timespec="milliseconds")
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _event_id(rng: Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _common(rng: Random, t: datetime, who: _Who) -> dict[str, Any]:
    """What every event carries: its id and time, and who acts, from where."""
    value: dict[str, Any] = {
        "event_id": _event_id(rng),
        "occurred_at": _stamp(t, who.service),
        "service": who.service,
        "tenant_id": who.tenant_id,
        "actor": {"id": who.actor_id, "kind": who.actor_kind},
        "source_ip": who.ip,
        "country": who.country,
        "interface": who.interface,
        "tls": who.tls,
    }
    if not _states_country(who.ip, value["event_id"]):
        del value["country"]
    if who.ua is not None:
        value["user_agent"] = who.ua
    return value


@dataclass(frozen=True)
class _Who:
    """Everything an event needs about who acts, from where."""

    tenant_id: str
    actor_id: str
    actor_kind: str
    ip: str
    country: str
    ua: str | None
    interface: str
    service: str
    tls: bool = True


_Pending = tuple[datetime, Stream, str, dict[str, Any]]


def _auth(
    rng: Random,
    t: datetime,
    who: _Who,
    action: str,
    *,
    failure_reason: str | None = None,
    new_role: str | None = None,
) -> _Pending:
    value = _common(rng, t, who)
    value["action"] = action
    if failure_reason is not None:
        value["failure_reason"] = failure_reason
    if new_role is not None:
        value["new_role"] = new_role
    return (t, "auth", who.tenant_id, value)


def _touch(
    rng: Random,
    t: datetime,
    who: _Who,
    operation: str,
    resource: tuple[str, Sequence[str]],
    rtenant: str,
    records: int,
    ticket_id: str | None = None,
) -> _Pending:
    """An access to `records` records of `rtenant`'s `resource` (type, data categories), each
    of a different person."""
    rtype, cats = resource
    return _access(
        rng,
        t,
        who,
        operation,
        rtype=rtype,
        rtenant=rtenant,
        categories=cats,
        records=records,
        subjects=records,
        ticket_id=ticket_id,
    )


def _access(
    rng: Random,
    t: datetime,
    who: _Who,
    operation: str,
    *,
    rtype: str,
    rtenant: str,
    categories: Sequence[str],
    records: int,
    subjects: int | None = None,
    ticket_id: str | None = None,
    outcome: str = "allowed",
    rid: str | None = None,
) -> _Pending:
    value = _common(rng, t, who)
    resource: dict[str, Any] = {"type": rtype, "tenant_id": rtenant}
    if rid is not None or records <= 1:
        resource["id"] = rid or f"{rtype[:3]}-{rng.getrandbits(36):09x}"
    value.update(
        {
            "operation": operation,
            "resource": resource,
            "data_categories": sorted(categories),
            "records": records,
            "outcome": outcome,
        }
    )
    if subjects is not None:
        value["subjects"] = subjects
    if ticket_id is not None:
        value["ticket_id"] = ticket_id
    return (t, "access", who.tenant_id, value)


# --------------------------------------------------------------------------------------------
# Budgets: sliding windows per actor, robust to sessions generated out of event-time order


class _Budget:
    def __init__(self, window: timedelta, cap: int) -> None:
        self.window = window
        self.cap = cap
        self._entries: dict[str, list[tuple[datetime, int]]] = {}

    def take(self, actor: str, t: datetime, wanted: int, *, cap: int | None = None) -> int:
        """Grant up to `wanted` so that any window of this length holds at most `cap`
        (the budget's own cap unless a larger, actor-specific one is given)."""
        limit = self.cap if cap is None else max(self.cap, cap)
        entries = self._entries.setdefault(actor, [])
        horizon = t - self.window - timedelta(hours=3)
        if entries and entries[0][0] < horizon:
            entries[:] = [e for e in entries if e[0] >= horizon]
        near = sum(n for at, n in entries if abs(at - t) < self.window)
        granted = max(0, min(wanted, limit - near))
        if granted:
            entries.append((t, granted))
        return granted


class _Habits:
    """Each actor's hourly read volume (clock-aligned hours, the last closed non-empty ones),
    so a habitually heavy actor may read more than the floor, below 8x its own baseline (the
    default rule says 10x: the margin absorbs a bucket the detector has not folded yet)."""

    HISTORY = 24
    FACTOR = 8

    def __init__(self) -> None:
        self._actors: dict[str, tuple[list[float], dict[int, int]]] = {}

    def add(self, actor: str, t: datetime, records: int) -> None:
        if records <= 0:
            return
        history, open_hours = self._actors.setdefault(actor, ([], {}))
        hour = int(t.timestamp() // 3600)
        open_hours[hour] = open_hours.get(hour, 0) + records
        for h in sorted(open_hours):
            if h >= hour - 1:  # the previous hour may still be open for the detector
                break
            history.append(open_hours.pop(h))
        del history[: max(0, len(history) - self.HISTORY - 2)]

    def cap(self, actor: str, t: datetime) -> int:
        entry = self._actors.get(actor)
        if entry is None:
            return 0
        history, open_hours = entry
        hour = int(t.timestamp() // 3600)
        closed = history + [n for h, n in sorted(open_hours.items()) if h < hour]
        if not closed:
            return 0
        # the detector may or may not have folded the latest closed hours yet: the lowest mean
        means = [
            sum(w) / len(w)
            for w in (
                closed[-self.HISTORY :],
                closed[-self.HISTORY - 1 : -1],
                closed[-self.HISTORY - 2 : -2],
            )
            if w
        ]
        return int(self.FACTOR * min(means))


# --------------------------------------------------------------------------------------------
# Normal traffic


class _Traffic:
    """Generates normal sessions in start-time order (thinning over the weekly rhythm)."""

    def __init__(
        self, pop: _Population, *, seed: int, start: datetime, sessions_per_user_day: float
    ) -> None:
        self.pop = pop
        self.rng = Random(f"{seed}:traffic")
        self.t = start
        self.spu = sessions_per_user_day
        self.reads = _Budget(*READ_BUDGET)
        self.writes = _Budget(*WRITE_BUDGET)
        self.denied = _Budget(*DENIED_BUDGET)
        n_users = len(pop.users)
        self.user_peak = n_users * self.spu * max(HOUR_SHAPE) / SHAPE_SUM
        self.habits = _Habits()
        self.key_rates = [k.rate for k in pop.api_keys]
        self.api_peak = sum(self.key_rates)
        # support tickets: ~2 % of users a working day, handled over ~8 hours by the staff
        self.staff_peak = min(0.6 * len(pop.staff), 0.02 * n_users / 8) if pop.staff else 0.0
        self.system_rate = 1.5
        self.peak = self.user_peak + self.api_peak + self.staff_peak + self.system_rate

    def _rates(self, t: datetime) -> tuple[float, float, float, float]:
        local = t.astimezone(PARIS)
        wd, h = local.weekday(), local.hour
        users = len(self.pop.users) * self.spu * WEEKDAY[wd] * HOUR_SHAPE[h] / SHAPE_SUM
        business = wd < 5 and 7 <= h < 20
        api = self.api_peak if business else 0.1 * self.api_peak
        staff_on = wd < 5 and (h, local.minute) >= (9, 5) and h < 17
        staff = self.staff_peak if staff_on else 0.0
        return users, api, staff, self.system_rate

    def next_session(self) -> list[_Pending]:
        rng = self.rng
        while True:
            self.t += timedelta(hours=rng.expovariate(self.peak))
            rates = self._rates(self.t)
            total = sum(rates)
            if rng.random() * self.peak < total:
                break
        kind = rng.choices(("user", "api", "staff", "system"), weights=rates)[0]
        if kind == "user":
            return self._user_session(self.t)
        if kind == "api":
            return self._api_session(self.t)
        if kind == "staff":
            return self._staff_session(self.t)
        return self._system_job(self.t)

    # -- customers --------------------------------------------------------------------------

    def _where(self, user: _User, t: datetime) -> tuple[str, str]:
        """(ip, country) of a user's login at `t`: office in working hours, else home, abroad
        on a trip; never a country change faster than a plane (no impossible travel)."""
        rng = self.rng
        local = t.astimezone(PARIS)
        if user.trip and user.trip[0] <= t < user.trip[1]:
            ip, country = user.trip[3], user.trip[2]
        elif local.weekday() < 5 and 8 <= local.hour < 19 and rng.random() < 0.8:
            ip, country = rng.choice(user.tenant.office_ips), user.country
        else:
            ip, country = user.home_ip, user.country
        if (
            user.last_country
            and country != user.last_country
            and user.last_login
            and t - user.last_login < timedelta(hours=8)
        ):
            # still where the previous login was: keep the country, use a local address
            country = user.last_country  # the home country or the trip's
            ip = user.trip[3] if user.trip and country == user.trip[2] else user.home_ip
        return ip, country

    def _user_session(self, t0: datetime) -> list[_Pending]:
        rng = self.rng
        user = rng.choices(self.pop.users, weights=self.pop.user_weights)[0]
        tenant = user.tenant
        ip, country = self._where(user, t0)
        service = user.service if rng.random() < 0.7 else rng.choice(tenant.services)
        interface = "web" if rng.random() < 0.93 else "api"
        who = _Who(
            tenant.id,
            user.id,
            user.kind,
            ip,
            country,
            user.ua if interface == "web" else rng.choice(API_AGENTS),
            interface,
            service,
        )
        out: list[_Pending] = []
        t = t0
        if rng.random() < 0.003:  # forgot the password: a few tries, a reset, a new password
            for _ in range(rng.randint(2, 3)):
                out.append(_auth(rng, t, who, "login_failure", failure_reason="bad_password"))
                t += timedelta(seconds=rng.uniform(6, 25))
            out.append(_auth(rng, t, who, "password_reset_requested"))
            t += timedelta(minutes=rng.uniform(2, 9))
            out.append(_auth(rng, t, who, "password_changed"))
            t += timedelta(seconds=rng.uniform(10, 60))
        elif rng.random() < user.typo_rate:
            for _ in range(1 if rng.random() < 0.85 else 2):
                out.append(_auth(rng, t, who, "login_failure", failure_reason="bad_password"))
                t += timedelta(seconds=rng.uniform(4, 20))
        out.append(_auth(rng, t, who, "login_success"))
        user.last_login, user.last_country = t, country
        if user.first_login is None:
            user.first_login = t
        user.logins += 1
        user.countries.add(country)
        if user.mfa:
            t += timedelta(seconds=rng.uniform(8, 40))
            if rng.random() < 0.03:
                out.append(_auth(rng, t, who, "mfa_failure", failure_reason="mfa"))
                t += timedelta(seconds=rng.uniform(10, 40))
            out.append(_auth(rng, t, who, "mfa_success"))
        n = 1 + min(int(rng.expovariate(1 / 3.5)), 25)
        for _ in range(n):
            t += timedelta(seconds=rng.lognormvariate(3.8, 1.0))
            ev = self._customer_access(rng, t, who, user, service)
            if ev is not None:
                out.append(ev)
        if user.kind == "customer_admin" and rng.random() < 0.01:
            t += timedelta(seconds=rng.uniform(20, 120))
            out.append(
                _auth(
                    rng,
                    t,
                    who,
                    "role_changed",
                    new_role=rng.choice(("customer_user", "customer_admin")),
                )
            )
        if user.kind == "customer_admin" and rng.random() < 0.004:
            t += timedelta(seconds=rng.uniform(20, 120))
            out.append(_auth(rng, t, who, "api_key_created"))
        if rng.random() < 0.7:
            t += timedelta(seconds=rng.uniform(5, 300))
            out.append(_auth(rng, t, who, "logout"))
        return out

    def _customer_access(
        self, rng: Random, t: datetime, who: _Who, user: _User, service: str
    ) -> _Pending | None:
        tenant = user.tenant
        cats: tuple[str, ...]
        if user.kind == "customer_admin" and rng.random() < 0.06:
            rtype, cats = "user_account", ("identification", "electronic_identification")
        else:
            rtype, cats, _ = rng.choices(
                RESOURCES[service], weights=[w for *_, w in RESOURCES[service]]
            )[0]
        export_p = 0.03 if user.kind == "customer_admin" else 0.004
        if rtype in EXPORTABLE and rng.random() < export_p:
            op = "export"
        else:
            op = _pick(rng, OPERATIONS[rtype])
        if rng.random() < 0.006:  # a button the user has no right to press
            if not self.denied.take(user.id, t, 1):
                return None
            return _access(
                rng,
                t,
                who,
                op,
                rtype=rtype,
                rtenant=tenant.id,
                categories=cats,
                records=0,
                outcome="denied",
            )
        records = self._records(rng, op, rtype, tenant)
        budget = self.reads if op in READ_OPS else self.writes
        records = budget.take(user.id, t, records)
        if records == 0:
            return None
        subjects = (
            records
            if rtype in ("contact", "campaign", "user_account")
            else max(1, records // rng.randint(1, 3))
        )
        return _access(
            rng,
            t,
            who,
            op,
            rtype=rtype,
            rtenant=tenant.id,
            categories=cats,
            records=records,
            subjects=subjects,
        )

    @staticmethod
    def _records(rng: Random, op: str, rtype: str, tenant: _Tenant) -> int:
        if op == "export":  # a customer exporting its own contacts: bulk, but normal
            return rng.randint(min(50, tenant.contacts), min(tenant.contacts, 850))
        if op == "search":
            return rng.randint(1, 40)
        if op == "update":
            return rng.randint(1, 5)
        if op == "delete":
            return rng.randint(1, 25)
        return 1 if rtype != "fax" or rng.random() < 0.8 else 2

    # -- integrations -----------------------------------------------------------------------

    def _api_session(self, t0: datetime) -> list[_Pending]:
        """An integration: small reads and updates; a heavy (CRM sync) key reads hundreds of
        records an hour and now and then exports the tenant's whole contact book, which can
        exceed 1,000 records but stays under 8x the key's own hourly baseline."""
        rng = self.rng
        key = rng.choices(self.pop.api_keys, weights=self.key_rates)[0]
        tenant = key.tenant
        who = _Who(tenant.id, key.id, "api_key", key.ip, "FR", key.ua, "api", key.service)
        out: list[_Pending] = []
        t = t0
        for _ in range(rng.randint(1, 3)):
            rtype, cats, _ = rng.choices(
                RESOURCES[key.service], weights=[w for *_, w in RESOURCES[key.service]]
            )[0]
            if key.heavy and rng.random() < 0.01:
                op, rtype, wanted = "export", "contact", tenant.contacts
                cats = ("identification", "electronic_identification")
            else:
                op = rng.choice(("search", "read", "read", "update"))
                wanted = (
                    rng.randint(1, 5)
                    if op == "update"
                    else (rng.randint(80, 300) if key.heavy else rng.randint(10, 120))
                )
            if op == "update":
                records = self.writes.take(key.id, t, wanted)
            else:
                cap = self.habits.cap(key.id, t)
                records = self.reads.take(key.id, t, wanted, cap=cap)
                self.habits.add(key.id, t, records)
            if records:
                out.append(_touch(rng, t, who, op, (rtype, cats), tenant.id, records))
            t += timedelta(seconds=rng.uniform(0.2, 4))
        return out

    # -- AVM Up staff -----------------------------------------------------------------------

    def _staff_session(self, t0: datetime) -> list[_Pending]:
        rng = self.rng
        member = rng.choice(self.pop.staff)
        tenant = rng.choice(self.pop.tenants)
        service = rng.choice(tenant.services)
        prefix = {"staff_support": "SUP", "staff_maintenance": "CHG", "staff_admin": "ADM"}
        ticket = f"{prefix[member.kind]}-{rng.randint(20000, 89999)}"
        who = _Who(
            STAFF_TENANT,
            member.id,
            member.kind,
            member.ip,
            "FR",
            member.ua,
            "support_console",
            service,
        )
        out = [_auth(rng, t0, who, "login_success")]
        t = t0 + timedelta(seconds=rng.uniform(5, 20))
        out.append(_auth(rng, t, who, "mfa_success"))
        for _ in range(rng.randint(1, 6)):
            t += timedelta(seconds=rng.uniform(20, 240))  # at most 24 min: done by ~17:30
            rtype, cats, _ = rng.choices(
                RESOURCES[service], weights=[w for *_, w in RESOURCES[service]]
            )[0]
            op = rng.choice(("read", "read", "search", "update"))
            wanted = rng.randint(1, 20) if op == "search" else 1
            budget = self.writes if op == "update" else self.reads
            records = budget.take(member.id, t, wanted)
            if records:
                out.append(_touch(rng, t, who, op, (rtype, cats), tenant.id, records, ticket))
        t += timedelta(seconds=rng.uniform(10, 60))
        out.append(_auth(rng, t, who, "logout"))
        return out

    # -- system jobs ------------------------------------------------------------------------

    def _system_job(self, t: datetime) -> list[_Pending]:
        rng = self.rng
        tenant = rng.choice(self.pop.tenants)
        service = rng.choice(tenant.services)
        job = rng.choice(("campaign-send", "purge", "credential-audit"))
        actor = f"system:{job}"
        who = _Who(
            tenant.id,
            actor,
            "system",
            f"10.20.{rng.randint(0, 3)}.{rng.randint(2, 250)}",
            "FR",
            None,
            "api",
            service,
        )
        if job == "campaign-send":
            records = self.reads.take(actor, t, rng.randint(20, 300))
            if not records:
                return []
            return [
                _access(
                    rng,
                    t,
                    who,
                    "forward",
                    rtype="campaign",
                    rtenant=tenant.id,
                    categories=("identification", "electronic_identification"),
                    records=records,
                    subjects=records,
                )
            ]
        if job == "purge":
            rtype, cats, _ = RESOURCES[service][0]
            records = self.writes.take(actor, t, rng.randint(5, 120))
            if not records:
                return []
            return [
                _access(
                    rng,
                    t,
                    who,
                    "delete",
                    rtype=rtype,
                    rtenant=tenant.id,
                    categories=cats,
                    records=records,
                    subjects=records,
                )
            ]
        records = self.reads.take(actor, t, len(tenant.users))
        if not records:
            return []
        return [
            _access(
                rng,
                t,
                who,
                "read",
                rtype="user_account",
                rtenant=tenant.id,
                categories=("security",),
                records=records,
                subjects=records,
            )
        ]
