"""Typed errors of the notices domain. All derive from `TocsinError`."""

from __future__ import annotations

from consumers.errors import TocsinError


class NoticeError(TocsinError):
    """Root of the notices domain errors."""


class NoticeNotFound(NoticeError):
    pass


class TemplateError(NoticeError):
    """A template is missing or failed to render (a missing field fails loudly)."""


class ApprovalDenied(NoticeError):
    """The user may not approve or reject notices (only the `rssi` role may)."""


class InvalidNoticeTransition(NoticeError):
    """The notice is not in a state that allows this action."""


class ReasonsForDelayRequired(NoticeError):
    """A CNIL notice approved after `cnil_due` must carry the reasons for the delay."""


class MissingRecipient(NoticeError):
    """No valid recipient address is known for this notice."""


class InvalidAddress(NoticeError):
    """An e-mail address failed validation (it is never placed in a header)."""


class InsecureTransport(NoticeError):
    """Plain-text SMTP was requested (or STARTTLS is unavailable) without the dev flag."""


class CustomerImportError(NoticeError):
    """A customers CSV file is invalid; the message names the line and the column."""


class InvalidCustomer(NoticeError):
    """A customer edit failed validation: `field` names the field (never its value)."""

    http_status = 422

    def __init__(self, field: str, why: str) -> None:
        super().__init__(f"{field}: {why}")
        self.field = field
        self.why = why
