"""Contract bounds that keep one message from breaking what comes after it: times that
cannot be expressed in UTC, counts larger than the database holds, and the settings of the
event-time horizon."""

from __future__ import annotations

from datetime import timedelta

import pytest

from consumers.errors import ConfigError, SchemaViolation
from consumers.events import MAX_COUNT, AccessEvent, AuthEvent, parse_event
from incidents.findings_store import MAX_STORED_COUNT, stored_count
from tests.consumers.builders import access_event, auth_event, encode
from tocsin.settings import load_settings


@pytest.mark.parametrize("when", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"])
def test_a_time_beyond_the_calendar_in_utc_is_a_schema_violation(when: str) -> None:
    with pytest.raises(SchemaViolation) as err:
        parse_event(encode(auth_event(1, occurred_at=when)), AuthEvent)
    assert err.value.reason == "schema"
    assert err.value.detail == "occurred_at: datetime_out_of_range"


def test_the_last_representable_time_is_still_valid() -> None:
    event = parse_event(encode(auth_event(1, occurred_at="9999-12-31T23:59:59+00:00")), AuthEvent)
    assert event.occurred_at.year == 9999


@pytest.mark.parametrize("field", ["records", "subjects"])
def test_counts_are_bounded_to_what_one_column_holds(field: str) -> None:
    ok = parse_event(encode(access_event(1, **{field: MAX_COUNT})), AccessEvent)
    assert getattr(ok, field) == MAX_COUNT
    for value in (MAX_COUNT + 1, 2**63, 2**64, 10**40):
        with pytest.raises(SchemaViolation) as err:
            parse_event(encode(access_event(1, **{field: value})), AccessEvent)
        assert err.value.detail.startswith(f"{field}: ")
        assert str(value) not in err.value.detail


def test_stored_counts_saturate_at_the_64_bit_maximum() -> None:
    assert stored_count(3 * MAX_COUNT) == 3 * MAX_COUNT
    assert stored_count(10**30) == MAX_STORED_COUNT == 2**63 - 1
    assert stored_count(-5) == 0


def test_the_maximum_event_age_defaults_to_the_retention_period() -> None:
    assert load_settings().max_event_age == timedelta(days=180)
    assert load_settings(retention_days=30).max_event_age == timedelta(days=30)
    assert load_settings(max_event_age_days=3650).max_event_age == timedelta(days=3650)
    assert load_settings(max_event_age_days=0).max_event_age is None
    assert load_settings().max_future_seconds == 300


def test_a_negative_horizon_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOCSIN_MAX_FUTURE_SECONDS", "-1")
    with pytest.raises(ConfigError, match="TOCSIN_MAX_FUTURE_SECONDS"):
        load_settings()
    monkeypatch.delenv("TOCSIN_MAX_FUTURE_SECONDS")
    monkeypatch.setenv("TOCSIN_MAX_EVENT_AGE_DAYS", "soon")
    with pytest.raises(ConfigError, match="TOCSIN_MAX_EVENT_AGE_DAYS"):
        load_settings()


def test_nul_characters_are_replaced_not_passed_on() -> None:
    raw = encode(
        auth_event(
            1,
            actor={"id": "adm\u0000in", "kind": "customer_user"},
            user_agent="curl\u0000",
            new_role="a\\u0000b",
        )
    )
    assert b"\\u0000" in raw
    event = parse_event(raw, AuthEvent)
    assert event.actor.id == "adm\ufffdin"
    assert event.user_agent == "curl\ufffd"
    assert event.new_role == "a\\u0000b"  # an escaped backslash is not a NUL
    with pytest.raises(SchemaViolation):  # the rest of the contract still holds
        parse_event(encode(auth_event(1, tenant_id="t\u0000")), AuthEvent)
