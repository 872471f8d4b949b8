"""Small builders of raw event messages for consumer tests."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

BASE_TIME = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def auth_event(i: int = 0, **over: Any) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "event_id": str(uuid.UUID(int=i + 1)),
        "occurred_at": (BASE_TIME + timedelta(seconds=i)).isoformat(),
        "service": "faxbis",
        "tenant_id": f"t{i % 5}",
        "actor": {"id": f"u{i % 17}", "kind": "customer_user"},
        "source_ip": "90.84.12.7",
        "interface": "web",
        "tls": True,
        "action": "login_success",
    }
    ev.update(over)
    return ev


def access_event(i: int = 0, **over: Any) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "event_id": str(uuid.UUID(int=10_000_000 + i)),
        "occurred_at": (BASE_TIME + timedelta(seconds=i)).isoformat(),
        "service": "smsbis",
        "tenant_id": "t1",
        "actor": {"id": "u1", "kind": "customer_user"},
        "source_ip": "2a01:cb00::1",
        "country": "FR",
        "interface": "api",
        "tls": True,
        "operation": "read",
        "resource": {"type": "contact", "tenant_id": "t1", "id": "c1"},
        "data_categories": ["identification"],
        "records": 3,
        "outcome": "allowed",
    }
    ev.update(over)
    return ev


def encode(ev: dict[str, Any]) -> bytes:
    return json.dumps(ev).encode()
