"""A history on PostgreSQL walks its agreement's index, not the table (issue 15, P4): among many other agreements'
records, the product's own page query (captured as it is sent) is planned as an index scan of (root, seq) for an
agreement and of (process, seq) for a child, never as a walk of the whole table filtered."""
from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event

from convenant.storage import queries
from convenant.storage.store import SqlStore

pytestmark = pytest.mark.postgres

TOTAL, EVERY = 100_000, 60        # 100,000 records; every 60th is the asked agreement's (1,666 of them)
ASKED, CHILD = TOTAL // EVERY, TOTAL // (EVERY * 5)

# what the OR of root and process was planned as: the primary key walked from the start, every other agreement's
# record read and filtered out (or both indexes ORed)
WALKS = ("Seq Scan", "records_pkey", "BitmapOr")


def _seed(store: SqlStore) -> None:
    """Records interleaved as commands on 2,000 agreements leave them; every fifth record of the asked agreement
    is its amendment's. Written by the server itself (generate_series), in a second."""
    asked = f"mod(g, {EVERY}) = 0"
    with store.engine.begin() as conn:
        conn.exec_driver_sql(f"""
            INSERT INTO records (seq, process, root, trigger, source, dest, actor, role, party, effective,
                                 recorded_at, article, ref, reason, data, format, prev_hash, hash, corrects)
            SELECT g,
                   CASE WHEN {asked} THEN CASE WHEN mod(g, {EVERY * 5}) = 0 THEN 'agreement-0/amendment-1'
                                                ELSE 'agreement-0' END
                        ELSE 'agreement-' || (mod(g, 2000) + 1) END,
                   CASE WHEN {asked} THEN 'agreement-0' ELSE 'agreement-' || (mod(g, 2000) + 1) END,
                   'report_progress', 'active', 'active', 'bench', 'secretariat', NULL, '2025-04-01',
                   '2025-04-01T09:00:00+00:00', '1.4', NULL, NULL, '{{}}', 2, repeat('0', 64),
                   lpad(to_hex(g), 64, '0'), NULL
            FROM generate_series(1, {TOTAL}) AS g""")
        conn.exec_driver_sql("ANALYZE records")


def _plans(store: SqlStore, pid: str) -> tuple[list[dict[str, Any]], list[str]]:
    sent: list[tuple[str, Any]] = []

    def hook(conn, cursor, statement, params, context, executemany):  # noqa: ANN001 - SQLAlchemy's signature
        if "FROM records" in statement:
            sent.append((statement, params))

    event.listen(store.engine, "before_cursor_execute", hook)
    try:
        got = list(queries.history(store, pid))
    finally:
        event.remove(store.engine, "before_cursor_execute", hook)
    plans = []
    with store.engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        with raw.cursor() as cur:
            for statement, params in sent:
                cur.execute("EXPLAIN " + statement, params)
                plans.append("\n".join(r[0] for r in cur.fetchall()))
        raw.rollback()
    return got, plans


def test_an_agreements_history_uses_its_index(pg_url):
    store = SqlStore(pg_url)
    try:
        store.migrate()
        _seed(store)
        got, plans = _plans(store, "agreement-0")
        assert len(got) == ASKED and {r["process"] for r in got} == {"agreement-0", "agreement-0/amendment-1"}
        assert [r["seq"] for r in got] == sorted(r["seq"] for r in got)
        assert len(plans) == 3                                   # two pages of up to 1,000 and the empty third
        for plan in plans:
            # the agreement's rows found through its index (an ordered index scan, or a bitmap of it then a sort
            # of those rows alone): never a walk of the whole table or of the primary key, filtered
            assert "Index Scan using ix_records_root_seq on records" in plan or \
                "Bitmap Index Scan on ix_records_root_seq" in plan, plan
            assert not any(w in plan for w in WALKS), plan

        child, plans = _plans(store, "agreement-0/amendment-1")
        assert len(child) == CHILD and {r["process"] for r in child} == {"agreement-0/amendment-1"}
        assert "ix_records_process_seq" in plans[-2], plans
        assert all(not any(w in p for w in WALKS) for p in plans), plans
    finally:
        store.dispose()
