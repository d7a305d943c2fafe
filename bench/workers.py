"""Worker processes for the race over due deadlines (bench/run.py and tests/integration/test_workers.py): each
is a separate process with its own connection pool running `Service.run_due`, the same call `convenant scheduler`
makes, started together through a barrier."""
from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time
from pathlib import Path
from typing import Any

SPAWN = mp.get_context("spawn")


def worker_main(url: str, workdir: str, batch_size: int, barrier: Any, results: Any,
                block_after: int | None = None, blocked: Any = None) -> None:
    """Run everything due, report {"pid", "ran", "seconds"}. With `block_after`: stop dead in the middle of
    the first batch, after that many deadline steps and before its commit, and wait to be killed."""
    from convenant.engine.service import Service

    from bench.seed import open_app

    app = open_app(url, Path(workdir), batch_size=batch_size)
    if block_after is not None:
        original = Service._run_deadline
        count = [0]

        def run_then_block(self, tx, did, now):
            original(self, tx, did, now)
            count[0] += 1
            if count[0] == block_after:
                blocked.set()
                threading.Event().wait()  # holds its claimed rows, uncommitted, until SIGKILL

        Service._run_deadline = run_then_block
    with app.store.engine.connect():
        pass  # connect before the start line, so the race measures work, not connecting
    barrier.wait()
    started = time.perf_counter()
    ran = app.service.run_due()
    results.put({"pid": os.getpid(), "ran": ran, "seconds": time.perf_counter() - started})
    app.store.dispose()


def race(url: str, workdir: Path, workers: int, *, batch_size: int = 200, timeout: float = 600
         ) -> tuple[float, list[dict[str, Any]]]:
    """`workers` processes racing over what is due; (wall seconds from the start line to the last one done,
    their reports)."""
    barrier = SPAWN.Barrier(workers + 1)
    results = SPAWN.Queue()
    procs = [SPAWN.Process(target=worker_main, args=(url, str(workdir), batch_size, barrier, results))
             for _ in range(workers)]
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
