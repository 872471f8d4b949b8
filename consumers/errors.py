"""The root of Tocsin's error hierarchy and the consumer's own errors.

`TocsinError` lives here because `consumers` is the leftmost package of the flow: every other
package may import it, and it imports nothing of theirs.
"""

from __future__ import annotations


class TocsinError(Exception):
    """Root of every error Tocsin raises on purpose.

    Every concrete error also derives from one category below; the category alone decides
    the HTTP status the console answers with (`http_status`), never the class name."""

    http_status: int = 500


class NotFound(TocsinError):
    """The object asked for does not exist."""

    http_status = 404


class Conflict(TocsinError):
    """The request is well formed, but the object's current state does not allow it."""

    http_status = 409


class Invalid(TocsinError):
    """The input is wrong; the message says which value and why."""

    http_status = 422


class Denied(TocsinError):
    """The caller may not do this."""

    http_status = 403


class Unavailable(TocsinError):
    """Tocsin cannot do this now: a configuration, dependency or storage problem on its side,
    not the caller's."""

    http_status = 503


CATEGORIES: tuple[type[TocsinError], ...] = (NotFound, Conflict, Invalid, Denied, Unavailable)


class ConfigError(Unavailable):
    """A configuration value is wrong; the message names the file (or variable) and field."""


class EventRejected(Invalid):
    """A message that breaks the event contract. `reason` is the DLQ reason code."""

    reason: str = "schema"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidJson(EventRejected):
    reason = "invalid_json"


class SchemaViolation(EventRejected):
    reason = "schema"


class TooLarge(EventRejected):
    reason = "too_large"


class FutureEvent(EventRejected):
    """`occurred_at` further ahead of wall time than the configured tolerance."""

    reason = "future"


class TooOld(EventRejected):
    """`occurred_at` older than the configured maximum age."""

    reason = "too_old"


class HandlerFailed(EventRejected):
    """Parsing or handling this one record raised; the detail is the exception's class."""

    reason = "handler_error"


class ReplayNow(Unavailable):
    """Raised by a batch handler that has set a failing record aside itself (an event it
    held back, past its offset): roll back to the checkpoint and replay at once, blaming no
    record of the current batch."""
