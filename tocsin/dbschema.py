"""Every ORM module of Tocsin, imported in one place so `Base.metadata` is complete.

Alembic's env.py and the tests use `load_models()`; production paths create the schema with
`tocsin db upgrade` (Alembic), never with `create_all`.

The Alembic scripts live in `tocsin/migrations/` so the wheel ships them (docs/architecture.md §2).
"""

from __future__ import annotations

import importlib
import logging
import time
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData, create_engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from consumers.errors import ConfigError
from incidents.db import Base

log = logging.getLogger(__name__)

MODEL_MODULES = (
    "incidents.findings_store",
    "incidents.models",
    "notifiers.models",
    "accounts.models",
)


def load_models() -> MetaData:
    for name in MODEL_MODULES:
        importlib.import_module(name)
    return Base.metadata


def alembic_config(url: str) -> Config:
    root = Path(__file__).resolve().parent
    cfg = Config(str(root / "alembic.ini"))
    cfg.set_main_option("script_location", str(root / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def wait_for_database(url: str, *, timeout: float, interval: float = 1.0) -> None:
    """Retry connecting to `url` until it answers or `timeout` seconds have passed (a
    PostgreSQL still running its first-time set-up refuses TCP connections for a while)."""
    deadline = time.monotonic() + timeout
    engine = create_engine(url, poolclass=NullPool)
    try:
        while True:
            try:
                with engine.connect():
                    return
            except OperationalError as exc:
                if time.monotonic() + interval > deadline:
                    reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc)
                    raise ConfigError(
                        f"TOCSIN_DATABASE_URL: no connection after {timeout:g} s ({reason})"
                    ) from None
                log.info("database not ready; retrying", extra={"retry_in_s": interval})
                time.sleep(interval)
    finally:
        engine.dispose()


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)
