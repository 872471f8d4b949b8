"""Customers (tenants): contacts, language, contractual notification delay, role.

`import_csv` reads `tenant_id,name,contact_email[,language,notify_delay_hours,role]` and
upserts `incidents.models.Customer` rows; every error names the line and the column (never
the value: it may be personal data). Several contact addresses are separated by `;`.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from incidents import service as incident_service
from incidents.enums import CustomerRole, Language
from incidents.models import Customer
from notifiers.enums import NoticeKind
from notifiers.exceptions import CustomerImportError, InvalidAddress, InvalidCustomer
from notifiers.mail import validate_address
from notifiers.models import Notice
from notifiers.schemas import one_line

REQUIRED = ("tenant_id", "name", "contact_email")
OPTIONAL = ("language", "notify_delay_hours", "role")
_TENANT = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_ROWS = 100_000


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    unchanged: int


@dataclass(frozen=True)
class CustomerRow:
    tenant_id: str
    name: str
    contact_email: str
    language: str
    notify_delay_hours: float
    role: str


def parse_csv(text: str, *, default_delay_hours: float = 24.0) -> list[CustomerRow]:
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise CustomerImportError(f"line 1: missing column(s) {', '.join(missing)}")
    unknown = [c for c in header if c not in REQUIRED + OPTIONAL]
    if unknown:
        raise CustomerImportError(f"line 1: unknown column(s) {', '.join(unknown)}")
    reader.fieldnames = header
    rows: list[CustomerRow] = []
    seen: set[str] = set()
    for index, raw in enumerate(reader, start=2):
        if index > MAX_ROWS:
            raise CustomerImportError(f"more than {MAX_ROWS} rows")
        rows.append(
            _row(index, {k: (v or "").strip() for k, v in raw.items() if k}, default_delay_hours)
        )
        if rows[-1].tenant_id in seen:
            raise CustomerImportError(f"line {index}, column tenant_id: duplicate tenant")
        seen.add(rows[-1].tenant_id)
    return rows


def _row(line: int, raw: dict[str, str], default_delay: float) -> CustomerRow:
    try:
        return _checked(raw, default_delay)
    except InvalidCustomer as exc:
        raise CustomerImportError(f"line {line}, column {exc.field}: {exc.why}") from None


def _checked(raw: dict[str, str], default_delay: float) -> CustomerRow:
    def fail(column: str, why: str) -> InvalidCustomer:
        return InvalidCustomer(column, why)

    tenant = raw.get("tenant_id", "")
    if not _TENANT.match(tenant):
        raise fail("tenant_id", "expected [A-Za-z0-9_-]{1,64}")
    name = one_line(raw.get("name", ""))
    if not name or len(name) > 255:
        raise fail("name", "required, at most 255 characters")
    try:
        emails = [validate_address(a) for a in raw.get("contact_email", "").split(";") if a.strip()]
    except InvalidAddress:
        raise fail("contact_email", "invalid e-mail address") from None
    if not emails:
        raise fail("contact_email", "required")
    language = (raw.get("language") or Language.FR.value).lower()
    if language not in {lang.value for lang in Language}:
        raise fail("language", "expected fr or en")
    try:
        delay = (
            float(raw["notify_delay_hours"]) if raw.get("notify_delay_hours") else (default_delay)
        )
    except ValueError:
        raise fail("notify_delay_hours", "expected a number of hours") from None
    if not 0 < delay <= 24 * 30:
        raise fail("notify_delay_hours", "expected 0 < hours <= 720")
    role = (raw.get("role") or CustomerRole.PROCESSOR.value).lower()
    if role not in {r.value for r in CustomerRole}:
        raise fail("role", "expected processor or controller")
    return CustomerRow(
        tenant_id=tenant,
        name=name,
        contact_email=";".join(emails),
        language=language,
        notify_delay_hours=delay,
        role=role,
    )


def import_rows(*, session: Session, rows: list[CustomerRow]) -> ImportResult:
    """Upsert customers by tenant id. Not committed."""
    existing = (
        {
            c.tenant_id: c
            for c in session.scalars(
                select(Customer).where(Customer.tenant_id.in_([r.tenant_id for r in rows]))
            )
        }
        if rows
        else {}
    )
    created = updated = unchanged = 0
    for row in rows:
        values = {
            "name": row.name,
            "contact_email": row.contact_email,
            "language": row.language,
            "notify_delay_hours": row.notify_delay_hours,
            "role": row.role,
        }
        customer = existing.get(row.tenant_id)
        if customer is None:
            session.add(Customer(tenant_id=row.tenant_id, **values))
            created += 1
        elif any(getattr(customer, k) != v for k, v in values.items()):
            for key, value in values.items():
                setattr(customer, key, value)
            updated += 1
        else:
            unchanged += 1
    session.flush()
    return ImportResult(created=created, updated=updated, unchanged=unchanged)


def import_csv(*, session: Session, path: Path, default_delay_hours: float = 24.0) -> ImportResult:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CustomerImportError(f"{path}: cannot read ({type(exc).__name__})") from None
    try:
        rows = parse_csv(text, default_delay_hours=default_delay_hours)
    except CustomerImportError as exc:
        raise CustomerImportError(f"{path}: {exc}") from None
    return import_rows(session=session, rows=rows)


def list_customers(*, session: Session) -> list[Customer]:
    return list(session.scalars(select(Customer).order_by(Customer.tenant_id)))


def get_customer(*, session: Session, tenant_id: str) -> Customer | None:
    return session.get(Customer, tenant_id)


def update_customer(
    *,
    session: Session,
    tenant_id: str,
    name: str,
    contact_email: str,
    language: str,
    notify_delay_hours: str,
    role: str,
    actor_email: str,
) -> Customer:
    """Create or edit one customer from a form, with the import's rules (raises
    `InvalidCustomer` naming the field); saved and audited by
    `incidents.service.upsert_customer` (the customer's clocks follow). Not committed."""
    row = _checked(
        {
            "tenant_id": tenant_id,
            "name": name,
            "contact_email": contact_email,
            "language": language,
            "notify_delay_hours": notify_delay_hours.strip().replace(",", "."),
            "role": role,
        },
        24.0,
    )
    if not notify_delay_hours.strip():
        raise InvalidCustomer("notify_delay_hours", "required")
    return incident_service.upsert_customer(
        session=session,
        tenant_id=row.tenant_id,
        name=row.name,
        contact_email=row.contact_email,
        actor_email=actor_email,
        language=row.language,
        notify_delay_hours=row.notify_delay_hours,
        role=row.role,
    )


def notices_to(*, session: Session, tenant_id: str, limit: int = 200) -> list[Notice]:
    """The customer notices addressed to `tenant_id` (every version), newest first."""
    return list(
        session.scalars(
            select(Notice)
            .where(Notice.kind == NoticeKind.CUSTOMER.value, Notice.tenant_id == tenant_id)
            .order_by(Notice.created_at.desc(), Notice.id.desc())
            .limit(limit)
        )
    )
