"""The benchmark: `python -m bench.run [--quick]`. Every figure is printed beside a baseline measured in the same
run on the same machine, with the ratio and the issue's target. Not a test: nothing here fails on a slow machine.

PostgreSQL is taken from CONVENANT_TEST_PG_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test); each
part runs in a fresh database of its own, dropped afterwards. Without a server the PostgreSQL parts are skipped
with a note."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.seed import PG_ADMIN_URL, make_app, pg_database, seed_agreements, sweep_outcome

SIZES = {
    "full": {"commands": 1000, "raw": 3000, "steps": 3000, "sweep": 100_000, "aps": 2000, "race": 10_000,
             "history": 10_000},
    "quick": {"commands": 150, "raw": 500, "steps": 500, "sweep": 5_000, "aps": 300, "race": 1_500,
              "history": 2_000},
}
PROGRESS = {"theme": "ruimte", "status": "on_track"}
ROWS: list[tuple[str, str, str, str, str]] = []


def row(what: str, figure: str, baseline: str, ratio: str, target: str) -> None:
    ROWS.append((what, figure, baseline, ratio, target))
    print(f"  {what:<44} {figure:>22}  {baseline:>28}  {ratio:>9}  {target}", flush=True)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    out = fn()
    return time.perf_counter() - started, out


def backends(workdir: Path, use_pg: bool):
    yield "SQLite", lambda: _sqlite(workdir)
    if use_pg:
        yield "PostgreSQL", pg_database


class _sqlite:
    n = 0

    def __init__(self, workdir: Path) -> None:
        _sqlite.n += 1
        self.url = f"sqlite:///{workdir / f'bench{_sqlite.n}.db'}"

    def __enter__(self) -> str:
        return self.url

    def __exit__(self, *exc: Any) -> None:
        pass


# -- 1. durable commands ----------------------------------------------------------------------------------
def durable_commands(name: str, url: str, workdir: Path, size: dict[str, int]) -> None:
    """Commands through Service.fire (state + chained record + outbox rows, one transaction each), spread over
    50 signed agreements, beside bare commits of one row on the same engine (same pragmas, same fsync)."""
    import convenant.storage.tables as t

    app = make_app(url, workdir)
    seeded = seed_agreements(app, 50, prefix="cmd")
    store = app.store
    with store.reading() as conn:
        outbox_before = conn.execute(sa.select(sa.func.count()).select_from(t.outbox)).scalar()
    n = size["commands"]
    seconds, _ = timed(lambda: [app.service.fire(seeded.ids[i % 50], "report_progress", actor="Secretariaat",
                                                 role="secretariat", data=PROGRESS) for i in range(n)])
    with store.reading() as conn:
        per_command = (conn.execute(sa.select(sa.func.count()).select_from(t.outbox)).scalar() - outbox_before) / n
    with store.engine.begin() as conn:
        conn.execute(t.meta.insert().values(key="bench", value="0"))
    update = t.meta.update().where(t.meta.c.key == "bench")

    def raw() -> None:
        for i in range(size["raw"]):
            with store.engine.begin() as conn:
                conn.execute(update, {"value": str(i)})

    raw_seconds, _ = timed(raw)
    rate, ceiling = n / seconds, size["raw"] / raw_seconds
    row(f"durable commands/s, {name}", f"{rate:,.0f}/s", f"raw commit {ceiling:,.0f}/s", f"{rate / ceiling:.0%}",
        f">= 50% (outbox rows per command: {per_command:.1f})")
    store.dispose()


# -- 2. the in-memory step --------------------------------------------------------------------------------
def in_memory_step(workdir: Path, size: dict[str, int]) -> None:
    from convenant.engine.machine import ProcessMachine
    from convenant.engine.service import Service
    from convenant.notifications.render import render_subject

    from bench.memory import RepeatingStore

    app = make_app(f"sqlite:///{workdir / 'inmem.db'}", workdir)
    seeded = seed_agreements(app, 1, prefix="mem")
    pid = seeded.ids[0]
    with app.store.transaction() as tx:
        proc = tx.get_process(pid)
        deadlines = tx.deadlines_of(pid)
        meta = {"clock_mode": tx.meta("clock_mode"), "clock_now": tx.meta("clock_now")}
    memory = RepeatingStore([proc], {pid: deadlines}, meta)
    service = Service(memory, app.settings, app.workflows, subject=render_subject)
    wf = app.workflows[proc.workflow]
    n = size["steps"]
    engine_s, _ = timed(lambda: [service.fire(pid, "report_progress", actor="Secretariaat", role="secretariat",
                                              data=PROGRESS) for _ in range(n)])
    machine = ProcessMachine(wf, proc.ptype)

    class Model:
        state = "signed"

    model = Model()
    machine.machine.add_model(model, initial="signed")
    bare_s, _ = timed(lambda: [model.trigger("report_progress") for _ in range(n * 10)])
    bare_s /= 10
    attach_s, _ = timed(lambda: [machine.fire("signed", "report_progress", lambda c: False) for _ in range(n)])
    per = lambda s: f"{s / n * 1e6:,.0f} µs"  # noqa: E731
    row("engine in-memory step (report_progress)", per(engine_s), f"bare transitions {per(bare_s)}",
        f"{engine_s / bare_s:.1f}x", "<= 3x")
    row("  of which the machine (set state, fire)", per(attach_s), f"bare transitions {per(bare_s)}",
        f"{attach_s / bare_s:.1f}x", "")
    app.store.dispose()


# -- 3. the reminder sweep and memory ---------------------------------------------------------------------
def sweep(url: str, workdir: Path, size: dict[str, int], aps_url: str) -> None:
    from bench.apscheduler_baseline import burst

    n = size["sweep"]
    app = make_app(url, workdir)
    seed_s, seeded = timed(lambda: seed_agreements(app, n, prefix="sweep"))
    out = subprocess.run([sys.executable, "-m", "bench.sweep", url, str(workdir)], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[1])
    child = json.loads(out.stdout.strip().splitlines()[-1])
    outcome = sweep_outcome(app, seeded)
    dropped = n - outcome["advanced"]
    aps = burst(aps_url, size["aps"])
    rate = child["ran"] / child["seconds"]
    row(f"reminder sweep over {n:,} agreements", f"{rate:,.0f} steps/s",
        f"APScheduler {aps['fired_per_s']:,.0f} jobs/s fired", f"{rate / aps['fired_per_s']:.0f}x",
        ">= 10x, none dropped")
    row("  dropped", f"{dropped} of {n:,} ({outcome['outbox']:,} mails queued)",
        f"APScheduler {aps['missed']:,} of {aps['jobs']:,} missed", "", "0")
    row(f"peak RSS, scheduler process, {n:,} agreements", f"{child['peak_rss_mb']:.0f} MB", "", "",
        "<= 150 MB")
    print(f"    (bulk setup of {n:,} agreements: {seed_s:.0f} s; sweep {child['seconds']:.1f} s)", flush=True)
    app.store.dispose()


# -- 4. several workers -----------------------------------------------------------------------------------
def workers(workdir: Path, size: dict[str, int]) -> None:
    from bench.workers import race

    n = size["race"]
    walls: dict[int, float] = {}
    for count in (1, 2, 4):
        with pg_database() as url:
            app = make_app(url, workdir)
            seeded = seed_agreements(app, n, prefix="race")
            wall, reports = race(url, workdir, count)
            outcome = sweep_outcome(app, seeded)
            duplicates = sum(r["ran"] for r in reports) - outcome["advanced"]
            lost = n - outcome["advanced"]
            walls[count] = wall
            app.store.dispose()
        speed = walls[1] / wall
        row(f"{count} PostgreSQL worker{'s' if count > 1 else ''}, {n:,} due deadlines", f"{n / wall:,.0f} steps/s",
            f"1 worker {n / walls[1]:,.0f} steps/s", f"{speed:.2f}x",
            f"dup {duplicates}, lost {lost}" + (", 2 workers >= 1.5x" if count == 2 else ""))


# -- 5. a long history ------------------------------------------------------------------------------------
def long_history(name: str, url: str, workdir: Path, size: dict[str, int]) -> None:
    import convenant.storage.tables as t
    from convenant.engine.model import Record
    from convenant.storage import queries

    app = make_app(url, workdir)
    pid = "history"
    app.service.create_agreement("krachtenbundeling", _example(app), pid=pid)
    n = size["history"]
    with app.store.transaction() as tx:  # chained by the store itself, in one transaction for the setup
        for i in range(n - 1):
            tx.append_record(Record(process=pid, root=pid, trigger="report_progress", source="active",
                                    dest="active", actor="Secretariaat", role="secretariat", party=None,
                                    effective="2025-06-01", recorded_at="2025-06-01T10:00:00+02:00",
                                    article="Art. 1.1", data={"params": {"theme": "ruimte", "status": "on_track"},
                                                              "i": i}))
    stmt = sa.select(t.records).where(sa.or_(t.records.c.root == pid, t.records.c.process == pid)) \
        .order_by(t.records.c.seq)

    def raw() -> int:
        with app.store.reading() as conn:
            return len(conn.execute(stmt).mappings().all())

    list_s, listed = timed(lambda: sum(1 for _ in queries.history(app.store, pid)))
    verify_s, result = timed(lambda: queries.verify_chain(app.store))
    raw_s, count = timed(raw)
    assert listed == count == n and result["intact"]
    list_peak, raw_peak = _peak(lambda: sum(1 for _ in queries.history(app.store, pid))), _peak(raw)
    row(f"history of {n:,} records, {name}: list", f"{list_s * 1000:,.0f} ms", f"raw query {raw_s * 1000:,.0f} ms",
        f"{list_s / raw_s:.1f}x", f"peak heap {list_peak:.1f} MB vs raw {raw_peak:.1f} MB")
    row(f"history of {n:,} records, {name}: verify", f"{verify_s * 1000:,.0f} ms",
        f"raw query {raw_s * 1000:,.0f} ms", f"{verify_s / raw_s:.1f}x", "streams, pages of 1,000")
    app.store.dispose()


def _peak(fn: Callable[[], Any]) -> float:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def _example(app) -> dict[str, Any]:
    from bench.seed import example_data
    return example_data(app)


def pg_available() -> str | None:
    from convenant.storage.store import unreachable
    return unreachable(PG_ADMIN_URL)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run of every part (< 1 min)")
    args = parser.parse_args(argv)
    mode = "quick" if args.quick else "full"
    size = SIZES[mode]
    problem = pg_available()
    started = time.perf_counter()
    print(f"convenant bench ({mode}) {dt.datetime.now().astimezone().isoformat(timespec='seconds')} "
          f"python {platform.python_version()}, {platform.machine()}, cpus {_cpus()}")
    if problem:
        print(f"  PostgreSQL not reachable at {PG_ADMIN_URL} ({problem}): its parts are skipped")
    with tempfile.TemporaryDirectory(prefix="convenant-bench-") as tmp:
        workdir = Path(tmp)
        print("1. durable commands beside the raw commit rate")
        for name, db in backends(workdir, not problem):
            with db() as url:
                durable_commands(name, url, workdir, size)
        print("2. the engine's in-memory step beside a bare transitions trigger")
        in_memory_step(workdir, size)
        print("3. one reminder sweep beside APScheduler (one date job per deadline, SQLAlchemyJobStore)")
        if problem:
            sweep(f"sqlite:///{workdir / 'sweep.db'}", workdir, size, f"sqlite:///{workdir / 'jobs.db'}")
        else:
            with pg_database() as url, pg_database() as jobs_url:
                sweep(url, workdir, size, jobs_url)
        if not problem:
            print("4. several PostgreSQL workers beside one")
            workers(workdir, size)
        print("5. a long history: list and verify beside the raw query")
        for name, db in backends(workdir, not problem):
            with db() as url:
                long_history(name, url, workdir, size)
    print(f"done in {time.perf_counter() - started:.0f} s")


def _cpus() -> int:
    import os
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


if __name__ == "__main__":
    main()
