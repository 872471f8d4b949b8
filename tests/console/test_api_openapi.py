"""The OpenAPI document describes the JSON API: every operation's success answer has a schema,
and the fields that take one of a few values list them (and a value outside the list is a 422
naming the field)."""

from __future__ import annotations

from typing import Any

from incidents.enums import Clock, IncidentStatus, Language
from tests.console.support import Console, seed_incident

METHODS = ("get", "post", "put", "patch", "delete")


def _resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        node = spec["components"]["schemas"][name]
    return node


def _field(spec: dict[str, Any], model: str, field: str) -> dict[str, Any]:
    prop = spec["components"]["schemas"][model]["properties"][field]
    if "allOf" in prop:
        prop = prop["allOf"][0]
    return _resolve(spec, prop)


def test_every_api_operation_describes_its_success_answer(console: Console) -> None:
    spec = console.client().get("/api/v1/openapi.json").json()
    operations = [
        (path, method, op)
        for path, item in spec["paths"].items()
        if path.startswith("/api/")
        for method, op in item.items()
        if method in METHODS
    ]
    assert len(operations) >= 30
    undescribed = []
    for path, method, op in operations:
        success = [r for status, r in op["responses"].items() if status.startswith("2")]
        schemas = [media.get("schema") for r in success for media in r.get("content", {}).values()]
        if not schemas or not all(schemas) or any(s == {} for s in schemas):
            undescribed.append(f"{method.upper()} {path}")
    assert undescribed == []
    # The incident's answer names its fields, with their types.
    incident = _resolve(
        spec,
        spec["paths"]["/api/v1/incidents/{ref}"]["get"]["responses"]["200"]["content"][
            "application/json"
        ]["schema"],
    )
    assert {"ref", "status", "notices", "clocks", "audit"} <= set(incident["properties"])
    assert incident["properties"]["ref"]["type"] == "string"


def test_the_enum_fields_list_their_values(console: Console) -> None:
    spec = console.client().get("/api/v1/openapi.json").json()
    assert _field(spec, "TransitionIn", "to")["enum"] == [s.value for s in IncidentStatus]
    assert sorted(_field(spec, "ClockIn", "clock")["enum"]) == sorted(c.value for c in Clock)
    assert _field(spec, "PreferencesIn", "lang")["enum"] == [lang.value for lang in Language]
    assert _field(spec, "UserIn", "lang")["enum"] == [lang.value for lang in Language]


def test_a_value_outside_the_enum_is_a_422_naming_the_field(console: Console) -> None:
    ref = seed_incident(console.factory)
    auth = {"Authorization": f"Bearer {console.token('rssi')}"}
    client = console.client()
    for path, body, field in (
        (f"/api/v1/incidents/{ref}/transition", {"to": "escalated"}, "to"),
        (f"/api/v1/incidents/{ref}/clock", {"clock": "dpa", "justification": "x"}, "clock"),
    ):
        answer = client.post(path, json=body, headers=auth)
        assert answer.status_code == 422, path
        assert answer.headers["content-type"] == "application/problem+json"
        assert field in str(answer.json()["errors"]), answer.json()
