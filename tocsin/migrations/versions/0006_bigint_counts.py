"""64-bit counts: records, persons, events and Kafka offsets

Sums of `records` and `subjects` over many events, and Kafka offsets, outgrow 32-bit
integers; the application saturates the sums at the 64-bit maximum.

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-03
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0004'
branch_labels = None
depends_on = None

COLUMNS: dict[str, tuple[str, ...]] = {
    'findings': ('records', 'subjects', 'count'),
    'incident_tenants': ('events', 'records', 'persons'),
    'severity_assessments': ('persons',),
    'partition_checkpoints': ('next_offset',),
}


def upgrade() -> None:
    for table, columns in COLUMNS.items():
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.alter_column(column, existing_type=sa.Integer(),
                                   type_=sa.BigInteger(), existing_nullable=False)


def downgrade() -> None:
    for table, columns in COLUMNS.items():
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.alter_column(column, existing_type=sa.BigInteger(),
                                   type_=sa.Integer(), existing_nullable=False)
