"""The append-only, hash-chained audit trail (docs/architecture.md §9).

Each entry stores `hash = sha256(prev_hash + canonical JSON of the entry)`; the chain head
(`audit_head`, one row) holds the last sequence number and hash. `append` first *updates*
the head row (`UPDATE … RETURNING`): on PostgreSQL that takes the row lock until commit, on
SQLite the database writer lock, so concurrent writers queue up and never fork the chain.

Audit data must carry no personal data beyond pseudonymous ids and staff emails.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from consumers.conventions import is_aware
from incidents.exceptions import AuditChainError
from incidents.models import AuditEntry, AuditHead

GENESIS = "0" * 64
HEAD_ID = 1


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        if not is_aware(value):
            raise ValueError("naive datetime in audit data")
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset | tuple):
        return sorted(value, key=str) if isinstance(value, set | frozenset) else list(value)
    raise TypeError(f"audit data cannot hold {type(value).__name__}")


def normalise(data: Mapping[str, Any]) -> dict[str, Any]:
    """`data` as plain JSON values (what the JSON column gives back)."""
    result: dict[str, Any] = json.loads(json.dumps(dict(data), default=_default))
    return result


def canonical(
    *, seq: int, at: datetime, actor: str, action: str, subject: str, data: Mapping[str, Any]
) -> str:
    body = {
        "seq": seq,
        "at": at.astimezone(UTC).isoformat(),
        "actor": actor,
        "action": action,
        "subject": subject,
        "data": data,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def entry_hash(prev_hash: str, body: str) -> str:
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def _ensure_head(session: Session) -> None:
    dialect = session.get_bind().dialect.name
    values = {"id": HEAD_ID, "seq": 0, "hash": GENESIS}
    if dialect == "postgresql":
        pg = (
            postgresql.insert(AuditHead)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["id"])
        )
        session.execute(pg)
    elif dialect == "sqlite":
        lite = (
            sqlite.insert(AuditHead).values(**values).on_conflict_do_nothing(index_elements=["id"])
        )
        session.execute(lite)
    elif session.get(AuditHead, HEAD_ID) is None:  # pragma: no cover - other dialects
        session.add(AuditHead(**values))
        session.flush()


@dataclass(frozen=True)
class AuditItem:
    """One entry to append (see `append_many`)."""

    actor: str
    action: str
    subject: str
    data: Mapping[str, Any]
    at: datetime | None = None


def append(
    *,
    session: Session,
    actor: str,
    action: str,
    subject: str,
    data: Mapping[str, Any],
    at: datetime | None = None,
) -> AuditEntry:
    """Append one entry in the caller's transaction (not committed here)."""
    item = AuditItem(actor=actor, action=action, subject=subject, data=data, at=at)
    return append_many(session=session, items=[item])[0]


def append_many(*, session: Session, items: Sequence[AuditItem]) -> list[AuditEntry]:
    """Append several entries at once, in order: one head update reserves their sequence
    numbers (and holds the head's lock until commit), one insert writes them."""
    if not items:
        return []
    now = datetime.now(UTC)
    prepared = [((i.at or now).astimezone(UTC), normalise(i.data), i) for i in items]
    session.flush()
    n = len(items)
    stmt = (
        update(AuditHead)
        .where(AuditHead.id == HEAD_ID)
        .values(seq=AuditHead.seq + n)
        .returning(AuditHead.seq, AuditHead.hash)
        .execution_options(synchronize_session=False)
    )
    row = session.execute(stmt).one_or_none()
    if row is None:
        _ensure_head(session)
        row = session.execute(stmt).one_or_none()
        if row is None:  # pragma: no cover - the insert above guarantees the row
            raise AuditChainError("audit chain head is missing")
    seq, prev = int(row[0]) - n, str(row[1])
    entries = []
    for when, clean, item in prepared:
        seq += 1
        digest = entry_hash(
            prev,
            canonical(
                seq=seq,
                at=when,
                actor=item.actor,
                action=item.action,
                subject=item.subject,
                data=clean,
            ),
        )
        entries.append(
            AuditEntry(
                seq=seq,
                at=when,
                actor=item.actor,
                action=item.action,
                subject=item.subject,
                data=clean,
                prev_hash=prev,
                hash=digest,
            )
        )
        prev = digest
    session.add_all(entries)
    session.execute(
        update(AuditHead)
        .where(AuditHead.id == HEAD_ID)
        .values(hash=prev)
        .execution_options(synchronize_session=False)
    )
    session.flush()
    return entries


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    first_bad_id: int | None = None
    reason: str | None = None

    def describe(self) -> str:
        if self.ok:
            return f"audit chain intact: {self.checked} entries"
        return (
            f"audit chain broken at entry seq={self.first_bad_seq} "
            f"(id={self.first_bad_id}): {self.reason}"
        )


def verify(*, session: Session, batch: int = 2000) -> VerifyResult:
    """Walk the chain in `seq` order; name the first entry that was edited, deleted,
    inserted or reordered."""
    prev = GENESIS
    expected_seq = 1
    checked = 0
    last_id = 0
    last_seq = 0
    session.flush()
    table = AuditEntry.__table__
    conn = session.connection()  # Core rows: nothing accumulates in the identity map
    while True:
        rows = conn.execute(
            select(
                table.c.id,
                table.c.seq,
                table.c.at,
                table.c.actor,
                table.c.action,
                table.c.subject,
                table.c.data,
                table.c.prev_hash,
                table.c.hash,
            )
            .where(table.c.seq > last_seq)
            .order_by(table.c.seq)
            .limit(batch)
        ).all()
        if not rows:
            break
        for entry in rows:
            if entry.seq != expected_seq:
                return VerifyResult(
                    False,
                    checked,
                    expected_seq,
                    entry.id,
                    f"entry seq={expected_seq} is missing (next is "
                    f"seq={entry.seq}): deleted or renumbered",
                )
            if entry.id <= last_id:
                return VerifyResult(
                    False, checked, entry.seq, entry.id, "entries out of insertion order: reordered"
                )
            if entry.prev_hash != prev:
                return VerifyResult(
                    False,
                    checked,
                    entry.seq,
                    entry.id,
                    "prev_hash does not match the previous entry",
                )
            body = canonical(
                seq=entry.seq,
                at=entry.at,
                actor=entry.actor,
                action=entry.action,
                subject=entry.subject,
                data=entry.data,
            )
            if entry_hash(prev, body) != entry.hash:
                return VerifyResult(
                    False, checked, entry.seq, entry.id, "content does not match its hash: edited"
                )
            prev = entry.hash
            expected_seq += 1
            last_id = entry.id
            last_seq = entry.seq
            checked += 1
    head = conn.execute(
        select(AuditHead.__table__.c.seq, AuditHead.__table__.c.hash).where(
            AuditHead.__table__.c.id == HEAD_ID
        )
    ).one_or_none()
    head_seq = int(head[0]) if head is not None else 0
    head_hash = str(head[1]) if head is not None else GENESIS
    if head_seq != checked or head_hash != prev:
        return VerifyResult(
            False,
            checked,
            checked + 1 if head_seq > checked else head_seq,
            None,
            f"chain head says seq={head_seq}: the last entries were "
            "deleted or the head was altered",
        )
    return VerifyResult(True, checked)


def entries_for(*, session: Session, subject: str) -> list[AuditEntry]:
    return list(
        session.scalars(
            select(AuditEntry).where(AuditEntry.subject == subject).order_by(AuditEntry.seq)
        )
    )
