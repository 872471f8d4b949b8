"""Errors of accounts: each has its HTTP category (`consumers.errors`). The message is a key
(`invalid_email`, `password_weak`…) that the console translates and the CLI words in English
(`accounts.messages`)."""

from __future__ import annotations

from consumers.errors import Conflict, Denied, Invalid, NotFound, TocsinError


class AccountError(TocsinError):
    """Root of the accounts' errors."""


class UserExists(AccountError, Conflict):
    pass


class UnknownUser(AccountError, NotFound):
    pass


class UnknownToken(AccountError, NotFound):
    pass


class InvalidUserInput(AccountError, Invalid):
    pass


class LastAdmin(AccountError, Conflict):
    """The change would leave the console without an active administrator."""


class LoginThrottled(AccountError, Denied):
    """Too many failed logins for this account from this address, or from this address."""

    http_status = 429

    def __init__(self, detail: str, *, retry_after: int = 0) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
