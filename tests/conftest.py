"""Shared fixtures: a CLI driver (in-process, through click), applications on SQLite and PostgreSQL, and the
PostgreSQL switch: tests marked `postgres` skip with a reason where no server answers, and fail instead when
CONVENANT_REQUIRE_PG=1 (set by .ci/run), so CI never skips them silently."""
from __future__ import annotations

import datetime as dt
import json
import mailbox
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

PG_ADMIN_URL = os.environ.get("CONVENANT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("CONVENANT_REQUIRE_PG") == "1"

BASE_CONFIG = """
[database]
url = "{url}"

[mail]
transport = "maildir"
path = "{mail}"
sender = "secretariaat@example.org"
"""


def _pg_reachable() -> str | None:
    from convenant.storage.store import unreachable
    return unreachable(PG_ADMIN_URL)


_PG_PROBLEM: list[str | None] = []


def pg_problem() -> str | None:
    if not _PG_PROBLEM:
        _PG_PROBLEM.append(_pg_reachable())
    return _PG_PROBLEM[0]


def need_postgres() -> None:
    problem = pg_problem()
    if problem:
        message = f"PostgreSQL not reachable at {PG_ADMIN_URL} ({problem})"
        if REQUIRE_PG:
            pytest.fail(message + " but CONVENANT_REQUIRE_PG=1 requires it")
        pytest.skip(message + "; set CONVENANT_TEST_PG_URL to run these tests")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    need_postgres()
    name = f"convenant_t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path) -> str:
    """The same test on both backends."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'convenant.db'}"
    return request.getfixturevalue("pg_url")


class Cli:
    """Drives the `convenant` command in-process, as INTERFACE.md promises, always with --json."""

    def __init__(self, root: Path, url: str, extra_config: str = "") -> None:
        self.root = root
        self.mail = root / "mail"
        self.config = root / "config.toml"
        self.config.write_text(BASE_CONFIG.format(url=url, mail=self.mail) + extra_config)
        self.runner = CliRunner()

    def run(self, *args: str, expect: int | tuple[int, ...] | None = 0) -> Result:
        from convenant.app.cli import cli
        res = self.runner.invoke(cli, ["--config", str(self.config), "--json", *args], catch_exceptions=False)
        out = Result(res.exit_code, res.stdout, res.stderr)
        if expect is not None:
            ok = out.code in expect if isinstance(expect, tuple) else out.code == expect
            assert ok, f"convenant {' '.join(args)} -> exit {out.code}\nstdout: {out.out[:800]}\nstderr: {out.err[:800]}"
        return out

    def trigger(self, pid: str, trig: str, *, role: str = "secretariat", party: str | None = None,
                actor: str = "Secretariaat CE", on: str | None = None, ref: str | None = None,
                sets: tuple[str, ...] = (), expect: int | tuple[int, ...] | None = 0) -> Result:
        args = ["trigger", pid, trig, "--actor", actor, "--role", role]
        if party:
            args += ["--party", party]
        if on:
            args += ["--on", on]
        if ref:
            args += ["--ref", ref]
        for s in sets:
            args += ["--set", s]
        return self.run(*args, expect=expect)

    def show(self, pid: str = "krachtenbundeling") -> dict[str, Any]:
        return self.run("show", pid).data

    def history(self, pid: str = "krachtenbundeling") -> list[dict[str, Any]]:
        return self.run("history", pid).data

    def advance(self, to: str) -> Result:
        return self.run("clock", "advance", "--to", to)

    def deadline(self, kind: str, pid: str = "krachtenbundeling") -> dict[str, Any] | None:
        found = [d for d in self.show(pid)["deadlines"] if d["kind"] == kind]
        return found[0] if found else None

    def messages(self) -> list:
        if not (self.mail / "new").is_dir():
            return []
        return list(mailbox.Maildir(str(self.mail), create=False))

    def snapshot(self, pid: str = "krachtenbundeling") -> tuple:
        """Everything a refused command must leave unchanged."""
        return (self.show(pid), self.history(pid), self.run("outbox").data,
                self.run("deadlines", "--all").data)


class Result:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err
        try:
            self.data = json.loads(out) if out.strip() else None
        except json.JSONDecodeError:
            self.data = None


@pytest.fixture
def cli(tmp_path) -> Cli:
    return Cli(tmp_path, f"sqlite:///{tmp_path / 'convenant.db'}")


@pytest.fixture
def cli_any(tmp_path, db_url) -> Cli:
    """The CLI on SQLite and on PostgreSQL."""
    return Cli(tmp_path, db_url)


def signed(c: Cli, start: str = "2025-03-01T09:00:00+01:00", sign_on: str = "2025-03-20") -> Cli:
    c.run("init", "--simulation", "--start", start)
    c.run("agreements", "create", "--example", "krachtenbundeling")
    c.trigger("krachtenbundeling", "open_signing")
    c.advance(f"{sign_on}T12:00:00+01:00")
    for party in ("ienw", "ipo", "uvw", "vng"):
        c.trigger("krachtenbundeling", "sign", role="party", party=party, actor=f"namens {party}", on=sign_on)
    return c


def active(c: Cli) -> Cli:
    """Signed 20 March 2025, published 25 March, active from 25 March (run at 1 April)."""
    signed(c)
    c.advance("2025-03-25T10:00:00+01:00")
    c.trigger("krachtenbundeling", "publish", ref="Stcrt. 2025, 11512", on="2025-03-25")
    c.advance("2025-04-01T09:00:00+02:00")
    assert c.show()["state"] == "active"
    return c


def build_app(url: str, tmp_path: Path, *, simulation: str | None = None, extra: dict | None = None):
    """An App (store + service) on `url`, migrated; on a virtual clock when `simulation` is an ISO time."""
    from convenant.app.bootstrap import build
    from convenant.engine.config import settings_from_dict

    raw = {"database": {"url": url}, "mail": {"transport": "maildir", "path": str(tmp_path / "mail")}}
    for key, value in (extra or {}).items():
        raw.setdefault(key, {}).update(value) if isinstance(value, dict) else raw.__setitem__(key, value)
    app = build(settings=settings_from_dict(raw, base_dir=tmp_path))
    app.store.migrate()
    with app.store.transaction() as tx:
        if simulation:
            tx.set_meta("clock_mode", "simulation")
            tx.set_meta("clock_now", dt.datetime.fromisoformat(simulation).astimezone(dt.UTC).isoformat())
        else:
            tx.set_meta("clock_mode", "real")
    return app
