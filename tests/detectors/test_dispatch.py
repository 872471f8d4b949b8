"""The dispatch tables of the engine select exactly the rules whose whole filter matches."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from consumers.events import (
    AccessEvent,
    ActorKind,
    AuthAction,
    AuthEvent,
    DataCategory,
    Event,
    Interface,
    Operation,
    Outcome,
    Service,
)
from detectors.catalogue import load_rules
from detectors.engine import Dispatch, PartitionDetector
from detectors.filters import ALWAYS, NEVER, compile_node, predicate, specialize
from detectors.rule import Rule
from tests.detectors.builders import T0

RULES = load_rules()
ids = st.integers(min_value=1, max_value=2**64).map(lambda n: uuid.UUID(int=n))

common = {
    "occurred_at": st.integers(0, 7 * 86400).map(lambda s: T0 + timedelta(seconds=s)),
    "service": st.sampled_from(list(Service)),
    "tenant_id": st.sampled_from(["t1", "t2"]),
    "actor": st.fixed_dictionaries(
        {"id": st.sampled_from(["a", "b"]), "kind": st.sampled_from(list(ActorKind))}
    ),
    "source_ip": st.sampled_from(["192.0.2.1", "10.0.0.9", "2001:db8::1"]),
    "country": st.sampled_from(["FR", "US", "CN", None]),
    "interface": st.sampled_from(list(Interface)),
    "tls": st.booleans(),
}

auth_events = st.builds(
    lambda eid, fields, action: AuthEvent.model_validate(
        {"event_id": eid, **fields, "action": action}
    ),
    ids,
    st.fixed_dictionaries(common),
    st.sampled_from(list(AuthAction)),
)

access_events = st.builds(
    lambda eid, fields, extra: AccessEvent.model_validate({"event_id": eid, **fields, **extra}),
    ids,
    st.fixed_dictionaries(common),
    st.fixed_dictionaries(
        {
            "operation": st.sampled_from(list(Operation)),
            "resource": st.fixed_dictionaries(
                {"type": st.just("contact"), "tenant_id": st.sampled_from(["t1", "t2"])}
            ),
            "data_categories": st.sets(st.sampled_from(list(DataCategory)), min_size=1),
            "records": st.integers(0, 2000),
            "ticket_id": st.sampled_from(["T-1", None]),
            "outcome": st.sampled_from(list(Outcome)),
        }
    ),
)


def selected(det: PartitionDetector, event: Event) -> set[str]:
    by_state = {id(s): r.id for r, s in zip(det.rules, det.states, strict=True)}
    d = det._by_type[type(event)]
    return {
        by_state[id(state)]
        for _evaluate, state, residual in d.table.get(d.key(event), d.every)
        if residual is None or residual(event)
    }


def matching(rules: tuple[Rule, ...], event: Event) -> set[str]:
    return {r.id for r in rules if r.model is type(event) and r.match(event)}


@settings(max_examples=400, deadline=None)
@given(st.one_of(auth_events, access_events))
def test_dispatch_selects_exactly_the_matching_rules(event: Event) -> None:
    for stream in ("auth", "access", "by_ip"):
        det = PartitionDetector(RULES, stream=stream)  # type: ignore[arg-type]
        assert selected(det, event) == matching(det.rules, event)


def test_tables_use_the_enumerated_fields_of_the_catalogue() -> None:
    access = PartitionDetector(RULES, stream="access")._by_type[AccessEvent]
    assert set(access.paths) == {"outcome", "actor.kind", "operation", "tls"}
    # a staff member reading a contact with TLS: only the staff rules, the exfiltration
    # baseline and the rules on other fields (cross-tenant, security data, country) remain
    key = access.key(_event_with(outcome=Outcome.ALLOWED, kind=ActorKind.STAFF_SUPPORT))
    assert 0 < len(access.table[key]) < len(access.every)
    auth = PartitionDetector(RULES, stream="auth")._by_type[AuthEvent]
    assert auth.paths == ("action",)
    assert auth.table[AuthAction.LOGOUT] == ()  # no rule looks at a logout


def _event_with(*, outcome: Outcome, kind: ActorKind) -> AccessEvent:
    return AccessEvent.model_validate(
        {
            "event_id": uuid.UUID(int=1),
            "occurred_at": T0,
            "service": "faxbis",
            "tenant_id": "t1",
            "actor": {"id": "s", "kind": kind},
            "source_ip": "192.0.2.1",
            "interface": "web",
            "tls": True,
            "operation": "read",
            "resource": {"type": "contact", "tenant_id": "t1"},
            "data_categories": ["identification"],
            "records": 1,
            "outcome": outcome,
        }
    )


def test_specialize_decides_known_fields_and_keeps_the_rest() -> None:
    node = compile_node({"outcome": "allowed", "records": {"gte": 10}}, model=AccessEvent)
    assert specialize(node, {"outcome": Outcome.DENIED}) is NEVER
    rest = specialize(node, {"outcome": Outcome.ALLOWED})
    assert rest is not ALWAYS and rest is not NEVER
    base = _event_with(outcome=Outcome.DENIED, kind=ActorKind.SYSTEM)
    assert predicate(rest)(base.model_copy(update={"records": 10}))
    assert not predicate(rest)(base.model_copy(update={"records": 9}))
    either: Any = compile_node({"any": [{"tls": False}, {"outcome": "denied"}]}, model=AccessEvent)
    assert specialize(either, {"tls": False}) is ALWAYS
    assert specialize(specialize(either, {"tls": True}), {"outcome": Outcome.ALLOWED}) is NEVER
    negated = compile_node({"not": {"tls": True}}, model=AccessEvent)
    assert specialize(negated, {"tls": True}) is NEVER


def test_a_rule_set_without_enumerated_fields_has_one_entry() -> None:
    d = Dispatch.build([])
    assert d.paths == () and d.table == {(): ()}
