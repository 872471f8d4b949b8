"""Attack scenarios: what each injects, which rules must find it, and the generators."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from random import Random

from tocsin.dev.simulator.traffic import (
    API_AGENTS,
    BROWSERS,
    PARIS,
    RESOURCES,
    STAFF_TENANT,
    _access,
    _ApiKey,
    _auth,
    _ip,
    _ipv6_of,
    _Pending,
    _Population,
    _Staff,
    _touch,
    _User,
    _Who,
)


@dataclass(frozen=True)
class AttackScenario:
    name: str
    rule_ids: tuple[str, ...]  # rules that must find it (recall)
    description: str
    also: tuple[str, ...] = ()  # rules that may legitimately fire too (not false positives)
    min_history: timedelta = timedelta(hours=1)  # event time from `start` before injection


# --------------------------------------------------------------------------------------------
# Attacks


_AttackFn = Callable[["_AttackContext"], list[_Pending]]


def _at_home(u: _User) -> bool:
    """Seen only from the user's own country so far."""
    return u.last_country == u.country and u.countries == {u.country}


def _known_since(u: _User, *, last: datetime, first: datetime) -> bool:
    """Logged in twice or more, last at `last` or before, first at `first` or before."""
    return (
        u.logins >= 2
        and u.last_login is not None
        and u.last_login <= last
        and u.first_login is not None
        and u.first_login <= first
    )


@dataclass
class _AttackContext:
    rng: Random
    t0: datetime
    pop: _Population
    instance: int

    def victim(
        self,
        *,
        mfa: bool | None = None,
        quiet_for: timedelta = timedelta(0),
        kind: str = "customer_user",
        home: bool = True,
        known_for: timedelta = timedelta(0),
    ) -> _User:
        """A user with a login history (first login at least `known_for` ago), at home so
        far, idle for `quiet_for`."""
        candidates = [
            u
            for u in self.pop.users
            if u.kind == kind
            and (mfa is None or u.mfa == mfa)
            and (not home or _at_home(u))
            and _known_since(u, last=self.t0 - quiet_for, first=self.t0 - known_for)
        ]
        fresh = [u for u in candidates if u.id not in self.pop.attacked] or candidates
        chosen = self.rng.choice(fresh) if fresh else self._longest_known(kind)
        self.pop.attacked.add(chosen.id)
        return chosen

    def _longest_known(self, kind: str) -> _User:
        """The longest-known user of `kind` not attacked yet (short history or tiny
        population: a victim is always found)."""
        pool = [u for u in self.pop.users if u.kind == kind] or self.pop.users
        known = [u for u in pool if u.first_login is not None]
        unused = [u for u in known if u.id not in self.pop.attacked] or known or pool
        return min(unused, key=lambda u: (u.first_login or self.t0, u.id))

    def who(
        self,
        user: _User,
        *,
        ip: str | None = None,
        country: str | None = None,
        interface: str = "web",
        ua: str | None = None,
        service: str | None = None,
    ) -> _Who:
        return _Who(
            user.tenant.id,
            user.id,
            user.kind,
            ip or user.home_ip,
            country or user.country,
            ua or user.ua,
            interface,
            service or user.service,
        )

    def at(self, t: datetime, hour: int, minute: int, *, weekday: bool) -> datetime:
        """The first Paris-local `hour:minute` after `t` (on a weekday when asked)."""
        local = t.astimezone(PARIS)
        cand = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
        while cand <= local or (weekday and cand.weekday() >= 5):
            cand = (cand + timedelta(days=1)).replace(hour=hour, minute=minute)
        return cand.astimezone(UTC)


def _secs(rng: Random, lo: float, hi: float) -> timedelta:
    return timedelta(seconds=rng.uniform(lo, hi))


def _accesses(
    c: _AttackContext,
    t: datetime,
    who: _Who,
    operation: str,
    *,
    rtype: str,
    cats: Sequence[str],
    times: int,
    gap: tuple[float, float],
    records: int,
    rtenant: str | None = None,
    ticket_id: str | None = None,
) -> list[_Pending]:
    """`times` accesses of `who` to the records of `rtenant` (its own tenant by default),
    `gap` seconds apart (the first one `gap` after `t`), each reaching `records` records of as
    many persons."""
    out: list[_Pending] = []
    for _ in range(times):
        t += _secs(c.rng, *gap)
        out.append(
            _access(
                c.rng,
                t,
                who,
                operation,
                rtype=rtype,
                rtenant=rtenant or who.tenant_id,
                categories=cats,
                records=records,
                subjects=records,
                ticket_id=ticket_id,
            )
        )
    return out


def _brute_force(c: _AttackContext) -> list[_Pending]:
    rng, t = c.rng, c.t0
    user = c.victim()
    who = c.who(user, ip=_ip(rng, "RU"), country="RU", ua="python-requests/2.31.0")
    out: list[_Pending] = []
    for i in range(24):
        reason = "bad_password" if i < 10 else "locked"
        out.append(_auth(rng, t, who, "login_failure", failure_reason=reason))
        if i == 9:
            out.append(_auth(rng, t + timedelta(milliseconds=300), who, "account_locked"))
        t += _secs(rng, 3, 9)
    return out


def _password_spraying(c: _AttackContext) -> list[_Pending]:
    rng, t = c.rng, c.t0
    ip = _ip(rng, "NG")
    tenants = rng.sample(c.pop.tenants, min(6, len(c.pop.tenants)))
    accounts = [u for tn in tenants for u in tn.users]
    rng.shuffle(accounts)
    out: list[_Pending] = []
    for user in accounts[:30]:
        who = c.who(user, ip=ip, country="NG", ua="Mozilla/5.0 (X11; Linux x86_64)")
        out.append(_auth(rng, t, who, "login_failure", failure_reason="bad_password"))
        t += _secs(rng, 4, 12)
    for k in range(max(0, 24 - len(accounts))):  # tiny populations: guessed account names
        tenant = tenants[k % len(tenants)]
        who = _Who(
            tenant.id, f"guess-{k:02d}", "customer_user", ip, "NG", None, "web", tenant.services[0]
        )
        out.append(_auth(rng, t, who, "login_failure", failure_reason="unknown_account"))
        t += _secs(rng, 4, 12)
    return out


def _account_takeover(c: _AttackContext) -> list[_Pending]:
    rng, t = c.rng, c.t0
    user = c.victim(mfa=False, quiet_for=timedelta(hours=1))
    who = c.who(user, ip=_ip(rng, user.country), ua="Mozilla/5.0 (X11; Linux x86_64)")
    out: list[_Pending] = []
    for _ in range(7):
        out.append(_auth(rng, t, who, "login_failure", failure_reason="bad_password"))
        t += _secs(rng, 5, 20)
    out.append(_auth(rng, t, who, "login_success"))
    rtype, cats, _ = RESOURCES[user.service][0]
    out += _accesses(c, t, who, "read", rtype=rtype, cats=cats, times=3, gap=(10, 40), records=1)
    return out


def _new_country(c: _AttackContext) -> list[_Pending]:
    rng, t = c.rng, c.t0
    user = c.victim(mfa=False, quiet_for=timedelta(hours=24), known_for=timedelta(days=15))
    who = c.who(user, ip=_ipv6_of(_ip(rng, "BR"), "BR"), country="BR")
    return [
        _auth(rng, t, who, "login_success"),
        _auth(rng, t + _secs(rng, 30, 90), who, "password_changed"),
        _auth(rng, t + _secs(rng, 100, 200), who, "logout"),
    ]


def _impossible_travel(c: _AttackContext) -> list[_Pending]:
    rng, t = c.rng, c.t0
    user = c.victim(mfa=False)
    home = c.who(user)
    away = c.who(user, ip=_ipv6_of(_ip(rng, "SG"), "SG"), country="SG", ua=BROWSERS[0])
    return [
        _auth(rng, t, home, "login_success"),
        _auth(rng, t + timedelta(minutes=rng.uniform(15, 40)), away, "login_success"),
    ]


def _mfa_fatigue(c: _AttackContext) -> list[_Pending]:
    rng, t = c.rng, c.t0
    user = c.victim(mfa=True, quiet_for=timedelta(hours=1))
    who = c.who(user, ip=_ip(rng, user.country), ua="Mozilla/5.0 (X11; Linux x86_64)")
    out = [_auth(rng, t, who, "login_success")]
    for _ in range(8):
        t += _secs(rng, 20, 50)
        out.append(_auth(rng, t, who, "mfa_failure", failure_reason="mfa"))
    t += _secs(rng, 20, 50)
    out.append(_auth(rng, t, who, "mfa_success"))
    return out


def _cross_tenant_read(c: _AttackContext) -> list[_Pending]:
    rng, t = c.rng, c.t0
    user = c.victim()
    others = [tn for tn in c.pop.tenants if tn is not user.tenant] or c.pop.tenants
    target = rng.choice(others)
    service = rng.choice(target.services)
    rtype, cats, _ = RESOURCES[service][0]
    who = c.who(user, service=service)
    out = [_auth(rng, t, who, "login_success")]
    out += _accesses(
        c,
        t,
        who,
        "read",
        rtype=rtype,
        cats=cats,
        times=6,
        gap=(5, 30),
        records=1,
        rtenant=target.id,
    )
    return out


def _exfiltration(c: _AttackContext) -> list[_Pending]:
    rng, t = c.rng, c.t0
    user = c.victim()
    tenant = user.tenant
    service = "cloudcontact" if "cloudcontact" in tenant.services else user.service
    who = c.who(user, service=service, interface="api", ua="python-requests/2.31.0")
    cats = ("identification", "electronic_identification")
    out = [_auth(rng, t, who, "login_success")]
    for _ in range(8):
        t += _secs(rng, 60, 300)
        n = rng.randint(2500, 5000)
        out.append(
            _access(
                rng,
                t,
                who,
                "export",
                rtype="contact",
                rtenant=tenant.id,
                categories=cats,
                records=n,
                subjects=n,
            )
        )
    return out


def _staff(c: _AttackContext, kind: str) -> _Staff:
    members = [s for s in c.pop.staff if s.kind == kind] or c.pop.staff
    if not members:
        return _Staff(id="staff-00000000", kind=kind, ip=_ip(c.rng, "FR"), ua=BROWSERS[0])
    return c.rng.choice(members)


def _staff_reads(
    c: _AttackContext, member: _Staff, t: datetime, *, n: int, ticket: str | None
) -> list[_Pending]:
    rng = c.rng
    tenant = rng.choice(c.pop.tenants)
    service = rng.choice(tenant.services)
    rtype, cats, _ = RESOURCES[service][0]
    who = _Who(
        STAFF_TENANT, member.id, member.kind, member.ip, "FR", member.ua, "support_console", service
    )
    out = [_auth(rng, t, who, "login_success")]
    out += _accesses(
        c,
        t,
        who,
        "read",
        rtype=rtype,
        cats=cats,
        times=n,
        gap=(10, 60),
        records=1,
        rtenant=tenant.id,
        ticket_id=ticket,
    )
    return out


def _staff_without_ticket(c: _AttackContext) -> list[_Pending]:
    t = c.at(c.t0, 10 + c.rng.randint(0, 5), c.rng.randint(0, 40), weekday=True)
    return _staff_reads(c, _staff(c, "staff_support"), t, n=12, ticket=None)


def _staff_at_night(c: _AttackContext) -> list[_Pending]:
    t = c.at(c.t0, 2, c.rng.randint(0, 50), weekday=False)
    ticket = f"CHG-{c.rng.randint(20000, 89999)}"
    return _staff_reads(c, _staff(c, "staff_maintenance"), t, n=6, ticket=ticket)


def _security_read(c: _AttackContext) -> list[_Pending]:
    rng, t = c.rng, c.t0
    user = c.victim(kind="customer_admin")
    who = c.who(user)
    n = len(user.tenant.users)
    return [
        _auth(rng, t, who, "login_success"),
        _access(
            rng,
            t + _secs(rng, 20, 90),
            who,
            "export",
            rtype="user_account",
            rtenant=user.tenant.id,
            categories=("security", "electronic_identification"),
            records=n,
            subjects=n,
        ),
    ]


def _mass_delete(c: _AttackContext) -> list[_Pending]:
    rng, t = c.rng, c.t0
    user = c.victim()
    service = rng.choice(user.tenant.services)
    rtype, cats, _ = RESOURCES[service][0]
    who = c.who(user, service=service)
    out = [_auth(rng, t, who, "login_success")]
    out += _accesses(
        c, t, who, "delete", rtype=rtype, cats=cats, times=5, gap=(30, 90), records=600
    )
    return out


def _api_key(c: _AttackContext) -> _ApiKey:
    if c.pop.api_keys:
        return c.rng.choice(c.pop.api_keys)
    tenant = c.rng.choice(c.pop.tenants)
    return _ApiKey(
        id="key-000000000000",
        tenant=tenant,
        ip=_ip(c.rng, "FR"),
        ua=API_AGENTS[0],
        service=tenant.services[0],
        heavy=False,
        rate=0.0,
    )


def _outside_eu(c: _AttackContext) -> list[_Pending]:
    rng, t = c.rng, c.t0
    key = _api_key(c)
    who = _Who(
        key.tenant.id,
        key.id,
        "api_key",
        _ipv6_of(_ip(rng, "US"), "US"),
        "US",
        "curl/8.5.0",
        "api",
        key.service,
    )
    rtype, cats, _ = RESOURCES[key.service][0]
    out: list[_Pending] = []
    for _ in range(5):
        out.append(_touch(rng, t, who, "read", (rtype, cats), key.tenant.id, 1))
        t += _secs(rng, 1, 10)
    return out


def _no_tls(c: _AttackContext) -> list[_Pending]:
    rng, t = c.rng, c.t0
    tenant = rng.choice([tn for tn in c.pop.tenants if "faxbis" in tn.services] or c.pop.tenants)
    key = rng.choice(tenant.api_keys) if tenant.api_keys else _api_key(c)
    who = _Who(tenant.id, key.id, "api_key", key.ip, "FR", "Postfix", "smtp", "faxbis", tls=False)
    out: list[_Pending] = []
    for _ in range(3):
        fax = ("fax", ("identification", "content"))
        out.append(_touch(rng, t, who, "forward", fax, tenant.id, 1))
        t += _secs(rng, 30, 120)
    return out


def _enumeration(c: _AttackContext) -> list[_Pending]:
    rng, t = c.rng, c.t0
    user = c.victim()
    others = [tn for tn in c.pop.tenants if tn is not user.tenant] or c.pop.tenants
    target = rng.choice(others)
    who = c.who(user, service="demat_manager", interface="api", ua="python-requests/2.31.0")
    out = [_auth(rng, t, who, "login_success")]
    base = rng.randint(100000, 900000)
    for k in range(70):
        t += _secs(rng, 1, 5)
        out.append(
            _access(
                rng,
                t,
                who,
                "read",
                rtype="document",
                rtenant=target.id,
                categories=("identification", "content"),
                records=0,
                outcome="denied",
                rid=f"doc-{base + k}",
            )
        )
    return out


ATTACKS: dict[str, AttackScenario] = {
    s.name: s
    for s in (
        AttackScenario(
            "brute_force",
            ("AUTH-001",),
            "24 failed logins on one account from one foreign IP in ~3 min",
        ),
        AttackScenario(
            "password_spraying",
            ("AUTH-002",),
            "one IP fails once on each of 30 accounts of 6 tenants in ~5 min",
        ),
        AttackScenario(
            "account_takeover",
            ("AUTH-003",),
            "7 failed logins then a success on one account, then reads",
        ),
        AttackScenario(
            "new_country",
            ("AUTH-004",),
            "a successful login from a country never seen for the account",
            also=("AUTH-005",),
            min_history=timedelta(days=16),
        ),
        AttackScenario(
            "impossible_travel",
            ("AUTH-005",),
            "logins from France then Singapore 15-40 min apart",
            also=("AUTH-004",),
        ),
        AttackScenario(
            "mfa_fatigue",
            ("AUTH-006",),
            "password accepted, 8 MFA push rejections, then one accepted",
        ),
        AttackScenario(
            "cross_tenant_read",
            ("ACC-001",),
            "a customer user reads 6 records owned by another tenant",
        ),
        AttackScenario(
            "exfiltration",
            ("ACC-002",),
            "a user exports ~30,000 contacts in 30 min, far above its own baseline",
            min_history=timedelta(days=2),
        ),
        AttackScenario(
            "staff_without_ticket",
            ("ACC-003",),
            "support staff reads 12 customer records with no ticket id",
        ),
        AttackScenario(
            "staff_at_night",
            ("ACC-004",),
            "maintenance staff reads customer data at 02:00 Paris (with a ticket)",
        ),
        AttackScenario(
            "security_read",
            ("ACC-005",),
            "a customer admin exports the password data of its user accounts",
        ),
        AttackScenario("mass_delete", ("ACC-006",), "a user deletes 3,000 records in ~5 min"),
        AttackScenario(
            "outside_eu", ("ACC-007",), "an API key reads customer data from the United States"
        ),
        AttackScenario("no_tls", ("ACC-008",), "faxes forwarded by SMTP without STARTTLS"),
        AttackScenario(
            "enumeration",
            ("ACC-009",),
            "70 denied reads of another tenant's document ids in ~3 min",
        ),
    )
}

_ATTACK_FNS: dict[str, _AttackFn] = {
    "brute_force": _brute_force,
    "password_spraying": _password_spraying,
    "account_takeover": _account_takeover,
    "new_country": _new_country,
    "impossible_travel": _impossible_travel,
    "mfa_fatigue": _mfa_fatigue,
    "cross_tenant_read": _cross_tenant_read,
    "exfiltration": _exfiltration,
    "staff_without_ticket": _staff_without_ticket,
    "staff_at_night": _staff_at_night,
    "security_read": _security_read,
    "mass_delete": _mass_delete,
    "outside_eu": _outside_eu,
    "no_tls": _no_tls,
    "enumeration": _enumeration,
}
