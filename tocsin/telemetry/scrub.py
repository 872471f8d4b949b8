"""Personal data scrubbing (docs/architecture.md §12): e-mails, IP addresses, phone numbers,
tokens, passwords and other secrets out of log records and Sentry events.

- `scrub_text`, `scrub_value`, `is_sensitive_key`: the scrubber itself, used by the logging
  filter (`tocsin.telemetry.logs`) as a safety net;
- `init_sentry(settings, component)` only when `TOCSIN_SENTRY_DSN` is set, with
  `send_default_pii=False` and `before_send` / `before_breadcrumb` scrubbing.
"""

from __future__ import annotations

import ipaddress
import re
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from tocsin.settings import Settings

REDACTED: Final = "[redacted]"

SENSITIVE_KEY = re.compile(
    r"pass(?:wd|word)?|pwd|secret|token|authori[sz]ation|cookie|dsn|api[_-]?key|apikey"
    r"|private[_-]?key|credential|csrf|session[_-]?id|signature",
    re.IGNORECASE,
)
_URL_CREDENTIALS = re.compile(r"(?P<scheme>\b[a-z][a-z0-9+.-]*://)[^\s/@:]+:[^\s/@]*@", re.I)
_BEARER = re.compile(r"\b(?P<kind>bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE)
_KEY_VALUE_SECRET = re.compile(
    r"(?P<key>\b[\w-]*(?:pass(?:wd|word)?|pwd|secret|token|authori[sz]ation|cookie|dsn"
    r"|api[_-]?key|apikey|private[_-]?key|credential)[\w-]*)"
    r"(?P<sep>['\"]?\s*[:=]\s*)"
    r"(?P<value>\"[^\"]*\"|'[^']*'|[^\s,;&})\]]+)",
    re.IGNORECASE,
)
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# French numbers: 06 12 34 56 78, 06.12.34.56.78, 0612345678, +33 6 12 34 56 78,
# +33 (0)6 12 34 56 78, 0033 6 12 34 56 78; then any other E.164-looking number.
_PHONE_FR = re.compile(
    r"(?<![\w+])(?:(?:\+|00)\s?33[\s.-]?(?:\(0\)[\s.-]?)?|0)[1-9](?:[\s.-]?\d{2}){4}(?!\w)"
)
_PHONE_INTL = re.compile(r"(?<![\w+])(?:\+|00)[1-9]\d{0,2}(?:[\s.-]?\d){6,13}(?!\w)")
_IPV4 = re.compile(
    r"(?<![\w.])(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}"
    r"(?:/\d{1,2})?(?![\w.])"
)
_IPV6_CANDIDATE = re.compile(r"(?<![\w:.])[0-9A-Fa-f:]*:[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*(?![\w:])")


_TRAILING_PORT = re.compile(r":(?P<port>\d{1,5})$")


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _ipv6_or_keep(match: re.Match[str]) -> str:
    text = match.group(0)
    candidate = text.rstrip(".")
    if _is_ipv6(candidate):
        return "[ip]" + text[len(candidate) :]
    # `host:port` as uvicorn's access log writes a client (`2001:db8::7:51234`, `::1:51234`).
    port = _TRAILING_PORT.search(candidate)
    if port is not None and _is_ipv6(candidate[: port.start()]):
        return "[ip]" + text[port.start() :]
    return text


def scrub_text(text: str) -> str:
    """`text` with emails, IPs, phone numbers, bearer tokens and `key=secret` pairs replaced."""
    if not text:
        return text
    text = _URL_CREDENTIALS.sub(r"\g<scheme>[redacted]@", text)
    text = _BEARER.sub(r"\g<kind> [redacted]", text)
    text = _JWT.sub(REDACTED, text)
    text = _KEY_VALUE_SECRET.sub(r"\g<key>\g<sep>[redacted]", text)
    text = _EMAIL.sub("[email]", text)
    text = _PHONE_FR.sub("[phone]", text)
    text = _PHONE_INTL.sub("[phone]", text)
    text = _IPV6_CANDIDATE.sub(_ipv6_or_keep, text)
    return _IPV4.sub("[ip]", text)


def is_sensitive_key(key: object) -> bool:
    return isinstance(key, str) and SENSITIVE_KEY.search(key) is not None


def scrub_value(value: Any, *, depth: int = 0) -> Any:
    """Recursively scrub strings in dicts/lists/tuples; values under sensitive keys are
    replaced whole. Other scalars pass through."""
    if depth > 40:
        return REDACTED
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, Mapping):
        return {
            k: (
                REDACTED
                if is_sensitive_key(k) and v not in (None, "")
                else scrub_value(v, depth=depth + 1)
            )
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [scrub_value(v, depth=depth + 1) for v in value]
    return value


# --------------------------------------------------------------------------------------------
# Sentry
# --------------------------------------------------------------------------------------------


def scrub_sentry_event(event: dict[str, Any], hint: Any = None) -> dict[str, Any]:
    """Sentry `before_send`: the whole event scrubbed (message, exception values, frame locals,
    extra, contexts, tags, request, breadcrumbs); `user` keeps its pseudonymous id only."""
    user = event.get("user")
    cleaned: dict[str, Any] = scrub_value(event)
    if isinstance(user, Mapping):
        cleaned["user"] = {"id": scrub_text(str(user["id"]))} if user.get("id") else {}
    request = cleaned.get("request")
    if isinstance(request, dict):
        request.pop("cookies", None)
        request.pop("env", None)
    return cleaned


def scrub_breadcrumb(crumb: dict[str, Any], hint: Any = None) -> dict[str, Any]:
    """Sentry `before_breadcrumb`."""
    cleaned: dict[str, Any] = scrub_value(crumb)
    return cleaned


def init_sentry(settings: Settings, component: str, *, transport: Any = None) -> bool:
    """Initialise Sentry for `component` (`ingest`, `console`, `notify`…) when
    `TOCSIN_SENTRY_DSN` is set. Returns whether Sentry is active. `transport` is for tests."""
    if settings.sentry_dsn is None or not settings.sentry_dsn.get_secret_value().strip():
        return False
    import sentry_sdk
    from sentry_sdk.scrubber import DEFAULT_DENYLIST, DEFAULT_PII_DENYLIST, EventScrubber

    denylist = sorted(
        {
            *DEFAULT_DENYLIST,
            *DEFAULT_PII_DENYLIST,
            "password",
            "passwd",
            "secret",
            "token",
            "authorization",
            "cookie",
            "dsn",
            "api_key",
            "apikey",
            "csrf",
            "set-cookie",
            "x-api-key",
            "smtp_url",
            "secret_key",
            "database_url",
        }
    )
    options: dict[str, Any] = {
        "dsn": settings.sentry_dsn.get_secret_value(),
        "environment": settings.sentry_environment,
        "send_default_pii": False,
        "include_local_variables": True,
        "max_request_body_size": "never",
        "before_send": scrub_sentry_event,
        "before_send_transaction": scrub_sentry_event,
        "before_breadcrumb": scrub_breadcrumb,
        "event_scrubber": EventScrubber(denylist=denylist, recursive=True),
        "server_name": component,
        "traces_sample_rate": 0.0,
    }
    if transport is not None:
        options["transport"] = transport
    with warnings.catch_warnings():
        # sentry-sdk >= 2.5x deprecates `send_default_pii` for `data_collection`, which would
        # switch the event scrubber off; docs/architecture.md §12 requires `send_default_pii=False`.
        warnings.simplefilter("ignore", DeprecationWarning)
        sentry_sdk.init(**options)
    sentry_sdk.set_tag("component", component)
    return True
