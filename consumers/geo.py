"""Offline country lookup for `source_ip` (geoip2fast ships its own data: no network call)."""

from __future__ import annotations

from functools import lru_cache
from ipaddress import IPv4Address, IPv6Address

from geoip2fast import GeoIP2Fast


@lru_cache(maxsize=1)
def _db() -> GeoIP2Fast:
    return GeoIP2Fast(verbose=False)


@lru_cache(maxsize=65536)
def country_of(ip: IPv4Address | IPv6Address) -> str | None:
    """ISO 3166-1 alpha-2 code, or None for private, reserved or unknown addresses."""
    if ip.is_private or ip.is_loopback or ip.is_reserved or ip.is_multicast:
        return None
    result = _db().lookup(str(ip))
    code = getattr(result, "country_code", "") or ""
    return code if len(code) == 2 and code.isalpha() else None
