"""The offline country database: IPv4 and IPv6, a fresher file by TOCSIN_GEOIP_FILE, its date."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from ipaddress import ip_address
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from consumers import geo
from consumers import metrics as consumer_metrics
from consumers.errors import ConfigError
from consumers.events import AccessEvent, AuthEvent, parse_event


@pytest.fixture(autouse=True)
def bundled() -> Iterator[None]:
    geo.configure(None)
    yield
    geo.configure(None)


@pytest.mark.parametrize(
    ("address", "country"),
    [
        ("2a01:e0a:1f2:3::1", "FR"),  # Free
        ("2a01:cb00::42", "FR"),  # Orange
        ("2001:4860:4860::8888", "US"),
        ("2804:14c:bd14:b::d3", "BR"),
        ("240e:3a1::1", "CN"),
        ("90.12.1.1", "FR"),
        ("3.80.226.2", "US"),
    ],
)
def test_public_addresses_of_both_families_have_a_country(address: str, country: str) -> None:
    assert geo.country_of(ip_address(address)) == country


@pytest.mark.parametrize("address", ["fe80::1", "::1", "fd00::5", "2001:db8::1", "10.1.2.3"])
def test_private_and_reserved_addresses_have_none(address: str) -> None:
    assert geo.country_of(ip_address(address)) is None


def test_an_ipv6_event_without_country_gets_one_when_parsed() -> None:
    raw = json.dumps(
        {
            "event_id": str(uuid.uuid4()),
            "occurred_at": "2026-11-23T08:00:00Z",
            "service": "faxbis",
            "tenant_id": "t1",
            "actor": {"id": "u", "kind": "customer_user"},
            "source_ip": "2001:4860:4860::8888",
            "interface": "web",
            "tls": True,
            "action": "login_success",
        }
    ).encode()
    event = parse_event(raw, AuthEvent)
    assert event.country == "US"
    assert not isinstance(event, AccessEvent)


def test_the_bundled_database_covers_ipv6_and_has_a_date() -> None:
    info = geo.database_info()
    assert info.path == geo.BUNDLED
    assert info.ipv6
    assert info.built is not None
    assert datetime(2020, 1, 1, tzinfo=UTC) < info.built < datetime.now(UTC)
    assert info.built.strftime("%Y%m%d") in info.source


def test_the_date_is_a_gauge_on_metrics() -> None:
    assert geo.loaded()  # configured by the fixture, as `tocsin ingest` does at start
    built = geo.database_info().built
    assert built is not None
    value = REGISTRY.get_sample_value("tocsin_geoip_database_timestamp_seconds")
    assert value == built.timestamp()
    assert consumer_metrics.GEOIP_DATABASE_TIMESTAMP is not None


def test_an_operator_file_is_used(tmp_path: Path) -> None:
    mine = tmp_path / "fresher-ipv6.dat.gz"
    shutil.copyfile(geo.BUNDLED, mine)
    info = geo.configure(mine)
    assert info.path == mine.resolve()
    assert geo.database_info().path == mine.resolve()
    assert geo.country_of(ip_address("2a01:e0a::1")) == "FR"


def test_a_wrong_file_names_the_variable_and_keeps_the_database(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="TOCSIN_GEOIP_FILE: no such file"):
        geo.configure(tmp_path / "missing.dat.gz")
    junk = tmp_path / "junk.dat.gz"
    junk.write_bytes(b"not a database")
    with pytest.raises(ConfigError, match="TOCSIN_GEOIP_FILE: junk.dat.gz is not"):
        geo.configure(junk)
    ipv4_only = geo.BUNDLED.with_name("geoip2fast.dat.gz")
    with pytest.raises(ConfigError, match="TOCSIN_GEOIP_FILE: .*IPv4 only"):
        geo.configure(ipv4_only)
    # the database in use is still the one before
    assert geo.database_info().path == geo.BUNDLED
    assert geo.country_of(ip_address("2001:4860:4860::8888")) == "US"
