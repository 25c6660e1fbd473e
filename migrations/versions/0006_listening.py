"""social listening and comment-to-buy (issue 7)

Revision ID: d1e0a4b5c006
Revises: d1e0a4b5c005
Create Date: 2026-11-24 13:40:00

Meta webhook changes, media linked to posts, social identities, comments (with their
private reply's state) and per-post keyword rules.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import flask_shoppable.db


revision: str = 'd1e0a4b5c006'
down_revision: str | Sequence[str] | None = 'd1e0a4b5c005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('shoppable_meta_change',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('change_key', sa.String(length=255), nullable=False),
    sa.Column('object', sa.String(length=40), nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('field', sa.String(length=60), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('received_at', flask_shoppable.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('processed_at', flask_shoppable.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('received', 'processed', 'ignored', 'failed')", name=op.f('ck_shoppable_meta_change_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shoppable_meta_change')),
    sa.UniqueConstraint('change_key', name=op.f('uq_shoppable_meta_change_change_key'))
    )
    with op.batch_alter_table('shoppable_meta_change', schema=None) as batch_op:
        batch_op.create_index('ix_shoppable_meta_change_status', ['status', 'received_at'], unique=False)

    op.create_table('shoppable_post_media',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform', sa.String(length=20), nullable=False),
    sa.Column('media_id', sa.String(length=64), nullable=False),
    sa.Column('post_id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('created_at', flask_shoppable.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("platform IN ('instagram', 'facebook')", name=op.f('ck_shoppable_post_media_platform')),
    sa.CheckConstraint("source IN ('manual', 'published')", name=op.f('ck_shoppable_post_media_source')),
    sa.ForeignKeyConstraint(['post_id'], ['shoppable_post.id'], name=op.f('fk_shoppable_post_media_post_id_shoppable_post'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shoppable_post_media')),
    sa.UniqueConstraint('platform', 'media_id', name=op.f('uq_shoppable_post_media_platform_media_id'))
    )
    with op.batch_alter_table('shoppable_post_media', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shoppable_post_media_post_id'), ['post_id'], unique=False)

    op.create_table('shoppable_social_identity',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform', sa.String(length=20), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('username', sa.String(length=200), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('first_seen_at', flask_shoppable.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', flask_shoppable.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("platform IN ('instagram', 'facebook')", name=op.f('ck_shoppable_social_identity_platform')),
    sa.ForeignKeyConstraint(['customer_id'], ['shoppable_customer.id'], name=op.f('fk_shoppable_social_identity_customer_id_shoppable_customer'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shoppable_social_identity')),
    sa.UniqueConstraint('platform', 'user_id', name=op.f('uq_shoppable_social_identity_platform_user_id'))
    )
    with op.batch_alter_table('shoppable_social_identity', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shoppable_social_identity_customer_id'), ['customer_id'], unique=False)

    op.create_table('shoppable_comment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform', sa.String(length=20), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('comment_id', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('media_id', sa.String(length=64), nullable=False),
    sa.Column('post_id', sa.Integer(), nullable=True),
    sa.Column('identity_id', sa.Integer(), nullable=True),
    sa.Column('interaction_id', sa.Uuid(), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('keyword', sa.String(length=100), nullable=False),
    sa.Column('reply_status', sa.String(length=20), nullable=False),
    sa.Column('reply_error', sa.String(length=500), nullable=False),
    sa.Column('replied_at', flask_shoppable.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('clicks', sa.Integer(), nullable=False),
    sa.Column('first_click_at', flask_shoppable.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', flask_shoppable.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('received_at', flask_shoppable.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('comment', 'mention')", name=op.f('ck_shoppable_comment_kind')),
    sa.CheckConstraint("platform IN ('instagram', 'facebook')", name=op.f('ck_shoppable_comment_platform')),
    sa.CheckConstraint("reply_status IN ('none', 'queued', 'sent', 'failed', 'skipped')", name=op.f('ck_shoppable_comment_reply_status')),
    sa.CheckConstraint("status IN ('recorded', 'unlinked', 'flood')", name=op.f('ck_shoppable_comment_status')),
    sa.ForeignKeyConstraint(['identity_id'], ['shoppable_social_identity.id'], name=op.f('fk_shoppable_comment_identity_id_shoppable_social_identity'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['post_id'], ['shoppable_post.id'], name=op.f('fk_shoppable_comment_post_id_shoppable_post'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shoppable_comment')),
    sa.UniqueConstraint('interaction_id', name=op.f('uq_shoppable_comment_interaction_id')),
    sa.UniqueConstraint('platform', 'comment_id', name=op.f('uq_shoppable_comment_platform_comment_id'))
    )
    with op.batch_alter_table('shoppable_comment', schema=None) as batch_op:
        batch_op.create_index('ix_shoppable_comment_identity_post', ['identity_id', 'post_id', 'created_at'], unique=False)
        batch_op.create_index('ix_shoppable_comment_media', ['platform', 'media_id'], unique=False)
        batch_op.create_index('ix_shoppable_comment_post', ['post_id', 'created_at'], unique=False)

    op.create_table('shoppable_keyword_rule',
    sa.Column('post_id', sa.Integer(), nullable=False),
    sa.Column('keywords', sa.JSON(), nullable=False),
    sa.Column('message', sa.String(length=900), nullable=False),
    sa.Column('updated_at', flask_shoppable.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['post_id'], ['shoppable_post.id'], name=op.f('fk_shoppable_keyword_rule_post_id_shoppable_post'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('post_id', name=op.f('pk_shoppable_keyword_rule'))
    )


def downgrade() -> None:
    op.drop_table('shoppable_keyword_rule')
    with op.batch_alter_table('shoppable_comment', schema=None) as batch_op:
        batch_op.drop_index('ix_shoppable_comment_post')
        batch_op.drop_index('ix_shoppable_comment_media')
        batch_op.drop_index('ix_shoppable_comment_identity_post')
    op.drop_table('shoppable_comment')
    with op.batch_alter_table('shoppable_social_identity', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shoppable_social_identity_customer_id'))
    op.drop_table('shoppable_social_identity')
    with op.batch_alter_table('shoppable_post_media', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shoppable_post_media_post_id'))
    op.drop_table('shoppable_post_media')
    with op.batch_alter_table('shoppable_meta_change', schema=None) as batch_op:
        batch_op.drop_index('ix_shoppable_meta_change_status')
    op.drop_table('shoppable_meta_change')
