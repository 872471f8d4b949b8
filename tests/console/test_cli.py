"""`tocsin user add` and `tocsin token create` against a real database."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from accounts.models import ApiToken, User
from console import security
from console.errors import InvalidUserInput
from incidents import audit as audit_chain
from incidents.db import make_engine, session_factory
from tocsin.commands import console as console_cmd
from tocsin.commands import users as users_cmd
from tocsin.settings import get_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tocsin")
    sub = parser.add_subparsers(dest="command", required=True)
    users_cmd.register(sub)
    console_cmd.register(sub)
    return parser


@pytest.fixture
def env_db(fresh_db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("TOCSIN_DATABASE_URL", fresh_db_url)
    monkeypatch.setenv("TOCSIN_SECRET_KEY", "cli-test-" + "s" * 40)
    get_settings.cache_clear()
    yield fresh_db_url
    get_settings.cache_clear()


def test_user_add_reads_the_password_from_the_environment(
    env_db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TOCSIN_PASSWORD", "a very long passphrase")
    args = _parser().parse_args(["user", "add", "RSSI@AvmUp.com", "--role", "rssi"])
    assert args.func(args) == 0
    assert "role rssi" in capsys.readouterr().out
    factory = session_factory(make_engine(env_db))
    with factory() as session:
        user = session.scalar(select(User).where(User.email == "rssi@avmup.com"))
        assert user is not None and user.role == "rssi"
        assert user.password_hash.startswith("$argon2id$")
        assert "a very long passphrase" not in user.password_hash
        assert audit_chain.verify(session=session).ok


def test_user_add_refuses_a_bad_role_and_a_short_password(
    env_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SystemExit):
        _parser().parse_args(["user", "add", "x@avmup.com", "--role", "root"])
    monkeypatch.setenv("TOCSIN_PASSWORD", "short")
    args = _parser().parse_args(["user", "add", "x@avmup.com", "--role", "dpo"])
    with pytest.raises(InvalidUserInput):
        args.func(args)


def test_token_create_prints_the_secret_once_and_stores_its_hash(
    env_db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TOCSIN_PASSWORD", "a very long passphrase")
    add = _parser().parse_args(["user", "add", "dpo@avmup.com", "--role", "dpo"])
    add.func(add)
    capsys.readouterr()
    args = _parser().parse_args(["token", "create", "dpo@avmup.com", "--name", "siem"])
    assert args.func(args) == 0
    secret = capsys.readouterr().out.strip()
    assert secret.startswith(security.TOKEN_PREFIX) and len(secret) > 40
    factory = session_factory(make_engine(env_db))
    with factory() as session:
        row = session.scalar(select(ApiToken))
        assert row is not None and row.name == "siem"
        assert row.token_hash == security.hash_token(secret)
        user = security.user_for_token(session=session, token=secret)
        assert user is not None and user.email == "dpo@avmup.com"


def test_console_command_has_the_insecure_cookies_switch() -> None:
    args = _parser().parse_args(
        ["console", "--host", "0.0.0.0", "--port", "8081", "--insecure-cookies"]
    )
    assert (args.host, args.port, args.insecure_cookies) == ("0.0.0.0", 8081, True)
    default = _parser().parse_args(["console"])
    assert default.insecure_cookies is False and default.host == "127.0.0.1"


def test_user_add_explains_a_weak_password(env_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOCSIN_PASSWORD", "password1234")
    args = _parser().parse_args(["user", "add", "x@avmup.com", "--role", "dpo"])
    with pytest.raises(InvalidUserInput, match="among the most common"):
        args.func(args)
