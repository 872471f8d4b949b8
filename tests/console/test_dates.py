"""Dates for people: Paris wall time in the reader's language, the UTC value alongside, and
what a date-time picker sends read back as Paris time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from jinja2 import Environment

from console.i18n import human_datetime, local_input, parse_local, utc_iso
from console.web import make_environment

WINTER = "2026-12-01T09:21:09.612079+00:00"


def test_winter_and_summer_in_french_and_english() -> None:
    assert human_datetime(WINTER, lang="fr", tz="Europe/Paris") == "1er décembre 2026 à 10 h 21"
    assert human_datetime(WINTER, lang="en", tz="Europe/Paris") == "1 December 2026 at 10:21"
    summer = datetime(2026, 7, 14, 8, 5, tzinfo=UTC)
    assert human_datetime(summer, lang="fr", tz="Europe/Paris") == "14 juillet 2026 à 10 h 05"
    assert human_datetime(summer, lang="en", tz="UTC") == "14 July 2026 at 08:05"
    assert human_datetime(None, lang="fr", tz="Europe/Paris") == ""


def test_machine_values_are_utc_to_the_second() -> None:
    assert utc_iso(WINTER) == "2026-12-01T09:21:09Z"
    assert utc_iso("2026-12-01T10:21:09+01:00") == "2026-12-01T09:21:09Z"
    assert utc_iso("not a date") == ""
    assert local_input(WINTER, tz="Europe/Paris") == "2026-12-01T10:21"


def test_picked_local_time_is_converted_to_utc() -> None:
    assert parse_local("2026-12-01T10:21", tz="Europe/Paris") == datetime(
        2026, 12, 1, 9, 21, tzinfo=UTC
    )
    assert parse_local("2026-07-14T10:05", tz="Europe/Paris") == datetime(
        2026, 7, 14, 8, 5, tzinfo=UTC
    )
    # The API's ISO 8601 with an offset is taken as written.
    assert parse_local("2026-12-01T10:21:00Z", tz="Europe/Paris") == datetime(
        2026, 12, 1, 10, 21, tzinfo=UTC
    )
    with pytest.raises(ValueError):
        parse_local("1er décembre", tz="Europe/Paris")


@pytest.fixture
def env() -> Environment:
    return make_environment(timezone="Europe/Paris")


def test_the_dt_filter_wraps_the_date_in_a_time_element(env: Environment) -> None:
    template = env.from_string("{{ when|dt }}")
    fr = template.render(when=WINTER, lang="fr")
    assert fr == (
        '<time datetime="2026-12-01T09:21:09Z" title="2026-12-01 09:21 UTC">'
        "1er décembre 2026 à 10 h 21</time>"
    )
    assert "1 December 2026 at 10:21</time>" in template.render(when=WINTER, lang="en")
    assert template.render(when=None, lang="fr") == "—"
    assert template.render(when="<b>x</b>", lang="fr") == "&lt;b&gt;x&lt;/b&gt;"
