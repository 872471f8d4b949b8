"""The hash-chained audit trail: intact chains verify, any edit, deletion or reordering is
named, and concurrent writers never fork the chain."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from incidents import audit
from incidents.db import make_engine, session_factory, transaction
from incidents.models import AuditEntry

T = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)


def _chain(session: Session, n: int = 5) -> list[AuditEntry]:
    return [
        audit.append(
            session=session,
            actor="rssi@avmup.com",
            action="test.step",
            subject=f"INC-2026-{i:04d}",
            at=T + timedelta(minutes=i),
            data={"i": i, "when": T, "note": "é ünïcode", "tags": {"b", "a"}},
        )
        for i in range(1, n + 1)
    ]


def _verify_after(session: Session, *statements: str) -> audit.VerifyResult:
    """Run `statements` on the stored chain behind the ORM's back, then verify it afresh."""
    for statement in statements:
        session.execute(text(statement))
    session.expire_all()
    return audit.verify(session=session)


def test_intact_chain_verifies_and_links_hashes(db_session: Session) -> None:
    entries = _chain(db_session)
    result = audit.verify(session=db_session)
    assert result.ok, result.describe()
    assert result.checked == 5
    assert entries[0].prev_hash == audit.GENESIS
    assert [e.prev_hash for e in entries[1:]] == [e.hash for e in entries[:-1]]
    assert entries[0].data == {
        "i": 1,
        "when": T.isoformat(),
        "note": "é ünïcode",
        "tags": ["a", "b"],
    }


def test_empty_chain_is_intact(db_session: Session) -> None:
    result = audit.verify(session=db_session)
    assert (result.ok, result.checked) == (True, 0)


def test_edited_row_is_named(db_session: Session) -> None:
    entries = _chain(db_session)
    result = _verify_after(db_session, "UPDATE audit_entries SET actor = 'mallory' WHERE seq = 3")
    assert not result.ok
    assert (result.first_bad_seq, result.first_bad_id) == (3, entries[2].id)
    assert "edited" in (result.reason or "")


def test_edited_json_data_is_detected(db_session: Session) -> None:
    _chain(db_session)
    db_session.execute(
        text("UPDATE audit_entries SET data = :d WHERE seq = 2"),
        {"d": '{"i": 2, "when": "2026-03-29T00:30:00+00:00", "note": "x", "tags": []}'},
    )
    db_session.expire_all()
    assert audit.verify(session=db_session).first_bad_seq == 2


def test_deleted_row_is_named(db_session: Session) -> None:
    _chain(db_session)
    result = _verify_after(db_session, "DELETE FROM audit_entries WHERE seq = 2")
    assert not result.ok
    assert result.first_bad_seq == 2
    assert "deleted" in (result.reason or "")


def test_deleted_last_row_is_detected_by_the_head(db_session: Session) -> None:
    _chain(db_session)
    result = _verify_after(db_session, "DELETE FROM audit_entries WHERE seq = 5")
    assert not result.ok
    assert result.first_bad_seq == 5


def test_reordered_rows_are_detected(db_session: Session) -> None:
    _chain(db_session)
    # Swap the positions of entries 2 and 4 (through a free seq value: seq is unique).
    result = _verify_after(
        db_session,
        "UPDATE audit_entries SET seq = -1 WHERE seq = 2",
        "UPDATE audit_entries SET seq = 2 WHERE seq = 4",
        "UPDATE audit_entries SET seq = 4 WHERE seq = -1",
    )
    assert not result.ok
    assert result.first_bad_seq == 2


def test_naive_time_in_data_is_refused(db_session: Session) -> None:
    with pytest.raises(ValueError, match="naive"):
        audit.append(
            session=db_session,
            actor="a",
            action="x",
            subject="s",
            data={"at": datetime(2026, 1, 1)},
        )


@pytest.mark.parametrize("fresh_db_url", ["sqlite", "postgresql"], indirect=True)
def test_concurrent_writers_never_fork_the_chain(fresh_db_url: str) -> None:
    engine = (
        make_engine(fresh_db_url, pool_size=4)
        if "postgresql" in fresh_db_url
        else (make_engine(fresh_db_url))
    )
    factory = session_factory(engine)
    errors: list[BaseException] = []

    def writer(w: int) -> None:
        try:
            for i in range(10):
                with transaction(factory) as session:
                    audit.append(
                        session=session,
                        actor=f"w{w}",
                        action="test.concurrent",
                        subject=f"s{w}",
                        data={"i": i},
                    )
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    with transaction(factory) as session:
        result = audit.verify(session=session)
    engine.dispose()
    assert errors == []
    assert result.ok, result.describe()
    assert result.checked == 30


def test_append_many_continues_the_same_chain(db_session: Session) -> None:
    first = audit.append(session=db_session, actor="a", action="x", subject="s", data={})
    many = audit.append_many(
        session=db_session,
        items=[
            audit.AuditItem(actor="b", action="y", subject="s", data={"n": n}, at=T)
            for n in range(3)
        ],
    )
    last = audit.append(session=db_session, actor="c", action="z", subject="s", data={})
    assert [e.seq for e in [first, *many, last]] == [1, 2, 3, 4, 5]
    assert many[0].prev_hash == first.hash
    assert last.prev_hash == many[-1].hash
    assert audit.append_many(session=db_session, items=[]) == []
    result = audit.verify(session=db_session)
    assert (result.ok, result.checked) == (True, 5)
