"""Typed errors of the notices domain. All derive from `TocsinError`."""

from __future__ import annotations

from consumers.errors import Conflict, Denied, Invalid, NotFound, TocsinError, Unavailable


class NoticeError(TocsinError):
    """Root of the notices domain errors."""


class NoticeNotFound(NoticeError, NotFound):
    pass


class TemplateError(NoticeError, Invalid):
    """A template is missing or failed to render (a missing field fails loudly)."""


class ApprovalDenied(NoticeError, Denied):
    """The user may not approve or reject notices (only the `rssi` role may)."""


class InvalidNoticeTransition(NoticeError, Conflict):
    """The notice is not in a state that allows this action."""


class NoticeIncomplete(NoticeError, Invalid):
    """A fact of the notice is still « [à compléter] »: the message lists the fields."""


class ReasonsForDelayRequired(NoticeError, Invalid):
    """A CNIL notice approved after `cnil_due` must carry the reasons for the delay."""


class MissingRecipient(NoticeError, Invalid):
    """No valid recipient address is known for this notice."""


class InvalidAddress(NoticeError, Invalid):
    """An e-mail address failed validation (it is never placed in a header)."""


class InsecureTransport(NoticeError, Unavailable):
    """Plain-text SMTP was requested (or STARTTLS is unavailable) without the dev flag."""


class CustomerImportError(NoticeError, Invalid):
    """A customers CSV file is invalid; the message names the line and the column."""


class InvalidCustomer(NoticeError, Invalid):
    """A customer edit failed validation: `field` names the field (never its value)."""

    def __init__(self, field: str, why: str) -> None:
        super().__init__(f"{field}: {why}")
        self.field = field
        self.why = why
