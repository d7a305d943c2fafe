"""The process store: one SQL transaction per command, versioned process rows, the chained history, deadlines
and the outbox. SQLite runs in WAL mode with writers serialised (BEGIN IMMEDIATE); PostgreSQL uses row locks."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, overload

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from convenant.engine import upcast
from convenant.engine.clock import UTC, monotonic
from convenant.engine.definitions import WorkflowRef, version_of
from convenant.engine.errors import BadInput, Conflict, ConvenantError
from convenant.engine.history import HISTORY_FIELDS
from convenant.engine.model import Deadline, DeadlineStatus, LogEntry, Notification, Process, Record, Reference
from convenant.storage import tables as t

# Format 1: release 0.1.0's records, one chain over the whole database (chain_head). Format 2: each record is
# chained to its agreement's previous format-2 record (chain_heads) and commits to the record it corrects.
RECORD_FORMAT = 2
GENESIS = "0" * 64
def naive(moment: dt.datetime | None) -> dt.datetime | None:
    return None if moment is None else moment.astimezone(UTC).replace(tzinfo=None)


@overload
def aware(moment: dt.datetime) -> dt.datetime: ...
@overload
def aware(moment: None) -> None: ...
def aware(moment: dt.datetime | None) -> dt.datetime | None:
    """A naive UTC time as stored (SQLite keeps no zone) made aware again."""
    return None if moment is None else moment.replace(tzinfo=UTC)


def utc(moment: dt.datetime) -> dt.datetime:
    """A stored (naive UTC) time that is never missing, as an aware one."""
    return moment.replace(tzinfo=UTC)


def record_hash(fields: dict[str, Any], prev_hash: str) -> str:
    """SHA-256 over the record's content and the previous record's hash."""
    body = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev_hash + "\n" + body).encode("utf-8")).hexdigest()


def hashed_fields(row: dict[str, Any]) -> dict[str, Any]:
    keys = ("seq", "process", "root", "trigger", "source", "dest", "actor", "role", "party", "effective",
            "recorded_at", "article", "ref", "reason", "data", "format")
    out = {k: row[k] for k in keys}
    if (row.get("format") or 1) >= 2:
        out["corrects"] = row.get("corrects")
    return out


def chained_row(rec: Record, head: Any, *, seq: int | None = None, fmt: int = RECORD_FORMAT) -> dict[str, Any]:
    """The stored row of a record appended after `head` (the head of its chain, a row with `seq` and `hash`; None
    for the first record of a chain): its sequence number (`seq`, else the head's next), its content as it is
    hashed, the previous hash and its own. Every store writes this row, so the same commands on the same clock give
    the same chains on every backend."""
    prev = head["hash"] if head else GENESIS
    if seq is None:
        seq = (head["seq"] if head else 0) + 1
    row = {"seq": seq, "process": rec.process, "root": rec.root, "trigger": rec.trigger,
           "source": rec.source, "dest": rec.dest, "actor": rec.actor, "role": rec.role, "party": rec.party,
           "effective": rec.effective, "recorded_at": rec.recorded_at, "article": rec.article,
           "ref": rec.ref, "reason": rec.reason,
           "data": json.dumps(rec.data, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
           "format": fmt, "prev_hash": prev}
    if fmt >= 2:
        row["corrects"] = getattr(rec, "corrects", None)
    row["hash"] = record_hash(hashed_fields(row), prev)
    return row


def record_view(row: Any) -> dict[str, Any]:
    """A stored record row as `history` shows it (INTERFACE.md's fields, its data, the previous hash and the
    record it corrects)."""
    out = {k: row[k] for k in HISTORY_FIELDS}
    out["data"] = json.loads(row["data"]) if row["data"] else {}
    out["prev_hash"] = row["prev_hash"]
    out["corrects"] = _get(row, "corrects")
    return out


def _get(row: Any, key: str) -> Any:
    try:
        return row[key]
    except KeyError:
        return None


def check_chain(rows: Iterable[Any], read_head: Callable[[], Any],
                read_heads: Callable[[], Iterable[Any]] = lambda: ()) -> dict[str, Any]:
    """Recompute every hash in order: the one judgement of the chains, whichever store holds them. `rows` are
    record rows in order of `seq`, streamed or whole.

    Format-1 records (release 0.1.0) form one chain over the database: an edited record is found by its hash, a
    removed or reordered one by the gap-free sequence and the previous hash, a removed tail by the chain head
    (`read_head`, read once the records have all been seen). Format-2 records chain per agreement: each names the
    hash of its agreement's previous format-2 record (the genesis hash for the first), so an edit, a removal, an
    insertion or a move within an agreement breaks its hash or the next record's link, and a removed tail shows
    against the agreement's chain head (`read_heads`: rows of root, seq, hash, records). `seq` only has to grow:
    on PostgreSQL a rolled-back command leaves a gap."""
    legacy_prev, legacy_expected, count, last_seq = GENESIS, 1, 0, 0
    heads: dict[str, tuple[str, int, int]] = {}          # root -> (hash, seq, records) as found
    for row in rows:
        problem = None
        fmt = row["format"] or 1
        if row["seq"] <= last_seq:
            problem = f"its seq does not follow record {last_seq} (records reordered)"
        elif fmt == 1:
            if row["seq"] != legacy_expected:
                problem = f"record {legacy_expected} is missing (next is {row['seq']})"
            elif row["prev_hash"] != legacy_prev:
                problem = "its link to the previous record does not match"
        elif row["prev_hash"] != heads.get(row["root"], (GENESIS, 0, 0))[0]:
            problem = (f"its link to the previous record of agreement {row['root']} does not match (a record of its "
                       f"chain was removed, inserted or moved)")
        if problem is None and record_hash(hashed_fields(row), row["prev_hash"]) != row["hash"]:
            problem = "its content does not match its hash (edited)"
        if problem:
            first = min(row["seq"], legacy_expected) if fmt == 1 and "missing" in problem else row["seq"]
            return {"intact": False, "records": count, "first_bad": first, "problem": problem}
        if fmt == 1:
            legacy_prev, legacy_expected = row["hash"], legacy_expected + 1
        else:
            found = heads.get(row["root"], (GENESIS, 0, 0))
            heads[row["root"]] = (row["hash"], row["seq"], found[2] + 1)
        count, last_seq = count + 1, row["seq"]
    legacy = legacy_expected - 1
    head = read_head()
    if head and (head["seq"] != legacy or head["hash"] != legacy_prev):
        return {"intact": False, "records": count, "first_bad": legacy + 1,
                "problem": f"the chain head says {head['seq']} records but {legacy} were found (records removed "
                           f"at the end)"}
    for h in read_heads():
        found = heads.get(h["root"], (GENESIS, 0, 0))
        if h["records"] and (found[0] != h["hash"] or found[2] != h["records"]):
            return {"intact": False, "records": count, "first_bad": h["seq"],
                    "problem": f"the chain of agreement {h['root']} should end in record {h['seq']} after "
                               f"{h['records']} records, but {found[2]} were found ending in record {found[1]} "
                               f"(records removed at the end)"}
    return {"intact": True, "records": count, "head": legacy_prev if not heads else _last_head(heads, legacy_prev)}


def _last_head(heads: dict[str, tuple[str, int, int]], legacy: str) -> str:
    """The hash of the last record of all (the newest chain head): what `audit verify` prints as the head."""
    return max(heads.values(), key=lambda h: h[1])[0] if heads else legacy


SYNCHRONOUS = ("full", "normal")


def make_engine(url: str, echo: bool = False, synchronous: str = "full") -> Engine:
    """`synchronous` (SQLite, [database] sqlite_synchronous): FULL by default, so that a committed command
    survives a power failure (WAL with NORMAL may lose the last commits)."""
    if synchronous not in SYNCHRONOUS:
        raise BadInput(f"[database] sqlite_synchronous {synchronous!r} is not one of {', '.join(SYNCHRONOUS)}",
                       field="database.sqlite_synchronous")
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, echo=echo, connect_args={"timeout": 60, "isolation_level": None})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            if ":memory:" not in url:
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={synchronous.upper()}")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn):  # writers queue up here instead of failing on a stale snapshot
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    engine = sa.create_engine(url, echo=echo)
    _ping_when_idle(engine)
    return engine


# A pooled connection that sat unused longer than this is pinged before it is handed out again.
IDLE_PING_SECONDS = 10.0


def _ping_when_idle(engine: Engine) -> None:
    """Instead of the pool's pre-ping (a round trip before every command, issue 15): a connection is pinged at
    checkout only when it sat in the pool for more than IDLE_PING_SECONDS, the time in which a server restart or
    an idle timeout may have closed it; a dead one is replaced by a fresh connection (DisconnectionError makes
    the pool retry). A connection in steady use is never pinged; one dropped while in use fails that command
    (exit 1, "cannot reach"), and SQLAlchemy then invalidates the pool, so the next command connects anew."""
    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is not None and monotonic() - since > IDLE_PING_SECONDS:
            try:
                alive = engine.dialect.do_ping(dbapi_conn)
            except engine.dialect.loaded_dbapi.Error:    # a connection that cannot run SELECT 1 is dead
                alive = False
            if not alive:
                raise sa.exc.DisconnectionError("the database closed an idle connection")


# Statements on the scheduler's hot path, built once: building and cache-keying a statement costs more in
# Python than running it does on the database (bench/: the reminder sweep).
_PROCESS = sa.select(t.processes).where(t.processes.c.id == sa.bindparam("pid"))
_PROCESS_LOCKED = _PROCESS.with_for_update()
_DEADLINE = sa.select(t.deadlines).where(t.deadlines.c.id == sa.bindparam("did"))
_DEADLINE_LOCKED = _DEADLINE.with_for_update(skip_locked=True)
_DEADLINE_UPDATE = t.deadlines.update().where(t.deadlines.c.id == sa.bindparam("did"))
_DUE_PROCESSES = (sa.select(t.processes.c.next_auto_at, t.processes.c.id)
                  .where(t.processes.c.next_auto_at <= sa.bindparam("now"))
                  .order_by(t.processes.c.next_auto_at, t.processes.c.id).limit(sa.bindparam("lim")))
_DUE_DEADLINES = (sa.select(t.deadlines.c.next_at, t.deadlines.c.id)
                  .where(t.deadlines.c.next_at <= sa.bindparam("now"))
                  .order_by(t.deadlines.c.next_at, t.deadlines.c.id).limit(sa.bindparam("lim")))
_CLAIM_PROCESSES = _DUE_PROCESSES.with_for_update(skip_locked=True)
_CLAIM_DEADLINES = _DUE_DEADLINES.with_for_update(skip_locked=True)
_DEADLINES_IN = sa.select(t.deadlines).where(t.deadlines.c.id.in_(sa.bindparam("ids", expanding=True)))
_PROCESSES_IN = sa.select(t.processes).where(t.processes.c.id.in_(sa.bindparam("ids", expanding=True)))
# ... and on every command's path (bench/: durable commands)
_REFERENCE = sa.select(t.reference_data.c.format, t.reference_data.c.content).where(
    t.reference_data.c.id == sa.bindparam("rid"))


def insert_ignoring(table: sa.Table, key: str, columns: Iterable[str]) -> sa.TextClause:
    """`INSERT ... ON CONFLICT (key) DO NOTHING` as a text statement whose parameters keep their columns' types
    (JSON, times). SQLAlchemy cannot cache the dialects' `insert().on_conflict_do_nothing()` and compiles it again
    on every execution (216 µs against 34 µs cached, issue 15); a text statement is compiled once. The same text
    runs on SQLite (3.24 on) and PostgreSQL. Built once per table and column list (`_ignoring`)."""
    cols = list(columns)
    sql = (f"INSERT INTO {table.name} ({', '.join(_quoted(c) for c in cols)}) "
           f"VALUES ({', '.join(':' + c for c in cols)}) ON CONFLICT ({_quoted(key)}) DO NOTHING")
    return sa.text(sql).bindparams(*[sa.bindparam(c, type_=table.c[c].type) for c in cols])


def _quoted(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


_IGNORING: dict[tuple[str, tuple[str, ...]], sa.TextClause] = {}


def _ignoring(table: sa.Table, key: str, row: dict[str, Any]) -> sa.TextClause:
    found = _IGNORING.get((table.name, tuple(row)))
    if found is None:
        found = _IGNORING[table.name, tuple(row)] = insert_ignoring(table, key, row)
    return found


_LOG_INSERT = t.process_log.insert()
_PROCESS_UPDATE = (t.processes.update()
                   .where(t.processes.c.id == sa.bindparam("pid"), t.processes.c.version == sa.bindparam("seen")))
_DEADLINES_OF = (sa.select(t.deadlines).where(t.deadlines.c.process_id == sa.bindparam("pid"))
                 .order_by(t.deadlines.c.due, t.deadlines.c.id))
_CHAIN_HEAD = sa.select(t.chain_head.c.seq, t.chain_head.c.hash).where(t.chain_head.c.id == 1)
_CHAIN_HEAD_LOCKED = _CHAIN_HEAD.with_for_update()
_CHAIN_HEAD_UPDATE = t.chain_head.update().where(t.chain_head.c.id == 1)
_HEAD = sa.select(t.chain_heads).where(t.chain_heads.c.root == sa.bindparam("r"))
_HEAD_LOCKED = _HEAD.with_for_update()
# SQLite: the head and the database's highest seq (the next record takes max + 1) in one statement
_HEAD_AND_MAX = sa.select(t.chain_heads, sa.select(sa.func.coalesce(sa.func.max(t.records.c.seq), 0))
                          .scalar_subquery().label("max_seq")).where(t.chain_heads.c.root == sa.bindparam("r"))
_HEAD_UPDATE = t.chain_heads.update().where(t.chain_heads.c.root == sa.bindparam("r"))
_RECORD_INSERT = t.records.insert()
# the advisory lock between commands drawing a seq (shared) and the sequencer's look at the horizon (exclusive)
LOG_LOCK_KEY = 0x636F6E76        # "conv"
_LOG_SHARED_NEXTVAL = sa.text(f"SELECT nextval('records_seq') FROM pg_advisory_xact_lock_shared({LOG_LOCK_KEY})")
_LOG_STATE = sa.select(t.log_state.c.size, t.log_state.c.last_seq).where(t.log_state.c.id == 1)
_LOG_STATE_LOCKED = _LOG_STATE.with_for_update()
_META_ALL = sa.select(t.meta.c.key, t.meta.c.value)


class Tx:
    """One unit of work on one connection, inside one transaction."""

    def __init__(self, conn: Connection, store: SqlStore) -> None:
        self.conn = conn
        self.store = store
        self.pg = store.is_postgres
        # batch mode (the scheduler's run_due, see prefetch): rows read ahead, writes held until flush
        self._ahead: dict[tuple[str, Any], Any] = {}
        self._deadline_writes: dict[int, dict[str, Any]] | None = None
        self._outbox_rows: list[dict[str, Any]] = []
        # the earliest due moment this unit of work wrote (a next step, an automatic transition): a batch stops
        # before an item later than it, so that catching up after downtime keeps strict time order
        self.earliest_write: dt.datetime | None = None
        # reference data an older row kept inline, read (upcast) here: stored when that process is written
        self._inline_references: dict[str, dict[str, Any]] = {}
        self._meta: dict[str, str] | None = None       # the meta table as read by this unit of work (`meta`)

    def _wrote(self, moment: dt.datetime | None) -> None:
        if moment is not None and (self.earliest_write is None or moment < self.earliest_write):
            self.earliest_write = moment

    # -- batches --------------------------------------------------------------------------------------
    def prefetch(self, items: list[tuple[dt.datetime, str, Any]]) -> None:
        """Batch mode for a claimed batch: its deadlines and their processes are read in two queries instead
        of two per item, and deadline updates and outbox rows are written together at commit (`flush`); a read
        of deadlines flushes first, so the unit of work still reads its own writes. Each row read ahead is used
        once; a second read, or one after a write, goes to the database."""
        self._deadline_writes = {}
        dids = [ident for _, kind, ident in items if kind == "deadline"]
        if not dids:
            return
        rows = self.conn.execute(_DEADLINES_IN, {"ids": dids}).mappings().all()
        pids = {r["process_id"] for r in rows} | {r["root_id"] for r in rows}
        for r in rows:
            self._ahead["deadline", r["id"]] = r
        for r in self.conn.execute(_PROCESSES_IN, {"ids": sorted(pids)}).mappings():
            self._ahead["process", r["id"]] = r

    def flush(self) -> None:
        """Write what batch mode held back: deadline updates (one executemany), then outbox rows."""
        if self._deadline_writes:
            self.conn.execute(_DEADLINE_UPDATE, list(self._deadline_writes.values()))
            self._deadline_writes.clear()
        if self._outbox_rows:
            self.conn.execute(_ignoring(t.outbox, "key", self._outbox_rows[0]), self._outbox_rows)
            self._outbox_rows = []

    # -- processes ------------------------------------------------------------------------------------
    def get_process(self, pid: str, *, lock: bool = False) -> Process | None:
        row = None if lock else self._ahead.pop(("process", pid), None)
        if row is None:
            stmt = _PROCESS_LOCKED if lock and self.pg else _PROCESS
            row = self.conn.execute(stmt, {"pid": pid}).mappings().first()
        return self._process(row) if row else None

    def _process(self, row: Any) -> Process:
        p, inline = decode_process(row, self.reference)
        if inline is not None and p.reference is not None:
            self._inline_references[p.reference.id] = inline
        return p

    def reference(self, rid: str) -> Reference:
        return cached_reference(rid, lambda r: self.conn.execute(_REFERENCE, {"rid": r}).mappings().first())

    def has_processes(self) -> bool:
        return self.conn.execute(sa.select(t.processes.c.id).limit(1)).first() is not None

    def children(self, root_id: str) -> list[Process]:
        rows = self.conn.execute(sa.select(t.processes).where(t.processes.c.root_id == root_id,
                                                              t.processes.c.id != root_id)
                                 .order_by(t.processes.c.created_at, t.processes.c.id)).mappings()
        return [self._process(r) for r in rows]

    def insert_process(self, p: Process, now: dt.datetime) -> None:
        p.version = 1
        self._wrote(p.next_auto_at)
        if p.reference is not None:
            rid, content = upcast.identify(p.reference)
            self._store_reference(rid, content, now)
        self.conn.execute(t.processes.insert().values(
            id=p.id, workflow=str(p.workflow), ptype=p.ptype, parent_id=p.parent_id, root_id=p.root_id or p.id,
            state=p.state, final=p.final, version=1, created_at=naive(p.created_at), updated_at=naive(now),
            next_auto_at=naive(p.next_auto_at), **process_columns(p)))
        self._write_log(p)

    def update_process(self, p: Process, now: dt.datetime) -> None:
        """Write the new state if nobody changed the row since it was read; otherwise a Conflict. Reference data
        the command replaced (a party's contacts: Service.update_contacts) is stored under its new content id."""
        if p.reference is not None and not p.reference.id:
            self._store_reference(*upcast.identify(p.reference), now)
        result = self.conn.execute(_PROCESS_UPDATE, {
            "pid": p.id, "seen": p.version, "state": p.state, "final": p.final, "version": p.version + 1,
            "updated_at": naive(now), "next_auto_at": naive(p.next_auto_at), **process_columns(p)})
        if result.rowcount != 1:
            raise Conflict(f"process {p.id} was changed by someone else meanwhile; reload and try again",
                           process=p.id)
        p.version += 1
        self._ahead.pop(("process", p.id), None)
        self._wrote(p.next_auto_at)
        inline = self._inline_references.pop(p.reference.id, None) if p.reference is not None else None
        if inline is not None and p.reference is not None:
            self._store_reference(p.reference.id, inline, now)
        self._write_log(p)

    def _store_reference(self, rid: str, content: dict[str, Any], now: dt.datetime) -> None:
        """Reference data is immutable and named by its content: a second agreement with the same data adds no row."""
        row = {"id": rid, "format": upcast.REFERENCE_FORMAT, "content": content, "created_at": naive(now)}
        self.conn.execute(_ignoring(t.reference_data, "id", row), row)

    def _write_log(self, p: Process) -> None:
        if p.new_log:
            self.conn.execute(_LOG_INSERT, log_rows(p))
            p.new_log = []

    def log_of(self, process_id: str, kind: str | None = None) -> list[LogEntry]:
        """A process's log (a plug-in's account of its acts, e.g. the progress reports), oldest first."""
        stmt = sa.select(t.process_log).where(t.process_log.c.process_id == process_id)
        if kind is not None:
            stmt = stmt.where(t.process_log.c.kind == kind)
        rows = self.conn.execute(stmt.order_by(t.process_log.c.id)).mappings()
        return [log_entry(r) for r in rows]

    # -- deadlines ------------------------------------------------------------------------------------
    def deadlines_of(self, process_id: str) -> list[Deadline]:
        self.flush()
        rows = self.conn.execute(_DEADLINES_OF, {"pid": process_id}).mappings()
        return [_deadline(r) for r in rows]

    def get_deadline(self, did: int, *, lock: bool = False) -> Deadline | None:
        """With `lock` on PostgreSQL: None if another worker holds the row. A row read ahead was claimed (and
        locked) by this unit of work already."""
        row = self._ahead.pop(("deadline", did), None)
        if row is None:
            self.flush()
            stmt = _DEADLINE_LOCKED if lock and self.pg else _DEADLINE
            row = self.conn.execute(stmt, {"did": did}).mappings().first()
        return _deadline(row) if row else None

    def insert_deadline(self, d: Deadline) -> None:
        self._wrote(d.next_at)
        key = self.conn.execute(t.deadlines.insert().values(**_deadline_values(d))).inserted_primary_key
        assert key is not None
        d.id = key[0]

    def update_deadline(self, d: Deadline) -> None:
        self._ahead.pop(("deadline", d.id), None)
        self._wrote(d.next_at)
        values = {**_deadline_values(d), "did": d.id}
        if self._deadline_writes is not None:
            assert d.id is not None, "a deadline is written before it is updated"
            self._deadline_writes[d.id] = values
        else:
            self.conn.execute(_DEADLINE_UPDATE, values)

    # -- history --------------------------------------------------------------------------------------
    def append_record(self, rec: Record) -> Record:
        """Chain the record to its agreement's previous one. The agreement's chain head row is locked (PostgreSQL:
        FOR UPDATE) only by commands on that agreement, and taken last so that it is held only for the insert and
        the commit; the sequence number comes after it, so that within an agreement seq follows the chain."""
        head = self._chain_head(rec.root)
        seq = int(self.conn.execute(_LOG_SHARED_NEXTVAL).scalar_one()) if self.pg else int(head["max_seq"]) + 1
        row = chained_row(rec, head if head["records"] else None, seq=seq)
        self.conn.execute(_RECORD_INSERT, row)
        self.conn.execute(_HEAD_UPDATE, {"r": rec.root, "seq": row["seq"], "hash": row["hash"],
                                         "records": head["records"] + 1})
        rec.seq, rec.prev_hash, rec.hash = row["seq"], row["prev_hash"], row["hash"]
        return rec

    def _chain_head(self, root: str) -> Any:
        """The agreement's chain head; on SQLite with `max_seq`, the database's highest seq, read in the same
        statement (the next record takes max + 1; writers are serialised by BEGIN IMMEDIATE). On PostgreSQL the
        seq is drawn afterwards from the sequence under the shared advisory lock: commands never wait for each
        other there, and the sequencer's brief exclusive look (log_horizon) waits until every command that drew a
        number before it has committed or rolled back."""
        stmt = _HEAD_LOCKED if self.pg else _HEAD_AND_MAX
        head = self.conn.execute(stmt, {"r": root}).mappings().first()
        if head is None:
            first = {"root": root, "seq": 0, "hash": GENESIS, "records": 0}
            self.conn.execute(_ignoring(t.chain_heads, "root", first), first)
            head = self.conn.execute(stmt, {"r": root}).mappings().one()
        return head

    # -- the log (engine/log.py: the sequencer, proofs, checkpoints) ------------------------------------
    def log_state(self, *, lock: bool = False) -> tuple[int, int]:
        """(tree size, last seq appended). With `lock`: the sequencer's row, so that two sequencers take turns."""
        stmt = _LOG_STATE_LOCKED if lock and self.pg else _LOG_STATE
        row = self.conn.execute(stmt).first()
        if row is None:
            state = {"id": 1, "size": 0, "last_seq": 0}
            self.conn.execute(_ignoring(t.log_state, "id", state), state)
            row = self.conn.execute(stmt).one()
        return int(row[0]), int(row[1])

    def set_log_state(self, size: int, last_seq: int) -> None:
        self.conn.execute(t.log_state.update().where(t.log_state.c.id == 1).values(size=size, last_seq=last_seq))

    def records_after(self, seq: int, upto: int | None, limit: int) -> list[dict[str, Any]]:
        stmt = sa.select(t.records).where(t.records.c.seq > seq)
        if upto is not None:
            stmt = stmt.where(t.records.c.seq <= upto)
        return [dict(r) for r in self.conn.execute(stmt.order_by(t.records.c.seq).limit(limit)).mappings()]

    def records_between(self, low: int, high: int) -> list[dict[str, Any]]:
        """Records with low < seq < high (the log's check looks for records slipped between two leaves)."""
        stmt = sa.select(t.records).where(t.records.c.seq > low, t.records.c.seq < high).order_by(t.records.c.seq)
        return [dict(r) for r in self.conn.execute(stmt).mappings()]

    def record_rows(self, seqs: list[int]) -> dict[int, dict[str, Any]]:
        if not seqs:
            return {}
        rows = self.conn.execute(sa.select(t.records).where(t.records.c.seq.in_(seqs))).mappings()
        return {r["seq"]: dict(r) for r in rows}

    def add_leaves(self, start: int, leaves: list[tuple[int, str]]) -> None:
        if leaves:
            self.conn.execute(t.log_leaves.insert(), [{"leaf_index": start + i, "seq": seq, "leaf_hash": h}
                                                      for i, (seq, h) in enumerate(leaves)])

    def leaves(self, start: int, limit: int) -> list[tuple[int, int, str]]:
        """(leaf index, seq, leaf hash) from `start` on, in leaf order."""
        rows = self.conn.execute(sa.select(t.log_leaves.c.leaf_index, t.log_leaves.c.seq, t.log_leaves.c.leaf_hash)
                                 .where(t.log_leaves.c.leaf_index >= start)
                                 .order_by(t.log_leaves.c.leaf_index).limit(limit)).all()
        return [(int(i), int(s), h) for i, s, h in rows]

    def leaf_of(self, seq: int) -> tuple[int, str] | None:
        row = self.conn.execute(sa.select(t.log_leaves.c.leaf_index, t.log_leaves.c.leaf_hash)
                                .where(t.log_leaves.c.seq == seq)).first()
        return (int(row[0]), row[1]) if row else None

    def leaf_count(self) -> int:
        return int(self.conn.execute(sa.select(sa.func.count()).select_from(t.log_leaves)).scalar_one())

    def subtrees(self, keys: list[tuple[int, int]]) -> dict[tuple[int, int], str]:
        out: dict[tuple[int, int], str] = {}
        for level in {k[0] for k in keys}:
            idxs = [k[1] for k in keys if k[0] == level]
            rows = self.conn.execute(sa.select(t.log_subtrees.c.idx, t.log_subtrees.c.hash)
                                     .where(t.log_subtrees.c.level == level, t.log_subtrees.c.idx.in_(idxs))).all()
            out.update({(level, int(i)): h for i, h in rows})
        return out

    def put_subtrees(self, nodes: dict[tuple[int, int], str]) -> None:
        if nodes:
            self.conn.execute(t.log_subtrees.insert(), [{"level": lv, "idx": i, "hash": h}
                                                        for (lv, i), h in sorted(nodes.items())])

    def add_checkpoint(self, size: int, root: str, note: str, at: dt.datetime, tsa_token: str | None) -> None:
        self.conn.execute(t.log_checkpoints.insert().values(size=size, root=root, note=note, created_at=naive(at),
                                                            tsa_token=tsa_token))

    def checkpoints(self, size: int | None = None, *, latest: bool = False) -> list[dict[str, Any]]:
        """Every checkpoint, smallest first; the one of `size`; or (`latest`) the largest."""
        stmt = sa.select(t.log_checkpoints)
        if size is not None:
            stmt = stmt.where(t.log_checkpoints.c.size == size)
        stmt = stmt.order_by(t.log_checkpoints.c.size.desc() if latest else t.log_checkpoints.c.size)
        if latest:
            stmt = stmt.limit(1)
        return [{**dict(r), "created_at": aware(r["created_at"])} for r in self.conn.execute(stmt).mappings()]

    def chain_heads(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.conn.execute(sa.select(t.chain_heads).order_by(t.chain_heads.c.root))
                .mappings()]

    def root_ids(self) -> list[str]:
        """The ids of every agreement (a process without a parent), in order."""
        return list(self.conn.execute(sa.select(t.processes.c.id).where(t.processes.c.parent_id.is_(None))
                                      .order_by(t.processes.c.id)).scalars())

    # -- outbox ---------------------------------------------------------------------------------------
    def enqueue(self, notes: list[Notification], now: dt.datetime) -> int:
        """Queue notifications; one already queued under the same idempotency key is left as it is."""
        if not notes:
            return 0
        rows = [{"key": n.key, "process_id": n.process_id, "root_id": n.root_id, "deadline_id": n.deadline_id,
                 "kind": n.kind, "to_addr": n.to_addr, "to_name": n.to_name, "subject": n.subject,
                 "payload": upcast.stamp_payload(n.payload), "format": upcast.PAYLOAD_FORMAT, "status": "pending",
                 "attempts": 0, "created_at": naive(now), "next_attempt_at": naive(now),
                 "record_seq": n.payload.get("record_seq")} for n in notes]
        if self._deadline_writes is not None:  # batch mode: written at flush; the count is what was offered
            self._outbox_rows += rows
            return len(rows)
        return self.conn.execute(_ignoring(t.outbox, "key", rows[0]), rows).rowcount or 0

    # -- the scheduler's view -------------------------------------------------------------------------
    def next_due(self, now: dt.datetime) -> tuple[dt.datetime, str, Any] | None:
        """The earliest due item: an automatic transition of a process or a deadline step (processes first at
        the same moment, so that a lapse cancels a deadline before it would be judged missed)."""
        self.flush()
        n = naive(now)
        p = self.conn.execute(sa.select(t.processes.c.next_auto_at, t.processes.c.id)
                              .where(t.processes.c.next_auto_at <= n)
                              .order_by(t.processes.c.next_auto_at, t.processes.c.id).limit(1)).first()
        d = self.conn.execute(sa.select(t.deadlines.c.next_at, t.deadlines.c.id)
                              .where(t.deadlines.c.next_at <= n)
                              .order_by(t.deadlines.c.next_at, t.deadlines.c.id).limit(1)).first()
        items = []
        if p:
            items.append((utc(p[0]), 0, "process", p[1]))
        if d:
            items.append((utc(d[0]), 1, "deadline", d[1]))
        if not items:
            return None
        moment, _, kind, ident = min(items)
        return moment, kind, ident

    def claim_due(self, now: dt.datetime, limit: int) -> list[tuple[dt.datetime, str, Any]]:
        """Due items in time order, locked for this worker (PostgreSQL: SKIP LOCKED, so that several workers
        share the work and none takes a row twice)."""
        self.flush()
        params = {"now": naive(now), "lim": limit}
        items = [(utc(m), 0, "process", i)
                 for m, i in self.conn.execute(_CLAIM_PROCESSES if self.pg else _DUE_PROCESSES, params)]
        items += [(utc(m), 1, "deadline", i)
                  for m, i in self.conn.execute(_CLAIM_DEADLINES if self.pg else _DUE_DEADLINES, params)]
        items.sort()
        return [(m, k, i) for m, _, k, i in items[:limit]]

    def next_wakeup(self) -> dt.datetime | None:
        self.flush()
        values = [self.conn.execute(sa.select(sa.func.min(t.processes.c.next_auto_at))).scalar(),
                  self.conn.execute(sa.select(sa.func.min(t.deadlines.c.next_at))).scalar(),
                  self.conn.execute(sa.select(sa.func.min(t.outbox.c.next_attempt_at))
                                    .where(t.outbox.c.status == "pending")).scalar()]
        present: list[dt.datetime] = [v for v in values if v is not None]
        return utc(min(present)) if present else None

    def next_mail_at(self, until: dt.datetime) -> dt.datetime | None:
        self.flush()
        value = self.conn.execute(sa.select(sa.func.min(t.outbox.c.next_attempt_at))
                                  .where(t.outbox.c.status == "pending",
                                         t.outbox.c.next_attempt_at <= naive(until))).scalar()
        return aware(value)

    def requeue(self, row_id: int, now: dt.datetime) -> str | None:
        """A failed message queued anew, its attempts starting over (Service.resend_mail); queued at `now`, so
        the dispatcher's retry lifetime counts from the resend."""
        status = self.conn.execute(sa.select(t.outbox.c.status).where(t.outbox.c.id == row_id)).scalar()
        if status == "failed":
            self.conn.execute(t.outbox.update().where(t.outbox.c.id == row_id).values(
                status="pending", attempts=0, next_attempt_at=naive(now), created_at=naive(now)))
        return status

    # -- clock ----------------------------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        """The meta table (a handful of rows: the clock's mode and time, the log's marks) is read whole, once
        per unit of work: the clock's two values cost one statement, and the unit of work sees one clock."""
        if self._meta is None:
            self._meta = {k: v for k, v in self.conn.execute(_META_ALL)}
        return self._meta.get(key)

    def set_meta(self, key: str, value: str) -> None:
        if self.meta(key) is None:
            self.conn.execute(t.meta.insert().values(key=key, value=value))
        else:
            self.conn.execute(t.meta.update().where(t.meta.c.key == key).values(value=value))
        assert self._meta is not None
        self._meta[key] = value


class SqlStore:
    def __init__(self, url: str, echo: bool = False, *, synchronous: str = "full") -> None:
        self.url = url
        self.engine = make_engine(url, echo, synchronous)
        self.is_postgres = self.engine.dialect.name == "postgresql"

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        try:
            with self.engine.begin() as conn:
                tx = Tx(conn, self)
                yield tx
                tx.flush()
        except sa.exc.OperationalError as exc:
            if "locked" in str(exc).lower() or "could not serialize" in str(exc).lower():
                raise Conflict("the database was busy with a concurrent change; try again") from None
            raise
        except sa.exc.IntegrityError as exc:
            # A unique key taken by a concurrent writer between our read and our write (the same id created
            # twice at once): someone changed the database meanwhile, exit 5, never a traceback.
            if _unique_violation(exc):
                raise Conflict("a concurrent change got in the way; try again") from None
            raise
        except sa.exc.DBAPIError as exc:
            if getattr(getattr(exc, "orig", None), "sqlstate", None) in ("40001", "40P01"):
                raise Conflict("a concurrent change got in the way; try again") from None
            raise

    def log_horizon(self) -> int | None:
        """The highest seq the sequencer may append up to: every record at or below it is committed or rolled back
        for good. SQLite (one writer at a time) needs no horizon: None. PostgreSQL hands out seqs from a sequence
        to commands running side by side, so a record with a lower seq may still be uncommitted; each command draws
        its seq under a shared advisory lock, and here, in a transaction of its own, the exclusive lock is tried
        (never queued for, so no command ever waits behind the sequencer for long) until no command holds it, and
        the highest seq handed out is read. Gives 0 (append nothing new this time) if that took too long."""
        if not self.is_postgres:
            return None
        import time
        for _ in range(500):               # about five seconds of tries, 10 ms apart
            with self.engine.begin() as conn:
                if conn.execute(sa.text(f"SELECT pg_try_advisory_xact_lock({LOG_LOCK_KEY})")).scalar():
                    last = conn.execute(sa.text("SELECT last_value, is_called FROM records_seq")).one()
                    return int(last[0]) if last[1] else int(last[0]) - 1
            time.sleep(0.01)
        return 0

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    # -- schema ---------------------------------------------------------------------------------------
    def migrate(self) -> None:
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def schema_ready(self) -> bool:
        return sa.inspect(self.engine).has_table("processes")

    def schema_revision(self) -> str | None:
        """The Alembic revision the database is at (None: no schema yet)."""
        try:
            with self.engine.connect() as conn:
                return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        except sa.exc.DBAPIError:
            return None

    def log_refusal(self, now: dt.datetime, error: ConvenantError, **who: Any) -> None:
        """Refused attempts are kept apart from the history: who tried what and why it was refused."""
        try:
            with self.engine.begin() as conn:
                conn.execute(t.refusals.insert().values(at=naive(now), code=error.exit_code,
                                                        message=error.message, article=error.article, **who))
        except sa.exc.SQLAlchemyError:  # the refusal log must never turn a clear refusal into a crash
            pass

    def dispose(self) -> None:
        self.engine.dispose()


MIGRATIONS = Path(__file__).parent / "migrations" / "versions"


def head_revision() -> str:
    """The newest migration's revision: revisions are numbered 0001, 0002, ... after their files' names
    (tests/integration/test_migrations.py checks this against Alembic's own head)."""
    return max(p.name.split("_", 1)[0] for p in MIGRATIONS.glob("[0-9][0-9][0-9][0-9]_*.py"))


# -- processes, their reference data and their log, as rows (engine/upcast.py knows the formats) ---------------
References = Callable[[str], Reference]
Fetch = Callable[[str], Any]               # the reference row of an id (format, content), or None

# Reference data is named by the hash of its content, so one id means one content in every database: a process
# keeps the decoded objects of the few distinct references there are, and reads each from its database once.
_REFERENCES: dict[str, Reference] = {}
_REFERENCES_KEPT = 256


def cached_reference(rid: str, fetch: Fetch) -> Reference:
    found = _REFERENCES.get(rid)
    if found is None:
        row = fetch(rid)
        if row is None:
            raise ConvenantError(f"the reference data {rid} an agreement names is missing from the database")
        found = upcast.load_reference(row["format"], row["content"], rid)
        if len(_REFERENCES) >= _REFERENCES_KEPT:
            _REFERENCES.pop(next(iter(_REFERENCES)))
        _REFERENCES[rid] = found
    return found


def decode_process(row: Any, references: References) -> tuple[Process, dict[str, Any] | None]:
    """The typed process of a row of any format, and the reference content the row kept inline (an older format
    did; it is to be stored when the process is next written), else None."""
    # the workflow's name carries the definition version the process runs under (rows before 0004: 1)
    workflow = WorkflowRef(row["workflow"], row.get("definition_version") or 1)
    p = Process(id=row["id"], workflow=workflow, ptype=row["ptype"], state=row["state"],
                created_at=utc(row["created_at"]), version=row["version"], parent_id=row["parent_id"],
                root_id=row["root_id"], next_auto_at=aware(row["next_auto_at"]), final=row["final"])
    fmt = row.get("format") or 1
    if fmt == upcast.PROCESS_FORMAT:
        rid = upcast.reference_id_of(row["data"])
        upcast.fill_process(p, row["data"], references(rid) if rid else None)
        return p, None
    stored = upcast.upcast_process(fmt, row["data"])
    inline = stored.reference
    reference: Reference | None
    if inline is not None:
        reference = upcast.load_reference(upcast.REFERENCE_FORMAT, inline, upcast.content_id(inline))
    else:
        rid = upcast.reference_id_of(stored.data)
        reference = references(rid) if rid else None
    upcast.fill_process(p, stored.data, reference)
    p.new_log = list(stored.log)
    return p, inline


def _process(row: Any, references: References) -> Process:
    return decode_process(row, references)[0]


def process_values(p: Process) -> dict[str, Any]:
    """The row's `format` and `data` columns of a process, in the current format (migration 0002 writes these
    alone: its schema has no later column)."""
    return {"format": upcast.PROCESS_FORMAT, "data": upcast.process_data(p)}


def process_columns(p: Process) -> dict[str, Any]:
    """What a command writes of a process beside its state: `format`, `data`, and the definition version it runs
    under (migration 0004; a workflow name without one is version 1)."""
    return {**process_values(p), "definition_version": version_of(p.workflow) or 1}


def log_rows(p: Process) -> list[dict[str, Any]]:
    return [{"process_id": p.id, "root_id": p.root_id or p.id, "kind": e.kind, "subject": e.subject,
             "effective": e.effective, "recorded_at": naive(e.recorded_at), "data": e.data} for e in p.new_log]


def log_entry(row: Any) -> LogEntry:
    return LogEntry(kind=row["kind"], effective=row["effective"], recorded_at=utc(row["recorded_at"]),
                    subject=row["subject"], data=dict(row["data"] or {}))


def references_on(conn: Connection) -> References:
    """Reference data read on this connection (outside a unit of work: the read side)."""
    return lambda rid: cached_reference(rid, lambda r: conn.execute(_REFERENCE, {"rid": r}).mappings().first())


def _deadline(row: Any) -> Deadline:
    return Deadline(id=row["id"], process_id=row["process_id"], root_id=row["root_id"], kind=row["kind"],
                    due=row["due"], status=DeadlineStatus(row["status"]), article=row["article"], rule=row["rule"],
                    moment=row["moment"], responsible=row["responsible"], created_at=aware(row["created_at"]),
                    met_on=row["met_on"], missed_at=aware(row["missed_at"]), step=row["step"],
                    next_at=aware(row["next_at"]), subject=row["subject"])


def _deadline_values(d: Deadline) -> dict[str, Any]:
    return {"process_id": d.process_id, "root_id": d.root_id, "kind": d.kind, "subject": d.subject, "due": d.due,
            "status": d.status, "article": d.article, "rule": d.rule, "moment": d.moment,
            "responsible": d.responsible, "created_at": naive(d.created_at), "met_on": d.met_on,
            "missed_at": naive(d.missed_at), "step": d.step, "next_at": naive(d.next_at)}


def unreachable(url: str) -> str | None:
    """None when a database answers at `url`, else why not (one line): for tests and the benchmark to skip."""
    try:
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:  # any failure to connect means: no server here
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"


def _unique_violation(exc: sa.exc.IntegrityError) -> bool:
    orig = getattr(exc, "orig", None)
    return getattr(orig, "sqlstate", None) == "23505" or "UNIQUE constraint failed" in str(orig)


def check_url(url: str) -> None:
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        raise BadInput(f"[database] url {url!r} is not a database URL", field="database.url") from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):   # the two databases convenant runs on (and has drivers for)
        raise BadInput(f"[database] url {url!r}: convenant runs on SQLite (sqlite:///PATH) or PostgreSQL "
                       f"(postgresql+psycopg://...), not {backend}", field="database.url")
    if parsed.drivername == "postgresql":         # make_engine takes a plain postgresql:// as psycopg's
        parsed = parsed.set(drivername="postgresql+psycopg")
    try:   # a driver named in the URL (postgresql+asyncpg, sqlite+pysqlcipher) that is not installed
        parsed.get_dialect().import_dbapi()
    except (sa.exc.NoSuchModuleError, ImportError) as exc:
        raise BadInput(f"[database] url {url!r}: the driver {parsed.get_driver_name()!r} is not available "
                       f"({exc}); use sqlite:///PATH or postgresql+psycopg://...", field="database.url") from None
