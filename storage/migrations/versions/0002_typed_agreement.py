"""the typed, versioned agreement: row formats, reference data apart, the process log

Every process row and outbox row says its format (`format`, 1 for what the previous release wrote). The process
rows are moved to format 2 (engine/upcast.py): the static reference data that format 1 copied into every
agreement's row (contacts, governance, the themes' commitment texts and targets) goes to `reference_data`, one
row per distinct content, and the progress reports it appended to the row go to `process_log`. The conversion is
the upcaster the engine uses to read a format-1 row, so what this migration writes is what the engine would write
when it next saved each process. Downgrading puts everything back into format-1 rows.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 12:00:00
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from alembic import op

from convenant.engine import upcast
from convenant.storage.store import decode_process, log_rows, process_values

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

# The tables as this revision knows them (not storage/tables.py, which moves on with later revisions).
processes = sa.table(
    "processes", sa.column("id", sa.String), sa.column("workflow", sa.String), sa.column("ptype", sa.String),
    sa.column("parent_id", sa.String), sa.column("root_id", sa.String), sa.column("state", sa.String),
    sa.column("final", sa.Boolean), sa.column("version", sa.Integer), sa.column("data", sa.JSON),
    sa.column("format", sa.Integer), sa.column("created_at", sa.DateTime), sa.column("next_auto_at", sa.DateTime))
reference_data = sa.table(
    "reference_data", sa.column("id", sa.String), sa.column("format", sa.Integer), sa.column("content", sa.JSON),
    sa.column("created_at", sa.DateTime))
process_log = sa.table(
    "process_log", sa.column("process_id", sa.String), sa.column("root_id", sa.String), sa.column("kind", sa.String),
    sa.column("subject", sa.String), sa.column("effective", sa.Date), sa.column("recorded_at", sa.DateTime),
    sa.column("data", sa.JSON))


def upgrade() -> None:
    with op.batch_alter_table('processes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('format', sa.Integer(), server_default=sa.text('1'), nullable=False))
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('format', sa.Integer(), server_default=sa.text('1'), nullable=False))
    op.create_table('reference_data',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('format', sa.Integer(), nullable=False),
    sa.Column('content', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('process_log',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('process_id', sa.String(length=200), nullable=False),
    sa.Column('root_id', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=True),
    sa.Column('effective', sa.Date(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('process_log', schema=None) as batch_op:
        batch_op.create_index('ix_process_log_root_kind', ['root_id', 'kind', 'subject'], unique=False)
    _rows_to_format_2(op.get_bind())


def downgrade() -> None:
    _rows_to_format_1(op.get_bind())
    with op.batch_alter_table('process_log', schema=None) as batch_op:
        batch_op.drop_index('ix_process_log_root_kind')
    op.drop_table('process_log')
    op.drop_table('reference_data')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('format')
    with op.batch_alter_table('processes', schema=None) as batch_op:
        batch_op.drop_column('format')


# -- data -------------------------------------------------------------------------------------------------------
def _rows_to_format_2(conn: sa.Connection) -> None:
    """Each format-1 row through the engine's upcaster and its current-format writer (engine/upcast.py)."""
    stored: set[str] = set()
    rows = conn.execute(sa.select(processes).where(processes.c.format == 1).order_by(processes.c.id)).mappings()
    for row in list(rows):
        p, inline = decode_process(row, _no_reference)
        if inline is not None and p.reference is not None and p.reference.id not in stored:
            exists = conn.execute(sa.select(reference_data.c.id).where(reference_data.c.id == p.reference.id)).first()
            if exists is None:
                conn.execute(reference_data.insert().values(id=p.reference.id, format=upcast.REFERENCE_FORMAT,
                                                            content=inline, created_at=row["created_at"]))
            stored.add(p.reference.id)
        if p.new_log:
            conn.execute(process_log.insert(), log_rows(p))
        conn.execute(processes.update().where(processes.c.id == p.id).values(**process_values(p)))


def _no_reference(rid: str) -> Any:
    raise LookupError(f"a format-1 row names no reference row ({rid})")


def _rows_to_format_1(conn: sa.Connection) -> None:
    """The reverse: reference data and reports back into each row, as the previous release kept them."""
    references = {r["id"]: r["content"] for r in conn.execute(sa.select(reference_data)).mappings()}
    reports: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in conn.execute(sa.select(process_log).order_by(sa.text("id"))).mappings():
        if r["kind"] == "progress_report":
            reports.setdefault((r["process_id"], r["subject"]), []).append({
                "on": r["effective"].isoformat(), "status": r["data"].get("status"), "text": r["data"].get("text"),
                "recorded_at": r["recorded_at"].replace(tzinfo=dt.UTC).isoformat()})
    rows = conn.execute(sa.select(processes.c.id, processes.c.data).where(processes.c.format == 2)).mappings()
    for row in list(rows):
        data = _format_1(row["id"], row["data"], references, reports)
        conn.execute(processes.update().where(processes.c.id == row["id"]).values(data=data, format=1))


def _format_1(pid: str, v2: dict[str, Any], references: dict[str, Any],
              reports: dict[tuple[str, str], list[dict[str, Any]]]) -> dict[str, Any]:
    decisions = v2.get("decisions") or {}
    out: dict[str, Any] = {"facts": v2.get("facts") or {}}
    if decisions:
        out["decisions"] = {n: {k: v for k, v in d.items() if k != "decided_on" or v is not None}
                            for n, d in decisions.items()}
    if "parties" not in v2:
        return out
    ref = references.get(v2.get("reference") or "", {"contacts": {}, "governance": {}, "plugins": {}})
    themes_ref = (ref.get("plugins") or {}).get("themes") or {"themes": {}, "targets": []}
    themes_state = (v2.get("plugins") or {}).get("themes") or {"themes": {}, "government_contacts": {}}
    themes = {}
    for tid, info in themes_ref["themes"].items():
        state = themes_state["themes"].get(tid) or {}
        themes[tid] = {**info, "status": state.get("status"), "last_report": state.get("last_report"),
                       "escalation_level": state.get("escalation_level", 0),
                       "sign_ups": state.get("sign_ups") or []}
        if state.get("last_report") is not None:
            themes[tid]["last_report_text"] = state.get("last_report_text")
        if (pid, tid) in reports:
            themes[tid]["reports"] = reports[(pid, tid)]
    out.update({
        "title": v2.get("title"), "entered_at": v2.get("entered_at"),
        "parties": {p: {**party, "contacts": ref["contacts"].get(p, [])} for p, party in v2["parties"].items()},
        "themes": themes,
        "governance": {k: {kk: vv for kk, vv in body.items()} for k, body in ref["governance"].items()},
        "vth_targets": [{"layer": t["layer"], "due": t["due"], "source": t.get("source")}
                        for t in themes_ref["targets"] if t["theme"] == "vth"],
    })
    for key in ("text_versions", "counters"):
        if v2.get(key):
            out[key] = v2[key]
    if v2.get("children"):
        out["children"] = [{"id": c["id"], "ptype": c["ptype"], "final": c["final"], **c.get("facts", {}),
                            **({"state": c["state"]} if c.get("state") else {})} for c in v2["children"]]
    contacts = themes_state.get("government_contacts") or {}
    if contacts:
        out["government_contacts"] = {g: [{**c, "government": g} for c in cs] for g, cs in contacts.items()}
    return out
