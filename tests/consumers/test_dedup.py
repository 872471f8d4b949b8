from __future__ import annotations

import uuid
from datetime import timedelta

from consumers.dedup import Deduplicator
from tests.consumers.builders import BASE_TIME

T = BASE_TIME.timestamp()


def test_duplicates_within_horizon_are_refused() -> None:
    d = Deduplicator(timedelta(seconds=60))
    assert d.first_time("a", T)
    assert not d.first_time("a", T)
    assert d.first_time("b", T + 30)
    assert not d.first_time("a", T + 10)


def test_memory_follows_event_time_horizon_not_events_seen() -> None:
    d = Deduplicator(timedelta(seconds=60))
    for i in range(10_000):
        d.first_time(i, T + i)
    assert len(d) == 61  # ids with occurred_at within 60 s of the newest
    assert d.evictions == 10_000 - 61


def test_an_out_of_order_id_is_kept_at_least_its_horizon() -> None:
    d = Deduplicator(timedelta(seconds=60))
    d.first_time("new", T + 100)
    d.first_time("old", T + 50)  # arrives late, but within the horizon
    d.first_time("next", T + 155)  # "old" is past the horizon, "new" is not
    assert not d.first_time("old", T + 50)  # kept behind "new": never forgotten early
    d.first_time("later", T + 161)
    assert d.first_time("old", T + 50)  # gone with "new"
    assert len(d) == 3


def test_snapshot_roundtrip_keeps_ids() -> None:
    d = Deduplicator(timedelta(seconds=60))
    for i in range(100):
        d.first_time(i, T + i)
    r = Deduplicator.restore(d.snapshot(), timedelta(seconds=60))
    assert not r.first_time(99, T + 99)
    assert not r.first_time(50, T + 50)
    assert r.first_time(10, T + 10)  # expired: late anyway
    assert len(r) == len(d) + 1


def test_checkpoints_of_the_first_format_are_read() -> None:
    kept, gone = uuid.UUID(int=7), uuid.UUID(int=8)
    us = int(T * 1_000_000)
    old = {
        "horizon_us": 60_000_000,
        "max_us": us + 90_000_000,
        "seen": {str(kept): us + 40_000_000, str(gone): us},
    }
    r = Deduplicator.restore(old, timedelta(seconds=60))
    assert not r.first_time(kept.int, T + 40)
    assert r.first_time(gone.int, T)
