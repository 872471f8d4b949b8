"""Console users: creation, look-up, role and activity changes, passwords and language.
Keyword-only services over a session that never commit (the caller owns the transaction)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accounts.errors import InvalidUserInput, LastAdmin, UnknownUser, UserExists
from accounts.models import User, normalise_email
from accounts.passwords import hash_password, password_problem, verify_password
from accounts.roles import Role
from accounts.sessions import revoke_sessions
from accounts.tokens import revoke_tokens

EMAIL_RE = re.compile(r"^[^@\s<>\"']{1,64}@[A-Za-z0-9.-]{1,190}\.[A-Za-z]{2,24}$")


def _validate(email: str, password: str | None, role: str) -> None:
    if not EMAIL_RE.match(email):
        raise InvalidUserInput("invalid_email")
    if role not in {r.value for r in Role}:
        raise InvalidUserInput("invalid_role")
    if password is not None:
        problem = password_problem(password, email=email)
        if problem is not None:
            raise InvalidUserInput(problem)


def create_user(
    *, session: Session, email: str, password: str, role: str, lang: str = "fr"
) -> User:
    email = normalise_email(email)
    _validate(email, password, role)
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise UserExists("user_exists")
    user = User(
        email=email,
        password_hash=hash_password(password),
        role=role,
        lang=lang if lang in ("fr", "en") else "fr",
        active=True,
        session_version=1,
        created_at=datetime.now(UTC),
    )
    session.add(user)
    session.flush()
    return user


def get_user(*, session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def get_user_by_email(*, session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == normalise_email(email)))


def active_user(*, session: Session, email: str) -> User | None:
    """The active user behind `email` (as stored, or as typed for rows older than the
    normalisation); None for an unknown or inactive one."""
    user = get_user_by_email(session=session, email=email)
    if user is None:
        user = session.scalar(select(User).where(User.email == email.strip()))
    return user if user is not None and user.active else None


def list_users(*, session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.email)))


def _other_active_admins(session: Session, user_id: int) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.role == Role.ADMIN.value, User.active.is_(True), User.id != user_id)
        )
        or 0
    )


def update_user(
    *,
    session: Session,
    user_id: int,
    role: str | None = None,
    active: bool | None = None,
    now: datetime | None = None,
) -> User:
    """Change a user's role or activity. Deactivation ends their sessions and revokes their
    tokens for good (reactivation brings neither back). Refuses (`LastAdmin`) to demote or
    deactivate the last active administrator."""
    user = session.get(User, user_id)
    if user is None:
        raise UnknownUser("unknown_user")
    if role is not None:
        _validate(user.email, None, role)
    demoted = role is not None and role != Role.ADMIN.value
    deactivated = active is False
    if (
        user.role == Role.ADMIN.value
        and user.active
        and (demoted or deactivated)
        and _other_active_admins(session, user.id) == 0
    ):
        raise LastAdmin("last_admin")
    if role is not None:
        user.role = Role(role)
    if active is not None and active != user.active:
        user.active = active
        user.session_version += 1
        if not active:
            revoke_sessions(session=session, user_id=user.id, now=now)
            revoke_tokens(session=session, user_id=user.id, now=now)
    session.flush()
    return user


def set_password(
    *, session: Session, user_id: int, password: str, now: datetime | None = None
) -> None:
    """A new password ends every session of the user (the caller starts a fresh one)."""
    user = session.get(User, user_id)
    if user is None:
        raise UnknownUser("unknown_user")
    _validate(user.email, password, user.role)
    user.password_hash = hash_password(password)
    user.session_version += 1
    revoke_sessions(session=session, user_id=user.id, now=now)
    session.flush()


def change_password(
    *, session: Session, user_id: int, current: str, new: str, confirm: str
) -> None:
    """The signed-in user's own change: the current password is checked first."""
    user = session.get(User, user_id)
    if user is None:
        raise UnknownUser("unknown_user")
    if not verify_password(user.password_hash, current):
        raise InvalidUserInput("current_password_wrong")
    if new != confirm:
        raise InvalidUserInput("passwords_differ")
    if new == current:
        raise InvalidUserInput("password_unchanged")
    set_password(session=session, user_id=user_id, password=new)


def set_lang(*, session: Session, user_id: int, lang: str) -> None:
    user = session.get(User, user_id)
    if user is not None and lang in ("fr", "en"):
        user.lang = lang
        session.flush()
