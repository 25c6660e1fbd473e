"""indexes for the dashboard's report queries (issue 6)

Revision ID: d1e0a4b5c009
Revises: d1e0a4b5c008
Create Date: 2026-11-24 13:50:00

The interactions' time index carries the columns the reports read (PostgreSQL INCLUDE),
so that a report over a range reads the index alone (an index-only scan), never the
table: its cost follows the rows in the range, not the whole history. On SQLite the
index stays a plain one on occurred_at.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = 'd1e0a4b5c009'
down_revision: str | Sequence[str] | None = 'd1e0a4b5c008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REPORT_COLUMNS = ['kind', 'visitor_id', 'channel', 'post_id', 'link_id', 'utm_campaign', 'partner']


def upgrade() -> None:
    with op.batch_alter_table('shoppable_interaction', schema=None) as batch_op:
        batch_op.drop_index('ix_shoppable_interaction_occurred_at')
        batch_op.create_index(
            'ix_shoppable_interaction_occurred_at',
            ['occurred_at'],
            unique=False,
            postgresql_include=REPORT_COLUMNS,
        )


def downgrade() -> None:
    with op.batch_alter_table('shoppable_interaction', schema=None) as batch_op:
        batch_op.drop_index('ix_shoppable_interaction_occurred_at')
        batch_op.create_index('ix_shoppable_interaction_occurred_at', ['occurred_at'], unique=False)
