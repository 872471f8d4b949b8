"""Enum-typed columns: the stored strings are the enums' values, the attributes hold members,
and a value outside the enum is refused, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Enum, select, text, update
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from incidents.db import Base, make_engine
from incidents.enums import Clock, ClockFactKind, CustomerRole, IncidentStatus, Language
from incidents.models import ClockFact, Customer, Incident
from tocsin.dbschema import load_models

AT = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


def _incident(**values: object) -> Incident:
    return Incident(
        ref="INC-2026-0001",
        year=2026,
        seq=1,
        first_seen=AT,
        last_seen=AT,
        detected_at=AT,
        aware_at=AT,
        **values,
    )


@pytest.mark.parametrize("fresh_db_url", ["sqlite", "postgresql"], indirect=True)
def test_enum_columns_store_their_values_and_read_back_members(fresh_db_url: str) -> None:
    engine = make_engine(fresh_db_url)
    try:
        with Session(engine) as session, session.begin():
            session.add(Customer(tenant_id="acme", name="Acme", contact_email="a@example.org"))
            incident = _incident(status="triage")  # a plain value, as a form sends it
            session.add(incident)
            session.flush()
            incident.clock_facts.append(
                ClockFact(clock=Clock.CNIL, kind="met", at=AT, actor="rssi@example.org")
            )
        with Session(engine) as session:
            raw = session.execute(
                text(
                    "SELECT i.status, f.clock, f.kind, c.role, c.language "
                    "FROM incidents i JOIN clock_facts f ON f.incident_id = i.id, customers c"
                )
            ).one()
            assert tuple(raw) == ("triage", "cnil", "met", "processor", "fr")
            incident = session.scalars(select(Incident)).one()
            fact = incident.clock_facts[0]
            customer = session.get(Customer, "acme")
            assert customer is not None
            assert type(incident.status) is IncidentStatus
            assert incident.status is IncidentStatus.TRIAGE
            assert incident.is_open
            assert (fact.clock, fact.kind) == (Clock.CNIL, ClockFactKind.MET)
            assert type(fact.kind) is ClockFactKind
            assert customer.role is CustomerRole.PROCESSOR
            assert customer.language is Language.FR
            found = session.scalars(select(Incident).where(Incident.status == "triage")).all()
            assert found == [incident]
    finally:
        engine.dispose()


@pytest.mark.parametrize("fresh_db_url", ["sqlite", "postgresql"], indirect=True)
def test_a_value_outside_the_enum_is_refused(fresh_db_url: str) -> None:
    engine = make_engine(fresh_db_url)
    try:
        with Session(engine) as session, session.begin():
            incident = _incident(status=IncidentStatus.DETECTED)
            session.add(incident)
            with pytest.raises(ValueError, match="not a valid IncidentStatus"):
                incident.status = "archived"  # type: ignore[assignment]
            assert incident.status is IncidentStatus.DETECTED
        with Session(engine) as session:
            with pytest.raises(StatementError, match="archived"):
                session.execute(update(Incident).values(status="archived"))
            session.rollback()
            stored = session.execute(text("SELECT status FROM incidents")).scalar_one()
            assert stored == "detected"
    finally:
        engine.dispose()


def test_every_enum_column_holds_its_longest_value_and_keeps_a_plain_string_type() -> None:
    load_models()
    checked = 0
    for table in Base.metadata.tables.values():
        for column in table.columns:
            kind = column.type
            if not isinstance(kind, Enum):
                continue
            checked += 1
            assert kind.native_enum is False, column
            assert kind.create_constraint is False, column
            assert kind.length is not None, column
            assert max(len(v) for v in kind.enums) <= kind.length, column
            assert kind.enums == [m.value for m in kind.enum_class], column  # values, not names
    assert checked >= 14
