"""P4: one agreement's long history, listed and verified together, in a database that also holds many other
agreements, beside the raw keyset query of the same rows through the driver.

The database is seeded in bulk with driver statements (executemany on SQLite, COPY on PostgreSQL): one agreement
goes through the engine (created, signing opened, signed by four, one progress report), and its agreement row and
records are copied for every other agreement; the long history's agreement gets that agreement's first records
and then progress reports, spread through the table between the other agreements' records as a busy database
would have them. Every record is chained and hashed with the product's own functions (storage.store), so that the
product's verification finds the chain intact (checked)."""
from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench import measure as m
from bench.commands import quoted
from bench.db import columns, pg_driver, read_row, sqlite_driver
from bench.seed import make_app, signed_agreement

PID = "history"
TEMPLATE = "p4-template"
CHUNK = 10_000


def _template(conn: Any, pg: bool) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    proc = read_row(conn, "processes", "id = ?", (TEMPLATE,), pg=pg)
    cols = columns(conn, "records", pg=pg)
    mark = "%s" if pg else "?"
    rows = conn.execute(f"SELECT * FROM records WHERE root = {mark} ORDER BY seq", (TEMPLATE,)).fetchall()
    return proc, [dict(zip(cols, r, strict=True)) for r in rows]


def _records(others: int, history: int, created: list[dict[str, Any]], report: dict[str, Any]
             ) -> Iterator[tuple[str, dict[str, Any]]]:
    """(agreement, template record) in recording order: the long history's first records, then every other
    agreement's records with the long history's reports spread evenly between them."""
    for rec in created:
        yield PID, rec
    reports = history - len(created)
    sent = 0
    for a in range(others):
        for rec in created:
            yield f"other-{a:06d}", rec
        due = reports * (a + 1) // others
        while sent < due:
            yield PID, report
            sent += 1
    while sent < reports:
        yield PID, report
        sent += 1


def seed(url: str, *, others: int, history: int, pragmas: dict[str, Any] | None) -> dict[str, Any]:
    """Seed through the driver; returns what was written. Each agreement's records are chained with the product's
    own `storage.store.chained_row` (one chain per agreement), its chain head written beside them."""
    import json
    from dataclasses import replace

    from convenant.engine.model import Record
    from convenant.storage.store import chained_row

    pg = not url.startswith("sqlite")
    conn = pg_driver(url) if pg else sqlite_driver(url, pragmas or {})
    proc, recs = _template(conn, pg)
    fields = {f for f in Record.__dataclass_fields__} - {"seq", "prev_hash", "hash"}

    def record(row: dict[str, Any]) -> Record:
        values = {k: v for k, v in row.items() if k in fields}
        values["data"] = json.loads(row["data"]) if row["data"] else {}
        return Record(**values)

    created = [(record(r), r["format"]) for r in recs if r["trigger"] != "report_progress"]
    report = next((record(r), r["format"]) for r in recs if r["trigger"] == "report_progress")
    seq = conn.execute("SELECT max(seq) FROM records").fetchone()[0] or 0
    proc_cols = list(proc)
    if not pg:
        conn.execute("BEGIN IMMEDIATE")

    def write(table: str, cols: list[str], rows: list[tuple]) -> None:
        if pg:
            with conn.cursor().copy(f"COPY {table} ({', '.join(map(quoted, cols))}) FROM STDIN") as copy:
                for r in rows:
                    copy.write_row(r)
        else:
            conn.executemany(f"INSERT INTO {table} ({', '.join(map(quoted, cols))}) "
                             f"VALUES ({', '.join('?' * len(cols))})", rows)

    ids = [PID] + [f"other-{a:06d}" for a in range(others)]
    for start in range(0, len(ids), CHUNK):
        write("processes", proc_cols, [tuple({**proc, "id": i, "root_id": i}[c] for c in proc_cols)
                                       for i in ids[start:start + CHUNK]])
    heads: dict[str, dict[str, Any]] = {}
    batch: list[tuple] = []
    cols: list[str] = []
    count = 0
    for pid, (template, fmt) in _records(others, history, created, report):  # type: ignore[arg-type]
        seq += 1
        head = heads.get(pid)
        row = chained_row(replace(template, process=pid, root=pid), head, seq=seq, fmt=fmt)
        heads[pid] = {"seq": seq, "hash": row["hash"], "records": (head["records"] if head else 0) + 1}
        cols = cols or list(row)
        batch.append(tuple(row[c] for c in cols))
        count += 1
        if len(batch) >= CHUNK:
            write("records", cols, batch)
            batch = []
    if batch:
        write("records", cols, batch)
    write("chain_heads", ["root", "seq", "hash", "records"],
          [(root, h["seq"], h["hash"], h["records"]) for root, h in heads.items()])
    if pg:
        conn.execute("SELECT setval('records_seq', %s)", (seq,))
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
    else:
        conn.execute("COMMIT")
    conn.close()
    return {"records": seq, "written": count, "agreements": len(ids) + 1}


class RawHistory:
    """The keyset query of one agreement's records through the driver: pages of 1,000 by (root, seq)."""

    def __init__(self, url: str, pragmas: dict[str, Any] | None) -> None:
        self.pg = not url.startswith("sqlite")
        self.conn = pg_driver(url, autocommit=True) if self.pg else sqlite_driver(url, pragmas or {})
        mark = "%s" if self.pg else "?"
        self.sql = f"SELECT * FROM records WHERE root = {mark} AND seq > {mark} ORDER BY seq LIMIT 1000"
        self.seq = columns(self.conn, "records", pg=self.pg).index("seq")

    def rows(self, pid: str) -> int:
        last, n = 0, 0
        while True:
            if self.pg:
                page = self.conn.execute(self.sql, (pid, last), prepare=True).fetchall()
            else:
                page = self.conn.execute(self.sql, (pid, last)).fetchall()
            if not page:
                return n
            n += len(page)
            last = page[-1][self.seq]


def p4(name: str, url: str, workdir: Path, *, others: int, history: int, rounds: int,
       pragmas: dict[str, Any] | None) -> None:
    pg = not url.startswith("sqlite")
    app = make_app(url, workdir)
    signed_agreement(app, TEMPLATE)
    app.service.fire(TEMPLATE, "report_progress", actor="Secretariaat", role="secretariat",
                     data={"theme": "ruimte", "status": "on_track"})
    started = time.perf_counter()
    seeded = seed(url, others=others, history=history, pragmas=pragmas)
    seeding = time.perf_counter() - started
    log = getattr(app.service, "log", None)
    if log is not None:  # the verifiable log's sequencer takes the seeded records in, as the scheduler would
        log.sequence()
    m.line(f"({seeded['agreements']:,} agreements and {seeded['records']:,} records in the database, seeded "
           f"through the driver in {seeding:.0f} s, then taken into the log in {time.perf_counter() - started - seeding:.0f}"
           f" s; {history:,} of the records are {PID!r}'s)")
    queries = app.queries
    raw = RawHistory(url, pragmas)

    def product(_r: int) -> dict[str, Any]:
        t0 = time.perf_counter()
        listed = sum(1 for _ in queries.history(PID))
        t1 = time.perf_counter()
        result = queries.verify()
        t2 = time.perf_counter()
        assert listed == history, (listed, history)
        assert result["intact"], result
        return {"list": t1 - t0, "verify": t2 - t1, "verified": result["records"]}

    def product_block(r: int) -> m.Block:
        return m.timed_block(lambda: product(r), 1)

    def raw_block(_r: int) -> m.Block:
        def go() -> dict[str, Any]:
            got = raw.rows(PID)
            assert got == history, (got, history)
            return {}
        return m.timed_block(go, 1)

    product(0)
    raw.rows(PID)
    out = m.interleave(rounds, [("product", product_block), ("raw", raw_block)])
    prod, base = out["product"], out["raw"]
    m.line(f"list + verify {history:,} records of {PID!r} (queries.history, queries.verify), {name}: wall "
           f"{m.spread([b.wall for b in prod], m.ms)}, CPU {m.spread([b.cpu for b in prod], m.ms)}  "
           f"({len(prod)} rounds)")
    m.line(f"  of which list {m.spread([b.extra['list'] for b in prod], m.ms)}, verify "
           f"{m.spread([b.extra['verify'] for b in prod], m.ms)} (verify checks the whole chain: "
           f"{prod[0].extra['verified']:,} records)")
    m.line(f"raw keyset query of the same {history:,} rows through the driver, {name}: wall "
           f"{m.spread([b.wall for b in base], m.ms)}, CPU {m.spread([b.cpu for b in base], m.ms)}")
    listing = [b.extra["list"] / r.wall for b, r in zip(prod, base, strict=True)]
    m.line(f"  list alone vs raw: {m.spread(listing, m.times)}")
    ratio = [b.wall / r.wall for b, r in zip(prod, base, strict=True)]
    m.verdict("P4", f"list + verify vs raw keyset query, {name}", m.spread(ratio, m.times), "<= 2x",
              m.med(ratio) <= 2)
    m.line(f"  peak Python heap (tracemalloc): list {peak(lambda: sum(1 for _ in queries.history(PID))):.1f} MB, "
           f"raw query {peak(lambda: raw.rows(PID)):.1f} MB")
    if pg:
        explain(app, queries, raw)
    raw.conn.close()
    app.store.dispose()


def verify_profile(name: str, url: str, workdir: Path, *, others: int, history: int,
                   pragmas: dict[str, Any] | None) -> None:
    """Where verification's time goes: cProfile (CPU clock) over one `queries.verify()` of a database seeded as
    for P4."""
    from bench.profiling import print_profile, profile

    app = make_app(url, workdir)
    signed_agreement(app, TEMPLATE)
    app.service.fire(TEMPLATE, "report_progress", actor="Secretariaat", role="secretariat",
                     data={"theme": "ruimte", "status": "on_track"})
    seeded = seed(url, others=others, history=history, pragmas=pragmas)
    log = getattr(app.service, "log", None)
    if log is not None:
        log.sequence()
    result: dict[str, Any] = {}
    prof = profile(lambda: result.update(app.queries.verify()), seeded["records"])
    assert result["intact"], result
    print_profile(prof, f"profile of one verification (queries.verify), {name}, {seeded['records']:,} records",
                  unit="record")
    app.store.dispose()


def peak(fn: Callable[[], Any]) -> float:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def explain(app, queries, raw: RawHistory) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of the first page of the product's history query, as the product sends it
    (caught with SQLAlchemy's hook), and of the raw keyset query."""
    from sqlalchemy import event

    caught: list[tuple[str, Any]] = []

    def before(_conn, _cursor, statement, params, _context, _many) -> None:
        if "FROM records" in statement and not caught:
            caught.append((statement, params))

    event.listen(app.store.engine, "before_cursor_execute", before)
    try:
        next(iter(queries.history(PID)))
    finally:
        event.remove(app.store.engine, "before_cursor_execute", before)
    statement, params = caught[0]
    m.line("PostgreSQL EXPLAIN (ANALYZE, BUFFERS) of the product's history query (first page), as sent:")
    m.line("  " + " ".join(statement.split()), indent=4)
    m.line(f"  parameters {params}", indent=4)
    with app.store.engine.connect() as conn:
        for (plan,) in conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, params):
            m.line("  " + plan, indent=4)
    m.line("and of the raw keyset query (first page):")
    for (plan,) in raw.conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + raw.sql, (PID, 0)).fetchall():
        m.line("  " + plan, indent=4)
