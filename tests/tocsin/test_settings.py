"""Settings for deployments: the database password from a secret file, the SMTP URL check."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from consumers.errors import ConfigError
from incidents.clocks import ClockPolicy
from tocsin.settings import Settings, load_settings


def test_the_password_file_completes_the_database_url(tmp_path: Path) -> None:
    secret = tmp_path / "tocsin_db_app_password"
    secret.write_text("s3cr@t/with:odd chars\n")
    settings = load_settings(
        database_url="postgresql+psycopg://tocsin_app@postgres:5432/tocsin",
        database_password_file=secret,
    )
    url = make_url(settings.database_url)
    assert url.password == "s3cr@t/with:odd chars"  # the trailing newline dropped
    assert (url.username, url.host, url.database) == ("tocsin_app", "postgres", "tocsin")
    assert "s3cr" not in repr(settings.database_password_file)


def test_the_password_file_is_read_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "pw"
    secret.write_text("from-the-secret")
    monkeypatch.setenv("TOCSIN_DATABASE_URL", "postgresql+psycopg://app@db/tocsin")
    monkeypatch.setenv("TOCSIN_DATABASE_PASSWORD_FILE", str(secret))
    assert make_url(load_settings().database_url).password == "from-the-secret"


@pytest.mark.parametrize("content", ["change-me\n", "", "  \n"])
def test_a_placeholder_password_file_is_refused(tmp_path: Path, content: str) -> None:
    secret = tmp_path / "pw"
    secret.write_text(content)
    with pytest.raises(ConfigError, match="TOCSIN_DATABASE_PASSWORD_FILE: .* placeholder"):
        load_settings(
            database_url="postgresql+psycopg://app@db/tocsin", database_password_file=secret
        )


def test_a_missing_password_file_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="TOCSIN_DATABASE_PASSWORD_FILE: cannot read"):
        load_settings(
            database_url="postgresql+psycopg://app@db/tocsin",
            database_password_file=tmp_path / "absent",
        )


def test_a_password_in_two_places_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("one")
    with pytest.raises(ConfigError, match="TOCSIN_DATABASE_URL: holds a password"):
        load_settings(
            database_url="postgresql+psycopg://app:two@db/tocsin", database_password_file=secret
        )


def test_without_a_password_file_the_url_is_unchanged() -> None:
    url = "postgresql+psycopg://app:pw@db/tocsin"
    assert load_settings(database_url=url).database_url == url


@pytest.mark.parametrize("value", [None, "", "change-me", " change-me "])
def test_an_unset_or_placeholder_smtp_url_is_refused(value: str | None) -> None:
    settings = Settings(smtp_url=None if value is None else SecretStr(value))
    with pytest.raises(ConfigError, match="TOCSIN_SMTP_URL: not set or still the placeholder"):
        settings.require_smtp_url()


def test_only_a_real_smtp_url_passes() -> None:
    def refused(value: str) -> bool:
        try:
            Settings(smtp_url=SecretStr(value)).require_smtp_url()
        except ConfigError:
            return True
        return False

    urls = [
        "smtps://u:p@relay.example.net:465",
        "smtp://relay.example.net:587",
        "smtp+plain://mailpit:1025",
        "change-me",
    ]
    assert [refused(u) for u in urls] == [False, False, False, True]


def test_the_clock_defaults_are_those_of_the_clock_policy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("CNIL_HOURS", "CUSTOMER_HOURS_DEFAULT", "ESCALATE_HOURS", "DUE_SOON_HOURS"):
        monkeypatch.delenv(f"TOCSIN_CLOCKS__{name}", raising=False)
    clocks = load_settings().clocks
    assert ClockPolicy.from_settings(clocks) == ClockPolicy()
    assert (clocks.cnil_hours, clocks.customer_hours_default) == (72, 24)
    monkeypatch.setenv("TOCSIN_CLOCKS__CNIL_HOURS", "96")
    assert ClockPolicy.from_settings(load_settings().clocks).cnil_hours == 96
