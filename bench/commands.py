"""P1: a whole durable command through the service beside the same three writes through the driver.

The command is `report_progress` with two --set values (theme, status) by the secretariat on a signed agreement:
`Service.fire` parses the values, locates the agreement, authorises, checks state and guards, applies the effect,
chains and hashes the record, writes the agreement's row, the record and the confirmation's outbox row, and
commits. Every command goes to an agreement of its own (bulk copies of one signed agreement), so that no row grows
over the rounds.

The baseline does what such a command writes, through `sqlite3` or `psycopg` with prebuilt statements and values
taken from a row the product wrote: update the agreement's row (the same bytes, with the version check), insert
one history record, insert one outbox row (ON CONFLICT DO NOTHING, as the product), one transaction each, at the
same durability (SQLite: the product's pragmas and BEGIN IMMEDIATE; PostgreSQL: the server's fsync and
synchronous_commit, which neither side changes)."""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import measure as m
from bench.db import pg_backends, pg_driver, read_row, sqlite_driver
from bench.seed import make_app, seed_agreements

PROGRESS = {"theme": "ruimte", "status": "on_track"}
RAW_SEQ = -(10**12)       # the baseline's records are numbered below the product's (which takes max + 1 on SQLite)


def quoted(column: str) -> str:
    return f'"{column}"'


def fire_report(service, pid: str) -> Any:
    return service.fire(pid, "report_progress", actor="Secretariaat", role="secretariat", data=PROGRESS)


class DriverWrites:
    """The three writes of one command through the driver itself, statements and values prebuilt from the rows
    the product wrote for `sample_pid` (its agreement row, the record `sample_seq`, that record's outbox row)."""

    def __init__(self, url: str, *, pg: bool, pragmas: dict[str, Any] | None, sample_pid: str, sample_seq: int,
                 seen_version: int) -> None:
        self.pg = pg
        self.conn = pg_driver(url) if pg else sqlite_driver(url, pragmas or {})
        mark = "%s" if pg else "?"
        proc = read_row(self.conn, "processes", "id = ?", (sample_pid,), pg=pg)
        rec = read_row(self.conn, "records", "seq = ?", (sample_seq,), pg=pg)
        out = read_row(self.conn, "outbox", "record_seq = ?", (sample_seq,), pg=pg)
        if pg:
            self.conn.rollback()
        self.update = (f"UPDATE processes SET state = {mark}, final = {mark}, version = {mark}, data = {mark}, "
                       f"updated_at = {mark}, next_auto_at = {mark} WHERE id = {mark} AND version = {mark}")
        self.proc_values = (proc["state"], proc["final"], seen_version + 1, proc["data"], proc["updated_at"],
                            proc["next_auto_at"])
        self.seen = seen_version
        self.rec_cols = list(rec)
        self.rec_values = list(rec.values())
        self.insert_record = (f"INSERT INTO records ({', '.join(map(quoted, rec))}) "
                              f"VALUES ({', '.join([mark] * len(rec))})")
        out.pop("id")
        self.out_cols = list(out)
        self.out_values = list(out.values())
        self.insert_outbox = (f"INSERT INTO outbox ({', '.join(map(quoted, out))}) "
                              f"VALUES ({', '.join([mark] * len(out))}) ON CONFLICT (key) DO NOTHING")
        self.i_seq, self.i_proc, self.i_root = (self.rec_cols.index(c) for c in ("seq", "process", "root"))
        self.o_key, self.o_pid, self.o_root, self.o_seq = (self.out_cols.index(c) for c in
                                                           ("key", "process_id", "root_id", "record_seq"))
        self.n = 0
        self.bytes = len(str(proc["data"])) + sum(len(str(v)) for v in rec.values()) + \
            sum(len(str(v)) for v in out.values())

    def command(self, pid: str) -> None:
        self.n += 1
        seq = RAW_SEQ - self.n
        rec = self.rec_values.copy()
        rec[self.i_seq], rec[self.i_proc], rec[self.i_root] = seq, pid, pid
        out = self.out_values.copy()
        out[self.o_key], out[self.o_pid], out[self.o_root], out[self.o_seq] = f"raw|{self.n}|{pid}", pid, pid, seq
        conn = self.conn
        if self.pg:
            cur = conn.execute(self.update, (*self.proc_values, pid, self.seen), prepare=True)
            assert cur.rowcount == 1
            conn.execute(self.insert_record, rec, prepare=True)
            conn.execute(self.insert_outbox, out, prepare=True)
            conn.commit()
        else:
            conn.execute("BEGIN IMMEDIATE")
            cur = conn.execute(self.update, (*self.proc_values, pid, self.seen))
            assert cur.rowcount == 1
            conn.execute(self.insert_record, rec)
            conn.execute(self.insert_outbox, out)
            conn.execute("COMMIT")

    def backend_pid(self) -> int | None:
        return self.conn.info.backend_pid if self.pg else None

    def close(self) -> None:
        self.conn.close()


def statements(engine, fn: Callable[[], Any]) -> tuple[list[str], int]:
    """What SQLAlchemy sends for `fn`: one short label per statement (verb and table), and the commits. The
    pool's pre-ping on PostgreSQL does not pass through these hooks, so it is not counted."""
    from sqlalchemy import event

    sent: list[str] = []
    commits = [0]

    def before(_conn, _cursor, statement, _params, _context, many) -> None:
        sent.append(label(statement) + (" (many)" if many else ""))

    def commit(_conn) -> None:
        commits[0] += 1

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "commit", commit)
    try:
        fn()
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "commit", commit)
    return sent, commits[0]


def label(sql: str) -> str:
    words = sql.split()
    verb = words[0].upper() if words else "?"
    if verb == "BEGIN":
        return " ".join(words[:2])
    table = re.search(r"\b(?:FROM|INTO|UPDATE)\s+\"?(\w+)", sql, re.IGNORECASE)
    lock = " FOR UPDATE" if "FOR UPDATE" in sql.upper() else ""
    return f"{verb} {table.group(1) if table else ''}{lock}".strip()


def p1(name: str, url: str, workdir: Path, *, per: int, rounds: int, pragmas: dict[str, Any] | None,
       profile_ops: int) -> None:
    from bench.profiling import print_profile, profile

    pg = not url.startswith("sqlite")
    app = make_app(url, workdir)
    warm = 20
    need = 2 * per * rounds + 2 * warm + profile_ops + 10
    seeded = seed_agreements(app, need + 1, prefix="p1")
    ids = seeded.ids[1:]
    product_ids, raw_ids = ids[: per * rounds + warm + profile_ops + 5], ids[per * rounds + warm + profile_ops + 5:]
    service = app.service
    fired = [fire_report(service, pid) for pid in product_ids[:warm]]
    sample = fired[-1]
    seen = app.queries.process(raw_ids[0]).version
    raw = DriverWrites(url, pg=pg, pragmas=pragmas, sample_pid=sample.process, sample_seq=sample.seq,
                       seen_version=seen)
    for pid in raw_ids[:warm]:
        raw.command(pid)
    product_pool = product_ids[warm:]
    raw_pool = raw_ids[warm:]
    server: dict[str, set[int]] = {}
    if pg:
        server["raw"] = {raw.backend_pid()}  # type: ignore[arg-type]
        server["product"] = pg_backends(url, exclude=server["raw"])

    def block(side: str, fn: Callable[[str], Any], pool: list[str]) -> Callable[[int], m.Block]:
        def run(r: int) -> m.Block:
            chunk = pool[r * per:(r + 1) * per]
            before = sum(m.proc_cpu_seconds(p) for p in server.get(side, ()))
            b = m.timed_block(lambda: [fn(pid) for pid in chunk], len(chunk))
            if pg:
                b.extra["server_cpu"] = sum(m.proc_cpu_seconds(p) for p in server.get(side, ())) - before
            return b
        return run

    out = m.interleave(rounds, [("product", block("product", lambda pid: fire_report(service, pid), product_pool)),
                                ("raw", block("raw", raw.command, raw_pool))])
    m.describe(f"command through Service.fire, {name}", out["product"], "command")
    m.describe(f"the three writes through {'psycopg' if pg else 'sqlite3'}, {name}", out["raw"], "command")
    if pg:
        for side in ("product", "raw"):
            m.line(f"  server CPU ({side}'s backends): "
                   f"{m.spread([b.extra['server_cpu'] / b.ops for b in out[side]], m.us)}/command")
    m.line(f"  baseline writes {raw.bytes:,} bytes of values per command (the agreement's row, the record, the "
           f"outbox row)")
    ratio = m.ratios(out["product"], out["raw"])
    m.verdict("P1", f"durable commands vs driver writes, {name}", f"{m.spread(ratio, m.pct)} "
              f"({m.spread([b.rate for b in out['product']], m.per_s)} vs "
              f"{m.spread([b.rate for b in out['raw']], m.per_s)})", ">= 50%", m.med(ratio) >= 0.5)
    raw.close()

    left = product_pool[per * rounds:]
    sent, commits = statements(app.store.engine, lambda: fire_report(service, left[0]))
    counts = Counter(sent)
    m.line(f"  statements per command (SQLAlchemy's hooks): {len(sent)} + {commits} commit: "
           + ", ".join(f"{k} x{v}" if v > 1 else k for k, v in counts.items()))
    prof = profile(lambda: [fire_report(service, pid) for pid in left[1:1 + profile_ops]], profile_ops)
    print_profile(prof, f"profile of the command, {name}")
    app.store.dispose()


def in_memory(workdir: Path, *, per: int, rounds: int) -> None:
    """The same command on the in-memory store (bench/memory.py: never commits, shallow reads): what the engine
    itself costs with no database. Informative, no target."""
    from bench.memory import RepeatingStore
    from convenant.engine.service import Service
    from convenant.notifications.render import render_subject

    app = make_app(f"sqlite:///{workdir / 'inmem.db'}", workdir)
    seeded = seed_agreements(app, 1, prefix="mem")
    pid = seeded.ids[0]
    with app.store.transaction() as tx:
        proc = tx.get_process(pid)
        deadlines = tx.deadlines_of(pid)
        meta = {"clock_mode": tx.meta("clock_mode"), "clock_now": tx.meta("clock_now")}
    memory = RepeatingStore([proc], {pid: deadlines}, meta)
    service = Service(memory, app.settings, app.workflows, subject=render_subject)
    for _ in range(20):
        fire_report(service, pid)
    out = m.interleave(rounds, [("memory", lambda r: m.timed_block(
        lambda: [fire_report(service, pid) for _ in range(per)], per))])
    m.describe("the same command on the in-memory store (no database; informative)", out["memory"], "command")
    app.store.dispose()
