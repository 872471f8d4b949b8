"""Security primitives: argon2id passwords, bearer tokens, server-side sessions behind a
signed cookie, CSRF tokens, client addresses behind trusted proxies and login throttling.
Pure functions plus a few keyword-only services over a session."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from consumers.errors import ConfigError
from tocsin.console.errors import (
    InvalidUserInput,
    LastAdmin,
    LoginThrottled,
    UnknownToken,
    UnknownUser,
    UserExists,
)
from tocsin.console.models import ApiToken, ConsoleSession, LoginAttempt, Role, User
from tocsin.console.passwords import password_problem

# `__Host-`: the browser only accepts the cookie over HTTPS, for this host, on path `/`.
SESSION_COOKIE = "__Host-tocsin_session"
INSECURE_SESSION_COOKIE = "tocsin_session"  # plain-HTTP demo (`--insecure-cookies`)
SESSION_MAX_AGE = 8 * 3600
TOKEN_PREFIX = "tcs_"  # noqa: S105 - a prefix, not a secret
TOKEN_DAYS = 90
EMAIL_RE = re.compile(r"^[^@\s<>\"']{1,64}@[A-Za-z0-9.-]{1,190}\.[A-Za-z]{2,24}$")

# argon2id (the argon2-cffi default type), RFC 9106 "low memory" parameters.
_hasher = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4)
# A fixed hash to verify against when the account does not exist (constant-ish time).
_DUMMY_HASH = _hasher.hash("tocsin-dummy-password")


@dataclass(frozen=True)
class Throttle:
    """Login throttling, per (account, source) and per source; never a lock-out.

    - A source with `per_ip` failures in `window` (any accounts) is refused until they age.
    - A source that has failed `per_account` times on one account waits `base_delay`, then
      twice as long after each further failure (capped at `window`).
    - While an account has `per_account` failures from all sources together (it is being
      attacked), every source that has failed on it waits from its first failure on.
    - A source that has not failed on the account is never refused: the right person, on
      their own address, always gets in."""

    window: timedelta = timedelta(minutes=15)
    per_account: int = 5
    per_ip: int = 20
    base_delay: timedelta = timedelta(minutes=1)


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


@dataclass(frozen=True)
class SessionPolicy:
    """`lifetime` is absolute (activity does not extend it); `idle` ends a session nobody
    used for that long. `touch_every` bounds the writes that record activity."""

    lifetime: timedelta = timedelta(seconds=SESSION_MAX_AGE)
    idle: timedelta = timedelta(minutes=30)
    touch_every: timedelta = timedelta(minutes=1)


DEFAULT_SESSIONS = SessionPolicy()


def session_cookie_name(*, secure: bool) -> str:
    return SESSION_COOKIE if secure else INSECURE_SESSION_COOKIE


class SessionCodec:
    """Signs and reads the session cookie payload `{"sid", "csrf", "lang"}` (`sid` names a
    server-side session once signed in)."""

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


def list_users(*, session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.email)))


def _other_active_admins(session: Session, user_id: int) -> int:
    return int(session.scalar(
        select(func.count()).select_from(User).where(
            User.role == Role.ADMIN.value, User.active.is_(True), User.id != user_id)
    ) or 0)


def update_user(
    *, session: Session, user_id: int, role: str | None = None, active: bool | None = None,
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
    if (user.role == Role.ADMIN.value and user.active and (demoted or deactivated)
            and _other_active_admins(session, user.id) == 0):
        raise LastAdmin("last_admin")
    if role is not None:
        user.role = role
    if active is not None and active != user.active:
        user.active = active
        user.session_version += 1
        if not active:
            revoke_sessions(session=session, user_id=user.id, now=now)
            revoke_tokens(session=session, user_id=user.id, now=now)
    session.flush()
    return user


def set_password(*, session: Session, user_id: int, password: str,
                 now: datetime | None = None) -> None:
    """A new password ends every session of the user (the caller starts a fresh one)."""
    user = session.get(User, user_id)
    if user is None:
        raise UnknownUser("unknown_user")
    _validate(user.email, password, user.role)
    user.password_hash = hash_password(password)
    user.session_version += 1
    revoke_sessions(session=session, user_id=user.id, now=now)
    session.flush()


def change_password(*, session: Session, user_id: int, current: str, new: str,
                    confirm: str) -> None:
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


# --------------------------------------------------------------------------------------------
# Sessions (server side)
# --------------------------------------------------------------------------------------------


def start_session(*, session: Session, user: User, now: datetime | None = None) -> str:
    """A new session for `user`; returns the secret id the cookie carries."""
    now = now or datetime.now(UTC)
    sid = secrets.token_urlsafe(32)
    session.add(ConsoleSession(user_id=user.id, token_hash=hash_token(sid), created_at=now,
                               last_seen_at=now))
    session.flush()
    return sid


def session_user(*, session: Session, sid: str, policy: SessionPolicy = DEFAULT_SESSIONS,
                 now: datetime | None = None) -> User | None:
    """The user of a live session: not revoked, younger than its lifetime, used recently,
    and its user still active. Records the activity (at most every `touch_every`)."""
    now = now or datetime.now(UTC)
    row = session.scalar(select(ConsoleSession).where(
        ConsoleSession.token_hash == hash_token(sid)))
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
    session.execute(update(ConsoleSession).where(
        ConsoleSession.token_hash == hash_token(sid), ConsoleSession.revoked_at.is_(None),
    ).values(revoked_at=now or datetime.now(UTC)))


def revoke_sessions(*, session: Session, user_id: int, now: datetime | None = None) -> None:
    session.execute(update(ConsoleSession).where(
        ConsoleSession.user_id == user_id, ConsoleSession.revoked_at.is_(None),
    ).values(revoked_at=now or datetime.now(UTC)))


def purge_sessions(*, session: Session, older_than: datetime) -> int:
    """Deletes sessions created before `older_than` (past any lifetime)."""
    result = session.execute(delete(ConsoleSession).where(
        ConsoleSession.created_at < older_than))
    return int(getattr(result, "rowcount", 0) or 0)


def set_lang(*, session: Session, user_id: int, lang: str) -> None:
    user = session.get(User, user_id)
    if user is not None and lang in ("fr", "en"):
        user.lang = lang
        session.flush()


# --------------------------------------------------------------------------------------------
# API tokens
# --------------------------------------------------------------------------------------------

TokenState = Literal["active", "expired", "revoked"]


def create_token(*, session: Session, email: str, name: str = "cli", days: int = TOKEN_DAYS,
                 now: datetime | None = None) -> tuple[ApiToken, str]:
    """Create a bearer token for `email`, valid `days` days; returns the row and the secret
    (shown once). An inactive user gets none."""
    user = get_user_by_email(session=session, email=email)
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
    return {"id": row.id, "email": owner.email, "name": row.name,
            "state": token_state(row, now=now),
            "created_at": row.created_at.isoformat(),
            "expires_at": token_expires_at(row).isoformat(),
            "last_used_at": row.last_used_at.isoformat() if row.last_used_at else None,
            "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None}


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
    session.execute(update(ApiToken).where(
        ApiToken.user_id == user_id, ApiToken.revoked.is_(False),
    ).values(revoked=True, revoked_at=now or datetime.now(UTC)))


def user_for_token(*, session: Session, token: str, now: datetime | None = None) -> User | None:
    """The user of a live token: not revoked, not expired, its user active."""
    now = now or datetime.now(UTC)
    row = session.scalar(
        select(ApiToken).where(ApiToken.token_hash == hash_token(token),
                               ApiToken.revoked.is_(False))
    )
    if row is None or token_state(row, now=now) != "active":
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    row.last_used_at = now
    return user


# --------------------------------------------------------------------------------------------
# Client address and login throttling
# --------------------------------------------------------------------------------------------

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_proxies(values: Sequence[str]) -> tuple[Network, ...]:
    """`--trusted-proxy` values (addresses or CIDR networks)."""
    networks: list[Network] = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ConfigError(
                f"--trusted-proxy: {value!r} is not an IP address or network") from None
    return tuple(networks)


def is_trusted(address: str, proxies: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in proxies)


def client_address(peer: str | None, forwarded_for: str | None,
                   proxies: Sequence[Network]) -> str:
    """The client's address. `X-Forwarded-For` counts only when the peer is a trusted proxy,
    and then only up to the first hop that no trusted proxy added (read from the right): what
    a client writes in the header itself is never believed."""
    if not peer:
        return "unknown"
    if not forwarded_for or not is_trusted(peer, proxies):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if not is_trusted(hop, proxies):
            return hop
    return hops[0] if hops else peer


def _throttle_key(secret_key: str, scope: str, value: str) -> str:
    return hmac.new(secret_key.encode(), f"{scope}\x1f{value}".encode(), "sha256").hexdigest()


def _failures(session: Session, key: str, since: datetime) -> tuple[int, datetime | None]:
    count, last = session.execute(
        select(func.count(), func.max(LoginAttempt.at))
        .where(LoginAttempt.key == key, LoginAttempt.success.is_(False),
               LoginAttempt.at >= since)
    ).one()
    return int(count or 0), last


def _wait(throttle: Throttle, *, pair: int, account: int) -> timedelta:
    """How long a source that failed `pair` times on an account (`account` times from all
    sources) waits after its last failure."""
    if pair >= throttle.per_account:
        steps = pair - throttle.per_account
    elif pair and account >= throttle.per_account:
        steps = pair - 1
    else:
        return timedelta(0)
    return min(throttle.base_delay * (1 << min(steps, 20)), throttle.window)


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
    """Check credentials, throttled per (account, source) and per source (see `Throttle`).

    Raises `LoginThrottled` (with `retry_after` seconds) before checking the password when
    this source must wait; returns None on a wrong password, unknown or inactive account
    (the failed attempt is recorded in `session`: the caller commits either way)."""
    now = now or datetime.now(UTC)
    email = normalise_email(email)
    account_key = _throttle_key(secret_key, "account", email)
    ip_key = _throttle_key(secret_key, "ip", ip)
    pair_key = _throttle_key(secret_key, "pair", f"{email}\x1f{ip}")
    since = now - throttle.window
    ip_failures, ip_last = _failures(session, ip_key, since)
    if ip_failures >= throttle.per_ip and ip_last is not None:
        raise LoginThrottled("throttled", retry_after=_seconds(ip_last + throttle.window - now))
    pair_failures, pair_last = _failures(session, pair_key, since)
    if pair_failures and pair_last is not None:
        account_failures, _ = _failures(session, account_key, since)
        until = pair_last + _wait(throttle, pair=pair_failures, account=account_failures)
        if until > now:
            raise LoginThrottled("throttled", retry_after=_seconds(until - now))
    user = get_user_by_email(session=session, email=email)
    ok = verify_password(user.password_hash if user else _DUMMY_HASH, password)
    ok = ok and user is not None and user.active
    for scope, key in (("account", account_key), ("ip", ip_key), ("pair", pair_key)):
        session.add(LoginAttempt(scope=scope, key=key, success=ok, at=now))
    if ok and user is not None:
        # A success clears this source's failures on the account; the account's count from
        # other sources stays, so an attacker elsewhere is still slowed down.
        session.execute(
            delete(LoginAttempt).where(
                LoginAttempt.key == pair_key, LoginAttempt.success.is_(False)
            )
        )
        if _hasher.check_needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
    session.flush()
    if not ok or user is None:
        return None
    return user


def _seconds(delta: timedelta) -> int:
    return max(1, math.ceil(delta.total_seconds()))


def purge_attempts(*, session: Session, older_than: datetime) -> int:
    result = session.execute(delete(LoginAttempt).where(LoginAttempt.at < older_than))
    return int(getattr(result, "rowcount", 0) or 0)
