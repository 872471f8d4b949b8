"""Web security for the console: the signed session cookie, CSRF tokens and client addresses
behind trusted proxies. Pure functions.

Users, roles, passwords, server-side sessions, API tokens and login throttling live in
`accounts`; the names the console uses from there are re-exported here, so that the console's
modules reach every security primitive through this one module."""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Sequence
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer

from accounts.errors import (
    InvalidUserInput,
    LastAdmin,
    LoginThrottled,
    UnknownToken,
    UnknownUser,
    UserExists,
)
from accounts.models import normalise_email
from accounts.passwords import hash_password, verify_password
from accounts.sessions import (
    DEFAULT_SESSIONS,
    SESSION_MAX_AGE,
    SessionPolicy,
    end_session,
    purge_sessions,
    revoke_sessions,
    session_user,
    start_session,
)
from accounts.throttle import DEFAULT_THROTTLE, Throttle, authenticate, purge_attempts
from accounts.tokens import (
    TOKEN_DAYS,
    TOKEN_PREFIX,
    TokenState,
    create_token,
    hash_token,
    list_tokens,
    revoke_token,
    revoke_tokens,
    token_expires_at,
    token_state,
    token_summary,
    user_for_token,
)
from accounts.users import (
    EMAIL_RE,
    change_password,
    create_user,
    get_user,
    get_user_by_email,
    list_users,
    set_lang,
    set_password,
    update_user,
)
from consumers.errors import ConfigError

__all__ = [
    "DEFAULT_SESSIONS",
    "DEFAULT_THROTTLE",
    "EMAIL_RE",
    "INSECURE_SESSION_COOKIE",
    "SESSION_COOKIE",
    "SESSION_MAX_AGE",
    "TOKEN_DAYS",
    "TOKEN_PREFIX",
    "InvalidUserInput",
    "LastAdmin",
    "LoginThrottled",
    "Network",
    "SessionCodec",
    "SessionPolicy",
    "Throttle",
    "TokenState",
    "UnknownToken",
    "UnknownUser",
    "UserExists",
    "authenticate",
    "change_password",
    "client_address",
    "create_token",
    "create_user",
    "csrf_matches",
    "end_session",
    "get_user",
    "get_user_by_email",
    "hash_password",
    "hash_token",
    "is_trusted",
    "list_tokens",
    "list_users",
    "new_csrf_token",
    "normalise_email",
    "parse_proxies",
    "purge_attempts",
    "purge_sessions",
    "revoke_sessions",
    "revoke_token",
    "revoke_tokens",
    "session_cookie_name",
    "session_user",
    "set_lang",
    "set_password",
    "start_session",
    "token_expires_at",
    "token_state",
    "token_summary",
    "update_user",
    "user_for_token",
    "verify_password",
]

# `__Host-`: the browser only accepts the cookie over HTTPS, for this host, on path `/`.
SESSION_COOKIE = "__Host-tocsin_session"
INSECURE_SESSION_COOKIE = "tocsin_session"  # plain-HTTP demo (`--insecure-cookies`)


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_matches(expected: str | None, given: str | None) -> bool:
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


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


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_proxies(values: Sequence[str]) -> tuple[Network, ...]:
    """`--trusted-proxy` values (addresses or CIDR networks)."""
    networks: list[Network] = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ConfigError(
                f"--trusted-proxy: {value!r} is not an IP address or network"
            ) from None
    return tuple(networks)


def is_trusted(address: str, proxies: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in proxies)


def client_address(peer: str | None, forwarded_for: str | None, proxies: Sequence[Network]) -> str:
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
