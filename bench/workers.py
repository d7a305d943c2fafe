"""Worker processes (bench/run.py's P5 and tests/integration/test_workers.py): each is a separate process with its
own connection pool, started together through a barrier after connecting, so that a race measures work and not
starting Python.

- `race`: processes running `Service.run_due`, the same call `convenant scheduler` makes, over what is due;
- `command_race`: processes each firing commands on agreements of its own."""
from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time
from pathlib import Path
from typing import Any

SPAWN = mp.get_context("spawn")


def worker_main(url: str, workdir: str, batch_size: int | None, barrier: Any, results: Any,
                block_after: int | None = None, blocked: Any = None) -> None:
    """Run everything due, report {"pid", "ran", "seconds", "cpu"}. With `block_after`: stop dead in the middle
    of the first batch, after that many deadline steps and before its commit, and wait to be killed."""
    from bench.seed import open_app
    from convenant.engine.service import Service

    app = open_app(url, Path(workdir), batch_size=batch_size)
    if block_after is not None:
        original = Service._run_deadline
        count = [0]

        def run_then_block(self, tx, did, now, at=None):
            original(self, tx, did, now, at)
            count[0] += 1
            if count[0] == block_after:
                blocked.set()
                threading.Event().wait()  # holds its claimed rows, uncommitted, until SIGKILL

        Service._run_deadline = run_then_block
    with app.store.engine.connect():
        pass  # connect before the start line, so the race measures work, not connecting
    barrier.wait()
    cpu, started = time.process_time(), time.perf_counter()
    ran = app.service.run_due()
    results.put({"pid": os.getpid(), "ran": ran, "seconds": time.perf_counter() - started,
                 "cpu": time.process_time() - cpu})
    app.store.dispose()


def _collect(procs: list[Any], barrier: Any, results: Any, timeout: float) -> tuple[float, list[dict[str, Any]]]:
    for p in procs:
        p.start()
    barrier.wait(timeout=timeout)
    started = time.perf_counter()
    reports = [results.get(timeout=timeout) for _ in procs]
    wall = time.perf_counter() - started
    for p in procs:
        p.join(timeout=timeout)
        assert p.exitcode == 0, f"worker {p.pid} exited with {p.exitcode}"
    return wall, reports


def race(url: str, workdir: Path, workers: int, *, batch_size: int | None = 200, timeout: float = 600
         ) -> tuple[float, list[dict[str, Any]]]:
    """`workers` processes racing over what is due; (wall seconds from the start line to the last one done,
    their reports). `batch_size` None: the product's default ([scheduler] batch_size)."""
    barrier = SPAWN.Barrier(workers + 1)
    results = SPAWN.Queue()
    procs = [SPAWN.Process(target=worker_main, args=(url, str(workdir), batch_size, barrier, results))
             for _ in range(workers)]
    return _collect(procs, barrier, results, timeout)


def command_main(url: str, workdir: str, ids: list[str], warm: list[str], barrier: Any, results: Any) -> None:
    """Fire one command on each agreement of `ids` (after a few on `warm`, before the start line); report
    {"pid", "done", "seconds", "cpu", "conflicts"}."""
    from bench.commands import fire_report
    from bench.seed import open_app
    from convenant.engine.errors import Conflict

    app = open_app(url, Path(workdir))
    for pid in warm:
        fire_report(app.service, pid)
    barrier.wait()
    cpu, started = time.process_time(), time.perf_counter()
    done = conflicts = 0
    for pid in ids:
        try:
            fire_report(app.service, pid)
            done += 1
        except Conflict:
            conflicts += 1
    results.put({"pid": os.getpid(), "done": done, "seconds": time.perf_counter() - started,
                 "cpu": time.process_time() - cpu, "conflicts": conflicts})
    app.store.dispose()


def command_race(url: str, workdir: Path, ids: list[list[str]], warm: list[list[str]], *, timeout: float = 600
                 ) -> tuple[float, list[dict[str, Any]]]:
    """One process per list of `ids`, each firing a command on each of its agreements."""
    barrier = SPAWN.Barrier(len(ids) + 1)
    results = SPAWN.Queue()
    procs = [SPAWN.Process(target=command_main, args=(url, str(workdir), mine, w, barrier, results))
             for mine, w in zip(ids, warm, strict=True)]
    return _collect(procs, barrier, results, timeout)
