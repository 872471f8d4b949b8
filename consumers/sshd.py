"""Convert OpenSSH syslog lines (`/var/log/auth.log`, `secure`) into contract auth events.

What is read, per sshd process (one connection, `sshd[PID]` on one host):

- `Failed password for [invalid user] U from IP port N` → one `login_failure`
  (`bad_password`, or `unknown_account` for an invalid user); syslog's
  `message repeated N times: [ Failed password … ]` → N more of them;
- `Accepted password|publickey|keyboard-interactive/pam for U from IP port N` →
  `login_success`;
- `Invalid user U from IP` → the attempt on an unknown account: one `unknown_account`
  failure when the connection logged no `Failed password` line of its own;
- pam_unix `authentication failure; … rhost=H [user=U]` counts one failure and
  `PAM N more authentication failures; …` N more: when PAM counted more failures than sshd
  logged `Failed password` lines, the difference is added at the time of the last PAM line
  (user from `user=` or the connection's other lines; source from `rhost=` when it is an
  address, else the address the connection's other lines name).

Nothing is guessed: an attempt without a user name or a source address, or that the event
contract rejects, is not converted but counted under its reason in `Conversion.unusable`.
Every other line (cron, disconnections, …) is counted in `Conversion.other`. A process id
seen again more than `AUTH_PHASE` after its first line is taken as another connection.

Classic syslog lines carry no year: the first line is in `year`, and each time the month
goes back (December → January) the year moves on; their times are taken as UTC. Lines with an
RFC 3339 time (rsyslog's high-precision format, `2025-03-27T13:06:56.123+01:00 host …`) keep
their own date and offset. OpenSSH ≥ 9.8 logs as `sshd-session[PID]`: read too.

`country` is left out: the ingest stage looks it up from the source address with its own
database. Event ids are derived from the tenant, the file name and the line, so converting a
file again gives the same events (the pipeline drops the copies).
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address

from pydantic import ValidationError

from consumers.events import AuthEvent, Service

# sshd ends the authentication of a connection within its LoginGraceTime (2 minutes by
# default): a line for the same process id much later than its first is another connection
AUTH_PHASE = timedelta(minutes=10)
_NAMESPACE = uuid.UUID("6f1c2b1e-52a4-4a53-9f0e-1d6c1f0b7a11")
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}

_PREFIX = re.compile(
    r"^(?:(?P<month>[A-Z][a-z]{2}) +(?P<day>\d{1,2}) (?P<time>\d\d:\d\d:\d\d)"
    r"|(?P<iso>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)))"
    r" (?P<host>\S+) sshd(?:-session)?\[(?P<pid>\d+)\]: (?P<msg>.*)$"
)
_IP = r"(?P<ip>[0-9a-fA-F:.]+)"
_FAILED = re.compile(
    r"^Failed password for (?P<invalid>invalid user )?(?P<user>.*?) from " + _IP + r" port \d+"
)
_REPEATED = re.compile(r"^message repeated (?P<n>\d+) times: \[ ?(?P<inner>.*?)\]?$")
_ACCEPTED = re.compile(
    r"^Accepted (?:password|publickey|keyboard-interactive/pam) for (?P<user>.*?) from "
    + _IP
    + r" port \d+"
)
_INVALID = re.compile(r"^Invalid user (?P<user>.*?) from " + _IP + r"(?: port \d+)?\s*$")
_PAM_FAILURE = re.compile(
    r"^pam_unix\(sshd:auth\): authentication failure;.*?\brhost=(?P<rhost>\S*)"
    r"(?:\s+user=(?P<user>\S+))?"
)
_PAM_MORE = re.compile(
    r"^PAM (?P<n>\d+) more authentication failures?;.*?\brhost=(?P<rhost>\S*)"
    r"(?:\s+user=(?P<user>\S+))?"
)
# other sshd lines that name the connection's address
_ADDRESS = (
    re.compile(r"^Connection from " + _IP + r" port \d+"),
    re.compile(r"^reverse mapping checking getaddrinfo for \S+ \[" + _IP + r"\]"),
)


@dataclass
class Conversion:
    """The events, in the order of the lines they come from, and what was not used."""

    events: list[AuthEvent] = field(default_factory=list)
    lines: int = 0
    other: int = 0
    unusable: Counter[str] = field(default_factory=Counter)

    def summary(self) -> dict[str, object]:
        actions = Counter(ev.action.value for ev in self.events)
        return {
            "lines": self.lines,
            "events": len(self.events),
            "login_failure": actions.get("login_failure", 0),
            "login_success": actions.get("login_success", 0),
            "unusable": dict(sorted(self.unusable.items())),
            "other_lines": self.other,
        }


@dataclass
class _Attempt:
    number: int  # line number
    copy: int  # 0, or the n-th copy of a repeated line
    when: datetime
    success: bool
    user: str
    ip: str
    unknown_account: bool


@dataclass
class _Session:
    """What one sshd process logged."""

    started: datetime
    attempts: list[_Attempt] = field(default_factory=list)
    failed: int = 0  # `Failed password` lines, repeats included
    invalid: tuple[int, datetime, str, str] | None = None  # line, time, user, ip
    pam: int = 0
    pam_last: tuple[int, datetime] | None = None
    pam_user: str | None = None
    pam_host: str | None = None
    address: str | None = None


def _is_address(text: str) -> bool:
    try:
        ip_address(text)
    except ValueError:
        return False
    return True


class _Clock:
    """Syslog times → aware datetimes, moving to the next year when the month goes back."""

    def __init__(self, year: int) -> None:
        self.year = year
        self.month = 0

    def at(self, month: str, day: str, hms: str) -> datetime | None:
        number = _MONTHS.get(month)
        if number is None:
            return None
        if number < self.month:
            self.year += 1
        self.month = number
        try:
            return datetime.strptime(
                f"{self.year} {number} {day} {hms}", "%Y %m %d %H:%M:%S"
            ).replace(tzinfo=UTC)
        except ValueError:
            return None


def _iso(text: str) -> datetime | None:
    """An RFC 3339 syslog time (rsyslog's high-precision format), in UTC."""
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


def convert_lines(
    lines: Iterable[str],
    *,
    tenant: str,
    year: int,
    source: str,
    service: Service = Service.TEL4B,
) -> Conversion:
    """Convert the lines of one log file. `source` (the file name) goes into the event ids."""
    out = Conversion()
    clock = _Clock(year)
    sessions: dict[tuple[str, str], _Session] = {}
    done: list[_Session] = []
    for number, line in enumerate(lines, 1):
        out.lines += 1
        m = _PREFIX.match(line.rstrip("\n"))
        if m is None:
            out.other += 1
            continue
        when = _iso(m["iso"]) if m["iso"] else clock.at(m["month"], m["day"], m["time"])
        if when is None:
            out.unusable["unreadable time"] += 1
            continue
        key = (m["host"], m["pid"])
        session = sessions.get(key)
        if session is None or when - session.started > AUTH_PHASE:
            if session is not None:  # the process id was used again
                done.append(session)
            session = sessions[key] = _Session(started=when)
        if not _read(m["msg"], number, when, session):
            out.other += 1
    attempts: list[_Attempt] = []
    for session in [*done, *sessions.values()]:
        attempts += session.attempts
        attempts += _unlogged_failures(session, out)
    attempts.sort(key=lambda a: (a.number, a.copy))
    for attempt in attempts:
        event = _event(attempt, tenant=tenant, source=source, service=service, out=out)
        if event is not None:
            out.events.append(event)
    return out


def _read(msg: str, number: int, when: datetime, session: _Session) -> bool:
    """Take what one sshd message says about its connection; False for other messages."""
    copies = 1
    repeated = _REPEATED.match(msg)
    if repeated is not None:
        copies, msg = int(repeated["n"]), repeated["inner"]
    if (m := _FAILED.match(msg)) is not None:
        for copy in range(copies):
            session.attempts.append(
                _Attempt(
                    number,
                    copy + (repeated is not None),
                    when,
                    False,
                    m["user"],
                    m["ip"],
                    bool(m["invalid"]),
                )
            )
        session.failed += copies
        session.address = m["ip"]
        return True
    if repeated is not None:
        return False
    if (m := _ACCEPTED.match(msg)) is not None:
        session.attempts.append(_Attempt(number, 0, when, True, m["user"], m["ip"], False))
        session.address = m["ip"]
        return True
    if (m := _INVALID.match(msg)) is not None:
        session.invalid = (number, when, m["user"], m["ip"])
        session.address = m["ip"]
        return True
    pam = _PAM_FAILURE.match(msg)
    more = _PAM_MORE.match(msg) if pam is None else None
    if pam is not None or more is not None:
        found = pam if pam is not None else more
        assert found is not None  # noqa: S101 - one of the two matched
        session.pam += 1 if more is None else int(found["n"])
        session.pam_last = (number, when)
        session.pam_user = found["user"] or session.pam_user
        session.pam_host = found["rhost"] or session.pam_host
        return True
    for pattern in _ADDRESS:
        if (m := pattern.match(msg)) is not None:
            session.address = session.address or m["ip"]
            return False  # names the address, converts to nothing
    return False


def _unlogged_failures(session: _Session, out: Conversion) -> Iterator[_Attempt]:
    """The failures of a connection that sshd did not log as `Failed password` lines."""
    extra = session.pam - session.failed
    if extra <= 0 and session.invalid is not None and session.failed == 0:
        line, at, name, address = session.invalid
        yield _Attempt(line, 0, at, False, name, address, True)
        return
    if extra <= 0 or session.pam_last is None:
        return
    number, when = session.pam_last
    invalid_user = session.invalid[2] if session.invalid is not None else None
    named = [a.user for a in session.attempts if not a.success]
    user = session.pam_user or invalid_user or (named[-1] if named else None)
    host = session.pam_host
    ip = host if host is not None and _is_address(host) else session.address
    if not user:
        out.unusable["PAM failure without a user name"] += extra
        return
    if ip is None:
        out.unusable["PAM failure without a source address"] += extra
        return
    unknown = session.pam_user is None and invalid_user is not None
    for copy in range(extra):
        yield _Attempt(number, copy + 1, when, False, user, ip, unknown)


def _event(
    attempt: _Attempt, *, tenant: str, source: str, service: Service, out: Conversion
) -> AuthEvent | None:
    if not attempt.user:
        out.unusable["empty user name"] += 1
        return None
    suffix = f"#{attempt.copy}" if attempt.copy else ""
    reason = None
    if not attempt.success:
        reason = "unknown_account" if attempt.unknown_account else "bad_password"
    try:
        return AuthEvent.model_validate(
            {
                "event_id": uuid.uuid5(_NAMESPACE, f"{tenant}|{source}:{attempt.number}{suffix}"),
                "occurred_at": attempt.when,
                "service": service,
                "tenant_id": tenant,
                "actor": {"id": attempt.user, "kind": "customer_user"},
                "source_ip": attempt.ip,
                "interface": "sftp",
                "tls": True,
                "action": "login_success" if attempt.success else "login_failure",
                "failure_reason": reason,
            }
        )
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in err["loc"]) for err in exc.errors()})
        out.unusable[f"rejected by the event contract ({', '.join(fields)})"] += 1
        return None
