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
    from convenant.app.bootstrap import config_from_dict as settings_from_dict

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


# -- the service layer on every store: the behaviour tests -----------------------------------------------------
# tests/unit/test_service_*.py drive the service's commands and read models directly, on the memory store (in
# seconds); tests/integration/test_behaviour_backends.py runs the very same tests on SQLite and PostgreSQL.
STORE_BACKENDS = ("memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres))
KB = "krachtenbundeling"
SIM_START = "2025-03-01T09:00:00+01:00"
MAIN_SIGNERS = {"ienw": "C.A. Jansen", "ipo": "R.F. Douwstra", "uvw": "S.E. Mager", "vng": "M. Veeningen"}
STCRT = "Stcrt. 2025, 11512"


def on_backends(*names: str) -> pytest.MarkDecorator:
    """Run a module's behaviour tests on these of STORE_BACKENDS (`pytestmark = on_backends("memory")`)."""
    chosen = [p for p in STORE_BACKENDS if (p if isinstance(p, str) else p.values[0]) in names]
    assert len(chosen) == len(names), f"unknown backend among {names}"
    return pytest.mark.parametrize("store_backend", chosen, indirect=True)


@pytest.fixture(params=STORE_BACKENDS)
def store_backend(request, tmp_path) -> str:
    """Where the behaviour tests store: "memory", or the URL of a fresh SQLite or PostgreSQL database (pg_url:
    skipped with a reason where no server answers, failed under CONVENANT_REQUIRE_PG=1)."""
    if request.param == "memory":
        return "memory"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'behaviour.db'}"
    return request.getfixturevalue("pg_url")


_WORKFLOWS: dict[str, Any] = {}


def _workflows() -> dict[str, Any]:
    if not _WORKFLOWS:
        from convenant import workflows
        _WORKFLOWS.update(workflows.load_all())
    return _WORKFLOWS


def moment(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC)


class SentMail:
    """The dispatcher's transport in the behaviour tests: keeps each message it is given."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    def send(self, msg: Any) -> None:
        self.messages.append(msg)


class Harness:
    """The service layer wired over one store, as app/bootstrap.py wires it over the SQL store: the service (the
    commands), the read models, the outbox queue and its dispatcher (with a transport that keeps the mail), and
    the clock (the database's: a simulation's virtual clock, or `real`, a fixed clock standing in for the
    system's). Every read goes through the ports, so the same test reads the same way on every backend."""

    def __init__(self, backend: str, tmp_path: Path, *, simulation: str | None = SIM_START,
                 real: str = SIM_START, extra: dict[str, Any] | None = None) -> None:
        from convenant.app.bootstrap import config_from_dict as settings_from_dict
        from convenant.engine.clock import DatabaseClock, FixedClock
        from convenant.engine.service import Service
        from convenant.notifications.dispatcher import Dispatcher
        from convenant.notifications.render import render_subject

        self.backend = backend
        url = "sqlite://" if backend == "memory" else backend
        raw: dict[str, Any] = {"database": {"url": url},
                               "mail": {"transport": "maildir", "path": str(tmp_path / "mail")}}
        for key, value in (extra or {}).items():
            raw.setdefault(key, {}).update(value)
        self.settings = settings_from_dict(raw, base_dir=tmp_path)
        if backend == "memory":
            from convenant.storage.memory import MemoryReadModels, MemoryStore
            self.store: Any = MemoryStore()
            self.reads: Any = MemoryReadModels(self.store)
            self.queue: Any = self.store.outbox
        else:
            from convenant.storage.outbox import OutboxRepo
            from convenant.storage.queries import SqlReadModels
            from convenant.storage.store import SqlStore
            self.store = SqlStore(url)
            self.reads = SqlReadModels(self.store)
            self.queue = OutboxRepo(self.store)
        self.real = FixedClock(moment(real))
        self.service = Service(self.store, self.settings, _workflows(), subject=render_subject,
                               clock=DatabaseClock(self.store, real=self.real))
        self.service.init_database(simulation=simulation is not None,
                                   start=moment(simulation) if simulation else None)
        self.sent = SentMail()
        self.dispatch = Dispatcher(self.queue, self.sent, sender=self.settings.mail.sender, tz=self.settings.tz)

    def close(self) -> None:
        self.store.dispose()

    # -- commands ---------------------------------------------------------------------------------------
    def create(self, pid: str | None = None, example: str = KB) -> dict[str, Any]:
        from convenant.engine.agreements import read_data_file
        from convenant.workflows import example_file
        path = example_file(self.service.workflow(example))
        assert path is not None
        return self.service.create_agreement(example, read_data_file(path), pid=pid)

    def fire(self, pid: str, trigger: str, *, role: str = "secretariat", party: str | None = None,
             actor: str = "Secretariaat CE", on: str | None = None, ref: str | None = None,
             reason: str | None = None, sets: dict[str, str] | None = None,
             expected_version: int | None = None) -> dict[str, Any]:
        return self.service.fire(pid, trigger, actor=actor, role=role, party=party, on=on, ref=ref, reason=reason,
                                 data=sets, expected_version=expected_version).as_dict()

    def advance(self, to: str, *, send: bool = False) -> dict[str, Any]:
        """`clock advance --to`: move the virtual clock and run what falls due on the way; with `send`, the
        dispatcher sends the mail at its moments too, as the command line's does (rendering every message is
        most of a run's time, so only the tests that look at the mail ask for it)."""
        return self.service.advance_clock(moment(to), dispatch=self.dispatch if send else None)

    def run_due(self, at: str, *, send: bool = False) -> int:
        """The scheduler's run on a real-clock database at the (injected) time `at`."""
        self.real.set(moment(at))
        return self.service.run_due(moment(at), dispatch=self.dispatch if send else None)

    # -- reads ------------------------------------------------------------------------------------------
    def show(self, pid: str = KB, role: str | None = None, party: str | None = None) -> dict[str, Any]:
        from convenant.engine.views import show
        return show(self.service, pid, role, party)

    def history(self, pid: str = KB) -> list[dict[str, Any]]:
        return list(self.reads.history(pid, include_children="/" not in pid))

    def records(self, trigger: str, pid: str = KB) -> list[dict[str, Any]]:
        return [r for r in self.history(pid) if r["trigger"] == trigger]

    def deadline(self, kind: str, pid: str = KB) -> dict[str, Any]:
        (found,) = [d for d in self.show(pid)["deadlines"] if d["kind"] == kind]
        return found

    def all_deadlines(self) -> list[tuple[Any, ...]]:
        return [(d.process_id, d.kind, d.subject, d.due.isoformat(), d.status, d.met_on, d.step, d.next_at)
                for d in self.reads.deadlines(statuses=None)]

    def outbox(self) -> list[dict[str, Any]]:
        return [{"id": r["id"], "key": r["key"], "to": r["to_addr"], "subject": r["subject"], "kind": r["kind"],
                 "status": r["status"], "attempts": r["attempts"], "process": r["process_id"],
                 "record_seq": r["record_seq"], "payload": r["payload"]} for r in self.reads.outbox()]

    def verify(self) -> dict[str, Any]:
        return self.reads.verify_chain()

    def party(self, party_id: str, pid: str = KB) -> dict[str, Any]:
        (found,) = [p for p in self.show(pid)["parties"] if p["id"] == party_id]
        return found

    def decision(self, pid: str, name: str) -> dict[str, Any]:
        (found,) = [d for d in self.show(pid)["decisions"] if d["name"] == name]
        return found

    def snapshot(self) -> tuple[Any, ...]:
        """Everything a refused command must leave as it was: every process as shown, the whole history, every
        deadline, every queued message, and the clock."""
        pids = [q.id for r in self.reads.roots() for q in (r, *self.reads.children(r.id))]
        return (tuple(self.show(p) for p in pids), list(self.reads.history()), self.all_deadlines(),
                self.outbox(), self.service.now())

    def refused(self, error: type[Exception], pid: str, trigger: str, **kw: Any) -> Any:
        """Fire a command that must be refused with `error` (exactly that class); prove that it changed nothing
        and that the refusal was logged apart from the history."""
        before = self.snapshot()
        logged = len(self.reads.refusals(10_000))
        with pytest.raises(error) as info:
            self.fire(pid, trigger, **kw)
        assert type(info.value) is error, f"{type(info.value).__name__}: {info.value}"
        assert self.snapshot() == before
        refusals = self.reads.refusals(10_000)
        assert len(refusals) == logged + 1
        assert (refusals[0]["trigger"], refusals[0]["code"]) == (trigger, info.value.exit_code)
        return info.value

    # -- the main line, as tests/conftest.py's `signed` and `active` ---------------------------------------
    def signed(self, sign_on: str = "2025-03-20") -> Harness:
        """The example created on 1 March 2025, signing opened, all four signatures on `sign_on`."""
        self.create()
        self.fire(KB, "open_signing")
        self.advance(f"{sign_on}T12:00:00+01:00")
        for party, name in MAIN_SIGNERS.items():
            self.fire(KB, "sign", role="party", party=party, actor=name, on=sign_on)
        return self

    def active(self) -> Harness:
        """Signed 20 March 2025, published 25 March, active from 25 March (run at 1 April)."""
        self.signed()
        self.advance("2025-03-25T10:00:00+01:00")
        self.fire(KB, "publish", ref=STCRT, on="2025-03-25")
        self.advance("2025-04-01T09:00:00+02:00")
        assert self.show()["state"] == "active"
        return self


@pytest.fixture
def harness(store_backend, tmp_path) -> Iterator[Harness]:
    """The service layer on a simulation database whose clock starts at 1 March 2025, 09:00."""
    h = Harness(store_backend, tmp_path)
    yield h
    h.close()


@pytest.fixture
def make_harness(store_backend, tmp_path) -> Iterator[Any]:
    """The harness with other settings or another clock: make_harness(simulation=None, real=..., extra={...})."""
    made: list[Harness] = []

    def make(**kw: Any) -> Harness:
        assert not made, "one harness per test: they would share the test's database"
        made.append(Harness(store_backend, tmp_path, **kw))
        return made[0]
    yield make
    for h in made:
        h.close()
