"""Migration 0002 on a SQLite database that already holds incidents: they stay, as detected
ones, with nothing declared; their tenants and assessments stay too (the table is altered in
place, never copied: dropping `incidents` would cascade to every child row)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import inspect, text

from incidents.db import make_engine
from tocsin.dbschema import alembic_config, upgrade


def test_existing_incidents_become_detected_ones(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0001")
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO incidents (id, ref, year, seq, status, title, title_edited, "
                "first_seen, last_seen, detected_at, aware_at, rule_ids, nature, data_categories,"
                " finding_severity, consequences, measures, created_at, updated_at) VALUES "
                "(1, 'INC-2026-0001', 2026, 1, 'triage', 't', 0, '2026-01-01 00:00:00', "
                "'2026-01-01 00:00:00', '2026-01-01 00:00:00', '2026-01-01 00:00:00', '[]', "
                "'[\"confidentiality\"]', '[]', 'high', '', '', '2026-01-01 00:00:00', "
                "'2026-01-01 00:00:00')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO incident_tenants (incident_id, tenant_id, events, records, persons, "
                "first_seen, last_seen) VALUES (1, 'acme', 3, 2, 1, '2026-01-01 00:00:00', "
                "'2026-01-01 00:00:00')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO severity_assessments (incident_id, dpc, ei, cb_confidentiality, "
                "cb_integrity, cb_availability, malicious, score, band, persons, unintelligible, "
                "notify_customer, notify_cnil, notify_subjects, recommendation_overridden, "
                "source, rationale, justification, assessed_by, assessed_at) VALUES "
                "(1, 2, 1, 0.5, 0, 0, 1, 3, 'high', 10, 0, 1, 1, 1, 0, 'auto', '{}', '', 'tocsin', "
                "'2026-01-01 00:00:00')"
            )
        )
    engine.dispose()
    upgrade(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT source, declared, summary, services, persons_estimate, records_estimate "
                "FROM incidents"
            )
        ).one()
        public = conn.execute(text("SELECT notify_public FROM severity_assessments")).one()[0]
        tenants = conn.execute(text("SELECT tenant_id, persons FROM incident_tenants")).all()
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    engine.dispose()
    assert (row[0], bool(row[1]), row[2], row[3], row[4], row[5]) == (
        "detected",
        False,
        "",
        "[]",
        None,
        None,
    )
    assert public in (0, False)
    assert [tuple(t) for t in tenants] == [("acme", 1)]
    assert version is not None and version != "0001"


def test_downgrades_alter_incidents_in_place_and_keep_their_tenants(tmp_path: Path) -> None:
    """0004 and 0002 drop their columns with ALTER TABLE: a table copy of `incidents` would
    cascade to its tenants (foreign keys are on)."""
    url = f"sqlite:///{tmp_path / 'new.db'}"
    upgrade(url)
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO incidents (id, ref, year, seq, status, title, title_edited, "
                "first_seen, last_seen, detected_at, aware_at, rule_ids, nature, data_categories,"
                " finding_severity, consequences, measures, created_at, updated_at, source, "
                "declared, summary, services, cause) VALUES "
                "(1, 'INC-2026-0001', 2026, 1, 'triage', 't', 0, '2026-01-01 00:00:00', "
                "'2026-01-01 00:00:00', '2026-01-01 00:00:00', '2026-01-01 00:00:00', '[]', "
                "'[\"confidentiality\"]', '[]', 'high', '', '', '2026-01-01 00:00:00', "
                "'2026-01-01 00:00:00', 'staff_report', 1, 's', '[]', 'unknown')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO incident_tenants (incident_id, tenant_id, events, records, persons, "
                "first_seen, last_seen) VALUES (1, 'acme', 3, 2, 1, '2026-01-01 00:00:00', "
                "'2026-01-01 00:00:00')"
            )
        )
    engine.dispose()
    for target in ("0003", "0001"):
        command.downgrade(alembic_config(url), target)
        engine = make_engine(url)
        with engine.connect() as conn:
            tenants = conn.execute(text("SELECT tenant_id FROM incident_tenants")).all()
            columns = {c["name"] for c in inspect(conn).get_columns("incidents")}
        engine.dispose()
        assert [t[0] for t in tenants] == ["acme"], target
        assert "cause" not in columns
        assert ("source" in columns) is (target == "0003")
