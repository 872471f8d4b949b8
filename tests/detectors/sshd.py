"""Convert real sshd syslog lines (`/work/shared/datasets`) into Tocsin auth events.

`Failed password for [invalid user] U from IP` → `login_failure` (`bad_password`, or
`unknown_account` for an invalid user); `Accepted password|publickey for U from IP` →
`login_success`. Tenant "lab", actor = the user name (kind `customer_user`), year fixed at
2025, times taken as UTC, country looked up offline from the IP like the ingest stage does.
`Invalid user U from IP` lines are not converted: in these logs each is followed by the
`Failed password for invalid user U` line of the same attempt, which would count it twice.
Lines with an empty user name would be rejected by the event contract: skipped.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

from consumers.events import AuthEvent

DATASETS = Path("/work/shared/datasets")
YEAR = 2025
_LINE = re.compile(
    r"^(?P<month>\w{3}) +(?P<day>\d+) (?P<time>\d\d:\d\d:\d\d) \S+ sshd\[\d+\]: "
    r"(?:(?P<failed>Failed password for (?P<invalid>invalid user )?)"
    r"|(?P<accepted>Accepted (?:password|publickey) for ))"
    r"(?P<user>\S+) from (?P<ip>[0-9a-fA-F:.]+) port"
)
_NAMESPACE = uuid.UUID("6f1c2b1e-52a4-4a53-9f0e-1d6c1f0b7a11")


def convert(path: Path) -> list[AuthEvent]:
    events = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        m = _LINE.match(line)
        if m is None:
            continue
        when = datetime.strptime(
            f"{YEAR} {m['month']} {m['day']} {m['time']}", "%Y %b %d %H:%M:%S"
        ).replace(tzinfo=UTC)
        failed = m["failed"] is not None
        event = AuthEvent.model_validate(
            {
                "event_id": uuid.uuid5(_NAMESPACE, f"{path.name}:{number}"),
                "occurred_at": when,
                "service": "tel4b",
                "tenant_id": "lab",
                "actor": {"id": m["user"], "kind": "customer_user"},
                "source_ip": m["ip"],
                "interface": "sftp",
                "tls": True,
                "action": "login_failure" if failed else "login_success",
                "failure_reason": (
                    ("unknown_account" if m["invalid"] else "bad_password") if failed else None
                ),
            }
        )
        located = event.with_country()
        if not isinstance(located, AuthEvent):
            raise TypeError("with_country changed the event type")
        events.append(located)
    return events
