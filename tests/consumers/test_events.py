"""The event contract v1 (docs/events.md): what is accepted, what is rejected and why."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consumers.errors import EventRejected, InvalidJson, SchemaViolation, TooLarge
from consumers.events import (
    MAX_MESSAGE_BYTES,
    AccessEvent,
    ActorKind,
    AuthEvent,
    DataCategory,
    parse_event,
)
from tests.consumers.builders import access_event, auth_event, encode


def test_valid_auth_event_is_parsed_to_utc() -> None:
    ev = parse_event(encode(auth_event(occurred_at="2026-03-29T03:30:00+02:00")), AuthEvent)
    assert isinstance(ev, AuthEvent)
    assert ev.occurred_at.tzinfo == UTC
    assert ev.occurred_at.hour == 1
    assert ev.actor.kind is ActorKind.CUSTOMER_USER


def test_naive_timestamp_is_a_schema_violation() -> None:
    with pytest.raises(SchemaViolation, match="occurred_at"):
        parse_event(encode(auth_event(occurred_at="2026-11-26T09:00:00")), AuthEvent)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("service", "skype"),
        ("tenant_id", "bad tenant!"),
        ("tenant_id", "x" * 65),
        ("source_ip", "999.1.1.1"),
        ("interface", "telnet"),
        ("action", "login_maybe"),
        ("user_agent", "u" * 513),
        ("event_id", "not-a-uuid"),
        ("country", "France"),
    ],
)
def test_out_of_contract_field_is_rejected_with_its_name(field: str, value: str) -> None:
    with pytest.raises(SchemaViolation) as exc:
        parse_event(encode(auth_event(**{field: value})), AuthEvent)
    assert field in exc.value.detail
    assert value not in exc.value.detail  # the value may be personal data: never echoed


def test_source_ip_is_kept_as_canonical_text() -> None:
    """One address is one string everywhere: group keys, repartition keys, findings."""
    v6 = parse_event(encode(auth_event(source_ip="2A01:CB00:0:0::1")), AuthEvent)
    assert v6.source_ip == "2a01:cb00::1"
    v4 = parse_event(encode(auth_event(source_ip="192.0.2.10")), AuthEvent)
    assert v4.source_ip == "192.0.2.10"
    with pytest.raises(SchemaViolation, match="source_ip"):
        parse_event(encode(auth_event(source_ip="192.0.2.300")), AuthEvent)


def test_access_event_bounds() -> None:
    ok = parse_event(encode(access_event()), AccessEvent)
    assert isinstance(ok, AccessEvent)
    assert ok.data_categories == frozenset({DataCategory.IDENTIFICATION})
    for bad in (
        {"records": -1},
        {"data_categories": []},
        {"subjects": -3},
        {"resource": {"type": "contact"}},
        {"outcome": "maybe"},
    ):
        with pytest.raises(SchemaViolation):
            parse_event(encode(access_event(**bad)), AccessEvent)


def test_unknown_fields_are_ignored() -> None:
    ev = parse_event(encode(auth_event(future_field={"x": 1}, action="logout")), AuthEvent)
    assert ev.model_dump().get("future_field") is None


def test_country_is_derived_offline_when_absent() -> None:
    ev = parse_event(encode(auth_event(source_ip="90.84.1.1")), AuthEvent)
    assert ev.country == "FR"
    given_country = parse_event(encode(auth_event(source_ip="90.84.1.1", country="de")), AuthEvent)
    assert given_country.country == "DE"
    private = parse_event(encode(auth_event(source_ip="10.1.2.3")), AuthEvent)
    assert private.country is None


def test_rejection_reasons() -> None:
    with pytest.raises(InvalidJson):
        parse_event(b'{"event_id": ', AuthEvent)
    with pytest.raises(InvalidJson):
        parse_event(b"\xff\xfe garbage", AuthEvent)
    with pytest.raises(SchemaViolation):
        parse_event(b"[1, 2]", AuthEvent)
    big = encode(auth_event(user_agent="a" * 100, padding="p" * MAX_MESSAGE_BYTES))
    with pytest.raises(TooLarge):
        parse_event(big, AuthEvent)
    assert InvalidJson.reason == "invalid_json"
    assert SchemaViolation.reason == "schema"
    assert TooLarge.reason == "too_large"


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=2048))
def test_parser_raises_only_its_own_errors_on_arbitrary_bytes(raw: bytes) -> None:
    for model in (AuthEvent, AccessEvent):
        with contextlib.suppress(EventRejected):
            parse_event(raw, model)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(list(auth_event().keys()) + ["resource", "records"]),
        _json_values,
        max_size=12,
    )
)
def test_parser_raises_only_its_own_errors_on_json_objects(fields: dict[str, object]) -> None:
    base = auth_event()
    base.update(fields)
    raw = json.dumps(base).encode()
    for model in (AuthEvent, AccessEvent):
        with contextlib.suppress(EventRejected):
            parse_event(raw, model)
