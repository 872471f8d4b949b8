"""Every ORM module of Tocsin, imported in one place so `Base.metadata` is complete.

Alembic's env.py and the tests use `load_models()`; production paths create the schema with
`tocsin db upgrade` (Alembic), never with `create_all`.

The Alembic scripts live in `tocsin/migrations/` so the wheel ships them (docs/architecture.md §2).
"""

from __future__ import annotations

import importlib
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData

from incidents.db import Base

MODEL_MODULES = (
    "incidents.findings_store",
    "incidents.models",
    "notifiers.models",
    "tocsin.console.models",
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


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)
