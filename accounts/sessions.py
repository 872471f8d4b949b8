"""Server-side console sessions: a random id in the cookie, only its sha256 stored; an
absolute lifetime and an idle limit; revoked on logout, password change and deactivation."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from accounts.models import ConsoleSession, User
from accounts.tokens import hash_token

SESSION_MAX_AGE = 8 * 3600


@dataclass(frozen=True)
class SessionPolicy:
    """`lifetime` is absolute (activity does not extend it); `idle` ends a session nobody
    used for that long. `touch_every` bounds the writes that record activity."""

    lifetime: timedelta = timedelta(seconds=SESSION_MAX_AGE)
    idle: timedelta = timedelta(minutes=30)
    touch_every: timedelta = timedelta(minutes=1)


DEFAULT_SESSIONS = SessionPolicy()


def start_session(*, session: Session, user: User, now: datetime | None = None) -> str:
    """A new session for `user`; returns the secret id the cookie carries."""
    now = now or datetime.now(UTC)
    sid = secrets.token_urlsafe(32)
    session.add(
        ConsoleSession(
            user_id=user.id, token_hash=hash_token(sid), created_at=now, last_seen_at=now
        )
    )
    session.flush()
    return sid


def session_user(
    *,
    session: Session,
    sid: str,
    policy: SessionPolicy = DEFAULT_SESSIONS,
    now: datetime | None = None,
) -> User | None:
    """The user of a live session: not revoked, younger than its lifetime, used recently,
    and its user still active. Records the activity (at most every `touch_every`)."""
    now = now or datetime.now(UTC)
    row = session.scalar(select(ConsoleSession).where(ConsoleSession.token_hash == hash_token(sid)))
    if row is None or row.revoked_at is not None:
        return None
    if now >= row.created_at + policy.lifetime or now >= row.last_seen_at + policy.idle:
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    if now - row.last_seen_at >= policy.touch_every:
        row.last_seen_at = now
    return user


def end_session(*, session: Session, sid: str, now: datetime | None = None) -> None:
    session.execute(
        update(ConsoleSession)
        .where(
            ConsoleSession.token_hash == hash_token(sid),
            ConsoleSession.revoked_at.is_(None),
        )
        .values(revoked_at=now or datetime.now(UTC))
    )


def revoke_sessions(*, session: Session, user_id: int, now: datetime | None = None) -> None:
    session.execute(
        update(ConsoleSession)
        .where(
            ConsoleSession.user_id == user_id,
            ConsoleSession.revoked_at.is_(None),
        )
        .values(revoked_at=now or datetime.now(UTC))
    )


def purge_sessions(*, session: Session, older_than: datetime) -> int:
    """Deletes sessions created before `older_than` (past any lifetime)."""
    result = session.execute(delete(ConsoleSession).where(ConsoleSession.created_at < older_than))
    return int(getattr(result, "rowcount", 0) or 0)
