"""A new incident's starting state, shared by detected and declared incidents."""

from __future__ import annotations

from datetime import UTC, datetime

from incidents.blank import blank_incident
from incidents.models import IncidentTenant

NOW = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)


def test_a_blank_incident_starts_empty_at_now_with_the_given_columns() -> None:
    incident = blank_incident(now=NOW, title="lost laptop", source="detected")
    assert (incident.title, incident.source) == ("lost laptop", "detected")
    assert incident.created_at == incident.updated_at == NOW
    assert (incident.consequences, incident.measures) == ("", "")
    assert incident.tenants == [] and incident.decisions == [] and incident.clock_facts == []
    other = blank_incident(now=NOW)
    other.tenants.append(IncidentTenant(tenant_id="t1"))
    assert incident.tenants == []  # each incident has its own collections
