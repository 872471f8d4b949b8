"""The typed evidence view drafting reads: parsed once from a stored event, staff told by
`ActorKind`, identifying fields only for an event that is one customer's own."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from accounts.roles import Role as AccountsRole
from consumers.conventions import Role
from consumers.events import ActorKind
from notifiers import service
from notifiers.evidence import Evidence
from notifiers.render import day_in_words, fmt_datetime, fmt_day

T = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def _payload(**over: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "event_id": "e-1",
        "service": "faxbis",
        "tenant_id": "acme",
        "actor": {"id": "u-1", "kind": "customer_user"},
        "source_ip": "192.0.2.7",
        "user_agent": "curl/8",
        "interface": "web",
        "operation": "read",
        "outcome": "success",
        "records": 12,
        "resource": {"type": "fax", "tenant_id": "acme"},
    }
    payload.update(over)
    return payload


def test_a_stored_event_is_read_into_its_fields() -> None:
    ev = Evidence.from_payload(_payload(), T)
    assert ev.occurred_at == T
    assert (ev.tenant_id, ev.resource_tenant, ev.resource_type) == ("acme", "acme", "fax")
    assert (ev.actor_id, ev.actor_kind) == ("u-1", ActorKind.CUSTOMER_USER)
    assert (ev.service, ev.interface, ev.operation, ev.action) == ("faxbis", "web", "read", None)
    assert ev.records == 12
    assert not ev.staff and not ev.reads_across


def test_an_auth_event_has_no_resource_and_is_only_its_tenants() -> None:
    payload = _payload(action="login_success")
    for key in ("resource", "operation", "records", "outcome"):
        payload.pop(key)
    ev = Evidence.from_payload(payload, T)
    assert ev.resource_tenant is None and ev.records is None
    assert ev.touches("acme") and ev.only_of("acme") and not ev.touches("other")
    assert ev.line("acme").actor_id == "u-1"


@pytest.mark.parametrize("kind", [k for k in ActorKind if k.is_staff])
def test_staff_are_never_named_even_on_their_customers_data(kind: ActorKind) -> None:
    ev = Evidence.from_payload(_payload(actor={"id": "staff-jd", "kind": kind.value}), T)
    assert ev.staff and ev.only_of("acme") and not ev.identifies("acme")
    line = ev.line("acme")
    assert line.staff and line.actor_id is None and line.source_ip is None
    assert line.user_agent is None and line.records == 12


def test_an_unknown_actor_kind_reads_as_none() -> None:
    ev = Evidence.from_payload(_payload(actor={"id": "u-1", "kind": "staff_robot"}), T)
    assert ev.actor_kind is None and not ev.staff


def test_a_read_across_customers_names_nobody_on_either_side() -> None:
    ev = Evidence.from_payload(_payload(resource={"type": "fax", "tenant_id": "victim"}), T)
    assert ev.reads_across
    assert ev.touches("acme") and ev.touches("victim")
    assert not ev.only_of("acme") and not ev.only_of("victim")
    for tenant in ("acme", "victim"):
        line = ev.line(tenant)
        assert line.actor_id is None and line.source_ip is None and line.user_agent is None


def test_the_customers_own_event_shows_who_from_where() -> None:
    line = Evidence.from_payload(_payload(), T).line("acme")
    assert (line.actor_id, line.source_ip, line.user_agent) == ("u-1", "192.0.2.7", "curl/8")


def test_roles_have_one_home_shared_by_accounts_and_notifiers() -> None:
    assert AccountsRole is Role
    assert service.signers_needed("customer") == (Role.RSSI,)
    assert service.signers_needed("cnil") == (Role.RSSI, Role.DPO)
    assert service.signers_needed("public") == ("rssi", "dpo")


def test_days_in_words_do_not_depend_on_the_locale() -> None:
    first = datetime(2026, 12, 1, 9, 5, tzinfo=UTC)
    assert day_in_words(first, "fr") == "1er décembre 2026"
    assert day_in_words(first, "en") == "1 December 2026"
    assert fmt_day(first, "en", "Europe/Paris") == "1 December 2026"
    assert fmt_datetime(first, "en", "UTC") == "01 December 2026, 09:05 (UTC+00:00)"
