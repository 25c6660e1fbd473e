"""merchant accounts, admin sessions, sign-in failures, shop settings (issue 6)

Revision ID: d1e0a4b5c005
Revises: d1e0a4b5c004
Create Date: 2026-11-24 13:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import flask_shoppable.db


revision: str = 'd1e0a4b5c005'
down_revision: str | Sequence[str] | None = 'd1e0a4b5c004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('shoppable_merchant_user',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', flask_shoppable.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_login_at', flask_shoppable.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shoppable_merchant_user')),
    sa.UniqueConstraint('email', name=op.f('uq_shoppable_merchant_user_email'))
    )
    op.create_table('shoppable_admin_session',
    sa.Column('id_hash', sa.String(length=64), nullable=False),
    sa.Column('merchant_id', sa.Integer(), nullable=False),
    sa.Column('created_at', flask_shoppable.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', flask_shoppable.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['shoppable_merchant_user.id'], name=op.f('fk_shoppable_admin_session_merchant_id_shoppable_merchant_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id_hash', name=op.f('pk_shoppable_admin_session'))
    )
    with op.batch_alter_table('shoppable_admin_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shoppable_admin_session_merchant_id'), ['merchant_id'], unique=False)

    op.create_table('shoppable_admin_login_failure',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('at', flask_shoppable.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shoppable_admin_login_failure'))
    )
    with op.batch_alter_table('shoppable_admin_login_failure', schema=None) as batch_op:
        batch_op.create_index('ix_shoppable_admin_login_failure_key_at', ['key', 'at'], unique=False)

    op.create_table('shoppable_shop_settings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('logo_url', sa.String(length=2000), nullable=False),
    sa.Column('accent_color', sa.String(length=7), nullable=False),
    sa.Column('social_handles', sa.JSON(), nullable=False),
    sa.Column('terms_url', sa.String(length=2000), nullable=False),
    sa.Column('privacy_url', sa.String(length=2000), nullable=False),
    sa.Column('returns_url', sa.String(length=2000), nullable=False),
    sa.Column('contact_email', sa.String(length=320), nullable=False),
    sa.Column('updated_at', flask_shoppable.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shoppable_shop_settings'))
    )


def downgrade() -> None:
    op.drop_table('shoppable_shop_settings')
    with op.batch_alter_table('shoppable_admin_login_failure', schema=None) as batch_op:
        batch_op.drop_index('ix_shoppable_admin_login_failure_key_at')

    op.drop_table('shoppable_admin_login_failure')
    with op.batch_alter_table('shoppable_admin_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shoppable_admin_session_merchant_id'))

    op.drop_table('shoppable_admin_session')
    op.drop_table('shoppable_merchant_user')
