"""declared breaches and the RSSI's decision

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # recreate='never': plain ALTER TABLE on SQLite too. Recreating `incidents` would drop it,
    # and with foreign keys on, SQLite would cascade that to every child row.
    with op.batch_alter_table('incidents', recreate='never') as batch:
        batch.add_column(sa.Column('source', sa.String(length=24), nullable=False,
                                   server_default='detected'))
        batch.add_column(sa.Column('declared', sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column('summary', sa.Text(), nullable=False, server_default=''))
        batch.add_column(sa.Column('occurred_from', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('occurred_to', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('discovered_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('services', sa.JSON(), nullable=False,
                                   server_default='[]'))
        batch.create_index(op.f('ix_incidents_source'), ['source'], unique=False)
    with op.batch_alter_table('severity_assessments', recreate='never') as batch:
        batch.add_column(sa.Column('notify_public', sa.Boolean(), nullable=False,
                                   server_default=sa.false()))


def downgrade() -> None:
    # ALTER TABLE … DROP COLUMN (SQLite >= 3.35), never a table copy (see upgrade).
    with op.batch_alter_table('severity_assessments', recreate='never') as batch:
        batch.drop_column('notify_public')
    with op.batch_alter_table('incidents', recreate='never') as batch:
        batch.drop_index(op.f('ix_incidents_source'))
        for name in ('services', 'discovered_at', 'occurred_to', 'occurred_from', 'summary',
                     'declared', 'source'):
            batch.drop_column(name)
