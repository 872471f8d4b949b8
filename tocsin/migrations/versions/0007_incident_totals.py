"""Incident totals: what the findings of an incident add up to, kept as they are linked

`incident_totals` holds, per incident, the counts and event-time window of its findings, as a
whole ("") and per tenant, and how many findings carry each signature; `incident_finding_parts`
holds the version of each linked finding those totals count. Existing incidents get no rows:
the next correlation that touches one recomputes them from its findings.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('incident_totals',
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('part', sa.String(length=64), nullable=False),
    sa.Column('findings', sa.Integer(), nullable=False),
    sa.Column('events', sa.BigInteger(), nullable=False),
    sa.Column('records', sa.BigInteger(), nullable=False),
    sa.Column('persons', sa.BigInteger(), nullable=False),
    sa.Column('first_seen', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen', sa.DateTime(timezone=True), nullable=False),
    sa.Column('signatures', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_incident_totals_incident_id_incidents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('incident_id', 'part', name=op.f('pk_incident_totals'))
    )
    op.create_table('incident_finding_parts',
    sa.Column('finding_id', sa.String(length=64), nullable=False),
    sa.Column('part', sa.String(length=64), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('events', sa.BigInteger(), nullable=False),
    sa.Column('records', sa.BigInteger(), nullable=False),
    sa.Column('persons', sa.BigInteger(), nullable=False),
    sa.Column('first_seen', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen', sa.DateTime(timezone=True), nullable=False),
    sa.Column('signature', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_incident_finding_parts_incident_id_incidents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('finding_id', 'part', name=op.f('pk_incident_finding_parts'))
    )
    op.create_index('ix_incident_finding_parts_first', 'incident_finding_parts', ['incident_id', 'part', 'first_seen'], unique=False)
    op.create_index('ix_incident_finding_parts_last', 'incident_finding_parts', ['incident_id', 'part', 'last_seen'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_incident_finding_parts_last', table_name='incident_finding_parts')
    op.drop_index('ix_incident_finding_parts_first', table_name='incident_finding_parts')
    op.drop_table('incident_finding_parts')
    op.drop_table('incident_totals')
