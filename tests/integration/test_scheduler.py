"""The real-clock scheduler (engine/scheduler.py Worker on APScheduler) and several workers on one database.

No test sleeps: the clock is frozen with freezegun and moved by hand; after each move a probe job is handed to
APScheduler for the frozen 'now'. The worker's single pool thread runs due jobs in the order they are submitted,
so when the probe has run, every wake-up due before it has been handled."""
from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest
from apscheduler.triggers.date import DateTrigger
from freezegun import freeze_time

from convenant.app.bootstrap import App, build
from convenant.engine.scheduler import Worker
from tests.conftest import Cli

KB = "krachtenbundeling"
PARTIES = ("ienw", "ipo", "uvw", "vng")
UTC = dt.UTC
ROOT = Path(__file__).resolve().parents[2]


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(UTC)


class FrozenClock:
    """The engine's real-time clock (engine/ports.py `Clock`) read from freezegun's frozen time, which APScheduler
    reads too: freezegun stays here only because a library reads the time itself."""

    def __init__(self, frozen) -> None:
        self.frozen = frozen

    def now(self, uow=None) -> dt.datetime:
        return self.frozen().replace(tzinfo=UTC)

    def simulated(self, uow=None) -> bool:
        return False


def real_clock_app(c: Cli, frozen) -> App:
    """The app on a real-clock database, its clock the frozen one."""
    return build(str(c.config), clock=FrozenClock(frozen))


def settle(worker: Worker) -> None:
    """Wait until APScheduler has run every job due at the frozen now (no sleeping: an event set by a probe job
    that runs after them on the worker's single thread; '~' sorts the probe after jobs due at the same time)."""
    done = threading.Event()
    worker.scheduler.add_job(done.set, DateTrigger(run_date=dt.datetime.now(UTC)), id="~settled")
    assert done.wait(120), "the scheduler did not get round to the probe job"


def enter(c: Cli, pid: str, *, publish_on: str | None = None) -> None:
    """An example agreement, signed today (20 March 2025) by all parties."""
    if pid == KB:
        c.run("agreements", "create", "--example", KB)
    else:
        c.run("agreements", "create", "--example", KB, "--id", pid)
    c.trigger(pid, "open_signing", on="2025-03-01")
    for party in PARTIES:
        c.trigger(pid, "sign", role="party", party=party, on="2025-03-20")
    if publish_on:
        c.trigger(pid, "publish", ref="Stcrt. 2025, 11512", on=publish_on)


def system_records(c: Cli, *pids: str) -> list[dict]:
    rows = [h for pid in pids for h in c.history(pid) if h["actor"] == "convenant"]
    return sorted(rows, key=lambda h: h["seq"])


def deadline_rows(app: App) -> list[dict]:
    return [r for r in app.outbox.list() if r["kind"] in ("reminder", "escalation")]


def group(rows: list[dict]) -> list[tuple[str, str, str, frozenset]]:
    """Outbox rows as (process, deadline kind, step, recipients), one per step, in queue order."""
    out: list[tuple[str, str, str, set]] = []
    for r in rows:
        proc, dl, step, to = r["key"].split("|")
        head = (proc, dl.split("#")[0], step)
        if out and out[-1][:3] == head:
            out[-1][3].add(to)
        else:
            out.append((*head, {to}))
    return [(p, k, s, frozenset(to)) for p, k, s, to in out]


ALL = frozenset({"ienw@example.org", "ipo@example.org", "uvw@example.org", "vng@example.org",
                 "secretariaat@example.org"})


def test_real_clock_worker_runs_activation_and_end_at_their_moment(cli: Cli) -> None:
    with freeze_time(at("2025-03-01T09:00:00+01:00"), tick=False) as frozen:
        cli.run("init")
        assert cli.run("clock").data["simulated"] is False
        frozen.move_to(at("2025-03-20T12:00:00+01:00"))
        enter(cli, KB, publish_on="2025-03-20")
        app = real_clock_app(cli, frozen)
        worker = Worker(app.service, app.dispatcher(), interval_seconds=30)
        try:
            worker.start()
            settle(worker)
            assert cli.show()["state"] == "published"
            assert worker.next_wake() == at("2025-03-21T00:00:00.05+01:00")   # woken for the activation

            frozen.move_to(at("2025-03-20T23:59:59+01:00"))
            settle(worker)
            assert cli.show()["state"] == "published"
            frozen.move_to(at("2025-03-21T00:00:01+01:00"))
            settle(worker)
            assert cli.show()["state"] == "active"
            act = [h for h in cli.history() if h["trigger"] == "activate"]
            assert [(h["effective"], h["recorded_at"], h["role"]) for h in act] == [
                ("2025-03-21", "2025-03-21T00:00:01+01:00", "system")]

            frozen.move_to(at("2026-12-31T23:59:59+01:00"))        # 21 months of reminders and escalations
            settle(worker)
            assert cli.show()["state"] != "ended"
            assert worker.next_wake() == at("2027-01-01T00:00:00.05+01:00")
            frozen.move_to(at("2027-01-01T00:00:01+01:00"))
            settle(worker)
            doc = cli.show()
            assert doc["state"] == "ended"
            assert [d["status"] for d in doc["deadlines"] if d["kind"] == "end"] == ["met"]
            end = [h for h in cli.history() if h["trigger"] == "end"]
            assert [(h["effective"], h["recorded_at"]) for h in end] == [("2027-01-01", "2027-01-01T00:00:01+01:00")]
            assert cli.run("audit", "verify").code == 0
        finally:
            worker.stop()
            app.store.dispose()


def test_downtime_everything_due_fires_once_in_order(tmp_path: Path) -> None:
    c = Cli(tmp_path, f"sqlite:///{tmp_path / 'c.db'}", "\n[reminders]\nwork_structure = [60, 45, 30]")
    with freeze_time(at("2025-03-01T09:00:00+01:00"), tick=False) as frozen:
        c.run("init")
        frozen.move_to(at("2025-03-20T12:00:00+01:00"))
        enter(c, KB)                 # never published: its publication deadline will be missed
        enter(c, "kb2")              # published while the worker is down
        app = real_clock_app(c, frozen)
        worker = Worker(app.service, app.dispatcher(), interval_seconds=30)
        try:
            worker.start()
            settle(worker)
            frozen.move_to(at("2025-03-20T12:30:00+01:00"))
            settle(worker)
            worker.stop()
            worker.stop()            # twice is harmless
            seq_before = max(h["seq"] for h in c.history(KB) + c.history("kb2"))
            assert deadline_rows(app) == []

            frozen.move_to(at("2025-04-10T10:00:00+02:00"))         # the web still works; nothing is run
            c.trigger("kb2", "publish", ref="Stcrt. 2025, 14000", on="2025-04-10")
            assert c.show("kb2")["state"] == "published"
            frozen.move_to(at("2025-04-20T12:30:00+02:00"))         # a month after the stop
            assert deadline_rows(app) == []                           # nothing due ran while it was down

            worker.start()
            settle(worker)
            records = [(h["process"], h["trigger"], h["data"].get("deadline"), h["data"].get("level"), h["effective"])
                       for h in system_records(c, KB, "kb2") if h["seq"] > seq_before]
            assert records == [                                        # in the time order of their moments
                (KB, "deadline_missed", "publication", None, "2025-04-04"),
                (KB, "escalate", "publication", 0, "2025-04-20"),
                ("kb2", "activate", None, None, "2025-04-10"),
                (KB, "escalate", "publication", 1, "2025-04-20"),
            ]
            queued = deadline_rows(app)
            assert group(queued) == [
                (KB, "work_structure", "r60", ALL),                   # 1 April 08:00
                ("kb2", "work_structure", "r60", ALL),
                (KB, "publication", "e0", frozenset({"ienw@example.org", "secretariaat@example.org"})),  # 4 April
                (KB, "work_structure", "r45", ALL),                   # 16 April 08:00
                ("kb2", "work_structure", "r45", ALL),
                (KB, "publication", "e1", frozenset({"do@example.org"})),                              # 18 April
            ]
            keys = [r["key"] for r in queued]
            assert len(keys) == len(set(keys)) == 5 * 4 + 2 + 1
            # reminders of a deadline that passed during the downtime are not sent late; the ladder speaks instead
            assert not [k for k in keys if "|publication#" in k and "|r" in k]
            assert worker.next_wake() == at("2025-05-01T08:00:00.05+02:00")   # 30 days before 31 May

            seq_after = max(h["seq"] for h in c.history(KB) + c.history("kb2"))
            settle(worker)                                            # a second run finds nothing new
            worker.run_once()
            assert [r["key"] for r in deadline_rows(app)] == keys
            assert max(h["seq"] for h in c.history(KB) + c.history("kb2")) == seq_after
            assert c.show("kb2")["state"] == "active"
        finally:
            worker.stop()
            app.store.dispose()


# -- several workers on one database --------------------------------------------------------------------

CONTENDERS = 8
SCENARIO_END = "2025-05-30T12:00:00+02:00"


def populate(url: str, root: Path) -> Cli:
    """Simulation database with CONTENDERS agreements signed 20 March 2025 at 07:00, the clock then set to 30 May
    without running anything: each has publication missed (+3 escalations) and 3 work-structure reminders due."""
    c = Cli(root, url)
    c.run("init", "--simulation", "--start", "2025-03-20T07:00:00+01:00")
    app = build(str(c.config))
    try:
        for i in range(CONTENDERS):
            pid = f"kb{i}"
            c.run("agreements", "create", "--example", KB, "--id", pid)
            app.service.fire(pid, "open_signing", actor="s", role="secretariat", on="2025-03-20")
            for party in PARTIES:
                app.service.fire(pid, "sign", actor=party, role="party", party=party, on="2025-03-20")
        with app.store.transaction() as tx:
            tx.set_meta("clock_now", at(SCENARIO_END).isoformat())
    finally:
        app.store.dispose()
    return c


def outcome(c: Cli) -> tuple[Counter, Counter]:
    """(outbox keys of reminders and escalations, system history records), each with how often it occurs."""
    app = build(str(c.config))
    try:
        keys = Counter(r["key"] for r in deadline_rows(app))
    finally:
        app.store.dispose()
    records: Counter = Counter()
    for i in range(CONTENDERS):
        for h in c.history(f"kb{i}"):
            if h["actor"] == "convenant":
                records[(h["process"], h["trigger"], h["data"].get("deadline"), h["data"].get("level"))] += 1
    return keys, records


def single_worker_plan(tmp_path: Path) -> tuple[Counter, Counter]:
    """The same scenario run by one worker alone: what two must produce too."""
    c = populate(f"sqlite:///{tmp_path / 'alone.db'}", tmp_path / "alone")
    app = build(str(c.config))
    try:
        Worker(app.service, None).run_once()
    finally:
        app.store.dispose()
    return outcome(c)


def check_against_plan(got: tuple[Counter, Counter], plan: tuple[Counter, Counter]) -> None:
    keys, records = got
    assert set(keys.values()) == {1} and set(records.values()) == {1}
    assert keys == plan[0] and records == plan[1]
    # by hand, per agreement: 3 work-structure reminders to 4 parties + secretariat, publication e0 to IenW and
    # the secretariat, e1 to the DO, e2 to the BO; records: missed + 3 escalations
    assert len(keys) == CONTENDERS * (3 * 5 + 2 + 1 + 1)
    assert len(records) == CONTENDERS * 4


def convenant_command() -> list[str]:
    script = Path(sys.executable).with_name("convenant")
    return [str(script)] if script.exists() else [sys.executable, "-m", "convenant.app.cli"]


@pytest.fixture
def contenders_plan(tmp_path: Path) -> tuple[Counter, Counter]:
    (tmp_path / "alone").mkdir()
    return single_worker_plan(tmp_path)


def test_two_scheduler_processes_queue_each_reminder_once(tmp_path: Path, db_url: str, contenders_plan) -> None:
    root = tmp_path / "shared"
    root.mkdir()
    c = populate(db_url, root)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([*convenant_command(), "--config", str(c.config), "--json", "scheduler", "--once"],
                              cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    ran = [int(__import__("json").loads(out)["ran"]) for out, _ in results]
    assert sum(ran) == CONTENDERS * (3 + 1 + 3 + 3)       # each due step run by one of them: never twice
    assert all("due step(s) run" in err for _, err in results)
    check_against_plan(outcome(c), contenders_plan)


def test_two_worker_threads_queue_each_reminder_once(tmp_path: Path, db_url: str, contenders_plan) -> None:
    root = tmp_path / "shared"
    root.mkdir()
    c = populate(db_url, root)
    apps = [build(str(c.config)) for _ in range(2)]
    gate = threading.Barrier(2)
    errors: list[BaseException] = []

    def work(app: App) -> None:
        try:
            gate.wait()
            Worker(app.service, app.dispatcher(), batch=3).run_once()
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(a,)) for a in apps]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    for a in apps:
        a.store.dispose()
    assert errors == []
    check_against_plan(outcome(c), contenders_plan)
    # every queued message was delivered exactly once as well (the dispatchers share the outbox by lease)
    delivered = Counter(str(m["To"]) + "|" + str(m["Subject"]) for m in c.messages())
    assert len(c.messages()) == len(c.run("outbox").data)
    assert c.run("outbox", "--status", "pending").data == []
    assert delivered


# -- the worker as a process and as a part of serve ----------------------------------------------------

def test_scheduler_command_logs_each_run_and_stops_on_sigterm(tmp_path: Path) -> None:
    c = Cli(tmp_path, f"sqlite:///{tmp_path / 'c.db'}")
    c.run("init", "--simulation", "--start", "2025-03-20T07:00:00+01:00")
    c.run("agreements", "create", "--example", KB)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([*convenant_command(), "--config", str(c.config), "scheduler"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        for line in proc.stderr:          # blocks until the first run has been logged; no sleeping
            lines.append(line)
            if "due step(s) run" in line:
                break
        assert any("INFO convenant.engine.scheduler: run at 2025-03-20T07:00:00+01:00: 0 due step(s) run" in x for x in lines), lines
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "stopped" in err and "Traceback" not in err


def test_worker_start_and_stop_are_safe_to_call_from_serve(tmp_path: Path) -> None:
    c = Cli(tmp_path, f"sqlite:///{tmp_path / 'c.db'}")
    c.run("init", "--simulation", "--start", "2025-03-20T07:00:00+01:00")
    app = build(str(c.config))
    worker = Worker(app.service, app.dispatcher(), interval_seconds=3600)
    try:
        worker.stop()                                  # before start: nothing to do
        assert worker.running is False
        first = worker.start()
        assert worker.start() is first                 # a second start (say, serve's start-up hook) adds nothing
        settle(worker)
        assert {j.id for j in first.get_jobs()} == {"safety-interval"}   # simulated clock: no wake-up planned
        stopper = threading.Thread(target=worker.stop)  # serve stops it from its own thread
        stopper.start()
        stopper.join(60)
        assert worker.running is False and not first.running
        worker.stop()
        second = worker.start()                        # and it can be started again
        assert second is not first and worker.running
        settle(worker)
    finally:
        worker.stop()
        app.store.dispose()
