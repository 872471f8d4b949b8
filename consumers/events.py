"""Event contract v1 (docs/events.md): `saas.auth.v1` and `saas.access.v1`.

Messages are parsed straight from bytes with `model_validate_json`. Every rejection is one of
three typed errors whose `reason` is the DLQ reason code: `invalid_json`, `schema`,
`too_large`. Nothing else escapes `parse_event`. The event-time horizon (`future`,
`too_old`) depends on the wall clock and is checked by the consumer loop.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC
from enum import StrEnum
from functools import lru_cache
from ipaddress import IPv4Address, IPv6Address, ip_address
from operator import methodcaller
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from consumers import geo
from consumers.errors import InvalidJson, SchemaViolation, TooLarge

MAX_MESSAGE_BYTES = 64 * 1024
# JSON's escape of the NUL character (a raw NUL is not valid JSON), and what replaces it
NUL_ESCAPE = b"\\u0000"
REPLACEMENT = "\ufffd"
# `records` and `subjects` of one event: the largest value a 32-bit signed integer holds.
# Sums over many events are stored in 64-bit columns, saturated at their maximum.
MAX_COUNT = 2**31 - 1


class Service(StrEnum):
    FAXBIS = "faxbis"
    SMSBIS = "smsbis"
    DEMAT_MANAGER = "demat_manager"
    CAMPAIGN_MANAGER = "campaign_manager"
    TEL4B = "tel4b"
    CLOUDCONTACT = "cloudcontact"


class ActorKind(StrEnum):
    CUSTOMER_USER = "customer_user"
    CUSTOMER_ADMIN = "customer_admin"
    STAFF_SUPPORT = "staff_support"
    STAFF_MAINTENANCE = "staff_maintenance"
    STAFF_ADMIN = "staff_admin"
    API_KEY = "api_key"
    SYSTEM = "system"

    @property
    def is_staff(self) -> bool:
        return self.value.startswith("staff_")


class Interface(StrEnum):
    WEB = "web"
    API = "api"
    SFTP = "sftp"
    SMTP = "smtp"
    SUPPORT_CONSOLE = "support_console"


class AuthAction(StrEnum):
    LOGIN_SUCCESS = "login_success"
    LOGIN_FAILURE = "login_failure"
    LOGOUT = "logout"
    MFA_SUCCESS = "mfa_success"
    MFA_FAILURE = "mfa_failure"
    PASSWORD_RESET_REQUESTED = "password_reset_requested"  # noqa: S105 - an event name
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 - an event name
    ACCOUNT_LOCKED = "account_locked"
    ROLE_CHANGED = "role_changed"
    API_KEY_CREATED = "api_key_created"


class FailureReason(StrEnum):
    BAD_PASSWORD = "bad_password"  # noqa: S105 - an event name
    UNKNOWN_ACCOUNT = "unknown_account"
    LOCKED = "locked"
    EXPIRED = "expired"
    MFA = "mfa"


class Operation(StrEnum):
    READ = "read"
    SEARCH = "search"
    EXPORT = "export"
    DOWNLOAD = "download"
    UPDATE = "update"
    DELETE = "delete"
    FORWARD = "forward"


class ResourceType(StrEnum):
    CONTACT = "contact"
    FAX = "fax"
    SMS = "sms"
    EMAIL = "email"
    VOICEMAIL = "voicemail"
    CALL_RECORD = "call_record"
    PHONE_NUMBER = "phone_number"
    DOCUMENT = "document"
    CAMPAIGN = "campaign"
    USER_ACCOUNT = "user_account"


class DataCategory(StrEnum):
    IDENTIFICATION = "identification"
    SECURITY = "security"
    ELECTRONIC_IDENTIFICATION = "electronic_identification"
    CONTENT = "content"


class Outcome(StrEnum):
    ALLOWED = "allowed"
    DENIED = "denied"


# Every field is validated by pydantic-core (Rust) from the raw bytes; the few Python steps
# left are C callables or cached: the contract is checked for every event, so its cost is
# the floor of the ingest cost.
AwareUtc = Annotated[AwareDatetime, AfterValidator(methodcaller("astimezone", UTC))]
TenantId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
Country = Annotated[str, Field(pattern=r"^[A-Za-z]{2}$"), AfterValidator(str.upper)]


class IpField:
    """Marks a field holding an IP address in canonical text form (see `canonical_ip`)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "IpField()"


IP_FIELD = IpField()


@lru_cache(maxsize=131_072)
def canonical_ip(text: str) -> str:
    """The canonical text of an IPv4 or IPv6 address (`2a01:CB00:0::1` → `2a01:cb00::1`), so
    that one address is one string everywhere (group keys, repartition keys, findings).
    Cached: the same addresses come back all day."""
    try:
        return str(ip_address(text))
    except ValueError:
        raise ValueError("not an IPv4 or IPv6 address") from None


@lru_cache(maxsize=131_072)
def ip_object(text: str) -> IPv4Address | IPv6Address:
    """The address object of a canonical IP text (CIDR tests, geolocation)."""
    return ip_address(text)


IpAddress = Annotated[str, Field(max_length=64), AfterValidator(canonical_ip), IP_FIELD]


class Actor(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    id: Annotated[str, Field(min_length=1, max_length=256)]
    kind: ActorKind


class _EventBase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", str_strip_whitespace=False)

    event_id: uuid.UUID
    occurred_at: AwareUtc
    service: Service
    tenant_id: TenantId
    actor: Actor
    source_ip: IpAddress
    country: Country | None = None
    user_agent: Annotated[str, Field(max_length=512)] | None = None
    interface: Interface
    tls: bool

    def with_country(self) -> _EventBase:
        """The event with `country` filled from the offline IP database when absent."""
        if self.country is not None:
            return self
        found = geo.country_of(ip_object(self.source_ip))
        return self if found is None else self.model_copy(update={"country": found})


class AuthEvent(_EventBase):
    type: Literal["auth"] = Field(default="auth", exclude=True)
    action: AuthAction
    failure_reason: FailureReason | None = None
    new_role: Annotated[str, Field(max_length=64)] | None = None


class Resource(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    type: ResourceType
    tenant_id: TenantId
    id: Annotated[str, Field(max_length=256)] | None = None


class AccessEvent(_EventBase):
    type: Literal["access"] = Field(default="access", exclude=True)
    operation: Operation
    resource: Resource
    data_categories: Annotated[frozenset[DataCategory], Field(min_length=1)]
    records: Annotated[int, Field(ge=0, le=MAX_COUNT)]
    subjects: Annotated[int, Field(ge=0, le=MAX_COUNT)] | None = None
    ticket_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    outcome: Outcome


Event = AuthEvent | AccessEvent

EVENT_MODELS: dict[str, type[AuthEvent] | type[AccessEvent]] = {
    "auth": AuthEvent,
    "access": AccessEvent,
}


def parse_event(raw: bytes, model: type[AuthEvent] | type[AccessEvent]) -> Event:
    """Parse one message value. Raises only `InvalidJson`, `SchemaViolation` or `TooLarge`."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise TooLarge(f"message is {len(raw)} bytes, the limit is {MAX_MESSAGE_BYTES}")
    if NUL_ESCAPE in raw:
        raw = _without_nul(raw)
    try:
        event = model.__pydantic_validator__.validate_json(raw)
    except ValidationError as exc:
        if any(err["type"] == "json_invalid" for err in exc.errors()):
            raise InvalidJson(_json_detail(raw)) from None
        raise SchemaViolation(_schema_detail(exc)) from None
    except OverflowError:
        # a time at the edge of the calendar whose offset takes it past year 9999 or before
        # year 1 (`9999-12-31T23:59:59-14:00`) once converted to UTC
        raise SchemaViolation("occurred_at: datetime_out_of_range") from None
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidJson(type(exc).__name__) from None
    if event.country is None:
        return event.with_country()  # type: ignore[no-any-return]
    return event  # type: ignore[no-any-return]


def _without_nul(raw: bytes) -> bytes:
    """The message with every NUL character of its strings replaced by U+FFFD: PostgreSQL
    cannot store NUL in text, and an account name typed with one must not make its events
    fail downstream (nor hide them from the rules). Unparseable input is left as it is."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return raw

    def clean(value: Any) -> Any:
        if isinstance(value, str):
            return value.replace("\0", REPLACEMENT)
        if isinstance(value, list):
            return [clean(v) for v in value]
        if isinstance(value, dict):
            return {clean(k): clean(v) for k, v in value.items()}
        return value

    try:
        return json.dumps(clean(data)).encode()
    except RecursionError:
        return raw


def _json_detail(raw: bytes) -> str:
    try:
        json.loads(raw)
    except (ValueError, RecursionError) as exc:
        return f"not valid JSON: {type(exc).__name__}"
    return "not a JSON object"


def _schema_detail(exc: ValidationError) -> str:
    """Field paths and error codes only: the offending values may be personal data."""
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"]) or "<root>"
        parts.append(f"{loc}: {err['type']}")
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")
