"""connected accounts and publications (issue 8)

Revision ID: d1e0a4b5c007
Revises: d1e0a4b5c006
Create Date: 2026-11-24 13:40:00

Connected channel accounts (tokens encrypted at rest) and publications of posts to
them (state, own tracked link, the platform's post id and permalink).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import flask_shoppable.db


revision: str = 'd1e0a4b5c007'
down_revision: str | Sequence[str] | None = 'd1e0a4b5c006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('shoppable_channel_account',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('account_id', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('token_encrypted', sa.Text(), nullable=True),
    sa.Column('token_expires_at', flask_shoppable.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('catalog_id', sa.String(length=100), nullable=False),
    sa.Column('connected_at', flask_shoppable.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('disconnected_at', flask_shoppable.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', flask_shoppable.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', flask_shoppable.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("channel IN ('instagram', 'facebook', 'pinterest', 'linkedin', 'x')", name=op.f('ck_shoppable_channel_account_channel')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shoppable_channel_account')),
    sa.UniqueConstraint('channel', 'account_id', name=op.f('uq_shoppable_channel_account_channel_account_id'))
    )
    op.create_table('shoppable_publication',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('post_id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('link_id', sa.Integer(), nullable=True),
    sa.Column('caption', sa.Text(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('image_url', sa.String(length=2000), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('live', sa.Boolean(), nullable=True),
    sa.Column('failure_reason', sa.Text(), nullable=False),
    sa.Column('container_id', sa.String(length=100), nullable=False),
    sa.Column('platform_post_id', sa.String(length=255), nullable=False),
    sa.Column('permalink', sa.String(length=2000), nullable=False),
    sa.Column('publish_at', flask_shoppable.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('published_at', flask_shoppable.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('failed_at', flask_shoppable.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', flask_shoppable.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', flask_shoppable.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("(state = 'failed' AND live IS NULL) OR (state != 'failed' AND live IS NOT NULL)", name=op.f('ck_shoppable_publication_live_unless_failed')),
    sa.CheckConstraint("state IN ('scheduled', 'publishing', 'published', 'failed')", name=op.f('ck_shoppable_publication_state')),
    sa.ForeignKeyConstraint(['account_id'], ['shoppable_channel_account.id'], name=op.f('fk_shoppable_publication_account_id_shoppable_channel_account'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['link_id'], ['shoppable_tracked_link.id'], name=op.f('fk_shoppable_publication_link_id_shoppable_tracked_link'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['post_id'], ['shoppable_post.id'], name=op.f('fk_shoppable_publication_post_id_shoppable_post'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shoppable_publication')),
    sa.UniqueConstraint('post_id', 'account_id', 'live', name=op.f('uq_shoppable_publication_post_id_account_id_live'))
    )
    with op.batch_alter_table('shoppable_publication', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shoppable_publication_account_id'), ['account_id'], unique=False)
        batch_op.create_index('ix_shoppable_publication_channel_platform_id', ['channel', 'platform_post_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_shoppable_publication_post_id'), ['post_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('shoppable_publication', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shoppable_publication_post_id'))
        batch_op.drop_index('ix_shoppable_publication_channel_platform_id')
        batch_op.drop_index(batch_op.f('ix_shoppable_publication_account_id'))

    op.drop_table('shoppable_publication')
    op.drop_table('shoppable_channel_account')
