"""The CLI's English words for the accounts' errors agree with the console's English."""

from __future__ import annotations

import inspect
import re

from accounts import messages, passwords, throttle, tokens, users
from console.i18n import translate


def test_the_english_words_match_the_consoles() -> None:
    for key, words in messages.ENGLISH.items():
        assert translate("en", key) == words, key


def test_every_error_key_the_accounts_raise_has_words() -> None:
    raised: set[str] = set()
    for module in (passwords, throttle, tokens, users):
        source = inspect.getsource(module)
        raised.update(re.findall(r'raise \w+\("([a-z_]+)"', source))
    # the password policy returns its keys
    raised.update(re.findall(r'return "([a-z_]+)"', inspect.getsource(passwords)))
    assert raised, "no error key found"
    assert sorted(raised - set(messages.ENGLISH)) == []
    assert messages.in_english("not_a_key") == "not_a_key"
