"""Per-agreement chains on PostgreSQL (issue 14): a command chains its record under its own agreement's chain head,
so commands on different agreements never wait for one lock; the sequencer, running beside them, still takes every
record into the log exactly once, in seq order."""
from __future__ import annotations

import json
import multiprocessing as mp
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from convenant import verify
from convenant.storage.store import LOG_LOCK_KEY, make_engine
from tests.conftest import Cli

pytestmark = pytest.mark.postgres
KB = "krachtenbundeling"
SPAWN = mp.get_context("spawn")


def scene(pg_url: str, tmp_path: Path, ids: list[str]) -> Cli:
    c = Cli(tmp_path, pg_url)
    c.run("init", "--simulation", "--start", "2025-03-01T09:00:00+01:00")
    for pid in ids:
        c.run("agreements", "create", "--example", KB, "--id", pid)
        c.trigger(pid, "open_signing")
    return c


def command(c: Cli, *args: str) -> list[str]:
    return [sys.executable, "-m", "convenant.app.cli", "--config", str(c.config), "--json", *args]


def test_a_command_does_not_wait_for_the_chain_of_another_agreement(pg_url, tmp_path):
    c = scene(pg_url, tmp_path, [KB, "other"])
    engine = make_engine(pg_url)
    conn = engine.connect()
    held = conn.begin()
    try:
        # as a command on the Krachtenbundeling between chaining its record and its commit
        conn.execute(sa.text("select * from chain_heads where root = :r for update"), {"r": KB})
        conn.execute(sa.text(f"select pg_advisory_xact_lock_shared({LOG_LOCK_KEY})"))
        # it completes (a command that waited for this chain head would hit the timeout instead)
        done = subprocess.run(command(c, "trigger", "other", "sign", "--actor", "x", "--role", "party", "--party",
                                      "ipo"), capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        # a command on the same agreement does wait for that chain head
        waiting = subprocess.Popen(command(c, "trigger", KB, "sign", "--actor", "x", "--role", "party", "--party",
                                           "ipo"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # the server says when it waits on a lock: no fixed sleep, the condition itself is watched
        assert waits_on_a_lock(engine, waiting), "a command on the same agreement waits for its chain head"
        assert waiting.poll() is None
    finally:
        held.rollback()
        conn.close()
        engine.dispose()
    out, err = waiting.communicate(timeout=120)
    assert waiting.returncode == 0, err
    assert c.run("audit", "verify").data["intact"] is True


def waits_on_a_lock(engine: Any, waiting: subprocess.Popen, timeout: float = 120.0) -> bool:
    """True once another backend of this database waits on a lock (pg_stat_activity), False if `waiting` ends or
    the timeout passes first."""
    deadline = time.monotonic() + timeout
    with engine.connect() as watch:
        while time.monotonic() < deadline and waiting.poll() is None:
            n = watch.execute(sa.text("select count(*) from pg_stat_activity where datname = current_database() "
                                      "and wait_event_type = 'Lock' and pid <> pg_backend_pid()")).scalar()
            if n:
                return True
            watch.rollback()
            time.sleep(0.05)   # the polling interval of a watched condition, not a wait for a guessed duration
    return False


def fire_notes(config: str, pid: str, n: int, barrier: Any) -> None:
    from convenant.app.bootstrap import build
    app = build(config)
    barrier.wait(timeout=120)
    for i in range(n):
        app.service.fire(pid, "add_note", actor="Secretariaat", role="secretariat", data={"text": f"{pid} {i}"})
    app.store.dispose()


def test_two_processes_on_two_agreements_and_the_sequencer_beside_them(pg_url, tmp_path):
    ids, n = ["a", "b"], 25
    c = scene(pg_url, tmp_path, ids)
    from convenant.app.bootstrap import build
    app = build(str(c.config))
    barrier = SPAWN.Barrier(len(ids) + 1)
    procs = [SPAWN.Process(target=fire_notes, args=(str(c.config), pid, n, barrier)) for pid in ids]
    for p in procs:
        p.start()
    barrier.wait(timeout=120)
    while any(p.is_alive() for p in procs):        # the sequencer takes in what is committed, as it goes
        app.service.log.sequence()
        time.sleep(0.05)
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    app.service.log.sequence()
    with app.store.reading() as conn:
        seqs = conn.execute(sa.text("select seq from records order by seq")).scalars().all()
        leaves = conn.execute(sa.text("select leaf_index, seq from log_leaves order by leaf_index")).all()
        per = dict(conn.execute(sa.text("select root, count(*) from records group by root")).all())
    assert per == {"a": n + 2, "b": n + 2}
    assert len(seqs) == len(set(seqs)) == 2 * (n + 2)
    assert [s for _, s in leaves] == seqs                        # every record once, in seq order
    assert [i for i, _ in leaves] == list(range(len(seqs)))
    assert c.run("audit", "verify").data["intact"] is True
    export = tmp_path / "export.json"
    c.run("audit", "export", "--out", str(export))
    key = tmp_path / "key.json"
    key.write_text(json.dumps(c.run("keys", "show").data))
    assert verify.main(["log", str(export), "--key", str(key)]) == 0
    app.store.dispose()
