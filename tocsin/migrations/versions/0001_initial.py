"""initial schema (development placeholder: replaced by a frozen migration before release)

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""
from __future__ import annotations

from alembic import op

from tocsin.dbschema import load_models

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    load_models().create_all(bind=op.get_bind())


def downgrade() -> None:
    load_models().drop_all(bind=op.get_bind())
