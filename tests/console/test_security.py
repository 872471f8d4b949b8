"""Pure unit tests of the security primitives and the message catalogue."""

from __future__ import annotations

import pytest

from console import security
from console.i18n import MESSAGES, translate


def test_password_hash_is_argon2id_and_verifies() -> None:
    stored = security.hash_password("a long enough passphrase")
    assert stored.startswith("$argon2id$")
    assert security.verify_password(stored, "a long enough passphrase")
    assert not security.verify_password(stored, "a long enough passphrasE")
    assert not security.verify_password("not-a-hash", "x")


def test_token_hash_is_sha256_hex_and_not_the_token() -> None:
    digest = security.hash_token("tcs_secret")
    assert len(digest) == 64
    assert "tcs_secret" not in digest
    assert digest == security.hash_token("tcs_secret")


def test_session_codec_round_trip_and_tamper() -> None:
    codec = security.SessionCodec("k" * 40)
    cookie = codec.dumps({"uid": 3, "csrf": "abc"})
    assert codec.loads(cookie) == {"uid": 3, "csrf": "abc"}
    tampered = cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB")
    assert codec.loads(tampered) is None
    assert security.SessionCodec("other" * 10).loads(cookie) is None
    assert codec.loads(None) is None


def test_session_codec_expiry() -> None:
    cookie = security.SessionCodec("k" * 40).dumps({"uid": 1})
    assert security.SessionCodec("k" * 40, max_age=-1).loads(cookie) is None


@pytest.mark.parametrize(
    ("expected", "given", "ok"),
    [
        ("abc", "abc", True),
        ("abc", "abd", False),
        ("abc", None, False),
        (None, "abc", False),
        ("", "", False),
    ],
)
def test_csrf_matches(expected: str | None, given: str | None, ok: bool) -> None:
    assert security.csrf_matches(expected, given) is ok


def test_catalogues_have_the_same_keys() -> None:
    assert set(MESSAGES["fr"]) == set(MESSAGES["en"])
    assert translate("en", "queue") == "Incident queue"
    assert translate("fr", "queue") == "File des incidents"
    assert translate("de", "queue") == "File des incidents"
    assert translate("en", "no-such-key") == "no-such-key"
