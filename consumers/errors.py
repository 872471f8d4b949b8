"""The root of Tocsin's error hierarchy and the consumer's own errors.

`TocsinError` lives here because `consumers` is the leftmost package of the flow: every other
package may import it, and it imports nothing of theirs.
"""

from __future__ import annotations


class TocsinError(Exception):
    """Root of every error Tocsin raises on purpose."""


class ConfigError(TocsinError):
    """A configuration value is wrong; the message names the file (or variable) and field."""


class EventRejected(TocsinError):
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


class ReplayNow(TocsinError):
    """Raised by a batch handler that has set a failing record aside itself (an event it
    held back, past its offset): roll back to the checkpoint and replay at once, blaming no
    record of the current batch."""
