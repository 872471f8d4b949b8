"""Offline country lookup for `source_ip`, IPv4 and IPv6 (no network call).

The database is geoip2fast's country file covering both address families
(`geoip2fast-ipv6.dat.gz`, shipped with the package), or a fresher file in the same format
named by `TOCSIN_GEOIP_FILE` (`configure()`). The date it was built from is reported by
`database_info()`: on `/metrics` (`tocsin_geoip_database_timestamp_seconds`) and by
`tocsin doctor`, so a stale database shows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

import geoip2fast
from geoip2fast import GeoIP2Fast

from consumers.errors import ConfigError

BUNDLED = Path(geoip2fast.__file__).resolve().parent / "geoip2fast-ipv6.dat.gz"
_file: Path = BUNDLED


@dataclass(frozen=True)
class DatabaseInfo:
    path: Path
    source: str  # as the file names it, e.g. "MAXMIND:GeoLite2-Country-IPv4IPv6-en-20240618"
    ipv6: bool
    built: datetime | None  # the date in `source`, when it has one


def configure(path: Path | None) -> DatabaseInfo:
    """Use `path` (a geoip2fast country file covering IPv6), or the bundled file for None.
    Loads it at once: a missing or unreadable file is a configuration error."""
    global _file  # noqa: PLW0603 - one database per process
    chosen = BUNDLED if path is None else path.expanduser().resolve()
    if not chosen.is_file():
        raise ConfigError(f"TOCSIN_GEOIP_FILE: no such file: {chosen}")
    before, _file = _file, chosen
    _db.cache_clear()
    country_of.cache_clear()
    try:
        info = database_info()
        if not info.ipv6:
            raise ConfigError(
                f"TOCSIN_GEOIP_FILE: {chosen.name} covers IPv4 only; give a country file "
                "with IPv6 (geoip2fast-ipv6.dat.gz)"
            )
    except ConfigError:  # the database in use stays the one before
        _file = before
        _db.cache_clear()
        raise
    return info


@lru_cache(maxsize=1)
def _db() -> GeoIP2Fast:
    try:
        return GeoIP2Fast(verbose=False, geoip2fast_data_file=str(_file))
    except Exception as exc:  # noqa: BLE001 - the library raises its own error types
        raise ConfigError(
            f"TOCSIN_GEOIP_FILE: {_file.name} is not a geoip2fast country file "
            f"({type(exc).__name__})"
        ) from None


def loaded() -> bool:
    """Whether this process has loaded the database (only the ones that geolocate do)."""
    return _db.cache_info().currsize > 0


def database_info() -> DatabaseInfo:
    info = _db().get_database_info()
    source = str(info.get("source_info", ""))
    found = re.search(r"(\d{8})(?!.*\d{8})", source)
    built = None
    if found is not None:
        try:
            built = datetime.strptime(found.group(1), "%Y%m%d").replace(tzinfo=UTC)
        except ValueError:
            built = None
    content = str(info.get("database_content", ""))
    return DatabaseInfo(path=_file, source=source, ipv6="IPv6" in content, built=built)


@lru_cache(maxsize=65536)
def country_of(ip: IPv4Address | IPv6Address) -> str | None:
    """ISO 3166-1 alpha-2 code, or None for private, reserved or unknown addresses."""
    if ip.is_private or ip.is_loopback or ip.is_reserved or ip.is_multicast:
        return None
    result = _db().lookup(str(ip))
    code = getattr(result, "country_code", "") or ""
    return code if len(code) == 2 and code.isalpha() else None
