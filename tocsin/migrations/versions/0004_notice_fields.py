"""structured notice fields, attempt qualification, DPO signature

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

_INCIDENT_COLUMNS = (
    ('cause', sa.String(length=32)),
    ('origin', sa.String(length=32)),
    ('origin_detail', sa.Text()),
    ('subprocessors_involved', sa.String(length=8)),
    ('subprocessors', sa.Text()),
    ('breach_ongoing', sa.String(length=8)),
    ('breach_ended_at', sa.DateTime(timezone=True)),
    ('subject_categories', sa.JSON()),
    ('measures_proposed', sa.Text()),
    ('measures_planned', sa.Text()),
    ('measures_long_term', sa.Text()),
    ('persons_estimate', sa.Integer()),
    ('records_estimate', sa.Integer()),
    ('qualified_nature', sa.JSON()),
    ('qualified_by', sa.String(length=320)),
    ('qualified_at', sa.DateTime(timezone=True)),
)


# recreate='never': plain ALTER TABLE on SQLite too (ADD/DROP COLUMN, SQLite >= 3.35).
# Recreating `incidents` or `notices` would drop the table, and with foreign keys on,
# SQLite would cascade that to every child row (tenants, assessments, outbox...).


def upgrade() -> None:
    with op.batch_alter_table('incidents', recreate='never') as batch:
        for name, type_ in _INCIDENT_COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))
    with op.batch_alter_table('notices', recreate='never') as batch:
        batch.add_column(sa.Column('dpo_approved_by', sa.String(length=320), nullable=True))
        batch.add_column(sa.Column('dpo_approved_at', sa.DateTime(timezone=True),
                                   nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('notices', recreate='never') as batch:
        batch.drop_column('dpo_approved_at')
        batch.drop_column('dpo_approved_by')
    with op.batch_alter_table('incidents', recreate='never') as batch:
        for name, _ in reversed(_INCIDENT_COLUMNS):
            batch.drop_column(name)
