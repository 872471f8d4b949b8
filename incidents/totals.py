"""What an incident's findings add up to, kept as findings come (docs/architecture.md §6).

Pure functions, no SQL. An incident's summary (tenants and their counts and windows, rule
ids, nature, data categories, worst severity, event-time window, the ENISA pre-fill) is a
function of a few totals over its findings: per part ("" the whole incident, else a tenant)
the number of findings, the sums of their counts and their window, and how many findings
carry each signature (rule, severity, nature, data categories). A finding's contribution is
its `parts_of`; a new version of a finding replaces its old contribution (`Total.remove`,
then `Total.add`), so the totals after any sequence of emissions equal `recompute` over the
current versions. Removing a finding that held a window bound leaves that bound unknown
(`Total.exact` false): the caller reads it back from the stored contributions.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from detectors.finding import Severity
from incidents import notice_fields, severity
from incidents.findings_store import FindingRow, stored_count

WHOLE = ""  # the part that stands for the whole incident (tenant ids are never empty)
_SEVERITY_RANK = {s.value: i for i, s in enumerate(Severity)}


@dataclass(frozen=True)
class Part:
    """One finding's contribution to one part of its incident's totals."""

    events: int
    records: int
    persons: int
    first_seen: datetime
    last_seen: datetime
    signature: str | None = None


@dataclass(frozen=True, order=True)
class Signature:
    """What the summary needs of a finding beyond its counts and window."""

    rule_id: str
    severity: str
    nature: tuple[str, ...]
    data_categories: tuple[str, ...]

    def encode(self) -> str:
        return json.dumps(
            [self.rule_id, self.severity, list(self.nature), list(self.data_categories)],
            separators=(",", ":"),
        )

    @classmethod
    def decode(cls, text: str) -> Signature:
        rule_id, sev, nature, categories = json.loads(text)
        return cls(str(rule_id), str(sev), tuple(nature), tuple(categories))


def signature_of(row: FindingRow) -> str:
    return Signature(
        rule_id=row.rule_id,
        severity=row.severity,
        nature=tuple(sorted(row.nature)),
        data_categories=tuple(sorted(row.data_categories)),
    ).encode()


def parts_of(row: FindingRow) -> dict[str, Part]:
    """The finding's contribution: to the whole incident, and to each of its tenants."""
    parts = {WHOLE: Part(0, 0, 0, row.first_seen, row.last_seen, signature_of(row))}
    for tenant in row.tenant_ids:
        impact = row.tenants.get(tenant) or {}
        parts[tenant] = Part(
            events=int(impact.get("events", 0)),
            records=int(impact.get("records", 0)),
            persons=int(impact.get("subjects", 0)),
            first_seen=row.first_seen,
            last_seen=row.last_seen,
        )
    return parts


@dataclass
class Total:
    """The sum of the contributions of the findings to one part."""

    findings: int = 0
    events: int = 0
    records: int = 0
    persons: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    first_exact: bool = True
    last_exact: bool = True
    signatures: dict[str, int] = field(default_factory=dict)

    @property
    def exact(self) -> bool:
        return self.first_exact and self.last_exact

    def add(self, part: Part) -> None:
        self.findings += 1
        self.events += part.events
        self.records += part.records
        self.persons += part.persons
        if self.first_seen is None or part.first_seen <= self.first_seen:
            self.first_seen, self.first_exact = part.first_seen, True
        if self.last_seen is None or part.last_seen >= self.last_seen:
            self.last_seen, self.last_exact = part.last_seen, True
        if part.signature is not None:
            self.signatures[part.signature] = self.signatures.get(part.signature, 0) + 1

    def remove(self, part: Part) -> None:
        """Take a contribution added before out. A window bound it held becomes unknown
        (the bound kept is then only a lower/upper limit of the true one)."""
        self.findings -= 1
        self.events -= part.events
        self.records -= part.records
        self.persons -= part.persons
        if part.signature is not None:
            left = self.signatures.get(part.signature, 0) - 1
            if left > 0:
                self.signatures[part.signature] = left
            else:
                self.signatures.pop(part.signature, None)
        if self.findings <= 0:
            self.first_seen = self.last_seen = None
            self.first_exact = self.last_exact = True
            return
        if self.first_seen is not None and part.first_seen <= self.first_seen:
            self.first_exact = False
        if self.last_seen is not None and part.last_seen >= self.last_seen:
            self.last_exact = False

    def absorb(self, other: Total) -> None:
        """Add another incident's total for the same part (a merge)."""
        self.findings += other.findings
        self.events += other.events
        self.records += other.records
        self.persons += other.persons
        for sig, n in other.signatures.items():
            self.signatures[sig] = self.signatures.get(sig, 0) + n
        self.first_seen, self.first_exact = _bound(
            (self.first_seen, self.first_exact), (other.first_seen, other.first_exact), lower=True
        )
        self.last_seen, self.last_exact = _bound(
            (self.last_seen, self.last_exact), (other.last_seen, other.last_exact), lower=False
        )


def _bound(
    a: tuple[datetime | None, bool], b: tuple[datetime | None, bool], *, lower: bool
) -> tuple[datetime | None, bool]:
    """The lower (or upper) of two window bounds with whether it is exact."""
    if a[0] is None:
        return b
    if b[0] is None:
        return a
    if a[0] == b[0]:
        return a[0], a[1] or b[1]
    return a if (a[0] < b[0]) == lower else b


Totals = dict[str, Total]


def recompute(rows: Iterable[FindingRow]) -> Totals:
    """The totals of these findings, from scratch."""
    totals: Totals = {}
    for row in rows:
        for name, part in parts_of(row).items():
            totals.setdefault(name, Total()).add(part)
    return totals


def replace(totals: Totals, old: Mapping[str, Part], new: Mapping[str, Part]) -> set[str]:
    """Swap one finding's contribution `old` (empty when first counted) for `new`. Parts
    left without findings are dropped. Returns the names of the parts that changed."""
    for name, part in old.items():
        total = totals.get(name)
        if total is not None:
            total.remove(part)
    for name, part in new.items():
        totals.setdefault(name, Total()).add(part)
    changed = set(old) | set(new)
    for name in changed:
        if name in totals and totals[name].findings <= 0:
            del totals[name]
    return changed


@dataclass(frozen=True)
class TenantShare:
    events: int
    records: int
    persons: int
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True)
class Summary:
    """What an incident's findings say, as `incidents.flows` writes it on the incident."""

    tenants: dict[str, TenantShare]
    rule_ids: list[str]
    nature: list[str]
    data_categories: list[str]
    finding_severity: str
    first_seen: datetime
    last_seen: datetime
    facts: list[severity.FindingFacts]


def summarize(totals: Totals) -> Summary | None:
    """The summary of the findings counted in `totals` (None when there are none)."""
    whole = totals.get(WHOLE)
    if whole is None or whole.findings <= 0 or not whole.first_seen or not whole.last_seen:
        return None
    sigs = sorted(Signature.decode(s) for s in whole.signatures)
    tenants = {
        name: TenantShare(
            events=stored_count(t.events),
            records=stored_count(t.records),
            persons=stored_count(t.persons),
            first_seen=t.first_seen,
            last_seen=t.last_seen,
        )
        for name, t in sorted(totals.items())
        if name != WHOLE and t.findings > 0 and t.first_seen and t.last_seen
    }
    return Summary(
        tenants=tenants,
        rule_ids=sorted({s.rule_id for s in sigs}),
        nature=notice_fields.nature_of(s.nature for s in sigs),
        data_categories=sorted({c for s in sigs for c in s.data_categories}),
        finding_severity=max((s.severity for s in sigs), key=lambda v: _SEVERITY_RANK.get(v, 0)),
        first_seen=whole.first_seen,
        last_seen=whole.last_seen,
        facts=[
            severity.FindingFacts(
                rule_id=s.rule_id,
                nature=frozenset(s.nature),
                data_categories=frozenset(s.data_categories),
            )
            for s in sigs
        ],
    )
