"""order fulfilment: carrier, tracking number (issue 6)

Revision ID: d1e0a4b5c008
Revises: d1e0a4b5c007
Create Date: 2026-11-24 13:50:00

Three columns on the order (fulfilled_at, carrier, tracking_number) and the index the
unfulfilled listing and the warehouse export read (status, fulfilled_at). Existing
orders start unfulfilled, with empty carrier and tracking number.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import flask_shoppable.db

revision: str = 'd1e0a4b5c008'
down_revision: str | Sequence[str] | None = 'd1e0a4b5c007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('shoppable_order', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fulfilled_at', flask_shoppable.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('carrier', sa.String(length=100), nullable=False, server_default=sa.text("''")))
        batch_op.add_column(sa.Column('tracking_number', sa.String(length=100), nullable=False, server_default=sa.text("''")))
        batch_op.create_index('ix_shoppable_order_status_fulfilled_at', ['status', 'fulfilled_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('shoppable_order', schema=None) as batch_op:
        batch_op.drop_index('ix_shoppable_order_status_fulfilled_at')
        batch_op.drop_column('tracking_number')
        batch_op.drop_column('carrier')
        batch_op.drop_column('fulfilled_at')
