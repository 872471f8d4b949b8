from __future__ import annotations

from datetime import timedelta

from detectors.finding import TenantImpact, finding_id
from detectors.rule import Rule
from tests.detectors.builders import T0, Events, latest, rule, run


def test_cross_tenant_read_is_one_finding_listing_each_victim(
    ev: Events, catalogue: list[Rule]
) -> None:
    acc001 = rule(catalogue, "ACC-001")
    events = [
        ev.access(at=0, owner="victim1", records=10, subjects=4),
        ev.access(at=5, owner="victim2", records=3),
        ev.access(at=6, owner="victim1", records=1, outcome="denied"),
        ev.access(at=7, records=1000),  # own data: not a finding
    ]
    _, out = run([acc001], events, stream="access")
    (f,) = latest(out).values()
    assert f.rule_id == "ACC-001"
    assert f.severity == "critical"
    assert f.group_key == "t1|alice"
    assert f.finding_id == finding_id("ACC-001", "t1|alice", T0)
    assert f.tenant_ids == ("victim1", "victim2")
    assert f.tenants["victim1"] == TenantImpact(events=1, records=10, subjects=4)
    assert f.tenants["victim2"] == TenantImpact(events=1, records=3, subjects=3)
    assert (f.records, f.subjects, f.count) == (13, 7, 2)
    assert f.data_categories == frozenset({"identification"})
    assert "198.51.100.7" not in f.summary
    assert f.summary.startswith("Cross-tenant access: actor alice of tenant t1")


def test_staff_and_system_are_not_cross_tenant_findings(ev: Events, catalogue: list[Rule]) -> None:
    acc001 = rule(catalogue, "ACC-001")
    events = [
        ev.access(at=0, owner="x", kind="staff_support", ticket_id="T-1"),
        ev.access(at=1, owner="x", kind="system", actor="batch"),
    ]
    _, out = run([acc001], events, stream="access")
    assert out == []


def test_dedup_period_of_a_match_rule(ev: Events, catalogue: list[Rule]) -> None:
    acc008 = rule(catalogue, "ACC-008")
    events = [ev.access(at=t, tls=False) for t in (0, 1800, 3599, 3600)]
    _, out = run([acc008], events, stream="access")
    found = sorted(latest(out).values(), key=lambda f: f.first_seen)
    assert [f.count for f in found] == [3, 1]
    assert found[1].finding_id == finding_id("ACC-008", "t1|alice", T0 + timedelta(hours=1))


def test_staff_rules(ev: Events, catalogue: list[Rule]) -> None:
    rules = [rule(catalogue, "ACC-003"), rule(catalogue, "ACC-004")]
    night = 20 * 3600  # 07:00 the next day in Paris (UTC+1): outside business hours
    events = [
        ev.access(at=0, kind="staff_support", actor="s1", ticket_id="T-9"),  # fine
        ev.access(at=60, kind="staff_support", actor="s2"),  # no ticket: ACC-003
        ev.access(at=night, kind="staff_maintenance", actor="s3", ticket_id="T-1"),  # ACC-004
        ev.access(at=night + 60, kind="customer_user", actor="u"),  # not staff
    ]
    _, out = run(rules, events, stream="access")
    got = sorted((f.rule_id, f.actor_ids) for f in latest(out).values())
    assert got == [("ACC-003", ("s2",)), ("ACC-004", ("s3",))]


def test_eu_allow_list_and_security_reads(ev: Events, catalogue: list[Rule]) -> None:
    rules = [rule(catalogue, "ACC-005"), rule(catalogue, "ACC-007")]
    events = [
        ev.access(at=0, country="NO", actor="a"),  # Norway: EEA
        ev.access(at=1, country=None, actor="b"),  # unknown country: not a finding
        ev.access(at=2, country="US", actor="c"),
        ev.access(at=3, categories=["security"], actor="d"),
        ev.access(at=4, categories=["security"], actor="e", kind="system"),
        ev.access("update", at=5, categories=["security"], actor="f"),
    ]
    _, out = run(rules, events, stream="access")
    got = sorted((f.rule_id, f.actor_ids) for f in latest(out).values())
    assert got == [("ACC-005", ("d",)), ("ACC-007", ("c",))]
