"""Message building: address validation, no header injection, both parts present."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import pytest

from notifiers.exceptions import InvalidAddress
from notifiers.mail import build_message, parse_sender, validate_address

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
# A plain-text message to one recipient; each test changes what it is about.
MESSAGE: dict[str, Any] = {
    "sender": "securite@avmup.com",
    "recipients": ["a@x.example"],
    "subject": "s",
    "text": "t",
    "html": None,
    "message_id": "<m.1@tocsin.avmup.com>",
    "date": NOW,
    "language": "fr",
}


def _message(**changes: Any) -> EmailMessage:
    return build_message(**{**MESSAGE, **changes})


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "plain",
        "a@b",
        "a@b.example\r\nBcc: c@d.example",
        "a b@c.example",
        "<a@b.example>",
        "a@-b.example",
        "a@b.example,c@d.example",
        "x" * 250 + "@b.example",
    ],
)
def test_invalid_addresses_refused(bad: str) -> None:
    with pytest.raises(InvalidAddress):
        validate_address(bad)


def test_valid_address_and_sender() -> None:
    assert validate_address(" dpo+breach@acme.example ") == "dpo+breach@acme.example"
    sender = parse_sender("Tocsin AVM Up <securite@avmup.com>")
    assert (sender.display_name, sender.addr_spec) == ("Tocsin AVM Up", "securite@avmup.com")
    with pytest.raises(InvalidAddress):
        parse_sender("Evil\r\nBcc: x@y.example <securite@avmup.com>")


def test_subject_crlf_cannot_add_a_header() -> None:
    msg = _message(
        recipients=["dpo@acme.example"],
        subject="Objet\r\nBcc: victim@evil.example\nX-Evil: 1",
        text="corps",
        html="<p>corps</p>",
        message_id="<a.b@tocsin.avmup.com>",
        reference="INC-2026-0001\r\nX-Evil: 2",
    )
    raw = msg.as_bytes()
    assert b"\r\nBcc:" not in raw and b"\r\nX-Evil:" not in raw
    assert msg["Subject"] == "Objet Bcc: victim@evil.example X-Evil: 1"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]


def test_several_recipients_are_not_disclosed() -> None:
    msg = _message(recipients=["a@x.example", "b@y.example"], language="en", hide_recipients=True)
    assert msg["To"] == "undisclosed-recipients:;"
    assert b"a@x.example" not in msg.as_bytes()
    assert msg["Content-Language"] == "en"


def test_bad_message_id_refused() -> None:
    with pytest.raises(InvalidAddress):
        _message(message_id="<x>\r\nBcc: y@z.example")


def test_customer_contacts_are_all_addressed() -> None:
    msg = _message(recipients=["a@x.example", "b@x.example"], message_id="<m.2@tocsin.avmup.com>")
    assert msg["To"] == "a@x.example, b@x.example"
