"""The Alembic migrations build exactly the schema the ORM models describe."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from incidents.db import make_engine
from tocsin.dbschema import load_models


@pytest.mark.parametrize("fresh_db_url", ["sqlite", "postgresql"], indirect=True)
def test_migrated_schema_matches_the_models(fresh_db_url: str) -> None:
    engine = make_engine(fresh_db_url)
    metadata = load_models()
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, metadata)
        tables = set(inspect(conn).get_table_names())
    engine.dispose()
    assert diff == []
    assert set(metadata.tables) <= tables
    assert "alembic_version" in tables
