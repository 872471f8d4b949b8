"""Login throttling and authentication: attempts are recorded as keyed hashes of the account,
the source address and the pair (no personal data in clear); never a lock-out."""

from __future__ import annotations

import hmac
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from accounts.errors import LoginThrottled
from accounts.models import LoginAttempt, User, normalise_email
from accounts.passwords import DUMMY_HASH, hash_password, needs_rehash, verify_password
from accounts.users import get_user_by_email


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


def _throttle_key(secret_key: str, scope: str, value: str) -> str:
    return hmac.new(secret_key.encode(), f"{scope}\x1f{value}".encode(), "sha256").hexdigest()


def _failures(session: Session, key: str, since: datetime) -> tuple[int, datetime | None]:
    count, last = session.execute(
        select(func.count(), func.max(LoginAttempt.at)).where(
            LoginAttempt.key == key, LoginAttempt.success.is_(False), LoginAttempt.at >= since
        )
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
    ok = verify_password(user.password_hash if user else DUMMY_HASH, password)
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
        if needs_rehash(user.password_hash):
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
