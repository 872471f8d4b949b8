"""Console test support: an app on a fresh database with one user per role, logged-in
clients. Helpers only (fixtures live in conftest.py)."""

from __future__ import annotations

import re
import uuid
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient as TestClient

from accounts.roles import Role
from console import security
from console.app import create_app
from consumers.events import AuthEvent
from detectors.finding import Finding, Nature, Severity, TenantImpact, finding_id
from incidents import notice_fields
from incidents import service as incident_service
from incidents.db import make_engine, session_factory, transaction
from incidents.findings_store import FindingRow, store_evidence
from incidents.flows import record_findings
from notifiers.customers import CustomerRow, import_rows
from notifiers.flows import draft_notices
from notifiers.schemas import DraftPolicy
from tocsin.settings import Organisation, Settings

PASSWORD = "correct horse battery staple"
SECRET = "test-secret-key-" + "k" * 32
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


# AVM Up's identity as production configures it (TOCSIN_ORG__*).
ORG = Organisation(
    name="AVM Up (AVM Informatique)",
    siren="123 456 789",
    address="1 rue de l'Exemple, 69000 Lyon",
    representative="Jeanne Martin",
    dpo_name="Paul Durand",
    dpo_phone="+33 4 00 00 00 00",
)

# The structured facts an RSSI enters before approving (console form fields).
FIELDS_FORM = {
    "cause": "external_malicious",
    "origin": "hacking",
    "subprocessors_involved": "no",
    "breach_ongoing": "yes",
    "subject_categories": "customers",
    "measures": "sessions du compte révoquées",
    "measures_proposed": "vérifier les exports récents",
    "measures_planned": "revue des droits d'export",
    "measures_long_term": "authentification multifacteur pour tous les comptes",
}


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match is not None, "no CSRF token in the page"
    return match.group(1)


def email_for(role: str) -> str:
    return f"{role}@avmup.test"


@dataclass
class Console:
    app: FastAPI
    factory: sessionmaker[Session]
    url: str
    users: dict[str, int] = field(default_factory=dict)

    def client(self) -> TestClient:
        return TestClient(self.app, base_url="https://testserver")

    def login(self, role: str, client: TestClient | None = None) -> TestClient:
        client = client or self.client()
        page = client.get("/login")
        resp = client.post(
            "/login",
            data={
                "email": email_for(role),
                "password": PASSWORD,
                "csrf_token": csrf_from(page.text),
            },
            follow_redirects=False,
        )
        assert resp.status_code == 303, resp.text
        return client

    def csrf(self, client: TestClient, path: str = "/health") -> str:
        return csrf_from(client.get(path).text)

    def token(self, role: str) -> str:
        with transaction(self.factory) as session:
            _row, secret = security.create_token(session=session, email=email_for(role))
        return secret


def build_console(url: str, **kwargs: object) -> Console:
    factory = session_factory(make_engine(url))
    settings = Settings(secret_key=SECRET, database_url=url, org=ORG)
    app = create_app(settings, session_factory=factory, **kwargs)  # type: ignore[arg-type]
    console = Console(app=app, factory=factory, url=url)
    with transaction(factory) as session:
        for role in Role:
            user = security.create_user(
                session=session, email=email_for(role.value), password=PASSWORD, role=role.value
            )
            console.users[role.value] = user.id
    return console


def auth_event(
    *,
    n: int,
    tenant: str,
    actor: str,
    ip: str,
    at: datetime,
    user_agent: str = "Mozilla/5.0",
    action: str = "login_failure",
) -> AuthEvent:
    return AuthEvent.model_validate(
        {
            "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tenant}/{actor}/{ip}/{n}")),
            "occurred_at": at.isoformat(),
            "service": "faxbis",
            "tenant_id": tenant,
            "actor": {"id": actor, "kind": "customer_user"},
            "source_ip": ip,
            "user_agent": user_agent,
            "interface": "web",
            "tls": True,
            "action": action,
        }
    )


def store_finding(session: Session, finding: Finding) -> list[FindingRow]:
    """Store a finding as an ORM row. (`findings_store.upsert_findings` binds ISO strings to
    its datetime columns and fails on insert; reported to the lead.)"""
    data = finding.model_dump(mode="python")
    data["nature"] = sorted(str(n) for n in data["nature"])
    data["data_categories"] = sorted(data["data_categories"])
    data["tenants"] = {k: dict(v) for k, v in data["tenants"].items()}
    for key in ("tenant_ids", "actor_ids", "source_ips", "evidence"):
        data[key] = list(data[key])
    now = datetime.now(UTC)
    row = FindingRow(**data, stored_at=now, updated_at=now)
    session.add(row)
    session.flush()
    return [row]


def seed_incident(
    factory: sessionmaker[Session],
    *,
    tenant: str = "acme",
    actor: str = "user-1",
    ip: str = "203.0.113.7",
    rule: str = "AUTH-001",
    severity: Severity = Severity.HIGH,
    summary: str = "10 login failures in 5 min",
    fields: bool = True,
    user_agent: str = "Mozilla/5.0",
    first_seen: datetime | None = None,
    detected: datetime | None = None,
    events: int = 3,
    customer: tuple[str, str] | None = ("ACME SA", "dpo@acme.test"),
) -> str:
    """An incident made the way the pipeline makes it: evidence, finding row, then
    `incidents.flows.record_findings`. Returns its reference."""
    start = first_seen or datetime.now(UTC) - timedelta(hours=1)
    now = detected or datetime.now(UTC)
    evs = [
        auth_event(
            n=i,
            tenant=tenant,
            actor=actor,
            ip=ip,
            user_agent=user_agent,
            at=start + timedelta(seconds=i),
        )
        for i in range(events)
    ]
    finding = Finding(
        finding_id=finding_id(rule, f"{tenant}/{actor}/{ip}", start),
        rule_id=rule,
        severity=severity,
        nature=frozenset({Nature.CONFIDENTIALITY}),
        tenant_ids=(tenant,),
        tenants={tenant: TenantImpact(events=events, records=0)},
        group_key=f"{tenant}/{actor}",
        actor_ids=(actor,),
        source_ips=(ip,),
        data_categories=frozenset({"identification"}),
        records=0,
        subjects=1,
        count=events,
        first_seen=start,
        last_seen=start + timedelta(seconds=events),
        evidence=tuple(str(e.event_id) for e in evs),
        summary=summary,
    )
    with transaction(factory) as session:
        if customer is not None:
            import_rows(
                session=session,
                rows=[
                    CustomerRow(
                        tenant_id=tenant,
                        name=customer[0],
                        contact_email=customer[1],
                        language="fr",
                        notify_delay_hours=24.0,
                        role="processor",
                    )
                ],
            )
        store_evidence(session=session, events=[("auth", e) for e in evs])
        rows = store_finding(session, finding)
        incidents = record_findings(session=session, findings=rows, now=now)
        if fields:
            changes: dict[str, Any] = {
                k: [v] if k == "subject_categories" else v for k, v in FIELDS_FORM.items()
            }
            notice_fields.update(
                session=session,
                incident=incidents[0],
                actor_email="rssi@avmup.com",
                changes=changes,
                now=now,
            )
        return incidents[0].ref


def draft_for(factory: sessionmaker[Session], ref: str) -> list[int]:
    """Draft the incident's notices through the notifier's flow; returns their ids."""
    with transaction(factory) as session:
        incident = incident_service.require_by_ref(session=session, ref=ref)
        written = draft_notices(
            session=session,
            incident=incident,
            now=datetime.now(UTC),
            policy=DraftPolicy.from_settings(Settings(org=ORG)),
        )
        return [n.id for n in written]
