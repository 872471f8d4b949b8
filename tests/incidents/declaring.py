"""Declaring a breach and assessing it as the RSSI, for the tests of declared incidents and of
the notices drafted from them (plain functions, no fixtures)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from incidents import declared, service
from incidents.declared import Declaration
from incidents.models import Incident, SeverityAssessment
from incidents.severity import SeverityInputs

RSSI = "rssi@avmup.com"
# A member of staff reports identification data read by someone it was not meant for.
STAFF_LEAK = Declaration(
    source="staff_report", nature=["confidentiality"], data_categories=["identification"]
)
# Customer acme reports a breach of confidentiality on its account.
ACME_REPORT = Declaration(source="customer_report", nature=["confidentiality"], tenant_ids=["acme"])


def declare(
    session: Session,
    base: Declaration | None = None,
    *,
    now: datetime,
    by: str = RSSI,
    **facts: Any,
) -> Incident:
    """Declare, as `by`, the breach `facts` describe (`Declaration`'s fields), over `base`'s."""
    declaration = replace(base, **facts) if base is not None else Declaration(**facts)
    return declared.declare(session=session, declaration=declaration, actor_email=by, now=now)


def assess(
    session: Session,
    incident: Incident,
    inputs: SeverityInputs,
    justification: str,
    *,
    now: datetime,
    by: str = RSSI,
    **decision: Any,
) -> SeverityAssessment:
    """Assess `incident` from `inputs` as `by`; `decision` holds the Art. 34(3) exemption and
    the notify_* choices, as `assess_severity` takes them."""
    return service.assess_severity(
        session=session,
        incident=incident,
        inputs=inputs,
        justification=justification,
        actor_email=by,
        now=now,
        **decision,
    )
