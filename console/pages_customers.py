"""Customer pages: the list, one customer (contract terms, incidents, notices sent to it, the
audit of its edits) and the RSSI's edit form (post/redirect/get, audited)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from console import views
from console.deps import DbSession, ReaderUser, RssiUser, policy_of
from console.errors import ConsoleError
from console.web import render
from consumers.errors import NotFound
from incidents import audit as audit_chain
from incidents import service as incident_service
from notifiers import customers
from notifiers.exceptions import InvalidCustomer

router = APIRouter(include_in_schema=False)


class UnknownCustomer(ConsoleError, NotFound):
    """No customer row and no incident for this tenant id (answered 404)."""


TENANT = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
FIELDS = ("name", "contact_email", "language", "notify_delay_hours", "role")
MAX_INCIDENTS_SHOWN = 100


@router.get("/customers")
def customers_page(request: Request, db: DbSession, user: ReaderUser) -> Response:
    return render(request, "customers.html", {"customers": customers.list_customers(session=db)})


def _customer_page(
    request: Request,
    db: Session,
    tenant_id: str,
    *,
    status: int = 200,
    error: str | None = None,
    form: dict[str, str] | None = None,
    invalid: str | None = None,
) -> Response:
    if not TENANT.match(tenant_id):
        raise UnknownCustomer("unknown customer")
    row = customers.get_customer(session=db, tenant_id=tenant_id)
    items, total = views.queue(
        session=db,
        policy=policy_of(request),
        filters=views.QueueFilters(tenant=tenant_id, open_only=False),
        page=1,
        per_page=MAX_INCIDENTS_SHOWN,
    )
    if row is None and total == 0:
        raise UnknownCustomer("unknown customer")
    if form is None:
        form = (
            {
                "name": row.name,
                "contact_email": row.contact_email,
                "language": row.language,
                "notify_delay_hours": f"{row.notify_delay_hours:g}",
                "role": row.role,
            }
            if row is not None
            else {
                "name": "",
                "contact_email": "",
                "language": "fr",
                "notify_delay_hours": "",
                "role": "processor",
            }
        )
    sent = customers.notices_to(session=db, tenant_id=tenant_id)
    audit_rows = audit_chain.entries_for(session=db, subject=f"tenant:{tenant_id}")
    return render(
        request,
        "customer.html",
        {
            "tenant_id": tenant_id,
            "customer": row,
            "items": items,
            "total": total,
            "notices": sent,
            "audit": audit_rows,
            "form": form,
            "error": error,
            "invalid": invalid,
            "ok": request.query_params.get("ok"),
            "languages": ("fr", "en"),
            "roles": ("processor", "controller"),
        },
        status=status,
    )


def _known(db: Session, tenant_id: str) -> bool:
    """A customer on record, or a tenant some incident involves (its terms may be created)."""
    if not TENANT.match(tenant_id):
        return False
    return customers.get_customer(session=db, tenant_id=tenant_id) is not None or (
        incident_service.count_incidents(session=db, tenant_id=tenant_id) > 0
    )


@router.get("/customers/{tenant_id}")
def customer_page(request: Request, db: DbSession, user: ReaderUser, tenant_id: str) -> Response:
    return _customer_page(request, db, tenant_id)


Field = Annotated[str, Form(max_length=1000)]


@router.post("/customers/{tenant_id}")
def customer_edit(
    request: Request,
    db: DbSession,
    user: RssiUser,
    tenant_id: str,
    name: Field = "",
    contact_email: Field = "",
    language: Field = "",
    notify_delay_hours: Field = "",
    role: Field = "",
) -> Response:
    form: dict[str, Any] = {
        "name": name,
        "contact_email": contact_email,
        "language": language,
        "notify_delay_hours": notify_delay_hours,
        "role": role,
    }
    try:
        if not _known(db, tenant_id):
            raise UnknownCustomer("unknown customer")
        customers.update_customer(
            session=db,
            tenant_id=tenant_id,
            name=name,
            contact_email=contact_email,
            language=language,
            notify_delay_hours=notify_delay_hours,
            role=role,
            actor_email=user.email,
        )
    except InvalidCustomer as exc:
        db.rollback()
        return _customer_page(
            request,
            db,
            tenant_id,
            status=422,
            error=f"invalid_{exc.field}",
            form=form,
            invalid=exc.field,
        )
    return RedirectResponse(f"/customers/{tenant_id}?ok=1", status_code=303)
