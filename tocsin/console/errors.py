"""Console domain errors (mapped to HTTP status codes by one handler in `app.py`)."""

from __future__ import annotations

from consumers.errors import TocsinError


class ConsoleError(TocsinError):
    """Root of the console's own errors."""


class UserExists(ConsoleError):
    pass


class UnknownUser(ConsoleError):
    pass


class InvalidUserInput(ConsoleError):
    pass


class LoginThrottled(ConsoleError):
    """Too many failed logins for this account or from this address."""


class SmtpNotConfigured(ConsoleError):
    """Sending needs `TOCSIN_SMTP_URL`."""


# Domain errors from other packages, matched by class name so the console needs no import of
# every exception module: name -> HTTP status.
_DOMAIN_STATUS = {
    "NotFound": 404,
    "IncidentNotFound": 404,
    "NoticeNotFound": 404,
    "UnknownIncident": 404,
    "UnknownNotice": 404,
    "UnknownUser": 404,
    "InvalidTransition": 409,
    "ApprovalRequired": 409,
    "InvalidNoticeState": 409,
    "NoticeStateError": 409,
    "AlreadySent": 409,
    "UserExists": 409,
    "JustificationRequired": 422,
    "ReasonRequired": 422,
    "InvalidUserInput": 422,
    "InvalidSeverityInput": 422,
    "ValidationFailed": 422,
    "InvalidClockChange": 422,
    "ApprovalDenied": 403,
    "InvalidNoticeTransition": 409,
    "ReasonsForDelayRequired": 422,
    "MissingRecipient": 422,
    "InvalidAddress": 422,
    "TemplateError": 422,
    "Forbidden": 403,
    "SmtpNotConfigured": 409,
}


def domain_status(exc: Exception) -> int:
    for klass in type(exc).__mro__:
        status = _DOMAIN_STATUS.get(klass.__name__)
        if status is not None:
            return status
    name = type(exc).__name__
    if "NotFound" in name or name.startswith("Unknown"):
        return 404
    if "Transition" in name or "State" in name or "Conflict" in name:
        return 409
    return 422
