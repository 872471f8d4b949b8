"""The breach register (GDPR Art. 33(5)): every incident, notified or not, as CSV or as a
printable HTML page (Jinja2, autoescaped: finding text and names are never trusted)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from jinja2 import DictLoader, Environment, StrictUndefined, select_autoescape
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from incidents import clocks, notice_fields
from incidents.clocks import ClockPolicy
from incidents.db import Base
from incidents.enums import DecisionKind
from incidents.models import Customer, Incident, SeverityAssessment

NATURE_LABELS = {
    "confidentiality": "C",
    "integrity": "I",
    "availability": "A",
    "attempt": "attempt (security incident, no personal data breach)",
}


@dataclass(frozen=True)
class RegisterRow:
    ref: str
    status: str
    nature: str
    description: str
    rules: str
    data_categories: str
    tenants: str
    persons_approx: int
    records_approx: int
    first_seen: str
    last_seen: str
    detected_at: str
    aware_at: str
    aware_justification: str
    severity_score: str
    severity_band: str
    consequences: str
    measures: str
    customer_due: str
    customer_notified_at: str
    cnil_due: str
    cnil_notified_at: str
    cnil_late: str
    recommendation: str
    art34_exemption: str
    not_notified_justification: str
    decisions: str
    closed_at: str
    resolution_reason: str
    source: str
    role: str
    advice: str
    decided_by: str
    decision_justification: str
    declared: str
    notice_signatures: str = ""


FIELDS = tuple(RegisterRow.__dataclass_fields__)


def _iso(value: datetime | None) -> str:
    return value.astimezone(UTC).isoformat() if value is not None else ""


def build_rows(
    *, session: Session, policy: ClockPolicy, now: datetime | None = None
) -> list[RegisterRow]:
    """One row per incident (all statuses), oldest reference first."""
    now = now or datetime.now(UTC)
    incidents = _load_incidents(session)
    customers = clocks.load_customers(
        session=session, tenant_ids=(t for i in incidents for t in i.tenant_ids)
    )
    signed = _signatures(session, [i.id for i in incidents])
    return [
        _row(
            inc,
            clocks.incident_clocks(incident=inc, customers=customers, policy=policy, now=now),
            customers,
            signed.get(inc.id, []),
        )
        for inc in incidents
    ]


def _load_incidents(session: Session) -> list[Incident]:
    return list(
        session.scalars(
            select(Incident)
            .order_by(Incident.year, Incident.seq)
            .options(
                selectinload(Incident.tenants),
                selectinload(Incident.clock_facts),
                selectinload(Incident.assessments),
                selectinload(Incident.decisions),
            )
        )
    )


def _row(
    inc: Incident,
    cl: clocks.IncidentClocks,
    customers: Mapping[str, Customer],
    signatures: list[str],
) -> RegisterRow:
    met = [c.met_at for c in cl.customers if c.met_at is not None]
    assessment = inc.current_assessment
    told = _assessment_cells(assessment)
    return RegisterRow(
        ref=inc.ref,
        status=inc.status,
        nature="/".join(NATURE_LABELS.get(n, n) for n in notice_fields.effective_nature(inc)),
        description=inc.title,
        rules=" ".join(inc.rule_ids),
        data_categories=" ".join(inc.data_categories),
        tenants=_tenants_cell(inc, customers),
        persons_approx=(
            sum(t.persons for t in inc.tenants) if inc.tenants else inc.persons_estimate or 0
        ),
        records_approx=(
            sum(t.records for t in inc.tenants) if inc.tenants else inc.records_estimate or 0
        ),
        first_seen=_iso(inc.first_seen),
        last_seen=_iso(inc.last_seen),
        detected_at=_iso(inc.detected_at),
        aware_at=_iso(inc.aware_at),
        aware_justification=inc.aware_justification or "",
        severity_score="" if inc.severity_score is None else f"{inc.severity_score:g}",
        severity_band=inc.severity_band or "",
        consequences=inc.consequences,
        measures=inc.measures,
        customer_due=_iso(cl.customer_due),
        customer_notified_at=_iso(min(met)) if met else "",
        cnil_due=_iso(cl.cnil.due_at),
        cnil_notified_at=_iso(cl.cnil.met_at),
        cnil_late="yes" if cl.cnil.late else "",
        recommendation=told.recommendation,
        art34_exemption=(assessment.art34_exemption or "") if assessment else "",
        not_notified_justification=_not_notified(inc, cl),
        decisions=_decisions_cell(inc),
        closed_at=_iso(inc.closed_at),
        resolution_reason=inc.resolution_reason or "",
        source=inc.source,
        role=_role_cell(inc, customers),
        advice=told.advice,
        decided_by=told.decided_by,
        decision_justification=told.justification,
        declared="yes" if inc.declared else "",
        notice_signatures="; ".join(signatures),
    )


@dataclass(frozen=True)
class _Told:
    """The register's cells drawn from the current assessment."""

    recommendation: str = ""
    advice: str = ""
    decided_by: str = ""
    justification: str = ""


def _assessment_cells(assessment: SeverityAssessment | None) -> _Told:
    if assessment is None:
        return _Told()
    rec = _told(
        customer=assessment.notify_customer,
        cnil=assessment.notify_cnil,
        subjects=assessment.notify_subjects,
        public=assessment.notify_public,
    )
    if assessment.recommendation_overridden:
        how = "against the advice"
    elif assessment.source == "manual":
        how = "advice accepted"
    else:
        how = "automatic pre-fill"
    decided_why = assessment.justification
    if assessment.art34_justification:
        decided_why += f" | Art. 34(3): {assessment.art34_justification}"
    return _Told(
        recommendation=rec,
        advice=_advice_cell((assessment.rationale or {}).get("advice")),
        decided_by=f"{assessment.assessed_by} ({_iso(assessment.assessed_at)}, {how})",
        justification=decided_why,
    )


def _advice_cell(advised: object) -> str:
    if not isinstance(advised, dict):
        return ""
    advice = _told(
        customer=bool(advised.get("customer")),
        cnil=bool(advised.get("cnil")),
        subjects=bool(advised.get("subjects")),
        public=bool(advised.get("public")),
    )
    reasons = advised.get("reasons") or []
    return advice + "".join(f" | {r}" for r in reasons)


def _decisions_cell(inc: Incident) -> str:
    return "; ".join(
        f"{_iso(d.created_at)} {d.author}: {d.text}"
        + (f" (justification: {d.justification})" if d.justification else "")
        for d in inc.decisions
        if d.kind == DecisionKind.DECISION.value
    )


def _not_notified(inc: Incident, cl: clocks.IncidentClocks) -> str:
    stopped = [
        f"{c.clock.value}{'/' + c.tenant_id if c.tenant_id else ''}: {c.stop_justification}"
        for c in cl.all
        if c.stop_justification
    ]
    return "; ".join(x for x in [inc.not_notified_justification or "", *stopped] if x)


def _tenants_cell(inc: Incident, customers: Mapping[str, Customer]) -> str:
    return "; ".join(
        f"{t.tenant_id}"
        + (f" ({customers[t.tenant_id].name})" if t.tenant_id in customers else "")
        + f": persons≈{t.persons}, records≈{t.records}, events={t.events}"
        for t in inc.tenants
    )


def _role_cell(inc: Incident, customers: Mapping[str, Customer]) -> str:
    roles = {customers[t].role if t in customers else "processor" for t in inc.tenant_ids}
    return " + ".join(sorted(roles or {"controller"}))


def _signatures(session: Session, incident_ids: list[int]) -> dict[int, list[str]]:
    """Who signed each notice version, by role (the notices table is read through the
    shared metadata: this package does not import the notifiers)."""
    table = Base.metadata.tables.get("notices")
    if table is None or not incident_ids:
        return {}
    c = table.c
    rows = session.execute(
        select(
            c.incident_id,
            c.kind,
            c.scope,
            c.version,
            c.approved_by,
            c.approved_at,
            c.dpo_approved_by,
            c.dpo_approved_at,
        )
        .where(
            c.incident_id.in_(incident_ids),
            (c.approved_by.is_not(None)) | (c.dpo_approved_by.is_not(None)),
        )
        .order_by(c.incident_id, c.kind, c.scope, c.version)
    )
    out: dict[int, list[str]] = {}
    for r in rows:
        who = [
            f"{role} {by} {_iso(at)}"
            for role, by, at in (
                ("RSSI", r.approved_by, r.approved_at),
                ("DPO", r.dpo_approved_by, r.dpo_approved_at),
            )
            if by
        ]
        scope = "" if r.scope == "*" else f" {r.scope}"
        out.setdefault(r.incident_id, []).append(f"{r.kind}{scope} v{r.version}: " + ", ".join(who))
    return out


def _told(*, customer: bool, cnil: bool, subjects: bool, public: bool) -> str:
    told = [
        who
        for who, yes in (
            ("customer", customer),
            ("cnil", cnil),
            ("data subjects", subjects),
            ("public", public),
        )
        if yes
    ]
    return ", ".join(told) or "register only"


def _safe_cell(value: object) -> object:
    """Neutralise spreadsheet formulas (CSV injection): text from findings is untrusted."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def to_csv(rows: Iterable[RegisterRow]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=FIELDS, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _safe_cell(v) for k, v in asdict(row).items()})
    return buf.getvalue()


_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Breach register (GDPR Art. 33(5)) — AVM Up</title>
<style>
body{font-family:system-ui,sans-serif;font-size:11px;margin:1.5em}
h1{font-size:16px} table{border-collapse:collapse;width:100%}
th,td{border:1px solid #999;padding:3px 4px;vertical-align:top;text-align:left}
th{background:#eee} .ref{white-space:nowrap;font-weight:bold}
@media print{@page{size:A4 landscape;margin:10mm} body{margin:0} tr{page-break-inside:avoid}}
</style></head><body>
<h1>Breach register (GDPR Art. 33(5)) — AVM Up</h1>
<p>Generated {{ generated_at }} · {{ rows|length }} incident(s), notified or not.</p>
<table><thead><tr>{% for f in fields %}<th>{{ f|replace("_", " ") }}</th>{% endfor %}</tr></thead>
<tbody>{% for row in rows %}<tr>{% for f in fields %}
<td{% if f == "ref" %} class="ref"{% endif %}>{{ row[f] }}</td>{% endfor %}</tr>
{% else %}<tr><td colspan="{{ fields|length }}">No incident recorded.</td></tr>{% endfor %}
</tbody></table></body></html>
"""

_ENV = Environment(
    loader=DictLoader({"register.html": _TEMPLATE}),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
)


def to_html(rows: Iterable[RegisterRow], *, generated_at: datetime | None = None) -> str:
    data = [asdict(r) for r in rows]
    return _ENV.get_template("register.html").render(
        rows=data,
        fields=FIELDS,
        generated_at=_iso(generated_at or datetime.now(UTC)),
    )


def export(*, session: Session, fmt: str, policy: ClockPolicy, now: datetime | None = None) -> str:
    """The register as text, `fmt` = "csv" or "html"."""
    rows = build_rows(session=session, policy=policy, now=now)
    if fmt == "csv":
        return to_csv(rows)
    if fmt == "html":
        return to_html(rows, generated_at=now)
    raise ValueError(f"unknown register format {fmt!r}")


__all__ = ["FIELDS", "RegisterRow", "build_rows", "export", "to_csv", "to_html"]
