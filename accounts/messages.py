"""The accounts' error keys in English words, for the command line (`tocsin user …`).

The console translates the same keys itself (`console/i18n.py`, French and English);
`tests/accounts/test_messages.py` checks that the English wording here and there agree."""

from __future__ import annotations

from typing import Final

ENGLISH: Final[dict[str, str]] = {
    "invalid_email": "Invalid email address.",
    "invalid_role": "Unknown role.",
    "password_too_short": "Password too short (12 characters minimum).",
    "password_common": "This password is among the most common ones: choose another.",
    "password_weak": (
        "Password too easy to guess: make it longer (a phrase of several words works well)."
    ),
    "passwords_differ": "The two entries of the new password differ.",
    "password_unchanged": "The new password must differ from the current one.",
    "current_password_wrong": "Wrong current password.",
    "user_exists": "This user already exists.",
    "unknown_user": "Unknown user.",
    "unknown_token": "Unknown token.",
    "last_admin": "Not possible: this would remove the last active administrator.",
    "invalid_token_days": "Invalid validity (1 to 3650 days).",
    "throttled": "Too many attempts. Try again in a few minutes.",
}


def in_english(key: str) -> str:
    """The English words for an error key, or the key itself when it has none."""
    return ENGLISH.get(key, key)
