"""visit chains on the interactions, for the reports' unique visitors (issue 6)

Revision ID: d1e0a4b5c011
Revises: d1e0a4b5c010
Create Date: 2026-11-24 19:20:00

Each interaction with a visitor gets, per report dimension (channel, post, link,
campaign, partner), the time of the same visitor's previous interaction with the same
value, and whether the worker has set them (``chained``; true for a row without a
visitor, which has nothing to chain). Existing rows with a visitor start unchained and
the worker's ``chains`` job chains them in batches; reports are exact meanwhile (they
count the unchained rows the slow way). The partial index finds the unchained rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import flask_shoppable.db

revision: str = 'd1e0a4b5c011'
down_revision: str | Sequence[str] | None = 'd1e0a4b5c010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PREVIOUS = ['prev_channel_at', 'prev_post_at', 'prev_link_at', 'prev_campaign_at', 'prev_partner_at']
UNCHAINED = 'visitor_id IS NOT NULL AND NOT chained'


def upgrade() -> None:
    with op.batch_alter_table('shoppable_interaction', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('chained', sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        for name in PREVIOUS:
            batch_op.add_column(sa.Column(name, flask_shoppable.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(
            'ix_shoppable_interaction_unchained',
            ['occurred_at'],
            unique=False,
            postgresql_where=sa.text(UNCHAINED),
            sqlite_where=sa.text('visitor_id IS NOT NULL AND chained = 0'),
        )
    # A row without a visitor has nothing to chain (and "not chained" should be few rows).
    op.execute('UPDATE shoppable_interaction SET chained = true WHERE visitor_id IS NULL')


def downgrade() -> None:
    with op.batch_alter_table('shoppable_interaction', schema=None) as batch_op:
        batch_op.drop_index('ix_shoppable_interaction_unchained')
        for name in reversed(PREVIOUS):
            batch_op.drop_column(name)
        batch_op.drop_column('chained')
