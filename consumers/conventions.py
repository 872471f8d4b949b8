"""What every package shares, in one place (docs/architecture.md §2): the system actor, the
default time zone, the names of the streams, the console roles, and the guard that keeps
datetimes aware and UTC.

`consumers` is the leftmost package of the flow, so every other package may import this."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Final, Literal

# Who acts when no person does: audit entries, automatic transitions, purges, drafts.
SYSTEM_ACTOR: Final = "tocsin"

# The time zone of business hours, dates shown and notices written, unless configured
# (`TOCSIN_TIMEZONE`).
DEFAULT_TIMEZONE: Final = "Europe/Paris"


class Role(StrEnum):
    """The console's roles (re-exported by `accounts.roles`): `analyst` triages, `rssi`
    decides, approves and sends notices, `dpo` co-signs CNIL, data-subject and public notices
    and records CNIL receipts, `admin` manages console users."""

    ANALYST = "analyst"
    RSSI = "rssi"
    DPO = "dpo"
    ADMIN = "admin"


# The input streams (one topic each): what a rule reads and what a producer writes.
Stream = Literal["auth", "access"]
# The streams a detector partition runs: the inputs, and the auth events re-keyed by source IP.
StreamName = Literal["auth", "access", "by_ip"]


def is_aware(value: datetime) -> bool:
    """True when `value` carries a time zone that gives it an offset."""
    return value.tzinfo is not None and value.utcoffset() is not None


def aware_utc(
    value: datetime, name: str, *, error: Callable[[str], Exception] = ValueError
) -> datetime:
    """`value` in UTC. A naive datetime is refused with `error("<name>: naive datetime
    refused")`: the caller chooses the error class, so the refusal keeps its HTTP category."""
    if not is_aware(value):
        raise error(f"{name}: naive datetime refused")
    return value.astimezone(UTC)
