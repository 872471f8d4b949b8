"""Customer CSV import: validation naming line and column, upsert."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from incidents import audit as audit_chain
from incidents.models import Customer
from notifiers import customers
from notifiers.exceptions import CustomerImportError, InvalidCustomer

GOOD = (
    "tenant_id,name,contact_email,language,notify_delay_hours,role\n"
    "acme-corp,Acme Industries,dpo@acme.example;rssi@acme.example,fr,24,processor\n"
    "globex_42,Globex,rgpd@globex.example,en,48,\n"
    "avm-own,AVM Informatique,it@avmup.com,,,controller\n"
)
# What the console's customer form holds for a valid edit of tenant acme.
EDIT = {
    "name": "Acme",
    "contact_email": "dpo@acme.example",
    "language": "fr",
    "notify_delay_hours": "24",
    "role": "processor",
}


def _edit(session: Session, **changes: str) -> None:
    customers.update_customer(
        session=session, tenant_id="acme", actor_email="rssi@avmup.test", **{**EDIT, **changes}
    )


def test_parse_good_file() -> None:
    rows = customers.parse_csv(GOOD, default_delay_hours=12)
    assert [(r.tenant_id, r.language, r.notify_delay_hours, r.role) for r in rows] == [
        ("acme-corp", "fr", 24.0, "processor"),
        ("globex_42", "en", 48.0, "processor"),
        ("avm-own", "fr", 12.0, "controller"),
    ]
    assert rows[0].contact_email == "dpo@acme.example;rssi@acme.example"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("tenant_id,name\nx,y\n", "line 1: missing column(s) contact_email"),
        ("tenant_id,name,contact_email,phone\nx,y,a@b.example,1\n", "unknown column(s) phone"),
        ("tenant_id,name,contact_email\nbad id!,y,a@b.example\n", "line 2, column tenant_id"),
        ("tenant_id,name,contact_email\nok,y,not-an-address\n", "line 2, column contact_email"),
        (
            "tenant_id,name,contact_email\nok,y,a@b.example\r\nBcc: x@y.example\n",
            "line 3, column tenant_id",
        ),
        ("tenant_id,name,contact_email,language\nok,y,a@b.example,de\n", "line 2, column language"),
        (
            "tenant_id,name,contact_email,notify_delay_hours\nok,y,a@b.example,-1\n",
            "column notify_delay_hours",
        ),
        ("tenant_id,name,contact_email,role\nok,y,a@b.example,owner\n", "line 2, column role"),
        (
            "tenant_id,name,contact_email\nok,y,a@b.example\nok,z,c@d.example\n",
            "line 3, column tenant_id: duplicate",
        ),
    ],
)
def test_errors_name_line_and_column(text: str, where: str) -> None:
    with pytest.raises(CustomerImportError) as err:
        customers.parse_csv(text)
    assert where in str(err.value)
    assert "not-an-address" not in str(err.value)


def test_import_upserts(db_session: Session, tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(GOOD, encoding="utf-8")
    first = customers.import_csv(session=db_session, path=path)
    assert (first.created, first.updated, first.unchanged) == (3, 0, 0)
    path.write_text(GOOD.replace("Globex,", "Globex SA,"), encoding="utf-8")
    second = customers.import_csv(session=db_session, path=path)
    assert (second.created, second.updated, second.unchanged) == (0, 1, 2)
    globex = db_session.get(Customer, "globex_42")
    assert globex is not None and globex.name == "Globex SA" and globex.language == "en"
    listed = [c.tenant_id for c in customers.list_customers(session=db_session)]
    mine = [t for t in listed if t in {"acme-corp", "globex_42", "avm-own"}]
    assert mine == ["acme-corp", "avm-own", "globex_42"]  # sorted by tenant id


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", ""),
        ("contact_email", "no address"),
        ("language", "de"),
        ("notify_delay_hours", "0"),
        ("notify_delay_hours", "721"),
        ("notify_delay_hours", "douze"),
        ("notify_delay_hours", " "),
        ("role", "owner"),
    ],
)
def test_a_customer_edit_names_the_bad_field(db_session: Session, field: str, value: str) -> None:
    with pytest.raises(InvalidCustomer) as err:
        _edit(db_session, **{field: value})
    assert err.value.field == field
    if value.strip() and not value.strip().isdigit():
        assert value not in str(err.value)  # never echoes what was typed
    assert db_session.get(Customer, "acme") is None


def test_a_customer_edit_is_saved_and_audited(db_session: Session) -> None:
    _edit(db_session)
    _edit(
        db_session,
        contact_email="dpo@acme.example; rssi@acme.example",
        language="en",
        notify_delay_hours="7,5",
        role="controller",
    )
    row = db_session.get(Customer, "acme")
    assert row is not None
    assert (row.contact_email, row.language, row.notify_delay_hours, row.role) == (
        "dpo@acme.example;rssi@acme.example",
        "en",
        7.5,
        "controller",
    )
    entries = audit_chain.entries_for(session=db_session, subject="tenant:acme")
    assert [e.data["changed"] for e in entries] == [
        ["contact_email", "language", "name", "notify_delay_hours", "role"],
        ["contact_email", "language", "notify_delay_hours", "role"],
    ]
    assert all("acme.example" not in str(e.data) for e in entries)  # no address audited
