"""The process store: one SQL transaction per command, versioned process rows, the chained history, deadlines
and the outbox. SQLite runs in WAL mode with writers serialised (BEGIN IMMEDIATE); PostgreSQL uses row locks."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from engine.clock import UTC
from engine.errors import BadInput, Conflict, ConvenantError
from engine.model import Deadline, Notification, Process, Record
from storage import tables as t

RECORD_FORMAT = 1
GENESIS = "0" * 64
HISTORY_FIELDS = ("seq", "process", "trigger", "source", "dest", "actor", "role", "party", "effective",
                  "recorded_at", "article", "ref", "reason", "hash")


def naive(moment: dt.datetime | None) -> dt.datetime | None:
    return None if moment is None else moment.astimezone(UTC).replace(tzinfo=None)


def aware(moment: dt.datetime | None) -> dt.datetime | None:
    return None if moment is None else moment.replace(tzinfo=UTC)


def record_hash(fields: dict[str, Any], prev_hash: str) -> str:
    """SHA-256 over the record's content and the previous record's hash."""
    body = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev_hash + "\n" + body).encode("utf-8")).hexdigest()


def hashed_fields(row: dict[str, Any]) -> dict[str, Any]:
    keys = ("seq", "process", "root", "trigger", "source", "dest", "actor", "role", "party", "effective",
            "recorded_at", "article", "ref", "reason", "data", "format")
    return {k: row[k] for k in keys}


def make_engine(url: str, echo: bool = False) -> Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, echo=echo, connect_args={"timeout": 60, "isolation_level": None})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            if ":memory:" not in url:
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn):  # writers queue up here instead of failing on a stale snapshot
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return sa.create_engine(url, echo=echo, pool_pre_ping=True)


class Tx:
    """One unit of work on one connection, inside one transaction."""

    def __init__(self, conn: Connection, store: "SqlStore") -> None:
        self.conn = conn
        self.store = store
        self.pg = store.is_postgres

    # -- processes ------------------------------------------------------------------------------------
    def get_process(self, pid: str, *, lock: bool = False) -> Process | None:
        stmt = sa.select(t.processes).where(t.processes.c.id == pid)
        if lock and self.pg:
            stmt = stmt.with_for_update()
        row = self.conn.execute(stmt).mappings().first()
        return _process(row) if row else None

    def children(self, root_id: str) -> list[Process]:
        rows = self.conn.execute(sa.select(t.processes).where(t.processes.c.root_id == root_id,
                                                              t.processes.c.id != root_id)
                                 .order_by(t.processes.c.created_at, t.processes.c.id)).mappings()
        return [_process(r) for r in rows]

    def insert_process(self, p: Process, now: dt.datetime) -> None:
        p.version = 1
        self.conn.execute(t.processes.insert().values(
            id=p.id, workflow=p.workflow, ptype=p.ptype, parent_id=p.parent_id, root_id=p.root_id or p.id,
            state=p.state, final=p.final, version=1, data=p.data, created_at=naive(p.created_at),
            updated_at=naive(now), next_auto_at=naive(p.next_auto_at)))

    def update_process(self, p: Process, now: dt.datetime) -> None:
        """Write the new state if nobody changed the row since it was read; otherwise a Conflict."""
        result = self.conn.execute(
            t.processes.update().where(t.processes.c.id == p.id, t.processes.c.version == p.version)
            .values(state=p.state, final=p.final, data=p.data, version=p.version + 1, updated_at=naive(now),
                    next_auto_at=naive(p.next_auto_at)))
        if result.rowcount != 1:
            raise Conflict(f"process {p.id} was changed by someone else meanwhile; reload and try again",
                           process=p.id)
        p.version += 1

    # -- deadlines ------------------------------------------------------------------------------------
    def deadlines_of(self, process_id: str) -> list[Deadline]:
        rows = self.conn.execute(sa.select(t.deadlines).where(t.deadlines.c.process_id == process_id)
                                 .order_by(t.deadlines.c.due, t.deadlines.c.id)).mappings()
        return [_deadline(r) for r in rows]

    def get_deadline(self, did: int, *, lock: bool = False) -> Deadline | None:
        stmt = sa.select(t.deadlines).where(t.deadlines.c.id == did)
        if lock and self.pg:
            stmt = stmt.with_for_update(skip_locked=True)
        row = self.conn.execute(stmt).mappings().first()
        return _deadline(row) if row else None

    def insert_deadline(self, d: Deadline) -> None:
        d.id = self.conn.execute(t.deadlines.insert().values(**_deadline_values(d))).inserted_primary_key[0]

    def update_deadline(self, d: Deadline) -> None:
        self.conn.execute(t.deadlines.update().where(t.deadlines.c.id == d.id).values(**_deadline_values(d)))

    # -- history --------------------------------------------------------------------------------------
    def append_record(self, rec: Record) -> Record:
        """Chain the record to the previous one. The chain head row is the one lock all writers share, taken
        last so that it is held only for the insert and the commit."""
        stmt = sa.select(t.chain_head).where(t.chain_head.c.id == 1)
        if self.pg:
            stmt = stmt.with_for_update()
        head = self.conn.execute(stmt).mappings().first()
        seq, prev = (head["seq"], head["hash"]) if head else (0, GENESIS)
        row = {"seq": seq + 1, "process": rec.process, "root": rec.root, "trigger": rec.trigger,
               "source": rec.source, "dest": rec.dest, "actor": rec.actor, "role": rec.role, "party": rec.party,
               "effective": rec.effective, "recorded_at": rec.recorded_at, "article": rec.article,
               "ref": rec.ref, "reason": rec.reason,
               "data": json.dumps(rec.data, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
               "format": RECORD_FORMAT}
        row["prev_hash"] = prev
        row["hash"] = record_hash(hashed_fields(row), prev)
        self.conn.execute(t.records.insert().values(**row))
        if head:
            self.conn.execute(t.chain_head.update().where(t.chain_head.c.id == 1)
                              .values(seq=row["seq"], hash=row["hash"]))
        else:
            self.conn.execute(t.chain_head.insert().values(id=1, seq=row["seq"], hash=row["hash"]))
        rec.seq, rec.prev_hash, rec.hash = row["seq"], prev, row["hash"]
        return rec

    # -- outbox ---------------------------------------------------------------------------------------
    def enqueue(self, notes: list[Notification], now: dt.datetime) -> int:
        """Queue notifications; one already queued under the same idempotency key is left as it is."""
        if not notes:
            return 0
        rows = [{"key": n.key, "process_id": n.process_id, "root_id": n.root_id, "deadline_id": n.deadline_id,
                 "kind": n.kind, "to_addr": n.to_addr, "to_name": n.to_name, "subject": n.subject,
                 "payload": n.payload, "status": "pending", "attempts": 0, "created_at": naive(now),
                 "next_attempt_at": naive(now), "record_seq": n.payload.get("record_seq")} for n in notes]
        dialect = postgresql if self.pg else sqlite
        stmt = dialect.insert(t.outbox).on_conflict_do_nothing(index_elements=["key"])
        return self.conn.execute(stmt, rows).rowcount or 0

    # -- the scheduler's view -------------------------------------------------------------------------
    def next_due(self, now: dt.datetime) -> tuple[dt.datetime, str, Any] | None:
        """The earliest due item: an automatic transition of a process or a deadline step (processes first at
        the same moment, so that a lapse cancels a deadline before it would be judged missed)."""
        n = naive(now)
        p = self.conn.execute(sa.select(t.processes.c.next_auto_at, t.processes.c.id)
                              .where(t.processes.c.next_auto_at <= n)
                              .order_by(t.processes.c.next_auto_at, t.processes.c.id).limit(1)).first()
        d = self.conn.execute(sa.select(t.deadlines.c.next_at, t.deadlines.c.id)
                              .where(t.deadlines.c.next_at <= n)
                              .order_by(t.deadlines.c.next_at, t.deadlines.c.id).limit(1)).first()
        items = []
        if p:
            items.append((aware(p[0]), 0, "process", p[1]))
        if d:
            items.append((aware(d[0]), 1, "deadline", d[1]))
        if not items:
            return None
        moment, _, kind, ident = min(items)
        return moment, kind, ident

    def claim_due(self, now: dt.datetime, limit: int) -> list[tuple[dt.datetime, str, Any]]:
        """Due items in time order, locked for this worker (PostgreSQL: SKIP LOCKED, so that several workers
        share the work and none takes a row twice)."""
        n = naive(now)
        ps = sa.select(t.processes.c.next_auto_at, t.processes.c.id).where(t.processes.c.next_auto_at <= n) \
            .order_by(t.processes.c.next_auto_at).limit(limit)
        ds = sa.select(t.deadlines.c.next_at, t.deadlines.c.id).where(t.deadlines.c.next_at <= n) \
            .order_by(t.deadlines.c.next_at).limit(limit)
        if self.pg:
            ps = ps.with_for_update(skip_locked=True)
            ds = ds.with_for_update(skip_locked=True)
        items = [(aware(m), 0, "process", i) for m, i in self.conn.execute(ps)]
        items += [(aware(m), 1, "deadline", i) for m, i in self.conn.execute(ds)]
        items.sort()
        return [(m, k, i) for m, _, k, i in items[:limit]]

    def next_wakeup(self) -> dt.datetime | None:
        values = [self.conn.execute(sa.select(sa.func.min(t.processes.c.next_auto_at))).scalar(),
                  self.conn.execute(sa.select(sa.func.min(t.deadlines.c.next_at))).scalar(),
                  self.conn.execute(sa.select(sa.func.min(t.outbox.c.next_attempt_at))
                                    .where(t.outbox.c.status == "pending")).scalar()]
        values = [v for v in values if v is not None]
        return aware(min(values)) if values else None

    def next_mail_at(self, until: dt.datetime) -> dt.datetime | None:
        value = self.conn.execute(sa.select(sa.func.min(t.outbox.c.next_attempt_at))
                                  .where(t.outbox.c.status == "pending",
                                         t.outbox.c.next_attempt_at <= naive(until))).scalar()
        return aware(value)

    # -- clock ----------------------------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        return self.conn.execute(sa.select(t.meta.c.value).where(t.meta.c.key == key)).scalar()

    def set_meta(self, key: str, value: str) -> None:
        if self.meta(key) is None:
            self.conn.execute(t.meta.insert().values(key=key, value=value))
        else:
            self.conn.execute(t.meta.update().where(t.meta.c.key == key).values(value=value))


class SqlStore:
    def __init__(self, url: str, echo: bool = False) -> None:
        self.url = url
        self.engine = make_engine(url, echo)
        self.is_postgres = self.engine.dialect.name == "postgresql"

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        try:
            with self.engine.begin() as conn:
                yield Tx(conn, self)
        except sa.exc.OperationalError as exc:
            if "locked" in str(exc).lower() or "could not serialize" in str(exc).lower():
                raise Conflict("the database was busy with a concurrent change; try again") from None
            raise
        except sa.exc.DBAPIError as exc:
            if getattr(getattr(exc, "orig", None), "sqlstate", None) in ("40001", "40P01"):
                raise Conflict("a concurrent change got in the way; try again") from None
            raise

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


def _process(row: Any) -> Process:
    return Process(id=row["id"], workflow=row["workflow"], ptype=row["ptype"], state=row["state"],
                   data=row["data"], created_at=aware(row["created_at"]), version=row["version"],
                   parent_id=row["parent_id"], root_id=row["root_id"], next_auto_at=aware(row["next_auto_at"]),
                   final=row["final"])


def _deadline(row: Any) -> Deadline:
    return Deadline(id=row["id"], process_id=row["process_id"], root_id=row["root_id"], kind=row["kind"],
                    due=row["due"], status=row["status"], article=row["article"], rule=row["rule"],
                    moment=row["moment"], responsible=row["responsible"], created_at=aware(row["created_at"]),
                    met_on=row["met_on"], missed_at=aware(row["missed_at"]), step=row["step"],
                    next_at=aware(row["next_at"]), subject=row["subject"])


def _deadline_values(d: Deadline) -> dict[str, Any]:
    return {"process_id": d.process_id, "root_id": d.root_id, "kind": d.kind, "subject": d.subject, "due": d.due,
            "status": d.status, "article": d.article, "rule": d.rule, "moment": d.moment,
            "responsible": d.responsible, "created_at": naive(d.created_at), "met_on": d.met_on,
            "missed_at": naive(d.missed_at), "step": d.step, "next_at": naive(d.next_at)}


def check_url(url: str) -> None:
    try:
        sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        raise BadInput(f"[database] url {url!r} is not a database URL", field="database.url") from None
