"""Several workers on one PostgreSQL database: separate processes racing over 10,000 due deadlines handle each
exactly once (row locks with SKIP LOCKED, one transaction per batch); a worker killed in the middle of a batch
leaves its rows to the others, nothing lost; concurrent commands on one process: exactly one wins."""
from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest

from bench.seed import make_app, seed_agreements, sweep_outcome
from bench.workers import SPAWN, race, worker_main
from convenant.engine.errors import Conflict
from convenant.storage import queries
from convenant.storage.store import Tx

pytestmark = pytest.mark.postgres
DUE = 10_000


def assert_each_once(app, seeded, reports: list[dict], expected: int = DUE) -> None:
    outcome = sweep_outcome(app, seeded)
    assert sum(r["ran"] for r in reports) == expected            # no step run twice, none left out
    assert outcome["advanced"] == expected                        # every deadline moved on exactly one step
    assert outcome["untouched"] == 0 and outcome["other"] == 0
    assert outcome["outbox"] == outcome["keys"] == expected * seeded.recipients  # one message per recipient


@pytest.mark.parametrize("workers", [2, 4])
def test_workers_race_over_due_deadlines_each_handled_once(pg_url: str, tmp_path: Path, workers: int) -> None:
    app = make_app(pg_url, tmp_path)
    seeded = seed_agreements(app, DUE)
    _, reports = race(pg_url, tmp_path, workers, batch_size=200)
    assert_each_once(app, seeded, reports)
    assert sum(1 for r in reports if r["ran"]) >= 2, reports     # they really shared the work
    assert queries.verify_chain(app.store)["intact"]


def test_a_worker_killed_mid_batch_leaves_its_work_to_the_others(pg_url: str, tmp_path: Path) -> None:
    batch = 500
    app = make_app(pg_url, tmp_path, batch_size=batch)
    seeded = seed_agreements(app, 3_000)
    barrier, results, blocked = SPAWN.Barrier(1), SPAWN.Queue(), SPAWN.Event()
    doomed = SPAWN.Process(target=worker_main, args=(pg_url, str(tmp_path), batch, barrier, results, 100, blocked))
    doomed.start()
    try:
        assert blocked.wait(180), "the worker never got into its first batch"
        # it holds 500 claimed rows, 100 of them handled but not committed; two others race past them
        _, reports = race(pg_url, tmp_path, 2, batch_size=batch)
        outcome = sweep_outcome(app, seeded)
        assert sum(r["ran"] for r in reports) == 3_000 - batch
        assert outcome["untouched"] == batch and outcome["advanced"] == 3_000 - batch
    finally:
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.join(60)
    assert doomed.exitcode == -signal.SIGKILL
    # its transaction died with it: the rows it had claimed are free again, and nothing of it was committed
    _, reports = race(pg_url, tmp_path, 2, batch_size=batch)
    assert sum(r["ran"] for r in reports) == batch
    assert_each_once(app, seeded, [{"ran": 3_000}], expected=3_000)


def test_concurrent_commands_on_one_process_exactly_one_wins(pg_url: str, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Four commands all read the process at the same version before any writes (a barrier just before the
    versioned update): one commits, the other three get a Conflict (exit 5, HTTP 409), and the chain is whole."""
    app = make_app(pg_url, tmp_path)
    app.service.create_agreement("krachtenbundeling", _example(app), pid="kb")
    contenders = 4
    line = threading.Barrier(contenders, timeout=60)
    original = Tx.update_process

    def update_after_all_have_read(self, p, now):
        line.wait()
        return original(self, p, now)

    monkeypatch.setattr(Tx, "update_process", update_after_all_have_read)
    outcomes: list[str] = []

    def attempt(i: int) -> None:
        try:
            app.service.fire("kb", "open_signing", actor=f"Secretariaat {i}", role="secretariat")
            outcomes.append("won")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(contenders)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    assert sorted(outcomes) == ["conflict"] * (contenders - 1) + ["won"]
    monkeypatch.undo()
    history = list(queries.history(app.store, "kb"))
    assert [h["trigger"] for h in history] == ["create", "open_signing"]
    assert queries.verify_chain(app.store)["intact"]


def _example(app) -> dict:
    from bench.seed import example_data
    return example_data(app)
