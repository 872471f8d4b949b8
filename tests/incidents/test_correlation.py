"""Correlation identities and the 24 h window (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from incidents import correlation

T = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


def test_actor_identity_is_scoped_by_tenant_and_ip_is_global() -> None:
    a = correlation.identities(tenant_ids=["acme"], actor_ids=["u1"], source_ips=["192.0.2.1"])
    b = correlation.identities(tenant_ids=["globex"], actor_ids=["u1"], source_ips=["192.0.2.1"])
    assert [i.kind for i in a] == ["actor", "ip"]
    assert a[0].key != b[0].key
    assert a[1] == b[1]


def test_identities_hold_no_raw_personal_data() -> None:
    ids = correlation.identities(
        tenant_ids=["acme"], actor_ids=["jean.dupont@example.fr"], source_ips=["192.0.2.1"]
    )
    assert all(len(i.key) == 64 and "dupont" not in i.key and "192" not in i.key for i in ids)


def test_fallback_to_tenant_and_rule_without_actor_or_ip() -> None:
    ids = correlation.identities(
        tenant_ids=["acme", "globex"], actor_ids=[], source_ips=[], rule_id="ACC-008"
    )
    assert [i.kind for i in ids] == ["rule", "rule"]
    assert correlation.identities(tenant_ids=["acme"], actor_ids=[], source_ips=[]) == []


def test_window_is_24h_inclusive_between_intervals() -> None:
    end = T + timedelta(hours=1)
    assert correlation.within_window(T, end, end + timedelta(hours=24), end + timedelta(hours=25))
    assert not correlation.within_window(
        T, end, end + timedelta(hours=24, seconds=1), end + timedelta(hours=25)
    )
    assert correlation.within_window(T + timedelta(hours=20), T + timedelta(hours=21), T, end)
    assert not correlation.within_window(
        T + timedelta(hours=30), T + timedelta(hours=31), T, T + timedelta(hours=5)
    )
