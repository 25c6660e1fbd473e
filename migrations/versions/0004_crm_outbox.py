"""CRM outbox (issue 5)

Revision ID: d1e0a4b5c004
Revises: 5f882ad5d7d0
Create Date: 2026-11-24 13:40:00

A placeholder in the chain, so that the capabilities built at the same time each fill
their own revision without creating several heads. Filled by the capability's work.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import flask_shoppable.db

revision: str = 'd1e0a4b5c004'
down_revision: str | Sequence[str] | None = '5f882ad5d7d0'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('shoppable_outbox_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sink', sa.String(length=60), nullable=False),
    sa.Column('event', sa.String(length=60), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', flask_shoppable.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('claimed_by', sa.String(length=64), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('created_at', flask_shoppable.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', flask_shoppable.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'delivered', 'dead')", name=op.f('ck_shoppable_outbox_message_status')),
    sa.ForeignKeyConstraint(['order_id'], ['shoppable_order.id'], name=op.f('fk_shoppable_outbox_message_order_id_shoppable_order'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shoppable_outbox_message')),
    sa.UniqueConstraint('sink', 'key', name=op.f('uq_shoppable_outbox_message_sink_key'))
    )
    with op.batch_alter_table('shoppable_outbox_message', schema=None) as batch_op:
        batch_op.create_index('ix_shoppable_outbox_message_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index('ix_shoppable_outbox_message_order_id', ['order_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('shoppable_outbox_message', schema=None) as batch_op:
        batch_op.drop_index('ix_shoppable_outbox_message_order_id')
        batch_op.drop_index('ix_shoppable_outbox_message_due')

    op.drop_table('shoppable_outbox_message')
