"""the definition version a process runs under (issue 13: `convenant migrate`)

Each process row names the version of its workflow definition it runs under, so that a running agreement can be
moved to another version as one recorded migration. Rows written before the column existed ran under version 1,
the only version a release before this one shipped.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 00:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('processes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('definition_version', sa.Integer(), nullable=False,
                                      server_default=sa.text('1')))


def downgrade() -> None:
    with op.batch_alter_table('processes', schema=None) as batch_op:
        batch_op.drop_column('definition_version')
