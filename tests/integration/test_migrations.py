"""Migrations are the only way the schema changes: on SQLite and on PostgreSQL, upgrading from an empty database
and from every earlier revision reaches a schema identical to the models in storage/tables.py (Alembic's
autogenerate comparison finds nothing), and `convenant init` is `alembic upgrade head`."""
from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from convenant.storage.store import make_engine
from convenant.storage.tables import metadata
from tests.conftest import Cli

MIGRATIONS = Path(__file__).resolve().parents[2] / "storage" / "migrations"


def alembic(engine: sa.Engine, action: str, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        getattr(command, action)(cfg, revision)


def revisions() -> list[str]:
    """Every revision, oldest first."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return [s.revision for s in reversed(list(ScriptDirectory.from_config(cfg).walk_revisions()))]


def current(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def differences(engine: sa.Engine) -> list:
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), metadata)


def tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}


def test_upgrade_from_empty_matches_the_models(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        assert tables(engine) == set()
        alembic(engine, "upgrade", "head")
        assert current(engine) == revisions()[-1]
        assert tables(engine) == set(metadata.tables)
        assert differences(engine) == []
    finally:
        engine.dispose()


@pytest.mark.parametrize("previous", ["base", *revisions()[:-1]])
def test_upgrade_from_each_earlier_revision(db_url: str, previous: str) -> None:
    """Down to an earlier revision and up again: the same schema as a fresh upgrade."""
    engine = make_engine(db_url)
    try:
        alembic(engine, "upgrade", "head")
        alembic(engine, "downgrade", previous)
        assert current(engine) == (None if previous == "base" else previous)
        if previous == "base":
            assert tables(engine) == set()
        alembic(engine, "upgrade", "head")
        assert current(engine) == revisions()[-1]
        assert differences(engine) == []
    finally:
        engine.dispose()


def test_init_is_alembic_upgrade_head(db_url: str, tmp_path: Path) -> None:
    c = Cli(tmp_path, db_url)
    c.run("init")
    engine = make_engine(db_url)
    try:
        assert current(engine) == revisions()[-1]
        assert differences(engine) == []
    finally:
        engine.dispose()
    c.run("init")  # again: nothing to do, nothing broken
    c.run("agreements", "create", "--example", "krachtenbundeling")
    assert c.run("audit", "verify").code == 0


def test_the_head_the_cli_checks_is_alembics_head():
    from convenant.storage.store import head_revision
    assert head_revision() == revisions()[-1]


def test_a_database_behind_the_code_is_told_to_upgrade(tmp_path):
    """A command on a database at an older revision says to run init, and init upgrades it (no traceback)."""
    c = Cli(tmp_path, f"sqlite:///{tmp_path / 'c.db'}")
    c.run("init")
    engine = make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    alembic(engine, "downgrade", revisions()[0])
    engine.dispose()
    res = c.run("show", "krachtenbundeling", expect=1)
    assert f"at schema {revisions()[0]}" in res.err and "run 'convenant init' to upgrade" in res.err
    assert "Traceback" not in res.err
    c.run("init")
    c.run("agreements", "create", "--example", "krachtenbundeling")
    assert c.show()["state"] == "draft"
