"""The storage and engine integration suite, run unchanged on SQLite and on PostgreSQL (`db_url`): versioned
process rows, one transaction per command, one unbroken chain under concurrent writers, and histories that are
streamed in pages rather than loaded whole."""
from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from convenant.engine.errors import Conflict, NotAllowed
from convenant.engine.model import Record
from convenant.storage import queries
from convenant.storage import tables as t
from convenant.storage.store import Tx
from tests.conftest import Cli, build_app

KB = "krachtenbundeling"
START = "2025-03-01T09:00:00+01:00"
SIGNATORIES = ("ienw", "ipo", "uvw", "vng")


def example(app, pid: str = KB) -> None:
    from bench.seed import example_data
    app.service.create_agreement("krachtenbundeling", example_data(app), pid=pid)


def everything(app) -> dict[str, Any]:
    """Every row of every table the engine writes: what a refused or failed command must leave as it was."""
    out = {}
    with app.store.reading() as conn:
        for table in (t.processes, t.deadlines, t.records, t.chain_head, t.outbox):
            rows = conn.execute(sa.select(table)).mappings().all()
            out[table.name] = sorted(tuple(sorted((k, str(v)) for k, v in r.items())) for r in rows)
    return out


def test_a_stale_write_is_a_conflict_and_leaves_nothing(db_url: str, tmp_path: Path) -> None:
    app = build_app(db_url, tmp_path, simulation=START)
    example(app)
    with app.store.transaction() as tx:
        stale = tx.get_process(KB)
    app.service.fire(KB, "open_signing", actor="Secretariaat", role="secretariat")
    before = everything(app)
    now = app.service.now()
    with pytest.raises(Conflict):
        with app.store.transaction() as tx:
            tx.append_record(Record(process=KB, root=KB, trigger="open_signing", source="draft", dest="signing",
                                    actor="someone else", role="secretariat", party=None,
                                    effective="2025-03-01", recorded_at=START, article="Art. 5.1"))
            stale.state = "signing"
            tx.update_process(stale, now)  # read at version 1, the row is at version 2
    assert everything(app) == before
    assert queries.verify_chain(app.store)["intact"]


def test_cli_stale_version_exits_5_and_changes_nothing(db_url: str, tmp_path: Path) -> None:
    c = Cli(tmp_path, db_url)
    c.run("init", "--simulation", "--start", START)
    c.run("agreements", "create", "--example", KB)
    version = c.show()["version"]
    c.trigger(KB, "open_signing")
    before = c.snapshot()
    res = c.run("trigger", KB, "sign", "--actor", "C.A. Jansen", "--role", "party", "--party", "ienw",
                "--expect-version", str(version), expect=5)
    assert res.data["exit_code"] == 5
    assert c.snapshot() == before
    assert c.run("audit", "verify").code == 0


def test_a_failure_after_the_record_insert_persists_nothing(db_url: str, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    app = build_app(db_url, tmp_path, simulation=START)
    example(app)
    before = everything(app)
    original = Tx.append_record

    def append_then_fail(self: Tx, rec: Record) -> Record:
        original(self, rec)
        raise RuntimeError("injected failure after the record insert")

    monkeypatch.setattr(Tx, "append_record", append_then_fail)
    with pytest.raises(RuntimeError, match="injected"):
        app.service.fire(KB, "open_signing", actor="Secretariaat", role="secretariat")
    assert everything(app) == before
    monkeypatch.undo()
    app.service.fire(KB, "open_signing", actor="Secretariaat", role="secretariat")  # and the command still works
    assert queries.verify_chain(app.store)["intact"]


def test_concurrent_writers_keep_one_unbroken_chain(db_url: str, tmp_path: Path) -> None:
    app = build_app(db_url, tmp_path, simulation=START)
    ids = [f"kb{i}" for i in range(6)]
    for pid in ids:
        example(app, pid)

    def lifecycle(pid: str) -> int:
        app.service.fire(pid, "open_signing", actor="Secretariaat", role="secretariat")
        for party in SIGNATORIES:
            app.service.fire(pid, "sign", actor=f"namens {party}", role="party", party=party, on="2025-03-01")
        return 5

    with ThreadPoolExecutor(max_workers=len(ids)) as pool:
        fired = sum(pool.map(lifecycle, ids))
    result = queries.verify_chain(app.store)
    assert result["intact"], result
    with app.store.reading() as conn:
        seqs = conn.execute(sa.select(t.records.c.seq).order_by(t.records.c.seq)).scalars().all()
    assert seqs == list(range(1, len(ids) + fired + 1))  # one sequence, no gap, no duplicate
    assert result["records"] == len(seqs)
    with app.store.transaction() as tx:
        assert {tx.get_process(pid).state for pid in ids} == {"signed"}


def test_concurrent_commands_on_one_process_one_wins(db_url: str, tmp_path: Path) -> None:
    """Real `convenant` processes racing to open the same signing round: exactly one wins; the others find the
    process changed under them (exit 5) or, if they started after the commit, in the wrong state (exit 3)."""
    c = Cli(tmp_path, db_url)
    c.run("init", "--simulation", "--start", START)
    c.run("agreements", "create", "--example", KB)
    before = len(c.history())
    cmd = [sys.executable, "-m", "convenant.app.cli", "--config", str(c.config), "--json", "trigger", KB, "open_signing",
           "--actor", "Secretariaat", "--role", "secretariat"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    codes = sorted(p.wait(timeout=180) for p in procs)
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    assert codes[0] == 0 and codes.count(0) == 1, codes
    assert set(codes[1:]) <= {3, 5}, codes
    history = c.history()
    assert [h["trigger"] for h in history[before:]] == ["open_signing"]
    assert c.show()["state"] == "signing"
    assert c.run("audit", "verify").code == 0


def test_history_and_verify_stream_in_keyset_pages(db_url: str, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    app = build_app(db_url, tmp_path, simulation=START)
    example(app)
    example(app, "other")
    s = app.service
    s.fire("other", "open_signing", actor="Secretariaat", role="secretariat")  # records of another agreement
    s.fire(KB, "open_signing", actor="Secretariaat", role="secretariat")
    for party in SIGNATORIES:
        s.fire(KB, "sign", actor=f"namens {party}", role="party", party=party, on="2025-03-01")
    for _ in range(12):
        s.fire(KB, "report_progress", actor="Secretariaat", role="secretariat",
               data={"theme": "ruimte", "status": "on_track"})
    page = 5
    monkeypatch.setattr(queries, "PAGE", page)
    statements: list[tuple[str, Any]] = []

    def seen(conn, cursor, statement, parameters, context, executemany) -> None:
        if "FROM records" in statement:
            statements.append((statement, parameters))

    sa.event.listen(app.store.engine, "before_cursor_execute", seen)
    try:
        streamed = list(queries.history(app.store, KB))
        history_queries = len(statements)
        statements.clear()
        verified = queries.verify_chain(app.store)
        verify_queries = len(statements)
    finally:
        sa.event.remove(app.store.engine, "before_cursor_execute", seen)

    with app.store.reading() as conn:
        raw = conn.execute(sa.select(t.records.c.seq).where(sa.or_(t.records.c.root == KB, t.records.c.process == KB))
                           .order_by(t.records.c.seq)).scalars().all()
        total = conn.execute(sa.select(sa.func.count()).select_from(t.records)).scalar()
    assert [r["seq"] for r in streamed] == raw and len(raw) == 18
    assert all(r["process"] == KB for r in streamed)
    assert verified["intact"] and verified["records"] == total
    # page by page: each query asks for at most `page` rows after the last seq seen, never for all of them
    pages = -(-len(raw) // page)
    assert pages <= history_queries <= pages + 1  # one query per page (and perhaps one that finds the end)
    pages = -(-total // page)
    assert pages <= verify_queries <= pages + 1
    assert all("LIMIT" in stmt.upper() for stmt, _ in statements)


def test_refused_command_writes_nothing(db_url: str, tmp_path: Path) -> None:
    app = build_app(db_url, tmp_path, simulation=START)
    example(app)
    before = everything(app)
    with pytest.raises(NotAllowed):
        app.service.fire(KB, "sign", actor="C.A. Jansen", role="party", party="ienw")  # still a draft
    assert everything(app) == before
