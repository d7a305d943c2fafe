"""the verifiable log: per-agreement chains, the Merkle tree's leaves and subtrees, signed checkpoints

Records from here on are format 2: each is chained to its agreement's previous format-2 record (`chain_heads`,
one row per agreement, locked by the command that chains), not to one global head, and names the record it
corrects (`corrects`, issue 13). The records a release wrote before (format 1) keep their one global chain and
`chain_head` stays its head, so they verify as before; each agreement's first format-2 record starts its own chain
at the genesis hash. On PostgreSQL `seq` comes from the sequence `records_seq` (started after the highest seq
there is), so no lock is shared by all writers.

The log's tables start empty: the sequencer (engine/log.py, run by the scheduler and `clock advance`) appends
every record, the old ones first, as a leaf of the Merkle tree and signs the first checkpoint. Downgrading drops
them again (and format-2 records stay readable by the previous revision's code as rows; only its chain check,
which knows one chain, would call them broken).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 22:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

BIG = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('corrects', BIG, nullable=True))
        batch_op.create_index('ix_records_corrects', ['corrects'], unique=False)
    op.create_table('chain_heads',
    sa.Column('root', sa.String(length=200), nullable=False),
    sa.Column('seq', BIG, nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('records', BIG, nullable=False),
    sa.PrimaryKeyConstraint('root')
    )
    op.create_table('log_leaves',
    sa.Column('leaf_index', BIG, autoincrement=False, nullable=False),
    sa.Column('seq', BIG, nullable=False),
    sa.Column('leaf_hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('leaf_index'),
    sa.UniqueConstraint('seq')
    )
    op.create_table('log_subtrees',
    sa.Column('level', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('idx', BIG, autoincrement=False, nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('level', 'idx')
    )
    op.create_table('log_checkpoints',
    sa.Column('size', BIG, autoincrement=False, nullable=False),
    sa.Column('root', sa.String(length=64), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('tsa_token', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('size')
    )
    op.create_table('log_state',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('size', BIG, nullable=False),
    sa.Column('last_seq', BIG, nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        start = (bind.execute(sa.text("SELECT max(seq) FROM records")).scalar() or 0) + 1
        op.execute(sa.text(f"CREATE SEQUENCE records_seq START WITH {int(start)}"))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.text("DROP SEQUENCE IF EXISTS records_seq"))
    op.drop_table('log_state')
    op.drop_table('log_checkpoints')
    op.drop_table('log_subtrees')
    op.drop_table('log_leaves')
    op.drop_table('chain_heads')
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.drop_index('ix_records_corrects')
        batch_op.drop_column('corrects')
