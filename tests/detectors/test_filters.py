from __future__ import annotations

from typing import Any

import pytest

from consumers.events import AccessEvent, AuthEvent
from detectors.errors import FilterError
from detectors.filters import Predicate, compile_node, predicate
from tests.detectors.builders import Events


def access(spec: Any, **params: Any) -> Predicate:
    return predicate(compile_node(spec, model=AccessEvent, parameters=params))


def auth(spec: Any) -> Predicate:
    return predicate(compile_node(spec, model=AuthEvent))


def test_equality_in_and_not(ev: Events) -> None:
    failure, success = ev.auth("login_failure"), ev.auth("login_success")
    assert auth({"action": "login_failure"})(failure)
    assert not auth({"action": "login_failure"})(success)
    both = auth({"action": ["login_failure", "login_success"]})
    assert both(failure) and both(success)
    assert not auth({"action": ["logout"]})(success)
    assert auth({"not": {"action": "login_failure"}})(success)
    assert not auth({"action": {"not_in": ["login_success"]}})(success)
    assert auth({"action": {"ne": "logout"}})(success)


def test_all_any_and_several_operators(ev: Events) -> None:
    pred = auth(
        {"any": [{"action": "logout"}, {"all": [{"action": "login_success"}, {"tls": True}]}]}
    )
    assert pred(ev.auth("login_success"))
    assert not pred(ev.auth("login_failure"))
    assert pred(ev.auth("logout"))


def test_numeric_comparisons_and_missing_values(ev: Events) -> None:
    many = access({"records": {"gte": 500, "lt": 1000}})
    assert many(ev.access(records=500))
    assert not many(ev.access(records=1000))
    assert not many(ev.access(records=499))
    subjects = access({"subjects": {"gt": 3}})
    assert subjects(ev.access(subjects=4))
    assert not subjects(ev.access())  # absent: never compares


def test_field_to_field(ev: Events) -> None:
    cross = access({"resource.tenant_id": {"ne_field": "tenant_id"}})
    assert cross(ev.access(owner="other"))
    assert not cross(ev.access())


def test_cidr(ev: Events) -> None:
    office = auth({"source_ip": {"cidr": ["10.0.0.0/8", "2001:db8::/32"]}})
    assert office(ev.auth(ip="10.1.2.3"))
    assert office(ev.auth(ip="2001:db8::1"))
    assert not office(ev.auth(ip="192.0.2.1"))
    assert auth({"source_ip": {"not_cidr": "10.0.0.0/8"}})(ev.auth(ip="192.0.2.1"))
    assert auth({"source_ip": "192.0.2.1"})(ev.auth(ip="192.0.2.1"))


def test_staff_exists_and_sets(ev: Events) -> None:
    staff = access({"actor.kind": {"staff": True}})
    assert staff(ev.access(kind="staff_maintenance"))
    assert not staff(ev.access(kind="customer_admin"))
    no_ticket = access({"ticket_id": {"exists": False}})
    assert no_ticket(ev.access())
    assert not no_ticket(ev.access(ticket_id="T-1"))
    secret = access({"data_categories": {"contains": "security"}})
    assert secret(ev.access(categories=["identification", "security"]))
    assert not secret(ev.access(categories=["content"]))
    either = access({"data_categories": {"contains_any": ["content", "security"]}})
    assert either(ev.access(categories=["content"]))
    assert not either(ev.access(categories=["identification"]))


def test_business_hours_in_a_time_zone(ev: Events) -> None:
    hours = {"start": "08:00", "end": "19:00", "weekdays": ["mon", "tue", "wed", "thu", "fri"]}
    outside = access({"occurred_at": {"outside_hours": {**hours, "tz": "Europe/Paris"}}})
    # T0 is Monday 10:00 UTC = 11:00 in Paris
    assert not outside(ev.access(at=0))
    assert outside(ev.access(at=-3 * 3600 - 1))  # 06:59:59 UTC = 07:59:59 Paris
    assert not outside(ev.access(at=-3 * 3600))  # 08:00 Paris: start is inclusive
    assert not outside(ev.access(at=8 * 3600 - 1))  # 18:59:59 Paris
    assert outside(ev.access(at=8 * 3600))  # 19:00 Paris: end is exclusive
    assert outside(ev.access(at=-2 * 86400))  # Saturday
    new_york = access({"occurred_at": {"business_hours": {**hours, "tz": "America/New_York"}}})
    assert not new_york(ev.access(at=0))  # 05:00 in New York
    assert new_york(ev.access(at=5 * 3600))


def test_parameters_are_substituted(ev: Events) -> None:
    eea = access({"country": {"not_in": "$eea"}}, eea=["FR", "DE"])
    assert eea(ev.access(country="US"))
    assert not eea(ev.access(country="DE"))


@pytest.mark.parametrize(
    ("spec", "field", "words"),
    [
        ({"action": "login_fail"}, "filter.action", "not a valid action"),
        ({"action": "logout", "resource.type": "fax"}, "filter.resource.type", "no field 'reso"),
        ({"records": {"gte": "many"}}, "filter.records.gte", "not a number"),
        ({"tenant_id": {"gt": 3}}, "filter.tenant_id.gt", "not numeric"),
        ({"records": {"between": 3}}, "filter.records.between", "unknown operator"),
        ({"actor": "x"}, "filter.actor", "is an object"),
        ({"data_categories": "security"}, "filter.data_categories", "is a set"),
        ({"source_ip": {"cidr": "nope"}}, "filter.source_ip.cidr", "not a CIDR"),
        ({"tls": "yes"}, "filter.tls", "not true/false"),
        ({"any": []}, "filter.any", "non-empty list"),
        ({"occurred_at": {"business_hours": {"tz": "Nowhere/City"}}},
         "filter.occurred_at.business_hours.tz", "unknown time zone"),
        ({"occurred_at": {"business_hours": {"weekdays": ["funday"]}}},
         "filter.occurred_at.business_hours.weekdays", "not a weekday"),
        ({"tenant_id": {"ne_field": "records"}}, "filter.tenant_id.ne_field", "different types"),
        ({"country": "$missing"}, "filter.country", "unknown parameter"),
    ],
)  # fmt: skip
def test_errors_name_the_field(spec: Any, field: str, words: str) -> None:
    model = AuthEvent if "action" in spec else AccessEvent
    with pytest.raises(FilterError) as info:
        compile_node(spec, model=model)
    assert info.value.field == field
    assert words in str(info.value)


def test_resource_type_is_addressable(ev: Events) -> None:
    fax = access({"resource.type": "fax"})
    assert fax(ev.access(resource="fax"))
    assert not fax(ev.access(resource="contact"))
