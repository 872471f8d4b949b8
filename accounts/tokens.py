"""API bearer tokens: only the sha256 of the secret is stored, the secret is shown once;
`TOKEN_DAYS` of validity by default; revocation, listing, and the user behind a live token."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from accounts.errors import InvalidUserInput, UnknownToken, UnknownUser
from accounts.models import ApiToken, User, normalise_email

TOKEN_PREFIX = "tcs_"  # noqa: S105 - a prefix, not a secret
TOKEN_DAYS = 90


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


TokenState = Literal["active", "expired", "revoked"]


def create_token(
    *,
    session: Session,
    email: str,
    name: str = "cli",
    days: int = TOKEN_DAYS,
    now: datetime | None = None,
) -> tuple[ApiToken, str]:
    """Create a bearer token for `email`, valid `days` days; returns the row and the secret
    (shown once). An inactive user gets none."""
    user = session.scalar(select(User).where(User.email == normalise_email(email)))
    if user is None or not user.active:
        raise UnknownUser("unknown_user")
    if not 1 <= days <= 3650:
        raise InvalidUserInput("invalid_token_days")
    now = now or datetime.now(UTC)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.id,
        name=name[:100],
        token_hash=hash_token(secret),
        created_at=now,
        expires_at=now + timedelta(days=days),
        revoked=False,
    )
    session.add(row)
    session.flush()
    return row, secret


def token_expires_at(row: ApiToken) -> datetime:
    return row.expires_at or row.created_at + timedelta(days=TOKEN_DAYS)


def token_state(row: ApiToken, *, now: datetime | None = None) -> TokenState:
    if row.revoked:
        return "revoked"
    return "expired" if (now or datetime.now(UTC)) >= token_expires_at(row) else "active"


def token_summary(row: ApiToken, owner: User, *, now: datetime | None = None) -> dict[str, Any]:
    """What may be shown about a token (never its secret or hash)."""
    return {
        "id": row.id,
        "email": owner.email,
        "name": row.name,
        "state": token_state(row, now=now),
        "created_at": row.created_at.isoformat(),
        "expires_at": token_expires_at(row).isoformat(),
        "last_used_at": row.last_used_at.isoformat() if row.last_used_at else None,
        "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
    }


def list_tokens(*, session: Session, email: str | None = None) -> list[tuple[ApiToken, User]]:
    query = select(ApiToken, User).join(User, User.id == ApiToken.user_id)
    if email is not None:
        query = query.where(User.email == normalise_email(email))
    return [(t, u) for t, u in session.execute(query.order_by(ApiToken.id))]


def revoke_token(*, session: Session, token_id: int, now: datetime | None = None) -> ApiToken:
    row = session.get(ApiToken, token_id)
    if row is None:
        raise UnknownToken("unknown_token")
    if not row.revoked:
        row.revoked = True
        row.revoked_at = now or datetime.now(UTC)
        session.flush()
    return row


def revoke_tokens(*, session: Session, user_id: int, now: datetime | None = None) -> None:
    session.execute(
        update(ApiToken)
        .where(
            ApiToken.user_id == user_id,
            ApiToken.revoked.is_(False),
        )
        .values(revoked=True, revoked_at=now or datetime.now(UTC))
    )


def user_for_token(*, session: Session, token: str, now: datetime | None = None) -> User | None:
    """The user of a live token: not revoked, not expired, its user active."""
    now = now or datetime.now(UTC)
    row = session.scalar(
        select(ApiToken).where(
            ApiToken.token_hash == hash_token(token), ApiToken.revoked.is_(False)
        )
    )
    if row is None or token_state(row, now=now) != "active":
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    row.last_used_at = now
    return user
