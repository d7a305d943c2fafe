"""What one command costs the database (issue 15, P1), counted, not timed: the statements a progress report on an
active agreement sends, on SQLite and PostgreSQL, each one compiled once and taken from SQLAlchemy's cache after
(a statement SQLAlchemy cannot cache is compiled again on every command). A change that adds a statement fails
here: if the new statement is needed, raise the number and say why in the commit."""
from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event

from tests.conftest import KB, Harness

# SQLite: BEGIN IMMEDIATE; the meta table (the clock) once; the process; its deadlines; the theme's report
# deadline inserted and the one it replaces updated; the process row; its log entry; the chain head with the
# database's highest seq; the record; the chain head's update; the confirmation into the outbox.
SQLITE_STATEMENTS = 12
# PostgreSQL: the same, with no BEGIN statement (the driver's) and the seq drawn from the sequence apart.
POSTGRES_STATEMENTS = 12

REPORT = {"theme": "ruimte", "status": "on_track"}


def _count(h: Harness) -> list[tuple[str, Any]]:
    seen: list[tuple[str, Any]] = []

    def hook(conn, cursor, statement, params, context, executemany):  # noqa: ANN001 - SQLAlchemy's signature
        seen.append((" ".join(statement.split())[:120], getattr(context, "cache_hit", None)))

    h.fire(KB, "report_progress", sets=REPORT)          # the first compiles what the command needs
    event.listen(h.store.engine, "before_cursor_execute", hook)
    try:
        h.fire(KB, "report_progress", sets=REPORT)
    finally:
        event.remove(h.store.engine, "before_cursor_execute", hook)
    return seen


def _check(seen: list[tuple[str, Any]], expected: int) -> None:
    from sqlalchemy.engine.interfaces import CacheStats
    listing = "\n".join(f"{hit} {sql}" for sql, hit in seen)
    assert len(seen) == expected, f"a report now sends {len(seen)} statements, not {expected}:\n{listing}"
    uncached = [sql for sql, hit in seen
                if hit is not CacheStats.CACHE_HIT and not sql.startswith("BEGIN")]
    assert uncached == [], f"compiled again on every command (not cached):\n{listing}"


@pytest.fixture
def active_sqlite(tmp_path):
    h = Harness(f"sqlite:///{tmp_path / 'count.db'}", tmp_path)
    h.active()
    yield h
    h.close()


def test_one_command_on_sqlite(active_sqlite):
    seen = _count(active_sqlite)
    _check(seen, SQLITE_STATEMENTS)
    assert [sql.split()[0] for sql, _ in seen].count("SELECT") == 4
    assert sum("FROM meta" in sql for sql, _ in seen) == 1            # the clock: one read
    assert active_sqlite.verify()["intact"]


@pytest.mark.postgres
def test_one_command_on_postgres(pg_url, tmp_path):
    h = Harness(pg_url, tmp_path)
    try:
        h.active()
        seen = _count(h)
        _check(seen, POSTGRES_STATEMENTS)
        assert sum("FROM meta" in sql for sql, _ in seen) == 1
        assert h.verify()["intact"]
    finally:
        h.close()


@pytest.mark.postgres
def test_an_idle_connection_the_server_closed_is_replaced(pg_url, tmp_path, monkeypatch):
    """No pre-ping before every command: a pooled connection is pinged only after sitting idle, and one the
    server closed meanwhile is replaced instead of failing the next command."""
    import sqlalchemy as sa

    from convenant.storage import store as store_module
    h = Harness(pg_url, tmp_path)
    try:
        h.create()
        with h.store.reading() as conn:
            pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            assert conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
        admin.dispose()
        monkeypatch.setattr(store_module, "IDLE_PING_SECONDS", -1.0)   # every pooled connection counts as idle
        h.fire(KB, "open_signing")
        assert h.show()["state"] == "signing"
    finally:
        h.close()
