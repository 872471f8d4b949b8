"""The default catalogue on real sshd logs with real attacks (`/work/shared/datasets`)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from consumers.events import AuthEvent, Event
from consumers.sshd import convert_lines
from detectors.engine import PartitionDetector, StreamName, needs_repartition
from detectors.finding import MAX_EVIDENCE, Finding
from detectors.rule import Rule
from tests.detectors.builders import latest

DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets"
LOGHUB = DATASETS / "loghub-openssh" / "OpenSSH_2k.log"
ELASTIC = DATASETS / "elastic-auth" / "auth.log"


def convert(path: Path, *, tenant: str = "lab") -> list[AuthEvent]:
    """The product's converter, with `country` looked up as the ingest stage does."""
    text = path.read_text(encoding="utf-8").splitlines()
    out = []
    for ev in convert_lines(text, tenant=tenant, year=2025, source=path.name).events:
        located = ev.with_country()
        assert isinstance(located, AuthEvent)
        out.append(located)
    return out


def detect(rules: list[Rule], events: list[AuthEvent]) -> list[Finding]:
    found: dict[str, Finding] = {}
    streams: dict[StreamName, list[Event]] = {
        "auth": list(events),
        "by_ip": [e for e in events if needs_repartition(rules, e)],
    }
    for stream, evs in streams.items():
        det = PartitionDetector(rules, stream=stream)
        for i in range(0, len(evs), 100):
            found.update(latest(det.process(evs[i : i + 100])))
        assert det.stats.late_events == 0
    return sorted(found.values(), key=lambda f: (f.rule_id, f.first_seen))


@pytest.fixture(scope="module")
def loghub() -> list[AuthEvent]:
    return convert(LOGHUB)


@pytest.fixture(scope="module")
def elastic() -> list[AuthEvent]:
    return convert(ELASTIC)


def failures(events: list[AuthEvent], *, user: str, ip: str | None = None) -> list[AuthEvent]:
    return [
        e
        for e in events
        if e.action == "login_failure" and e.actor.id == user and (ip is None or e.source_ip == ip)
    ]


def test_conversion_keeps_what_the_logs_contain(
    loghub: list[AuthEvent], elastic: list[AuthEvent]
) -> None:
    # 518 `Failed password` lines, 2 `message repeated 5 times` of one, 3 connections that
    # named an unknown user and tried no password, and the file's last line: a pam_unix
    # failure whose sshd line was cut off; 1 accepted
    assert len(loghub) == 518 + 2 * 5 + 3 + 1 + 1
    assert [e.actor.id for e in loghub if e.action == "login_success"] == ["fztu"]
    assert len(failures(loghub, user="root", ip="183.62.140.253")) == 276 + 1
    assert len(failures(elastic, user="elastic_user_0", ip="24.151.103.17")) == 147


def test_loghub_brute_force_on_root_from_183_62_140_253(
    catalogue: list[Rule], loghub: list[AuthEvent]
) -> None:
    found = detect(catalogue, loghub)
    attack = failures(loghub, user="root", ip="183.62.140.253")
    (f,) = [f for f in found if f.rule_id == "AUTH-001" and "183.62.140.253" in f.source_ips]
    assert f.group_key == "lab|root"
    assert f.first_seen == attack[0].occurred_at == datetime(2025, 12, 10, 10, 54, 33, tzinfo=UTC)
    assert f.last_seen == attack[-1].occurred_at
    in_period = failures(loghub, user="root")
    in_period = [e for e in in_period if f.first_seen <= e.occurred_at <= f.last_seen]
    assert f.count == len(in_period) == 279  # 277 from this IP, 2 from 103.99.0.122
    assert len(f.evidence) == MAX_EVIDENCE
    # the earliest events, by (time, id): syslog times have one-second resolution
    earliest = sorted((e.occurred_at, str(e.event_id)) for e in in_period)[:MAX_EVIDENCE]
    assert f.evidence == tuple(eid for _, eid in earliest)
    assert f.tenant_ids == ("lab",)
    assert "183.62.140.253" not in f.summary


def test_loghub_password_spraying_from_187_141_143_180(
    catalogue: list[Rule], loghub: list[AuthEvent]
) -> None:
    found = detect(catalogue, loghub)
    spraying = [f for f in found if f.rule_id == "AUTH-002"]
    tried = {e.actor.id for e in loghub if e.source_ip == "187.141.143.180"}
    assert len(tried) == 28
    (f,) = spraying
    assert f.group_key == "187.141.143.180"
    assert f.summary.startswith(f"Password spraying: one source failed on {len(tried)} distinct")
    assert f.severity == "high"
    # the only successful login (fztu) followed no failures: no takeover
    assert not [f for f in found if f.rule_id == "AUTH-003"]


def test_elastic_brute_force_then_login_is_an_account_takeover(
    catalogue: list[Rule], elastic: list[AuthEvent]
) -> None:
    found = detect(catalogue, elastic)
    attack = failures(elastic, user="elastic_user_0", ip="24.151.103.17")
    (brute,) = [f for f in found if f.rule_id == "AUTH-001" and f.group_key.endswith("_0")]
    assert brute.count == len(attack) == 147
    assert brute.source_ips == ("24.151.103.17",)
    assert brute.first_seen == attack[0].occurred_at
    (takeover,) = [f for f in found if f.rule_id == "AUTH-003"]
    login = next(
        e
        for e in elastic
        if e.action == "login_success"
        and e.actor.id == "elastic_user_0"
        and e.occurred_at > attack[-1].occurred_at
    )
    assert login.occurred_at == datetime(2025, 3, 30, 16, 1, 36, tzinfo=UTC)
    assert login.source_ip == "24.151.103.17"
    assert takeover.group_key == "lab|elastic_user_0"
    assert takeover.first_seen == attack[0].occurred_at
    assert takeover.severity == "high"
    # 147 failures came first: the evidence still names the login that completed the attack
    assert len(takeover.evidence) == MAX_EVIDENCE
    assert str(login.event_id) in takeover.evidence


def test_elastic_accounts_shared_between_two_continents_are_impossible_travel(
    catalogue: list[Rule], elastic: list[AuthEvent]
) -> None:
    found = detect(catalogue, elastic)
    travel = {f.group_key for f in found if f.rule_id == "AUTH-005"}
    countries: dict[str, set[str]] = {}
    for e in elastic:
        if e.action == "login_success" and e.country:
            countries.setdefault(f"lab|{e.actor.id}", set()).add(e.country)
    two_continents = {k for k, v in countries.items() if {"US", "PT"} <= v}
    assert "lab|elastic_user_0" in travel
    assert travel == two_continents
    for f in found:
        for ip in f.source_ips:
            assert ip not in f.summary


def test_elastic_user_name_probes_are_password_spraying(
    catalogue: list[Rule], elastic: list[AuthEvent]
) -> None:
    # 91.197.232.109 names 24 unknown users in 58 connections and disconnects before any
    # password: each `Invalid user` connection is one unknown_account failure
    probes = [e for e in elastic if e.source_ip == "91.197.232.109"]
    assert {e.failure_reason for e in probes} == {"unknown_account"}
    assert (len(probes), len({e.actor.id for e in probes})) == (58, 24)
    found = detect(catalogue, elastic)
    assert {f.group_key for f in found if f.rule_id == "AUTH-002"} == {"91.197.232.109"}
