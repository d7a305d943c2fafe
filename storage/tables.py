"""The schema. Times are naive UTC; legal dates are DATE; the history keeps its rendered text so that the hash
chain does not depend on how a backend round-trips a datetime."""
from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

meta = sa.Table(
    "meta", metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

processes = sa.Table(
    "processes", metadata,
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("workflow", sa.String(64), nullable=False),
    sa.Column("ptype", sa.String(64), nullable=False),
    sa.Column("parent_id", sa.String(200), nullable=True),
    sa.Column("root_id", sa.String(200), nullable=False),
    sa.Column("state", sa.String(64), nullable=False),
    sa.Column("final", sa.Boolean, nullable=False, default=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    # the format of `data` (engine/upcast.py); rows written before the column existed are format 1
    sa.Column("format", sa.Integer, nullable=False, server_default=sa.text("1")),
    # the version of the workflow definition the process runs under (`convenant migrate` moves it)
    sa.Column("definition_version", sa.Integer, nullable=False, server_default=sa.text("1")),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Column("next_auto_at", sa.DateTime, nullable=True),
    sa.Index("ix_processes_root", "root_id"),
    sa.Index("ix_processes_next_auto", "next_auto_at", postgresql_where=sa.text("next_auto_at IS NOT NULL"),
             sqlite_where=sa.text("next_auto_at IS NOT NULL")),
)

deadlines = sa.Table(
    "deadlines", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("process_id", sa.String(200), nullable=False),
    sa.Column("root_id", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("subject", sa.String(200), nullable=True),
    sa.Column("due", sa.Date, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("article", sa.String(64), nullable=False),
    sa.Column("rule", sa.Text, nullable=False),
    sa.Column("moment", sa.Boolean, nullable=False, default=False),
    sa.Column("responsible", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("met_on", sa.Date, nullable=True),
    sa.Column("missed_at", sa.DateTime, nullable=True),
    sa.Column("step", sa.Integer, nullable=False, default=0),
    sa.Column("next_at", sa.DateTime, nullable=True),
    sa.Index("ix_deadlines_process", "process_id"),
    sa.Index("ix_deadlines_root", "root_id"),
    # The sweep asks only for rows with a next step: a partial index keeps it linear.
    sa.Index("ix_deadlines_next_at", "next_at", postgresql_where=sa.text("next_at IS NOT NULL"),
             sqlite_where=sa.text("next_at IS NOT NULL")),
    sa.Index("ix_deadlines_status_due", "status", "due"),
)

records = sa.Table(
    "records", metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=False),
    sa.Column("process", sa.String(200), nullable=False),
    sa.Column("root", sa.String(200), nullable=False),
    sa.Column("trigger", sa.String(64), nullable=False),
    sa.Column("source", sa.String(64), nullable=True),
    sa.Column("dest", sa.String(64), nullable=True),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("party", sa.String(64), nullable=True),
    sa.Column("effective", sa.String(10), nullable=False),
    sa.Column("recorded_at", sa.String(40), nullable=False),
    sa.Column("article", sa.String(64), nullable=False),
    sa.Column("ref", sa.Text, nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("format", sa.Integer, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    # the seq of the record this one corrects (issue 13), committed in the record's hash and its leaf (format 2)
    sa.Column("corrects", sa.BigInteger().with_variant(sa.Integer, "sqlite"), nullable=True),
    sa.Index("ix_records_root_seq", "root", "seq"),
    sa.Index("ix_records_process_seq", "process", "seq"),
    sa.Index("ix_records_corrects", "corrects"),
)

# PostgreSQL hands out `records.seq` from this sequence (no lock shared by all writers; a rolled-back command
# leaves a gap); SQLite, whose writers queue anyway, takes max(seq) + 1 and has no gaps.
records_seq = sa.Sequence("records_seq", metadata=metadata)

# Format-1 records (release 0.1.0) form one chain over the whole database; this row is its head. Records of
# format 2 chain per agreement (chain_heads) and never touch it.
chain_head = sa.Table(
    "chain_head", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

# The head of each agreement's own chain (format-2 records): the last record of the agreement and its children. A
# command locks its agreement's row here (FOR UPDATE on PostgreSQL) only to chain its record: commands on
# different agreements never wait for each other.
chain_heads = sa.Table(
    "chain_heads", metadata,
    sa.Column("root", sa.String(200), primary_key=True),
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("records", sa.BigInteger().with_variant(sa.Integer, "sqlite"), nullable=False),
)

# The global log (engine/log.py): every record, in seq order, is one leaf of an append-only RFC 9162 Merkle tree.
log_leaves = sa.Table(
    "log_leaves", metadata,
    sa.Column("leaf_index", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
              autoincrement=False),
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), nullable=False, unique=True),
    sa.Column("leaf_hash", sa.String(64), nullable=False),
)

# Complete subtrees of the log (level, index) -> hash of the 2**level leaves from index * 2**level: they never
# change, so roots and proofs cost O(log n) reads.
log_subtrees = sa.Table(
    "log_subtrees", metadata,
    sa.Column("level", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("idx", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

# Signed checkpoints (C2SP signed notes), one per tree size the sequencer reached; with an RFC 3161 token when a
# time-stamping authority is configured ([log] tsa_url).
log_checkpoints = sa.Table(
    "log_checkpoints", metadata,
    sa.Column("size", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=False),
    sa.Column("root", sa.String(64), nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("tsa_token", sa.Text, nullable=True),
)

# The sequencer's own row: the tree size and the last seq appended. Sequencers lock it (never commands).
log_state = sa.Table(
    "log_state", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("size", sa.BigInteger().with_variant(sa.Integer, "sqlite"), nullable=False),
    sa.Column("last_seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), nullable=False),
)

outbox = sa.Table(
    "outbox", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(400), nullable=False, unique=True),
    sa.Column("process_id", sa.String(200), nullable=False),
    sa.Column("root_id", sa.String(200), nullable=False),
    sa.Column("deadline_id", sa.Integer, nullable=True),
    sa.Column("record_seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), nullable=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("to_addr", sa.String(320), nullable=False),
    sa.Column("to_name", sa.String(200), nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    # the format of `payload` (engine/upcast.py); rows queued before the column existed are format 1
    sa.Column("format", sa.Integer, nullable=False, server_default=sa.text("1")),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("next_attempt_at", sa.DateTime, nullable=True),
    sa.Column("sent_at", sa.DateTime, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("message_id", sa.String(200), nullable=True),
    sa.Index("ix_outbox_due", "next_attempt_at", postgresql_where=sa.text("status = 'pending'"),
             sqlite_where=sa.text("status = 'pending'")),
    sa.Index("ix_outbox_process", "root_id"),
)

# An agreement's static reference data (contacts, governance, the plug-ins' texts such as the themes'
# commitments): immutable, stored once under the SHA-256 of its content and named by the agreements' rows.
reference_data = sa.Table(
    "reference_data", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("format", sa.Integer, nullable=False),
    sa.Column("content", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

# A process's log (a plug-in's account of acts, such as the themes' progress reports): appended, never changed.
process_log = sa.Table(
    "process_log", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("process_id", sa.String(200), nullable=False),
    sa.Column("root_id", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("subject", sa.String(200), nullable=True),
    sa.Column("effective", sa.Date, nullable=False),
    sa.Column("recorded_at", sa.DateTime, nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Index("ix_process_log_root_kind", "root_id", "kind", "subject"),
)

refusals = sa.Table(
    "refusals", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("process", sa.String(200), nullable=True),
    sa.Column("trigger", sa.String(64), nullable=True),
    sa.Column("actor", sa.String(200), nullable=True),
    sa.Column("role", sa.String(32), nullable=True),
    sa.Column("party", sa.String(64), nullable=True),
    sa.Column("code", sa.Integer, nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("article", sa.String(64), nullable=True),
)

tokens = sa.Table(
    "tokens", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("party", sa.String(64), nullable=True),
    sa.Column("hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("revoked_at", sa.DateTime, nullable=True),
    # migration 0005: who owns it (a person's email or a service account's name), until when, what it may do
    sa.Column("owner", sa.String(254), nullable=True),
    sa.Column("expires_at", sa.DateTime, nullable=True),       # None: made before tokens expired
    sa.Column("scope", sa.String(8), nullable=False, server_default="write"),
    sa.Column("last_used_at", sa.DateTime, nullable=True),
)

# -- people (migration 0005): personal accounts, their sessions, failed sign-ins -----------------------------
users = sa.Table(
    "users", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("email", sa.String(254), nullable=False, unique=True),     # lower case: the key
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("party", sa.String(64), nullable=True),
    sa.Column("language", sa.String(8), nullable=False, server_default="nl"),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("password_hash", sa.String(255), nullable=True),          # Argon2id, or none (no local sign-in)
    sa.Column("feed_key", sa.String(64), nullable=False),                # the HMAC key of the calendar feed secrets
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("disabled_at", sa.DateTime, nullable=True),
)

sessions = sa.Table(
    "sessions", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("hash", sa.String(64), nullable=False, unique=True),      # SHA-256 of the session id
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("method", sa.String(32), nullable=False),                 # password, oidc, token, ...
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("last_seen_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
    sa.Column("closed_at", sa.DateTime, nullable=True),
    sa.Index("ix_sessions_user", "user_id"),
)

sign_in_failures = sa.Table(
    "sign_in_failures", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(300), nullable=False),                   # "email:..." or "address:..."
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Index("ix_sign_in_failures_key_at", "key", "at"),
)
