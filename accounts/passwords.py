"""Passwords: argon2id hashing, and the policy (a minimum length, a list of common passwords,
and the zxcvbn strength estimator, which also knows common words, names, keyboard patterns,
dates and the account's own e-mail address)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

# argon2id (the argon2-cffi default type), RFC 9106 "low memory" parameters.
_hasher = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4)
# A fixed hash to verify against when the account does not exist (constant-ish time).
DUMMY_HASH = _hasher.hash("tocsin-dummy-password")

MIN_PASSWORD = 12
MIN_SCORE = 3  # zxcvbn: 0 (too guessable) … 4 (very unguessable); 3 = safely unguessable
_ESTIMATED_CHARS = 100  # zxcvbn's cost grows with the length; the head decides anyway

# Frequent in breach corpora and long enough to pass a length rule (compared lower-cased,
# spaces removed). zxcvbn's own dictionaries cover the shorter ones.
COMMON_PASSWORDS = frozenset(
    {
        "password1234",
        "password12345",
        "password123456",
        "password2024",
        "password2025",
        "password2026",
        "passw0rd1234",
        "p@ssw0rd1234",
        "p@ssword1234",
        "motdepasse123",
        "motdepasse1234",
        "motdepasse2024",
        "motdepasse2025",
        "motdepasse2026",
        "123456789012",
        "1234567890123",
        "12345678901234",
        "111111111111",
        "000000000000",
        "azertyuiop12",
        "azertyuiop123",
        "azertyuiop1234",
        "qwertyuiop12",
        "qwertyuiop123",
        "qwertyuiop1234",
        "qwerty123456",
        "azerty123456",
        "1q2w3e4r5t6y",
        "1qaz2wsx3edc",
        "q1w2e3r4t5y6",
        "iloveyou1234",
        "administrator",
        "administrateur",
        "changeme1234",
        "changemenow!",
        "welcome12345",
        "bienvenue123",
        "bienvenue1234",
        "letmein12345",
        "trustno1trustno1",
        "sunshine1234",
        "football1234",
        "baseball1234",
        "superman1234",
        "monkey123456",
        "dragon123456",
        "princess1234",
        "abcdefghijkl",
        "abcdef123456",
        "aaaaaaaaaaaa",
        "avmup1234567",
        "avmupavmup12",
        "tocsin123456",
        "soleil123456",
        "doudou123456",
        "chouchou1234",
        "loulou123456",
        "marseille1234",
        "parisparis12",
    }
)


def password_problem(password: str, *, email: str = "") -> str | None:
    """The message key saying why `password` is refused, or None when it is acceptable."""
    if len(password) < MIN_PASSWORD:
        return "password_too_short"
    if "".join(password.lower().split()) in COMMON_PASSWORDS:
        return "password_common"
    hints = [email, email.partition("@")[0], "tocsin", "avmup", "avm up"]
    result = zxcvbn(password[:_ESTIMATED_CHARS], user_inputs=[h for h in hints if h])
    if int(result["score"]) < MIN_SCORE:
        return "password_weak"
    return None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """True when `stored` was hashed with other parameters than today's."""
    return _hasher.check_needs_rehash(stored)
