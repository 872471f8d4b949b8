"""Console domain errors, and the HTTP status of any Tocsin error.

The status comes from the error's category (`consumers.errors.CATEGORIES`: not found,
conflict, invalid, denied, unavailable), never from its name: one handler in `app.py` maps
it, for pages and for the API alike."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from pydantic import BaseModel, Field

from accounts.errors import (
    InvalidUserInput,
    LastAdmin,
    LoginThrottled,
    UnknownToken,
    UnknownUser,
    UserExists,
)
from consumers.errors import Conflict, TocsinError

# The accounts' errors, which the console raises and maps too.
__all__ = [
    "ConsoleError",
    "InvalidUserInput",
    "LastAdmin",
    "LoginThrottled",
    "SmtpNotConfigured",
    "UnknownToken",
    "UnknownUser",
    "UserExists",
    "FieldError",
    "PROBLEM_RESPONSES",
    "PROBLEM_TYPE",
    "Problem",
    "http_status",
    "problem_body",
]


class ConsoleError(TocsinError):
    """Root of the console's own errors."""


class SmtpNotConfigured(ConsoleError, Conflict):
    """Sending needs `TOCSIN_SMTP_URL`."""


def http_status(exc: Exception) -> int:
    """The HTTP status for `exc`: its category's, 500 for anything else."""
    if isinstance(exc, TocsinError):
        return int(exc.http_status)
    return 500


PROBLEM_TYPE = "application/problem+json"


class FieldError(BaseModel):
    """One invalid input: where it is (`loc`, `field`) and what is wrong with it."""

    loc: list[str | int]
    field: str
    msg: str


class Problem(BaseModel):
    """An API error as RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    error: str | None = Field(default=None, description="the error's kind, for scripts")
    errors: list[FieldError] | None = Field(
        default=None, description="422 only: each invalid field and the reason"
    )


def problem_body(
    status: int, detail: str, *, error: str | None = None, errors: list[FieldError] | None = None
) -> dict[str, Any]:
    return Problem(
        title=HTTPStatus(status).phrase, status=status, detail=detail, error=error, errors=errors
    ).model_dump(exclude_none=True)


def _problem_doc(text: str) -> dict[str, Any]:
    return {
        "description": text,
        "model": Problem,
        "content": {PROBLEM_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


# Declared on the API router: every operation documents these answers and their shape.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _problem_doc("Authentication required (session cookie or bearer token)"),
    403: _problem_doc("The caller's role may not do this, or the CSRF token is missing"),
    404: _problem_doc("No such object"),
    409: _problem_doc("The object's current state does not allow this"),
    413: _problem_doc("The request body is too large"),
    422: _problem_doc("Invalid input; `errors` names each field"),
}
