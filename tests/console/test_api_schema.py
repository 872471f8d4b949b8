"""Schemathesis over the JSON API: generated requests for every operation, against the real
application and database. A few hundred cases in all: no 5xx, and every answer (status,
content type, body) is the one the OpenAPI document declares."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from detectors.finding import Severity
from tests.console.support import Console, draft_for, seed_incident

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES_PER_OPERATION = 12


def _explore(operation: Any, headers: dict[str, str], calls: list[int]) -> None:
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def run(case: schemathesis.Case) -> None:
        response = case.call_and_validate(headers=headers, checks=CHECKS)
        calls.append(response.status_code)

    run()


def test_generated_requests_get_no_5xx_and_match_the_schema(console: Console) -> None:
    ref = seed_incident(console.factory, severity=Severity.CRITICAL)
    assert draft_for(console.factory, ref)
    tokens = {role: console.token(role) for role in ("rssi", "admin")}
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", console.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25
    calls: list[int] = []

    for operation in operations:
        path = operation.path
        role = "admin" if path.startswith(("/api/v1/users", "/api/v1/tokens")) else "rssi"
        headers = {"Authorization": f"Bearer {tokens[role]}"}

        _explore(operation, headers, calls)
    assert 50 <= len(calls) <= 600
    assert any(200 <= code < 300 for code in calls)
    assert all(code < 500 for code in calls)
