"""the credited touch's dimensions on each attribution credit (issue 6)

Revision ID: d1e0a4b5c010
Revises: d1e0a4b5c009
Create Date: 2026-11-24 16:00:00

Each credit gets its touch's channel, post, link, campaign and partner, so that the
reports' breakdowns read the credits without joining each one to its interaction.
Existing credits are filled from their touch's row (an empty campaign or partner as
NULL); a credit whose touch has no row and is its order's origin (a buffered click not
written) from the order's channel, post and link, as the reports read them before.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'd1e0a4b5c010'
down_revision: str | Sequence[str] | None = 'd1e0a4b5c009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FROM_TOUCH = """
UPDATE shoppable_order_credit
SET channel = i.channel, post_id = i.post_id, link_id = i.link_id,
    campaign = NULLIF(i.utm_campaign, ''), partner = NULLIF(i.partner, '')
FROM shoppable_interaction AS i
WHERE i.id = shoppable_order_credit.interaction_id
"""
FROM_ORDER = """
UPDATE shoppable_order_credit
SET channel = o.channel, post_id = o.post_id, link_id = o.link_id
FROM shoppable_order AS o
WHERE o.id = shoppable_order_credit.order_id
  AND o.origin_interaction_id = shoppable_order_credit.interaction_id
  AND NOT EXISTS (
    SELECT 1 FROM shoppable_interaction AS i WHERE i.id = shoppable_order_credit.interaction_id
  )
"""


def upgrade() -> None:
    with op.batch_alter_table('shoppable_order_credit', schema=None) as batch_op:
        batch_op.add_column(sa.Column('channel', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('post_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('link_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('campaign', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('partner', sa.String(length=200), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_shoppable_order_credit_post_id_shoppable_post'),
            'shoppable_post', ['post_id'], ['id'], ondelete='SET NULL',
        )
        batch_op.create_foreign_key(
            batch_op.f('fk_shoppable_order_credit_link_id_shoppable_tracked_link'),
            'shoppable_tracked_link', ['link_id'], ['id'], ondelete='SET NULL',
        )
    op.execute(FROM_TOUCH)
    op.execute(FROM_ORDER)


def downgrade() -> None:
    with op.batch_alter_table('shoppable_order_credit', schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f('fk_shoppable_order_credit_link_id_shoppable_tracked_link'),
            type_='foreignkey',
        )
        batch_op.drop_constraint(
            batch_op.f('fk_shoppable_order_credit_post_id_shoppable_post'), type_='foreignkey'
        )
        batch_op.drop_column('partner')
        batch_op.drop_column('campaign')
        batch_op.drop_column('link_id')
        batch_op.drop_column('post_id')
        batch_op.drop_column('channel')
