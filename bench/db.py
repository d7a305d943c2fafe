"""The database drivers themselves, for the baselines: `sqlite3` with the product's own pragmas (read at run time
from a connection the product's engine opened, so that a change of storage/store.py's connect hook changes the
baseline too) and `psycopg` on the same server; what the server is and how durable it is."""
from __future__ import annotations

import sqlite3
from typing import Any

import sqlalchemy as sa

SYNCHRONOUS = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
PRAGMAS = ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")


def sqlite_path(url: str) -> str:
    return sa.engine.make_url(url).database or ""


def product_pragmas(url: str) -> dict[str, Any]:
    """The pragmas a connection of the product's engine runs with (storage.store.make_engine's connect hook)."""
    from convenant.storage.store import make_engine

    engine = make_engine(url)
    try:
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            out = {name: cur.execute(f"PRAGMA {name}").fetchone()[0] for name in PRAGMAS}
            cur.close()
        finally:
            raw.close()
    finally:
        engine.dispose()
    return out


def show_pragmas(values: dict[str, Any]) -> str:
    shown = dict(values)
    shown["synchronous"] = SYNCHRONOUS.get(int(shown["synchronous"]), shown["synchronous"])
    return ", ".join(f"{k}={v}" for k, v in shown.items())


def sqlite_driver(url: str, pragmas: dict[str, Any]) -> sqlite3.Connection:
    """A plain sqlite3 connection in autocommit mode (transactions are spelled out, BEGIN IMMEDIATE as the
    product's), with exactly the product's pragmas; checked by reading them back."""
    conn = sqlite3.connect(sqlite_path(url), timeout=60, isolation_level=None, check_same_thread=False)
    for name, value in pragmas.items():
        conn.execute(f"PRAGMA {name}={value}")
    got = {name: conn.execute(f"PRAGMA {name}").fetchone()[0] for name in PRAGMAS}
    assert got == pragmas, f"the baseline's pragmas {got} differ from the product's {pragmas}"
    return conn


def pg_conninfo(url: str) -> str:
    """A libpq URL for psycopg from a SQLAlchemy URL."""
    return sa.engine.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def pg_driver(url: str, *, autocommit: bool = False):
    import psycopg

    return psycopg.connect(pg_conninfo(url), autocommit=autocommit)


def pg_settings(url: str) -> dict[str, str]:
    """The server's version and the settings that decide what a commit costs."""
    with pg_driver(url, autocommit=True) as conn:
        out = {"version": conn.execute("SELECT version()").fetchone()[0]}
        for name in ("fsync", "synchronous_commit", "wal_sync_method", "full_page_writes", "shared_buffers",
                     "max_connections"):
            out[name] = conn.execute(f"SHOW {name}").fetchone()[0]
    return out


def pg_backends(url: str, exclude: set[int] = frozenset()) -> set[int]:  # type: ignore[assignment]
    """Process ids of the server backends connected to this (scratch) database, other than `exclude` and the
    connection asking."""
    with pg_driver(url, autocommit=True) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                            "AND pid <> pg_backend_pid()").fetchall()
    return {r[0] for r in rows} - set(exclude)


def columns(conn: Any, table: str, *, pg: bool) -> list[str]:
    if pg:
        rows = conn.execute("SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                            "ORDER BY ordinal_position", (table,)).fetchall()
        return [r[0] for r in rows]
    return [r[1] for r in conn.execute(f"PRAGMA table_info({table})").fetchall()]


def json_columns(conn: Any, table: str, *, pg: bool) -> set[str]:
    if not pg:
        return set()
    rows = conn.execute("SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                        "AND data_type IN ('json', 'jsonb')", (table,)).fetchall()
    return {r[0] for r in rows}


def read_row(conn: Any, table: str, where: str, params: tuple, *, pg: bool) -> dict[str, Any]:
    """One row as the database stores it (JSON columns as their text), for a baseline to write again."""
    cols = columns(conn, table, pg=pg)
    jsons = json_columns(conn, table, pg=pg)
    select = ", ".join(f'"{c}"::text' if c in jsons else f'"{c}"' for c in cols)
    mark = "%s" if pg else "?"
    row = conn.execute(f"SELECT {select} FROM {table} WHERE {where.replace('?', mark)}", params).fetchone()
    assert row is not None, f"no {table} row where {where} {params}"
    return dict(zip(cols, row, strict=True))
