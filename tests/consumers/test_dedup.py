from __future__ import annotations

from datetime import timedelta

from consumers.dedup import Deduplicator
from tests.consumers.builders import BASE_TIME


def test_duplicates_within_horizon_are_refused() -> None:
    d = Deduplicator(timedelta(seconds=60))
    assert d.first_time("a", BASE_TIME)
    assert not d.first_time("a", BASE_TIME)
    assert d.first_time("b", BASE_TIME + timedelta(seconds=30))
    assert not d.first_time("a", BASE_TIME + timedelta(seconds=10))


def test_memory_follows_event_time_horizon_not_events_seen() -> None:
    d = Deduplicator(timedelta(seconds=60))
    for i in range(10_000):
        d.first_time(f"id{i}", BASE_TIME + timedelta(seconds=i))
    assert len(d) == 61  # ids with occurred_at within 60 s of the newest
    assert d.evictions == 10_000 - 61


def test_snapshot_roundtrip_keeps_ids() -> None:
    d = Deduplicator(timedelta(seconds=60))
    for i in range(100):
        d.first_time(f"id{i}", BASE_TIME + timedelta(seconds=i))
    r = Deduplicator.restore(d.snapshot(), timedelta(seconds=60))
    assert not r.first_time("id99", BASE_TIME + timedelta(seconds=99))
    assert not r.first_time("id50", BASE_TIME + timedelta(seconds=50))
    assert r.first_time("id10", BASE_TIME + timedelta(seconds=10))  # expired: late anyway
    assert len(r) == len(d) + 1
