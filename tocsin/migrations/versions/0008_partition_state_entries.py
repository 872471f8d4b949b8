"""incremental checkpoints: one row per changed key of a partition's detector state

`partition_checkpoints.state` keeps a small header (offsets' log, de-duplication, held
events, watermark, counters); the keys live in `partition_state_entries`, upserted when they
change. Checkpoints of the previous format (the whole state in `state`) stay readable: the
next checkpoint of such a partition writes all its keys.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('partition_state_entries',
    sa.Column('consumer_group', sa.String(length=255), nullable=False),
    sa.Column('topic', sa.String(length=255), nullable=False),
    sa.Column('partition', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('rule_id', sa.String(length=255), nullable=False),
    sa.Column('slot', sa.String(length=1), nullable=False),
    sa.Column('key', sa.Text(), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('value', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('consumer_group', 'topic', 'partition', 'rule_id', 'slot', 'key',
                            name=op.f('pk_partition_state_entries'))
    )


def downgrade() -> None:
    op.drop_table('partition_state_entries')
