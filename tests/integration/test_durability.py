"""SQLite's durability: a command that answered "done" survives a power failure (issue 15). A new SQLite database
runs with synchronous=FULL unless [database] sqlite_synchronous says otherwise; a bad value is refused naming the
key."""
from __future__ import annotations

import pytest

from convenant.app.bootstrap import config_from_dict
from convenant.engine.errors import BadInput
from tests.conftest import build_app


def _pragma(app, name: str):
    with app.store.reading() as conn:
        return conn.exec_driver_sql(f"PRAGMA {name}").scalar()


def test_a_new_sqlite_database_syncs_every_commit(tmp_path):
    app = build_app(f"sqlite:///{tmp_path / 'new.db'}", tmp_path)
    try:
        assert _pragma(app, "synchronous") == 2          # FULL
        assert _pragma(app, "journal_mode") == "wal"
        with app.store.transaction() as tx:              # a connection of a write, too
            assert tx.conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2
    finally:
        app.store.dispose()


def test_normal_on_request(tmp_path):
    app = build_app(f"sqlite:///{tmp_path / 'normal.db'}", tmp_path,
                    extra={"database": {"sqlite_synchronous": "normal"}})
    try:
        assert _pragma(app, "synchronous") == 1          # NORMAL
    finally:
        app.store.dispose()


def test_an_unknown_setting_is_refused_naming_the_key(tmp_path):
    with pytest.raises(BadInput) as info:
        config_from_dict({"database": {"url": f"sqlite:///{tmp_path / 'x.db'}", "sqlite_synchronous": "off"}},
                         base_dir=tmp_path)
    assert "sqlite_synchronous" in str(info.value)
    assert not (tmp_path / "x.db").exists()


def test_the_shipped_config_says_full():
    import tomllib

    from convenant import DEFAULT_CONFIG
    raw = tomllib.loads(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    assert raw["database"]["sqlite_synchronous"] == "full"
    assert config_from_dict(raw).database.sqlite_synchronous == "full"
