"""people (issue 18): personal accounts, their sessions, failed sign-ins; tokens get an owner, expiry, scope, last use

A person signs in to the pages with an account of their own (`users`, keyed by email) and gets a session (its
random id kept as a SHA-256, with an expiry); failed sign-ins are counted per account and per client address for
rate limiting. Tokens stay for machines and gain an owner, an expiry, a scope (`read` or `write`) and their last
use. Tokens made before this revision keep no expiry (`expires_at` null: they last until revoked, as they were
made to) and the scope `write` they had.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 01:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('owner', sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('scope', sa.String(length=8), nullable=False, server_default='write'))
        batch_op.add_column(sa.Column('last_used_at', sa.DateTime(), nullable=True))
    op.create_table('users',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('party', sa.String(length=64), nullable=True),
    sa.Column('language', sa.String(length=8), nullable=False, server_default='nl'),
    sa.Column('enabled', sa.Boolean(), nullable=False, server_default=sa.true()),
    sa.Column('password_hash', sa.String(length=255), nullable=True),
    sa.Column('feed_key', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('disabled_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('email')
    )
    op.create_table('sessions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('method', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('closed_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id']),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('hash')
    )
    op.create_index('ix_sessions_user', 'sessions', ['user_id'], unique=False)
    op.create_table('sign_in_failures',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('key', sa.String(length=300), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_sign_in_failures_key_at', 'sign_in_failures', ['key', 'at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_sign_in_failures_key_at', table_name='sign_in_failures')
    op.drop_table('sign_in_failures')
    op.drop_index('ix_sessions_user', table_name='sessions')
    op.drop_table('sessions')
    op.drop_table('users')
    with op.batch_alter_table('tokens', schema=None) as batch_op:
        batch_op.drop_column('last_used_at')
        batch_op.drop_column('scope')
        batch_op.drop_column('expires_at')
        batch_op.drop_column('owner')
