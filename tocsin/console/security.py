"""Security primitives: argon2id passwords, bearer tokens, signed session cookies, CSRF tokens
and login throttling. Pure functions plus a few keyword-only services over a session."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from tocsin.console.errors import (
    InvalidUserInput,
    LoginThrottled,
    UnknownUser,
    UserExists,
)
from tocsin.console.models import ApiToken, LoginAttempt, Role, User

SESSION_COOKIE = "tocsin_session"
SESSION_MAX_AGE = 8 * 3600
TOKEN_PREFIX = "tcs_"  # noqa: S105 - a prefix, not a secret
EMAIL_RE = re.compile(r"^[^@\s<>\"']{1,64}@[A-Za-z0-9.-]{1,190}\.[A-Za-z]{2,24}$")
MIN_PASSWORD = 12

# argon2id (the argon2-cffi default type), RFC 9106 "low memory" parameters.
_hasher = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4)
# A fixed hash to verify against when the account does not exist (constant-ish time).
_DUMMY_HASH = _hasher.hash("tocsin-dummy-password")


@dataclass(frozen=True)
class Throttle:
    window: timedelta = timedelta(minutes=15)
    per_account: int = 5
    per_ip: int = 20


DEFAULT_THROTTLE = Throttle()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_matches(expected: str | None, given: str | None) -> bool:
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


class SessionCodec:
    """Signs and reads the session cookie payload `{"uid", "sv", "csrf", "lang"}`."""

    def __init__(self, secret_key: str, *, max_age: int = SESSION_MAX_AGE) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt="tocsin-console-session")
        self.max_age = max_age

    def dumps(self, data: dict[str, Any]) -> str:
        return self._serializer.dumps(data)

    def loads(self, cookie: str | None) -> dict[str, Any] | None:
        if not cookie:
            return None
        try:
            data = self._serializer.loads(cookie, max_age=self.max_age)
        except BadSignature:
            return None
        return data if isinstance(data, dict) else None


def normalise_email(email: str) -> str:
    return email.strip().lower()


def _validate(email: str, password: str | None, role: str) -> None:
    if not EMAIL_RE.match(email):
        raise InvalidUserInput("invalid_email")
    if role not in {r.value for r in Role}:
        raise InvalidUserInput("invalid_role")
    if password is not None and len(password) < MIN_PASSWORD:
        raise InvalidUserInput("password_too_short")


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


def list_users(*, session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.email)))


def update_user(
    *, session: Session, user_id: int, role: str | None = None, active: bool | None = None
) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise UnknownUser("unknown_user")
    if role is not None:
        _validate(user.email, None, role)
        user.role = role
    if active is not None and active != user.active:
        user.active = active
        user.session_version += 1
    session.flush()
    return user


def set_password(*, session: Session, user_id: int, password: str) -> None:
    user = session.get(User, user_id)
    if user is None:
        raise UnknownUser("unknown_user")
    _validate(user.email, password, user.role)
    user.password_hash = hash_password(password)
    user.session_version += 1
    session.flush()


def set_lang(*, session: Session, user_id: int, lang: str) -> None:
    user = session.get(User, user_id)
    if user is not None and lang in ("fr", "en"):
        user.lang = lang
        session.flush()


def create_token(*, session: Session, email: str, name: str = "cli") -> tuple[ApiToken, str]:
    """Create a bearer token for `email`; returns the row and the secret (shown once)."""
    user = get_user_by_email(session=session, email=email)
    if user is None:
        raise UnknownUser("unknown_user")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.id,
        name=name[:100],
        token_hash=hash_token(secret),
        created_at=datetime.now(UTC),
        revoked=False,
    )
    session.add(row)
    session.flush()
    return row, secret


def user_for_token(*, session: Session, token: str) -> User | None:
    row = session.scalar(
        select(ApiToken).where(ApiToken.token_hash == hash_token(token),
                               ApiToken.revoked.is_(False))
    )
    if row is None:
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    row.last_used_at = datetime.now(UTC)
    return user


def _throttle_key(secret_key: str, scope: str, value: str) -> str:
    return hmac.new(secret_key.encode(), f"{scope}\x1f{value}".encode(), "sha256").hexdigest()


def _recent_failures(session: Session, key: str, since: datetime) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(LoginAttempt)
            .where(LoginAttempt.key == key, LoginAttempt.success.is_(False),
                   LoginAttempt.at >= since)
        )
        or 0
    )


def authenticate(
    *,
    session: Session,
    secret_key: str,
    email: str,
    password: str,
    ip: str,
    throttle: Throttle = DEFAULT_THROTTLE,
    now: datetime | None = None,
) -> User | None:
    """Check credentials with per-account and per-IP throttling (persisted attempts).

    Raises `LoginThrottled` before checking the password when either key has too many recent
    failures; returns None on a wrong password, unknown or inactive account (the failed
    attempt is recorded in `session`: the caller commits either way)."""
    now = now or datetime.now(UTC)
    email = normalise_email(email)
    account_key = _throttle_key(secret_key, "account", email)
    ip_key = _throttle_key(secret_key, "ip", ip)
    since = now - throttle.window
    if (
        _recent_failures(session, account_key, since) >= throttle.per_account
        or _recent_failures(session, ip_key, since) >= throttle.per_ip
    ):
        raise LoginThrottled("throttled")
    user = get_user_by_email(session=session, email=email)
    ok = verify_password(user.password_hash if user else _DUMMY_HASH, password)
    ok = ok and user is not None and user.active
    for scope, key in (("account", account_key), ("ip", ip_key)):
        session.add(LoginAttempt(scope=scope, key=key, success=ok, at=now))
    if ok and user is not None:
        # A success clears the account's failure streak (not the IP's).
        session.execute(
            delete(LoginAttempt).where(
                LoginAttempt.key == account_key, LoginAttempt.success.is_(False)
            )
        )
        if _hasher.check_needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
    session.flush()
    if not ok or user is None:
        return None
    return user


def purge_attempts(*, session: Session, older_than: datetime) -> int:
    result = session.execute(delete(LoginAttempt).where(LoginAttempt.at < older_than))
    return int(getattr(result, "rowcount", 0) or 0)
