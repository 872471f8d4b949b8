"""The traffic simulator: contract, determinism, time order, realism, and attacks that carry
what their rule needs (checked by small reference checks written here, independent of the
detection engine)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

import pytest

from consumers import geo
from consumers.events import AccessEvent, AuthEvent, Event, ip_object, parse_event
from tocsin.dev.simulator import (
    ATTACKS,
    STAFF_TENANT,
    SimEvent,
    Simulator,
    SimulatorError,
    UnknownAttack,
    read_jsonl,
    write_jsonl,
)

START = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # a Monday
PARIS = ZoneInfo("Europe/Paris")
COUNT = 20_000
EU_EEA = frozenset(
    {
        "AT",
        "BE",
        "BG",
        "HR",
        "CY",
        "CZ",
        "DK",
        "EE",
        "FI",
        "FR",
        "DE",
        "GR",
        "HU",
        "IE",
        "IT",
        "LV",
        "LT",
        "LU",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SK",
        "SI",
        "ES",
        "SE",
        "IS",
        "LI",
        "NO",
    }
)
CATALOGUE = (
    "AUTH-001",
    "AUTH-002",
    "AUTH-003",
    "AUTH-004",
    "AUTH-005",
    "AUTH-006",
    "ACC-001",
    "ACC-002",
    "ACC-003",
    "ACC-004",
    "ACC-005",
    "ACC-006",
    "ACC-007",
    "ACC-008",
    "ACC-009",
)


def small_sim(seed: int = 7) -> Simulator:
    return Simulator(
        seed=seed, start=START, tenants=20, users_per_tenant=10, staff=6, sessions_per_user_day=0.5
    )


@pytest.fixture(scope="module")
def stream() -> list[SimEvent]:
    return list(small_sim().events(count=COUNT, attacks=list(ATTACKS)))


@pytest.fixture(scope="module")
def parsed(stream: list[SimEvent]) -> list[tuple[SimEvent, Event]]:
    out: list[tuple[SimEvent, Event]] = []
    for ev in stream:
        model = AuthEvent if ev.stream == "auth" else AccessEvent
        out.append((ev, parse_event(json.dumps(ev.value).encode(), model)))
    return out


# -- reference checks: does a list of events satisfy what a rule needs? ---------------------

Check = Callable[[list[Event]], bool]


def _auth(events: Iterable[Event], action: str) -> list[AuthEvent]:
    return [e for e in events if isinstance(e, AuthEvent) and e.action == action]


def _access(events: Iterable[Event]) -> list[AccessEvent]:
    return [e for e in events if isinstance(e, AccessEvent)]


def _max_in_window(items: list[tuple[datetime, int]], window: timedelta) -> int:
    items = sorted(items)
    best, total, lo = 0, 0, 0
    for t, n in items:
        total += n
        while items[lo][0] <= t - window:
            total -= items[lo][1]
            lo += 1
        best = max(best, total)
    return best


E = TypeVar("E", AuthEvent, AccessEvent, Event)


def by(events: Iterable[E], key: Callable[[E], str]) -> dict[str, list[E]]:
    groups: dict[str, list[E]] = defaultdict(list)
    for e in events:
        groups[key(e)].append(e)
    return groups


def actor(e: Event) -> str:
    return f"{e.tenant_id}|{e.actor.id}"


def brute_force(evs: list[Event]) -> bool:
    return any(
        _max_in_window([(e.occurred_at, 1) for e in g], timedelta(minutes=5)) >= 10
        for g in by(_auth(evs, "login_failure"), actor).values()
    )


def spraying(evs: list[Event]) -> bool:
    for group in by(_auth(evs, "login_failure"), lambda e: str(e.source_ip)).values():
        group.sort(key=lambda e: e.occurred_at)
        for i, first in enumerate(group):
            accounts = {
                actor(e)
                for e in group[i:]
                if e.occurred_at - first.occurred_at <= timedelta(minutes=10)
            }
            if len(accounts) >= 20:
                return True
    return False


def _then(evs: list[Event], fail: str, success: str, n: int, window: timedelta) -> bool:
    auth = [e for e in evs if isinstance(e, AuthEvent)]
    for group in by(auth, actor).values():
        group.sort(key=lambda e: e.occurred_at)
        for i, e in enumerate(group):
            if e.action != success:
                continue
            fails = [
                f for f in group[:i] if f.action == fail and e.occurred_at - f.occurred_at <= window
            ]
            if len(fails) >= n:
                return True
    return False


def takeover(evs: list[Event]) -> bool:
    return _then(evs, "login_failure", "login_success", 5, timedelta(minutes=15))


def mfa_fatigue(evs: list[Event]) -> bool:
    return _then(evs, "mfa_failure", "mfa_success", 5, timedelta(minutes=10))


def new_countries(evs: list[Event], learning: timedelta = timedelta(days=14)) -> list[AuthEvent]:
    """Logins from a country never seen for the account, once the account has been known
    for `learning` (counted from its first login)."""
    seen: dict[str, set[str | None]] = defaultdict(set)
    first: dict[str, datetime] = {}
    out = []
    for e in sorted(_auth(evs, "login_success"), key=lambda e: e.occurred_at):
        since = first.setdefault(actor(e), e.occurred_at)
        if e.occurred_at >= since + learning and e.country not in seen[actor(e)]:
            out.append(e)
        seen[actor(e)].add(e.country)
    return out


CENTRES = {
    "FR": (46.6, 2.4),
    "BE": (50.6, 4.6),
    "DE": (51.1, 10.4),
    "ES": (40.4, -3.7),
    "IT": (42.8, 12.5),
    "NL": (52.2, 5.3),
    "PT": (39.6, -8.0),
    "SG": (1.35, 103.8),
    "BR": (-10.8, -52.9),
    "US": (39.8, -98.6),
    "RU": (61.5, 105.3),
    "NG": (9.1, 8.7),
}


def _km(a: str, b: str) -> float:
    from math import asin, cos, radians, sin, sqrt

    (la1, lo1), (la2, lo2) = CENTRES[a], CENTRES[b]
    h = (
        sin(radians(la2 - la1) / 2) ** 2
        + cos(radians(la1)) * cos(radians(la2)) * sin(radians(lo2 - lo1) / 2) ** 2
    )
    return 2 * 6371 * asin(sqrt(h))


def travel(evs: list[Event]) -> bool:
    for group in by(_auth(evs, "login_success"), actor).values():
        group.sort(key=lambda e: e.occurred_at)
        for a, b in zip(group, group[1:], strict=False):
            if a.country and b.country and a.country != b.country:
                hours = max((b.occurred_at - a.occurred_at).total_seconds() / 3600, 1e-6)
                if _km(a.country, b.country) / hours > 900:
                    return True
    return False


def personal(e: AccessEvent) -> bool:
    return e.outcome == "allowed"


def cross_tenant(evs: list[Event]) -> bool:
    return any(
        e.resource.tenant_id != e.tenant_id and not e.actor.kind.is_staff and e.outcome == "allowed"
        for e in _access(evs)
    )


READ_OPS = ("read", "search", "export", "download", "forward")


def exfiltration(evs: list[Event]) -> bool:
    """Some clock hour's records read by one actor exceed max(1000, 10 x the mean of its
    last 24 non-empty hours)."""
    reads = [e for e in _access(evs) if e.operation in READ_OPS and e.outcome == "allowed"]
    for group in by(reads, actor).values():
        hours: Counter[int] = Counter()
        for e in group:
            hours[int(e.occurred_at.timestamp() // 3600)] += e.records
        history: list[int] = []
        for hour in sorted(hours):
            baseline = sum(history[-24:]) / len(history[-24:]) if history else 0.0
            if hours[hour] > max(1000.0, 10 * baseline):
                return True
            history.append(hours[hour])
    return False


def staff_no_ticket(evs: list[Event]) -> bool:
    return any(e.actor.kind.is_staff and e.ticket_id is None and personal(e) for e in _access(evs))


def staff_off_hours(evs: list[Event]) -> bool:
    def off(t: datetime) -> bool:
        local = t.astimezone(PARIS)
        return local.weekday() >= 5 or not 8 <= local.hour < 19

    return any(e.actor.kind.is_staff and off(e.occurred_at) for e in _access(evs))


def security_read(evs: list[Event]) -> bool:
    return any("security" in e.data_categories and e.actor.kind != "system" for e in _access(evs))


def mass_delete(evs: list[Event]) -> bool:
    writes = [
        e for e in _access(evs) if e.operation in ("delete", "update") and e.outcome == "allowed"
    ]
    return any(
        _max_in_window([(e.occurred_at, e.records) for e in g], timedelta(minutes=10)) >= 500
        for g in by(writes, actor).values()
    )


def outside_eu(evs: list[Event]) -> bool:
    return any(e.country not in EU_EEA for e in _access(evs))


def no_tls(evs: list[Event]) -> bool:
    return any(not e.tls for e in evs)


def enumeration(evs: list[Event]) -> bool:
    denied = [e for e in _access(evs) if e.outcome == "denied"]
    return any(
        _max_in_window([(e.occurred_at, 1) for e in g], timedelta(minutes=10)) >= 50
        for g in by(denied, actor).values()
    )


CHECKS: dict[str, Check] = {
    "AUTH-001": brute_force, "AUTH-002": spraying, "AUTH-003": takeover,
    "AUTH-004": lambda evs: bool(new_countries(evs)), "AUTH-005": travel,
    "AUTH-006": mfa_fatigue, "ACC-001": cross_tenant, "ACC-002": exfiltration,
    "ACC-003": staff_no_ticket, "ACC-004": staff_off_hours, "ACC-005": security_read,
    "ACC-006": mass_delete, "ACC-007": outside_eu, "ACC-008": no_tls, "ACC-009": enumeration,
}  # fmt: skip


# -- tests ----------------------------------------------------------------------------------


def test_every_event_validates_against_the_contract(parsed: list[tuple[SimEvent, Event]]) -> None:
    assert len(parsed) > COUNT
    for sim, ev in parsed:
        assert sim.key == ev.tenant_id
        assert str(ev.event_id) == sim.event_id
        assert ev.country is not None


def test_event_ids_are_unique(stream: list[SimEvent]) -> None:
    ids = [e.event_id for e in stream]
    assert len(set(ids)) == len(ids)


def test_exact_normal_count_and_time_order(parsed: list[tuple[SimEvent, Event]]) -> None:
    assert sum(1 for sim, _ in parsed if sim.label is None) == COUNT
    times = [ev.occurred_at for _, ev in parsed]
    assert all(a <= b for a, b in zip(times, times[1:], strict=False))
    assert times[0] >= START
    # realistic spacing: a small customer base spreads 20k events over weeks, not seconds
    assert timedelta(days=14) < times[-1] - times[0] < timedelta(days=60)


def test_same_seed_is_byte_identical_and_other_seed_differs() -> None:
    def dump(sim: Simulator) -> str:
        buf = io.StringIO()
        write_jsonl(sim.events(count=3000, attacks=["brute_force", "exfiltration"]), buf)
        return buf.getvalue()

    first = dump(small_sim(3))
    assert first == dump(small_sim(3))
    assert first != dump(small_sim(4))


def test_attacks_never_change_the_normal_traffic() -> None:
    plain = [e.to_json() for e in small_sim().events(count=4000)]
    mixed = list(small_sim().events(count=4000, attacks=["mass_delete", "enumeration"]))
    assert [e.to_json() for e in mixed if e.label is None] == plain
    assert {e.label for e in mixed if e.label} == {"mass_delete", "enumeration"}


def test_jsonl_round_trip() -> None:
    events = list(small_sim().events(count=500, attacks=["no_tls"]))
    buf = io.StringIO()
    assert write_jsonl(events, buf) == len(events)
    lines = buf.getvalue().splitlines()
    assert len(lines) == len(events)
    assert set(json.loads(lines[0])) >= {"stream", "key", "label", "value"}
    buf.seek(0)
    assert list(read_jsonl(buf)) == events


def test_catalogue_is_covered_by_attacks() -> None:
    covered = {rule for s in ATTACKS.values() for rule in s.rule_ids}
    assert covered >= set(CATALOGUE)
    assert all(s.name == name and s.description for name, s in ATTACKS.items())


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_each_attack_carries_what_its_rule_needs(
    name: str, parsed: list[tuple[SimEvent, Event]]
) -> None:
    scenario = ATTACKS[name]
    attack = [ev for sim, ev in parsed if sim.label == name]
    assert attack, f"{name} injected no event"
    assert {sim.attack_id for sim, _ in parsed if sim.label == name} == {f"{name}#0"}
    for rule in scenario.rule_ids:
        if rule == "AUTH-004":  # needs the account's history: check on the whole stream
            flagged = new_countries([ev for _, ev in parsed])
            assert any(str(e.event_id) in {str(a.event_id) for a in attack} for e in flagged)
        elif rule == "ACC-002":
            assert exfiltration(attack)
            normal_hist = [
                ev for sim, ev in parsed if sim.label is None and actor(ev) == actor(attack[0])
            ]
            assert normal_hist, "the exfiltrating actor has a normal history (a baseline)"
        else:
            assert CHECKS[rule](attack), f"{name} does not satisfy {rule}"


def test_attacks_are_isolated_from_unrelated_rules(parsed: list[tuple[SimEvent, Event]]) -> None:
    """Each attack, on its own, trips only its own rules and the ones it declares as `also`."""
    for name, scenario in ATTACKS.items():
        attack = [ev for sim, ev in parsed if sim.label == name]
        allowed = set(scenario.rule_ids) | set(scenario.also) | {"AUTH-004"}
        tripped = {rule for rule, check in CHECKS.items() if rule != "AUTH-004" and check(attack)}
        assert tripped <= allowed, f"{name} also trips {tripped - allowed}"


def test_normal_traffic_stays_under_every_threshold(
    parsed: list[tuple[SimEvent, Event]],
) -> None:
    normal = [ev for sim, ev in parsed if sim.label is None]
    for rule, check in CHECKS.items():
        if rule == "AUTH-004":
            continue
        assert not check(normal), f"normal traffic trips {rule}"
    # new countries in normal traffic are legit travellers inside the EU
    travellers = new_countries(normal)
    assert all(e.country in EU_EEA for e in travellers)


def test_realistic_mix(parsed: list[tuple[SimEvent, Event]]) -> None:
    normal = [ev for sim, ev in parsed if sim.label is None]
    kinds = Counter(e.actor.kind.value for e in normal)
    assert kinds["customer_user"] > kinds["customer_admin"] > 0
    assert kinds["api_key"] > 0 and kinds["system"] > 0
    assert sum(n for k, n in kinds.items() if k.startswith("staff_")) > 0
    services = Counter(e.service.value for e in normal)
    assert len(services) == 6
    countries = Counter(e.country for e in normal)
    assert countries["FR"] / len(normal) > 0.75 and len(countries) >= 2
    successes = len(_auth(normal, "login_success"))
    failures = len(_auth(normal, "login_failure"))
    assert 0 < failures < 0.1 * successes  # typos happen, rarely
    local = [e.occurred_at.astimezone(PARIS) for e in normal]
    office = sum(1 for t in local if t.weekday() < 5 and 8 <= t.hour < 19)
    assert office / len(local) > 0.7  # business hours dominate
    night = sum(1 for t in local if 1 <= t.hour < 5)
    assert 0 < night < 0.05 * len(local)  # integrations and jobs run at night, quietly
    weekdays = Counter(t.weekday() for t in local)
    assert weekdays[2] > 4 * weekdays[6]  # Wednesday busier than Sunday
    exports = [e for e in _access(normal) if e.operation == "export"]
    assert any(e.records >= 100 for e in exports if e.actor.kind != "api_key")  # bulk-but-normal
    # a CRM sync exports more than the 1,000-record floor, under 10x its own baseline
    assert any(e.records > 1000 for e in exports if e.actor.kind == "api_key")
    assert all(e.tls for e in normal)
    staff = [e for e in _access(normal) if e.actor.kind.is_staff]
    assert staff and all(e.ticket_id and e.tenant_id == STAFF_TENANT for e in staff)
    assert any(ip_object(e.source_ip).version == 6 for e in normal)


def test_ipv4_addresses_geolocate_to_the_stated_country(
    parsed: list[tuple[SimEvent, Event]],
) -> None:
    checked = 0
    for _, ev in parsed[::7]:
        ip = ip_object(ev.source_ip)
        if ip.version == 4 and not ip.is_private:
            assert geo.country_of(ip) == ev.country, (str(ip), ev.country)
            checked += 1
    assert checked > 1000


def test_attack_every_repeats_each_attack_with_distinct_instances() -> None:
    events = list(
        small_sim().events(count=3000, attacks=["no_tls", "brute_force"], attack_every=1000)
    )
    ids = {e.attack_id for e in events if e.label}
    assert ids == {f"{n}#{k}" for n in ("no_tls", "brute_force") for k in range(3)}
    times = [
        AuthEvent.model_validate(e.value).occurred_at
        if e.stream == "auth"
        else AccessEvent.model_validate(e.value).occurred_at
        for e in events
    ]
    assert all(a <= b for a, b in zip(times, times[1:], strict=False))


def test_attack_waiting_for_history_is_appended_when_the_stream_is_short() -> None:
    events = list(small_sim().events(count=200, attacks=["new_country"]))
    attack = [AuthEvent.model_validate(e.value) for e in events if e.label == "new_country"]
    assert attack and attack[0].occurred_at >= START + ATTACKS["new_country"].min_history
    assert events[-1].label == "new_country"


def test_bad_requests_raise_typed_errors() -> None:
    with pytest.raises(UnknownAttack, match="nope"):
        small_sim().events(count=10, attacks=["nope"])
    with pytest.raises(SimulatorError, match="aware"):
        Simulator(start=datetime(2026, 1, 1))  # noqa: DTZ001 - the point of the test
    with pytest.raises(SimulatorError):
        small_sim().events(count=10, attack_every=0)


def test_output_does_not_depend_on_hash_randomisation() -> None:
    """Byte-identical across processes, whatever PYTHONHASHSEED (no set/dict-order leaks)."""
    code = (
        "import hashlib, io, sys\n"
        "from datetime import UTC, datetime\n"
        "from tocsin.dev.simulator import ATTACKS, Simulator, write_jsonl\n"
        "buf = io.StringIO()\n"
        "sim = Simulator(seed=5, start=datetime(2026, 3, 2, tzinfo=UTC), tenants=6,\n"
        "                users_per_tenant=5, staff=3)\n"
        "write_jsonl(sim.events(count=1500, attacks=list(ATTACKS)), buf)\n"
        "print(hashlib.sha256(buf.getvalue().encode()).hexdigest())\n"
    )
    root = Path(__file__).resolve().parents[2]
    digests = set()
    for hashseed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hashseed, "PYTHONPATH": str(root)}
        out = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            cwd=root,
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        )
        digests.add(out.stdout.strip())
    assert len(digests) == 1 and len(next(iter(digests))) == 64


def test_disorder_shuffles_arrival_within_the_bound() -> None:
    bound = timedelta(seconds=20)
    sim = Simulator(
        seed=7,
        start=START,
        tenants=20,
        users_per_tenant=10,
        staff=6,
        sessions_per_user_day=0.5,
        disorder=bound,
    )
    shuffled = list(sim.events(count=5000, attacks=["brute_force"]))
    ordered = list(small_sim().events(count=5000, attacks=["brute_force"]))
    assert sorted(e.to_json() for e in shuffled) == sorted(e.to_json() for e in ordered)
    times = [datetime.fromisoformat(e.value["occurred_at"]) for e in shuffled]
    assert any(b < a for a, b in zip(times, times[1:], strict=False))  # really out of order
    newest = times[0]
    for t in times:
        assert t >= newest - bound  # never later than the bound behind the newest seen
        newest = max(newest, t)
    with pytest.raises(SimulatorError, match="disorder"):
        Simulator(start=START, disorder=timedelta(seconds=-1))


def test_some_events_leave_country_to_the_ingest_lookup(
    parsed: list[tuple[SimEvent, Event]],
) -> None:
    unstated = [(sim, ev) for sim, ev in parsed if "country" not in sim.value]
    v4 = [ev for _, ev in unstated if ip_object(ev.source_ip).version == 4]
    v6 = [ev for _, ev in unstated if ip_object(ev.source_ip).version == 6]
    assert len(v4) > len(parsed) // 10 and v6
    # every such event is public and the lookup finds a country for it
    assert all(ev.country for _, ev in unstated)
    # IPv6 sources never state their country; private ones always do
    assert all(
        "country" not in sim.value for sim, ev in parsed if ip_object(ev.source_ip).version == 6
    )
    assert all("country" in sim.value for sim, ev in parsed if ip_object(ev.source_ip).is_private)


def test_attacks_from_abroad_come_from_ipv6_too() -> None:
    countries = {"new_country": "BR", "outside_eu": "US", "impossible_travel": "SG"}
    sources: dict[str, set[int]] = {name: set() for name in countries}
    events = list(small_sim(seed=11).events(count=3000, attacks=list(countries), attack_every=500))
    for sim in events:
        if sim.label in countries:
            model = AuthEvent if sim.stream == "auth" else AccessEvent
            ev = parse_event(json.dumps(sim.value).encode(), model)
            if ev.country == countries[sim.label]:
                sources[sim.label].add(ip_object(ev.source_ip).version)
    assert sources == {name: {4, 6} for name in countries}
