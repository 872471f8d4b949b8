"""Building e-mails safely: validated addresses, one-line subjects, `EmailMessage` headers.

No header is ever assembled by string concatenation: `email.message.EmailMessage` with the
SMTP policy refuses CR/LF in header values, and every value is cleaned and validated first,
so a CRLF in any field cannot inject a header.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from email import policy as email_policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from notifiers.exceptions import InvalidAddress
from notifiers.schemas import one_line

_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
ADDR_SPEC = re.compile(rf"^{_LOCAL}@{_LABEL}(?:\.{_LABEL})+$")
_MESSAGE_ID = re.compile(r"^<[A-Za-z0-9._+-]{1,200}@[A-Za-z0-9.-]{1,200}>$")


def validate_address(value: str) -> str:
    """An addr-spec (`local@domain.tld`), ASCII, at most 254 characters; else InvalidAddress.
    The value itself is not echoed in the error (it may be personal data)."""
    addr = value.strip()
    if len(addr) > 254 or not ADDR_SPEC.match(addr):
        raise InvalidAddress("invalid e-mail address")
    return addr


def parse_sender(value: str) -> Address:
    """`Display Name <addr@domain>` or `addr@domain` → a validated `Address`."""
    if "\r" in value or "\n" in value:
        raise InvalidAddress("sender address contains a line break")
    name, addr = parseaddr(value)
    addr = validate_address(addr)
    local, domain = addr.rsplit("@", 1)
    return Address(display_name=one_line(name), username=local, domain=domain)


def build_message(
    *,
    sender: str,
    recipients: Sequence[str],
    subject: str,
    text: str,
    html: str | None,
    message_id: str,
    date: datetime,
    language: str,
    reference: str | None = None,
    hide_recipients: bool = False,
) -> EmailMessage:
    if not _MESSAGE_ID.match(message_id):
        raise InvalidAddress("invalid Message-ID")
    to = [validate_address(r) for r in recipients]
    if not to:
        raise InvalidAddress("no recipient")
    msg = EmailMessage(policy=email_policy.SMTP)
    msg["From"] = parse_sender(sender)
    msg["To"] = "undisclosed-recipients:;" if hide_recipients else ", ".join(to)
    msg["Subject"] = one_line(subject)[:250]
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id
    msg["Auto-Submitted"] = "auto-generated"
    if reference:
        msg["X-Tocsin-Reference"] = one_line(reference)[:64]
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    if html is not None:
        msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    # After the body: set_content() drops any Content-* header set before it.
    msg["Content-Language"] = "en" if language == "en" else "fr"
    return msg
