"""The storage ports in memory: the same units of work as storage/store.py, without a database.

What the SQL store guarantees, this one keeps, so that the service's behaviour can be tested in milliseconds:
- one transaction per unit of work, serialised (as SQLite's single writer); an exception rolls back everything
  it wrote (state, history, deadlines, outbox, meta keys), so a refused command changes nothing;
- versioned process rows: a write over a version someone else moved on is a `Conflict`;
- the history chain: `seq` one sequence per store, each record's hash over its content and the previous hash,
  written and checked by the same functions (`chained_row`, `check_chain`) as the SQL store, so the same commands
  on the same clock give the same hashes on every backend;
- deadlines with ids and their due work in time order (`next_due`, `claim_due`, a process before a deadline at the
  same moment; `earliest_write`), the outbox with unique idempotency keys, meta keys (the virtual clock), the
  refusal log, reference data once per content and each process's log beside its row;
- the other ports of engine/ports.py beside the store: `MemoryReadModels`, `MemoryTokens`, `MemoryPeople`
  (accounts, sessions, failed sign-ins), and the outbox queue
  `store.outbox` (tests/unit/test_service_store_ports.py holds both stores to every port, signature by signature).

Stored rows are immutable: a unit of work copies a table the first time it writes to it and the commit swaps the
copies in, so a rollback is dropping them. Rows are encoded and decoded by storage/store.py's own functions and
hold what the SQL store's rows hold (naive UTC times, each format column, JSON columns as JSON text), and every
read hands out freshly decoded objects, so that what the engine changes in memory stays its own until it writes
it, and what SQL could not store fails here too.

Where it differs from the SQL store, on purpose: units of work never run side by side (one lock, as SQLite's one
writer; PostgreSQL's SKIP LOCKED sharing between workers has no counterpart), a unit opened inside another in the
same thread sees only what is committed and makes the outer one's commit a `Conflict` (SQLite would wait for its
busy timeout, PostgreSQL would run both), ids are never given back after a rollback (as PostgreSQL's sequences,
unlike SQLite), and `enqueue` always returns how many messages it queued (the SQL store in batch mode returns how
many it was offered)."""
from __future__ import annotations

import builtins
import datetime as dt
import hashlib
import json
import secrets
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from convenant.engine import upcast
from convenant.engine.errors import Conflict, NotAllowed
from convenant.engine.model import Deadline, LogEntry, Notification, Process, Record
from convenant.storage.outbox import OutboxRow
from convenant.storage.store import (
    _deadline,
    _deadline_values,
    aware,
    cached_reference,
    chained_row,
    check_chain,
    decode_process,
    log_entry,
    log_rows,
    naive,
    process_columns,
    record_view,
)

Row = dict[str, Any]
DueItem = tuple[dt.datetime, str, Any]


class IntegrityError(Exception):
    """A write that a database's constraints refuse (a second row under one primary key): a bug, not a refusal."""


@dataclass
class _Tables:
    """One committed state of the store. The tables map keys to rows; rows are never changed in place."""
    meta: dict[str, str] = field(default_factory=dict)
    processes: dict[str, Row] = field(default_factory=dict)
    deadlines: dict[int, Row] = field(default_factory=dict)
    records: list[Row] = field(default_factory=list)
    chain_head: dict[int, Row] = field(default_factory=dict)
    outbox: dict[int, Row] = field(default_factory=dict)
    outbox_keys: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, Row] = field(default_factory=dict)
    users: dict[str, Row] = field(default_factory=dict)             # personal accounts, by email
    sessions: dict[str, Row] = field(default_factory=dict)          # by the session id's SHA-256
    sign_in_failures: list[Row] = field(default_factory=list)
    refusals: list[Row] = field(default_factory=list)
    reference_data: dict[str, Row] = field(default_factory=dict)    # an agreement's static data, by content id
    process_log: list[Row] = field(default_factory=list)
    chain_heads: dict[str, Row] = field(default_factory=dict)       # an agreement's chain head, by root
    log_leaves: list[Row] = field(default_factory=list)             # the log's leaves, in leaf order
    log_subtrees: dict[tuple[int, int], str] = field(default_factory=dict)
    log_checkpoints: dict[int, Row] = field(default_factory=dict)   # by tree size
    log_state: dict[int, Row] = field(default_factory=dict)

    def copy_of(self, name: str) -> Any:
        value = getattr(self, name)
        return list(value) if isinstance(value, list) else dict(value)


TABLES = tuple(_Tables.__dataclass_fields__)


class MemoryTx:
    """One unit of work on the store's committed tables, with copy-on-write: reads see this unit's own writes."""

    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self._base = store._tables
        self._written: dict[str, Any] = {}
        # the earliest due moment this unit of work wrote (as storage/store.py: a batch stops before it)
        self.earliest_write: dt.datetime | None = None

    # -- tables ---------------------------------------------------------------------------------------
    def _read(self, name: str) -> Any:
        return self._written[name] if name in self._written else getattr(self._base, name)

    def _write(self, name: str) -> Any:
        if name not in self._written:
            self._written[name] = self._base.copy_of(name)
        return self._written[name]

    def _wrote(self, moment: dt.datetime | None) -> None:
        if moment is not None and (self.earliest_write is None or moment < self.earliest_write):
            self.earliest_write = moment

    def _commit(self) -> None:
        if not self._written:
            return
        if self.store._tables is not self._base:
            raise Conflict("a concurrent change got in the way; try again")
        merged = _Tables(**{name: self._read(name) for name in TABLES})
        self.store._tables = merged

    # -- batches --------------------------------------------------------------------------------------
    def prefetch(self, items: list[DueItem]) -> None:
        """The SQL store reads a claimed batch's rows ahead in two queries; here every row is at hand already,
        so there is nothing to read ahead. Writes are visible at once, as the SQL store's are after its flush."""

    # -- processes ------------------------------------------------------------------------------------
    def get_process(self, pid: str, *, lock: bool = False) -> Process | None:
        row = self._read("processes").get(pid)
        return self.store._process_of(row, self._read("reference_data")) if row is not None else None

    def has_processes(self) -> bool:
        return bool(self._read("processes"))

    def children(self, root_id: str) -> list[Process]:
        rows = [r for r in self._read("processes").values() if r["root_id"] == root_id and r["id"] != root_id]
        rows.sort(key=lambda r: (r["created_at"], r["id"]))
        return [self.store._process_of(r, self._read("reference_data")) for r in rows]

    def insert_process(self, p: Process, now: dt.datetime) -> None:
        if p.id in self._read("processes"):
            raise IntegrityError(f"a process {p.id!r} exists already (primary key)")
        p.version = 1
        self._wrote(p.next_auto_at)
        self._write("processes")[p.id] = self.store._process_row(p, now)
        self._side_rows(p, now)

    def update_process(self, p: Process, now: dt.datetime) -> None:
        """Write the new state if nobody changed the row since it was read; otherwise a Conflict."""
        current = self._read("processes").get(p.id)
        if current is None or current["version"] != p.version:
            raise Conflict(f"process {p.id} was changed by someone else meanwhile; reload and try again",
                           process=p.id)
        row = self.store._process_row(p, now)
        row.update(version=p.version + 1, created_at=current["created_at"], parent_id=current["parent_id"],
                   root_id=current["root_id"], workflow=current["workflow"], ptype=current["ptype"])
        self._write("processes")[p.id] = row
        p.version += 1
        self._wrote(p.next_auto_at)
        self._side_rows(p, now)

    def _side_rows(self, p: Process, now: dt.datetime) -> None:
        """What is stored beside the row (storage/store.py does the same): the reference data, once per
        content, and the entries the process added to its log."""
        if p.reference is not None and upcast.reference_id(p.reference) not in self._read("reference_data"):
            rid, content = upcast.identify(p.reference)
            self._write("reference_data")[rid] = {"id": rid, "format": upcast.REFERENCE_FORMAT,
                                                  "content": self.store._freeze(content), "created_at": naive(now)}
        if p.new_log:
            self._write("process_log").extend({**r, "data": self.store._freeze(r["data"])} for r in log_rows(p))
            p.new_log = []

    def log_of(self, process_id: str, kind: str | None = None) -> list[LogEntry]:
        """A process's log (a plug-in's account of its acts, e.g. the progress reports), oldest first."""
        return [log_entry({**r, "data": self.store._thaw(r["data"])}) for r in self._read("process_log")
                if r["process_id"] == process_id and (kind is None or r["kind"] == kind)]

    # -- deadlines ------------------------------------------------------------------------------------
    def deadlines_of(self, process_id: str) -> list[Deadline]:
        rows = [r for r in self._read("deadlines").values() if r["process_id"] == process_id]
        rows.sort(key=lambda r: (r["due"], r["id"]))
        return [self.store._deadline_of(r) for r in rows]

    def get_deadline(self, did: int, *, lock: bool = False) -> Deadline | None:
        row = self._read("deadlines").get(did)
        return self.store._deadline_of(row) if row is not None else None

    def insert_deadline(self, d: Deadline) -> None:
        self._wrote(d.next_at)
        d.id = self.store._next_id("deadlines")
        self._write("deadlines")[d.id] = self.store._deadline_row(d)

    def update_deadline(self, d: Deadline) -> None:
        """As SQL's UPDATE ... WHERE id: no version check, and a row that is not there stays not there."""
        self._wrote(d.next_at)
        if d.id is None or d.id not in self._read("deadlines"):
            return
        self._write("deadlines")[d.id] = self.store._deadline_row(d)

    # -- history --------------------------------------------------------------------------------------
    def append_record(self, rec: Record) -> Record:
        """Chain the record to its agreement's previous one: the row storage/store.py writes (chained_row), seq
        the next after the highest (as SQLite: no gaps)."""
        head = self._read("chain_heads").get(rec.root)
        records = self._read("records")
        seq = max((r["seq"] for r in records), default=0) + 1
        row = chained_row(rec, head if head and head["records"] else None, seq=seq)
        self._write("records").append(row)
        self._write("chain_heads")[rec.root] = {"root": rec.root, "seq": row["seq"], "hash": row["hash"],
                                                "records": (head["records"] if head else 0) + 1}
        rec.seq, rec.prev_hash, rec.hash = row["seq"], row["prev_hash"], row["hash"]
        return rec

    # -- the log (as storage/store.py's Tx) -------------------------------------------------------------
    def log_state(self, *, lock: bool = False) -> tuple[int, int]:
        row = self._read("log_state").get(1) or {"size": 0, "last_seq": 0}
        return int(row["size"]), int(row["last_seq"])

    def set_log_state(self, size: int, last_seq: int) -> None:
        self._write("log_state")[1] = {"id": 1, "size": size, "last_seq": last_seq}

    def records_after(self, seq: int, upto: int | None, limit: int) -> list[Row]:
        rows = sorted((r for r in self._read("records") if r["seq"] > seq and (upto is None or r["seq"] <= upto)),
                      key=lambda r: r["seq"])
        return [dict(r) for r in rows[:limit]]

    def records_between(self, low: int, high: int) -> list[Row]:
        return sorted((dict(r) for r in self._read("records") if low < r["seq"] < high), key=lambda r: r["seq"])

    def record_rows(self, seqs: list[int]) -> dict[int, Row]:
        wanted = set(seqs)
        return {r["seq"]: dict(r) for r in self._read("records") if r["seq"] in wanted}

    def add_leaves(self, start: int, leaves: list[tuple[int, str]]) -> None:
        table = self._write("log_leaves")
        if len(table) != start:
            raise IntegrityError(f"leaf {start} appended to a log of {len(table)} leaves")
        seen = {r["seq"] for r in table}
        for i, (seq, h) in enumerate(leaves):
            if seq in seen:
                raise IntegrityError(f"seq {seq} is a leaf already")
            seen.add(seq)
            table.append({"leaf_index": start + i, "seq": seq, "leaf_hash": h})

    def leaves(self, start: int, limit: int) -> list[tuple[int, int, str]]:
        rows = sorted((r for r in self._read("log_leaves") if r["leaf_index"] >= start),
                      key=lambda r: r["leaf_index"])[:limit]
        return [(r["leaf_index"], r["seq"], r["leaf_hash"]) for r in rows]

    def leaf_of(self, seq: int) -> tuple[int, str] | None:
        found = next((r for r in self._read("log_leaves") if r["seq"] == seq), None)
        return (found["leaf_index"], found["leaf_hash"]) if found else None

    def leaf_count(self) -> int:
        return len(self._read("log_leaves"))

    def subtrees(self, keys: list[tuple[int, int]]) -> dict[tuple[int, int], str]:
        table = self._read("log_subtrees")
        return {k: table[k] for k in keys if k in table}

    def put_subtrees(self, nodes: dict[tuple[int, int], str]) -> None:
        table = self._write("log_subtrees")
        for key, h in nodes.items():
            if key in table:
                raise IntegrityError(f"subtree {key} is stored already")
            table[key] = h

    def add_checkpoint(self, size: int, root: str, note: str, at: dt.datetime, tsa_token: str | None) -> None:
        table = self._write("log_checkpoints")
        if size in table:
            raise IntegrityError(f"a checkpoint of size {size} exists already")
        table[size] = {"size": size, "root": root, "note": note, "created_at": naive(at), "tsa_token": tsa_token}

    def checkpoints(self, size: int | None = None, *, latest: bool = False) -> list[Row]:
        rows = sorted(self._read("log_checkpoints").values(), key=lambda r: r["size"], reverse=latest)
        if size is not None:
            rows = [r for r in rows if r["size"] == size]
        return [{**r, "created_at": aware(r["created_at"])} for r in (rows[:1] if latest else rows)]

    def chain_heads(self) -> list[Row]:
        return [dict(r) for _, r in sorted(self._read("chain_heads").items())]

    def root_ids(self) -> list[str]:
        return sorted(pid for pid, r in self._read("processes").items() if r["parent_id"] is None)

    # -- outbox ---------------------------------------------------------------------------------------
    def enqueue(self, notes: list[Notification], now: dt.datetime) -> int:
        """Queue notifications; one already queued under the same idempotency key is left as it is. Returns
        how many were queued (the SQL store in batch mode returns how many were offered)."""
        added = 0
        for n in notes:
            if n.key in self._read("outbox_keys"):
                continue
            oid = self.store._next_id("outbox")
            self._write("outbox")[oid] = {
                "id": oid, "key": n.key, "process_id": n.process_id, "root_id": n.root_id,
                "deadline_id": n.deadline_id, "record_seq": n.payload.get("record_seq"), "kind": n.kind,
                "to_addr": n.to_addr, "to_name": n.to_name, "subject": n.subject,
                "payload": self.store._freeze(upcast.stamp_payload(n.payload)), "format": upcast.PAYLOAD_FORMAT,
                "status": "pending", "attempts": 0,
                "created_at": naive(now), "next_attempt_at": naive(now), "sent_at": None, "last_error": None,
                "message_id": None}
            self._write("outbox_keys")[n.key] = oid
            added += 1
        return added

    # -- the scheduler's view -------------------------------------------------------------------------
    def _due(self, now: dt.datetime, limit: int | None) -> list[tuple[dt.datetime, int, str, Any]]:
        n = naive(now)
        assert n is not None
        procs = sorted((r["next_auto_at"], r["id"]) for r in self._read("processes").values()
                       if r["next_auto_at"] is not None and r["next_auto_at"] <= n)
        dls = sorted((r["next_at"], r["id"]) for r in self._read("deadlines").values()
                     if r["next_at"] is not None and r["next_at"] <= n)
        items = [(_aware(m), 0, "process", i) for m, i in procs[:limit]]
        items += [(_aware(m), 1, "deadline", i) for m, i in dls[:limit]]
        items.sort()
        return items[:limit]

    def next_due(self, now: dt.datetime) -> DueItem | None:
        """The earliest due item: an automatic transition of a process or a deadline step (processes first at
        the same moment, so that a lapse cancels a deadline before it would be judged missed)."""
        items = self._due(now, 1)
        if not items:
            return None
        moment, _, kind, ident = items[0]
        return moment, kind, ident

    def claim_due(self, now: dt.datetime, limit: int) -> list[DueItem]:
        """Due items in time order. One unit of work runs at a time, so what it claims no other one takes."""
        return [(m, k, i) for m, _, k, i in self._due(now, limit)]

    def next_wakeup(self) -> dt.datetime | None:
        values = [r["next_auto_at"] for r in self._read("processes").values() if r["next_auto_at"] is not None]
        values += [r["next_at"] for r in self._read("deadlines").values() if r["next_at"] is not None]
        values += [r["next_attempt_at"] for r in self._read("outbox").values()
                   if r["status"] == "pending" and r["next_attempt_at"] is not None]
        return aware(min(values)) if values else None

    def next_mail_at(self, until: dt.datetime) -> dt.datetime | None:
        u = naive(until)
        values = [r["next_attempt_at"] for r in self._read("outbox").values()
                  if r["status"] == "pending" and r["next_attempt_at"] is not None and r["next_attempt_at"] <= u]
        return aware(min(values)) if values else None

    def requeue(self, row_id: int, now: dt.datetime) -> str | None:
        """A failed message queued anew, its attempts starting over (as storage/store.py)."""
        row = self._read("outbox").get(row_id)
        if row is None:
            return None
        if row["status"] == "failed":
            self._write("outbox")[row_id] = {**row, "status": "pending", "attempts": 0, "next_attempt_at": naive(now),
                                             "created_at": naive(now)}   # the retry lifetime counts from the resend
        return str(row["status"])

    # -- meta keys (the clock) ------------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        value: str | None = self._read("meta").get(key)
        return value

    def set_meta(self, key: str, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"meta {key}: a meta value is text, not {type(value).__name__}")
        self._write("meta")[key] = value


class MemoryStore:
    """`Store` (engine/ports.py) in memory: `transaction()` opens a unit of work. The other storage ports sit
    beside it as on SQL: `MemoryReadModels(store)`, `MemoryTokens(store)` and the outbox queue `store.outbox`."""
    is_postgres = False
    url = "memory://"

    def __init__(self) -> None:
        self._tables = _Tables()
        self._lock = threading.RLock()
        self._ids: dict[str, int] = {"deadlines": 0, "outbox": 0, "refusals": 0, "tokens": 0, "users": 0,
                                     "sessions": 0}
        self.outbox = MemoryOutbox(self)

    # -- units of work --------------------------------------------------------------------------------
    def transaction(self) -> AbstractContextManager[MemoryTx]:
        return self._committing()

    @contextmanager
    def _committing(self) -> Iterator[MemoryTx]:
        with self._lock:
            tx = MemoryTx(self)
            yield tx          # an exception from the body leaves before the commit: nothing it wrote stays
            tx._commit()

    def log_horizon(self) -> int | None:
        """Units of work never run side by side here: every committed record may be sequenced (as SQLite)."""
        return None

    def log_refusal(self, now: dt.datetime, error: Exception, **who: Any) -> None:
        """Refused attempts are kept apart from the history (outside the refused command's unit of work)."""
        code = getattr(error, "exit_code", 1)
        message = getattr(error, "message", str(error))
        article = getattr(error, "article", None)
        with self.transaction() as tx:
            row = {"id": self._next_id("refusals"), "at": naive(now), "code": code, "message": message,
                   "article": article, **{k: who.get(k) for k in ("process", "trigger", "actor", "role", "party")}}
            tx._write("refusals").append(row)

    # -- schema (nothing to create: the tables are this module's code) ---------------------------------
    def migrate(self) -> None:
        """A memory store is created at its current format; there is nothing to upgrade."""

    def schema_ready(self) -> bool:
        return True

    def schema_revision(self) -> str | None:
        """A memory store is always at the newest revision (as storage/store.py names it)."""
        from convenant.storage.store import head_revision
        return head_revision()

    def dispose(self) -> None:
        """Nothing to release: no connections."""

    # -- filling a store from elsewhere (a benchmark's rows, a fork of a database) ---------------------
    def load(self, processes: Iterable[Process] = (), deadlines: Iterable[Deadline] = (),
             meta: Mapping[str, str | None] | None = None, *, now: dt.datetime | None = None) -> None:
        """Store processes as they are (their versions kept), deadlines (their ids kept, or new ones) and meta
        keys, in one unit of work (committed also where `transaction()` is made not to commit)."""
        with self._committing() as tx:
            for p in processes:
                row = self._process_row(p, now or p.created_at)
                row["version"] = p.version or 1
                tx._write("processes")[p.id] = row
                tx._side_rows(p, now or p.created_at)
            for d in deadlines:
                if d.id is None:
                    d.id = self._next_id("deadlines")
                self._ids["deadlines"] = max(self._ids["deadlines"], d.id)
                tx._write("deadlines")[d.id] = self._deadline_row(d)
            for key, value in (meta or {}).items():
                if value is not None:
                    tx.set_meta(key, value)

    # -- rows and objects -----------------------------------------------------------------------------
    def _next_id(self, table: str) -> int:
        """Ids are not given back on rollback (as PostgreSQL's sequences)."""
        self._ids[table] += 1
        return self._ids[table]

    def _freeze(self, value: Any) -> Any:
        """A JSON column's value as stored: its JSON text (what SQL could not store fails here as well)."""
        return json.dumps(value, ensure_ascii=False)

    def _thaw(self, stored: Any) -> Any:
        return json.loads(stored)

    def _process_row(self, p: Process, now: dt.datetime) -> Row:
        return {"id": p.id, "workflow": p.workflow, "ptype": p.ptype, "parent_id": p.parent_id,
                "root_id": p.root_id or p.id, "state": p.state, "final": bool(p.final), "version": p.version,
                **{k: self._freeze(v) if k == "data" else v for k, v in process_columns(p).items()},
                "created_at": naive(p.created_at), "updated_at": naive(now),
                "next_auto_at": naive(p.next_auto_at)}

    def _process_of(self, row: Row, references: dict[str, Row] | None = None) -> Process:
        """The typed process of a stored row; its reference data from `references` (a unit of work's view of
        the table) or the committed table."""
        table = self._tables.reference_data if references is None else references

        def fetch(rid: str) -> Row | None:
            found = table.get(rid)
            return None if found is None else {**found, "content": self._thaw(found["content"])}

        return decode_process({**row, "data": self._thaw(row["data"])},
                              lambda rid: cached_reference(rid, fetch))[0]

    def _deadline_row(self, d: Deadline) -> Row:
        row = _deadline_values(d)
        row["id"] = d.id
        row["responsible"] = self._freeze(row["responsible"])
        return row

    def _deadline_of(self, row: Row) -> Deadline:
        return _deadline({**row, "responsible": self._thaw(row["responsible"])})

    def tamper(self, seq: int, /, **changes: Any) -> None:
        """Change a stored record behind the chain's back, for tests of the verification (as an UPDATE or a
        DELETE by hand would): `seq=None` among `changes` removes the record."""
        with self._lock:
            rows = []
            for row in self._tables.records:
                if row["seq"] == seq:
                    if "seq" in changes and changes["seq"] is None:
                        continue
                    row = {**row, **changes}
                rows.append(row)
            self._tables = _Tables(**{**{n: getattr(self._tables, n) for n in TABLES}, "records": rows})

    def _rows(self, table: str) -> Any:
        """The committed rows of a table, for the read side (a read outside any unit of work)."""
        return getattr(self._tables, table)


class MemoryReadModels:
    """`ReadModels` (engine/ports.py) in memory: what storage/queries.py's SqlReadModels reads, from the store's
    committed rows."""

    def __init__(self, store: MemoryStore) -> None:
        self.store = store

    def process(self, pid: str) -> Process | None:
        row = self.store._rows("processes").get(pid)
        return self.store._process_of(row) if row is not None else None

    def roots(self) -> list[Process]:
        rows = sorted((r for r in self.store._rows("processes").values() if r["parent_id"] is None),
                      key=lambda r: r["id"])
        return [self.store._process_of(r) for r in rows]

    def children(self, root_id: str) -> list[Process]:
        with self.store.transaction() as tx:
            return tx.children(root_id)

    def deadlines(self, *, statuses: tuple[str, ...] | None, due_until: dt.date | None = None,
                  root_id: str | None = None) -> list[Deadline]:
        rows = [r for r in self.store._rows("deadlines").values()
                if (not statuses or r["status"] in statuses) and (due_until is None or r["due"] <= due_until)
                and (root_id is None or r["root_id"] == root_id)]
        rows.sort(key=lambda r: (r["due"], r["id"]))
        return [self.store._deadline_of(r) for r in rows]

    def history(self, process_id: str | None = None, *, include_children: bool = True, party: str | None = None,
                since: str | None = None, until: str | None = None) -> Iterator[dict[str, Any]]:
        """Records in recording order, each with the seq of the record that corrects it (`corrected_by`)."""
        rows = list(self.store._rows("records"))
        corrected_by = {r["corrects"]: r["seq"] for r in rows if r.get("corrects") is not None}
        for row in rows:
            if process_id is not None:
                if include_children and process_id not in (row["root"], row["process"]):
                    continue
                if not include_children and row["process"] != process_id:
                    continue
            if party and row["party"] != party:
                continue
            if since and row["effective"] < since:
                continue
            if until and row["effective"] > until:
                continue
            yield {**record_view(row), "corrected_by": corrected_by.get(row["seq"])}

    def with_notifications(self, records: Iterable[dict[str, Any]], tz: dt.tzinfo) -> Iterator[dict[str, Any]]:
        """Each record with the notifications it caused (`notifications`: to, status, attempts, kind, sent_at)."""
        rows = list(records)
        found = self.store.outbox.for_records([r["seq"] for r in rows], tz)
        for record in rows:
            yield {**record, "notifications": found.get(record["seq"], [])}

    def verify_chain(self) -> dict[str, Any]:
        """Recompute every hash in order, judged as the SQL store judges it (storage.store.check_chain)."""
        return check_chain(sorted(self.store._rows("records"), key=lambda r: r["seq"]),
                           lambda: self.store._rows("chain_head").get(1),
                           lambda: [r for _, r in sorted(self.store._rows("chain_heads").items())])

    def refusals(self, limit: int = 200) -> list[dict[str, Any]]:
        rows = sorted(self.store._rows("refusals"), key=lambda r: r["id"], reverse=True)[:limit]
        return [{**r, "at": _aware(r["at"]).isoformat()} for r in rows]

    def outbox(self, status: str | None = None, root_id: str | None = None) -> list[dict[str, Any]]:
        return self.store.outbox.list(status, root_id)


class MemoryTokens:
    """`TokenStore` in memory (tokens kept as their SHA-256, as storage/people.py SqlTokens)."""

    def __init__(self, store: MemoryStore) -> None:
        self.store = store

    def create(self, name: str, role: str, party: str | None, now: dt.datetime, owner: str | None = None,
               expires_at: dt.datetime | None = None, scope: str = "write") -> str:
        token = "cvn_" + secrets.token_urlsafe(32)
        with self.store.transaction() as tx:
            if name in tx._read("tokens"):
                raise NotAllowed(f"a token named {name!r} exists already; revoke it first")
            tx._write("tokens")[name] = {"id": self.store._next_id("tokens"), "name": name, "role": role,
                                         "party": party, "hash": token_hash(token), "created_at": naive(now),
                                         "revoked_at": None, "owner": owner, "expires_at": naive(expires_at),
                                         "scope": scope, "last_used_at": None}
        return token

    def list(self) -> builtins.list[dict[str, Any]]:
        return [_token_view(r) for r in sorted(self.store._rows("tokens").values(), key=lambda r: r["name"])]

    def revoke(self, name: str, now: dt.datetime) -> bool:
        with self.store.transaction() as tx:
            row = tx._read("tokens").get(name)
            if row is None or row["revoked_at"] is not None:
                return False
            tx._write("tokens")[name] = {**row, "revoked_at": naive(now)}
            return True

    def find(self, token: str) -> dict[str, Any] | None:
        wanted = token_hash(token)
        for row in self.store._rows("tokens").values():
            if row["hash"] == wanted and row["revoked_at"] is None:
                return _token_view(row)
        return None

    def touch(self, token_id: int, now: dt.datetime) -> None:
        with self.store.transaction() as tx:
            for name, row in tx._read("tokens").items():
                if row["id"] == token_id:
                    tx._write("tokens")[name] = {**row, "last_used_at": naive(now)}
                    return


def _iso(moment: dt.datetime | None) -> str | None:
    return _aware(moment).isoformat() if moment is not None else None


def _token_view(r: Row) -> dict[str, Any]:
    """As storage/people.py token_view."""
    return {"id": r["id"], "name": r["name"], "role": r["role"], "party": r["party"], "owner": r.get("owner"),
            "scope": r.get("scope") or "write", "created_at": _iso(r["created_at"]),
            "expires_at": _iso(r.get("expires_at")), "revoked_at": _iso(r["revoked_at"]),
            "last_used_at": _iso(r.get("last_used_at"))}


def _user_view(r: Row) -> dict[str, Any]:
    """As storage/people.py user_view."""
    return {"id": r["id"], "email": r["email"], "name": r["name"], "role": r["role"], "party": r["party"],
            "language": r["language"], "enabled": r["enabled"], "password_hash": r["password_hash"],
            "feed_key": r["feed_key"], "created_at": _iso(r["created_at"]), "disabled_at": _iso(r["disabled_at"])}


class MemoryPeople:
    """`PeopleStore` in memory (as storage/people.py SqlPeople): accounts by email, sessions by their hash."""

    def __init__(self, store: MemoryStore) -> None:
        self.store = store

    def add_user(self, user: dict[str, Any]) -> dict[str, Any]:
        with self.store.transaction() as tx:
            if user["email"] in tx._read("users"):
                raise NotAllowed(f"an account for {user['email']} exists already")
            tx._write("users")[user["email"]] = {
                "id": self.store._next_id("users"), "email": user["email"], "name": user["name"],
                "role": user["role"], "party": user.get("party"), "language": user.get("language") or "nl",
                "enabled": True, "password_hash": user.get("password_hash"),
                "feed_key": user.get("feed_key") or secrets.token_hex(32), "created_at": naive(user["created_at"]),
                "disabled_at": None}
        found = self.find_user(user["email"])
        assert found is not None
        return found

    def find_user(self, email: str) -> dict[str, Any] | None:
        row = self.store._rows("users").get(email)
        return _user_view(row) if row else None

    def user_by_id(self, user_id: int) -> dict[str, Any] | None:
        row = next((r for r in self.store._rows("users").values() if r["id"] == user_id), None)
        return _user_view(row) if row else None

    def list_users(self) -> builtins.list[dict[str, Any]]:
        return [_user_view(r) for _, r in sorted(self.store._rows("users").items())]

    def disable_user(self, email: str, now: dt.datetime) -> bool:
        with self.store.transaction() as tx:
            row = tx._read("users").get(email)
            if row is None or not row["enabled"]:
                return False
            tx._write("users")[email] = {**row, "enabled": False, "disabled_at": naive(now)}
            for key, session in tx._read("sessions").items():
                if session["user_id"] == row["id"] and session["closed_at"] is None:
                    tx._write("sessions")[key] = {**session, "closed_at": naive(now)}
            return True

    def set_password(self, email: str, password_hash: str | None) -> bool:
        with self.store.transaction() as tx:
            row = tx._read("users").get(email)
            if row is None:
                return False
            tx._write("users")[email] = {**row, "password_hash": password_hash}
            return True

    def open_session(self, session_hash: str, user_id: int, method: str, now: dt.datetime,
                     expires_at: dt.datetime) -> None:
        with self.store.transaction() as tx:
            if session_hash in tx._read("sessions"):
                raise IntegrityError("sessions.hash is unique")
            tx._write("sessions")[session_hash] = {"id": self.store._next_id("sessions"), "hash": session_hash,
                                                   "user_id": user_id, "method": method, "created_at": naive(now),
                                                   "last_seen_at": naive(now), "expires_at": naive(expires_at),
                                                   "closed_at": None}

    def find_session(self, session_hash: str) -> dict[str, Any] | None:
        row = self.store._rows("sessions").get(session_hash)
        if row is None:
            return None
        user = self.user_by_id(row["user_id"])
        return {"hash": row["hash"], "method": row["method"], "created_at": _aware(row["created_at"]),
                "last_seen_at": _aware(row["last_seen_at"]), "expires_at": _aware(row["expires_at"]),
                "closed_at": _aware(row["closed_at"]) if row["closed_at"] else None, "user": user}

    def touch_session(self, session_hash: str, now: dt.datetime) -> None:
        with self.store.transaction() as tx:
            row = tx._read("sessions").get(session_hash)
            if row is not None:
                tx._write("sessions")[session_hash] = {**row, "last_seen_at": naive(now)}

    def close_session(self, session_hash: str, now: dt.datetime) -> bool:
        with self.store.transaction() as tx:
            row = tx._read("sessions").get(session_hash)
            if row is None or row["closed_at"] is not None:
                return False
            tx._write("sessions")[session_hash] = {**row, "closed_at": naive(now)}
            return True

    def add_failure(self, keys: builtins.list[str], now: dt.datetime) -> None:
        if not keys:
            return
        with self.store.transaction() as tx:
            tx._write("sign_in_failures").extend({"key": k[:300], "at": naive(now)} for k in keys)

    def failures_since(self, key: str, since: dt.datetime) -> builtins.list[dt.datetime]:
        floor = naive(since)
        return sorted(_aware(r["at"]) for r in self.store._rows("sign_in_failures")
                      if r["key"] == key[:300] and r["at"] > floor)

    def clear_failures(self, key: str) -> None:
        with self.store.transaction() as tx:
            kept = [r for r in tx._read("sign_in_failures") if r["key"] != key[:300]]
            tx._write("sign_in_failures")[:] = kept


class MemoryOutbox:
    """The outbox as the dispatcher sees it (as storage/outbox.py OutboxRepo): claim due rows with a lease, then
    mark them sent, retried or failed."""

    def __init__(self, store: MemoryStore) -> None:
        self.store = store

    def _change(self, tx: MemoryTx, row_id: int, **values: Any) -> None:
        row = tx._read("outbox").get(row_id)
        if row is not None:
            tx._write("outbox")[row_id] = {**row, **values}

    def claim(self, now: dt.datetime, limit: int, lease: dt.timedelta) -> list[OutboxRow]:
        n, until = naive(now), naive(now + lease)
        with self.store.transaction() as tx:
            rows = sorted((r for r in tx._read("outbox").values() if r["status"] == "pending"
                           and r["next_attempt_at"] is not None and r["next_attempt_at"] <= n),
                          key=lambda r: (r["next_attempt_at"], r["id"]))[:limit]
            for r in rows:
                self._change(tx, r["id"], next_attempt_at=until, attempts=r["attempts"] + 1)
        return [OutboxRow(id=r["id"], key=r["key"], process_id=r["process_id"], root_id=r["root_id"],
                          to_addr=r["to_addr"], to_name=r["to_name"], subject=r["subject"],
                          payload=upcast.upcast_payload(r["format"], self.store._thaw(r["payload"])),
                          attempts=r["attempts"] + 1, kind=r["kind"], created_at=aware(r["created_at"]))
                for r in rows]

    def mark_sent(self, row_id: int, now: dt.datetime, message_id: str) -> None:
        with self.store.transaction() as tx:
            self._change(tx, row_id, status="sent", sent_at=naive(now), next_attempt_at=None,
                         message_id=message_id, last_error=None)

    def mark_retry(self, row_id: int, at: dt.datetime, error: str) -> None:
        with self.store.transaction() as tx:
            self._change(tx, row_id, next_attempt_at=naive(at), last_error=error[:1000])

    def mark_failed(self, row_id: int, error: str, alert: list[Notification] | None = None,
                    now: dt.datetime | None = None) -> None:
        """Give up on one message and, in the same unit of work, queue the alert to the secretariat."""
        with self.store.transaction() as tx:
            self._change(tx, row_id, status="failed", next_attempt_at=None, last_error=error[:1000])
            if alert:
                if now is None:
                    raise ValueError("an alert is queued at a moment: give now")
                tx.enqueue(alert, now)

    def list(self, status: str | None = None, root_id: str | None = None) -> builtins.list[dict[str, Any]]:
        rows = sorted(self.store._tables.outbox.values(), key=lambda r: r["id"])
        return [{**r, "payload": self.store._thaw(r["payload"])} for r in rows
                if (not status or r["status"] == status) and (not root_id or r["root_id"] == root_id)]

    def for_records(self, seqs: Sequence[int], tz: dt.tzinfo | None = None
                    ) -> dict[int, builtins.list[dict[str, Any]]]:
        wanted = set(seqs)
        zone = tz or dt.UTC
        out: dict[int, builtins.list[dict[str, Any]]] = {}
        for r in sorted(self.store._tables.outbox.values(), key=lambda r: r["id"]):
            if r["record_seq"] not in wanted:
                continue
            sent = _aware(r["sent_at"]).astimezone(zone).isoformat(timespec="seconds") if r["sent_at"] else None
            out.setdefault(r["record_seq"], []).append({"to": r["to_addr"], "status": r["status"],
                                                        "attempts": r["attempts"], "kind": r["kind"],
                                                        "sent_at": sent})
        return out


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _aware(moment: dt.datetime) -> dt.datetime:
    value = aware(moment)
    assert value is not None
    return value


if TYPE_CHECKING:   # mypy checks that each implementation fits its port of engine/ports.py
    from convenant.engine import ports

    def _fits(store: MemoryStore, tx: MemoryTx) -> tuple[ports.Store, ports.UnitOfWork, ports.ReadModels,
                                                         ports.TokenStore, ports.OutboxQueue, ports.PeopleStore]:
        return store, tx, MemoryReadModels(store), MemoryTokens(store), store.outbox, MemoryPeople(store)


__all__ = ["IntegrityError", "MemoryOutbox", "MemoryPeople", "MemoryReadModels", "MemoryStore", "MemoryTokens",
           "MemoryTx", "OutboxRow"]
