"""P2: one reminder sweep over many agreements beside APScheduler firing one job per deadline, and P5: two
PostgreSQL worker processes beside one, and two processes issuing commands beside one.

Every sweep runs in a process of its own (bench/sweep.py) and so does APScheduler (bench/apscheduler_baseline.py),
so that each one's CPU time and peak memory are its own. Between rounds the seeded deadlines are put back and the
outbox emptied (bench.seed.reset_due), so every round sweeps the same work."""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

from bench import measure as m
from bench.seed import due_snapshot, make_app, reset_due, seed_agreements, sweep_outcome

ROOT = Path(__file__).resolve().parents[1]


def child(args: list[str], timeout: float = 3600) -> dict[str, Any]:
    out = subprocess.run(m.python(*args), capture_output=True, text=True, cwd=ROOT, timeout=timeout,
                         check=False, env=m.child_env())
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {out.returncode}: {out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def p2(name: str, url: str, jobs_url: str, workdir: Path, *, n: int, rounds: int) -> None:
    app = make_app(url, workdir)
    started = time.perf_counter()
    seeded = seed_agreements(app, n, prefix="sweep")
    m.line(f"({n:,} signed agreements seeded in bulk in {time.perf_counter() - started:.0f} s on {name}, each with "
           f"its publication reminder due now, {seeded.recipients} recipients each)")
    snapshot = due_snapshot(app, seeded)

    def sweep(r: int) -> m.Block:
        if r:
            reset_due(app, snapshot)
        got = child(["-m", "bench.sweep", url, str(workdir)])
        outcome = sweep_outcome(app, seeded)
        m.line(f"  round {r + 1}: sweep {got['ran']:,} steps in {got['seconds']:.1f} s ({got['ran'] / got['seconds']:,.0f}"
               f"/s), CPU {got['cpu']:.1f} s, peak RSS {got['peak_rss_mb']:.0f} MB, dropped {n - outcome['advanced']}")
        return m.Block(got["ran"], got["seconds"], got["cpu"],
                       {"rss": got["peak_rss_mb"], "dropped": n - outcome["advanced"], "outbox": outcome["outbox"],
                        "keys": outcome["keys"]})

    def apscheduler(r: int) -> m.Block:
        child(["-m", "bench.apscheduler_baseline", "prepare", jobs_url, str(n)])
        got = child(["-m", "bench.apscheduler_baseline", "run", jobs_url, str(n)])
        m.line(f"  round {r + 1}: APScheduler {got['executed']:,} jobs in {got['seconds']:.1f} s "
               f"({got['executed'] / got['seconds']:,.0f}/s), CPU {got['cpu']:.1f} s, peak RSS "
               f"{got['peak_rss_mb']:.0f} MB, missed {got['missed']}")
        return m.Block(got["executed"], got["seconds"], got["cpu"],
                       {"rss": got["peak_rss_mb"], "missed": got["missed"], "error": got["error"],
                        "left": got["left_in_store"], "finished": got["finished"]})

    out = m.interleave(rounds, [("sweep", sweep), ("aps", apscheduler)])
    sw, aps = out["sweep"], out["aps"]
    m.describe(f"reminder sweep (Service.run_due) over {n:,} agreements, {name}", sw, "step")
    m.describe(f"APScheduler {n:,} date jobs, SQLAlchemyJobStore on {name}, misfire_grace_time=None", aps, "job")
    m.line(f"  sweep: dropped {[b.extra['dropped'] for b in sw]}, outbox rows {[b.extra['outbox'] for b in sw]} "
           f"(distinct keys {[b.extra['keys'] for b in sw]})")
    m.line(f"  APScheduler: executed {[b.ops for b in aps]}, missed {[b.extra['missed'] for b in aps]}, errors "
           f"{[b.extra['error'] for b in aps]}, left in its store {[b.extra['left'] for b in aps]}")
    m.line(f"  peak RSS: sweep process {m.spread([b.extra['rss'] for b in sw], mb)}, APScheduler process "
           f"{m.spread([b.extra['rss'] for b in aps], mb)}")
    ratio = m.ratios(sw, aps)
    m.verdict("P2", f"sweep vs APScheduler jobs/s, {n:,} due", f"{m.spread(ratio, m.times)} "
              f"({m.spread([b.rate for b in sw], m.per_s)} vs {m.spread([b.rate for b in aps], m.per_s)})",
              ">= 10x", m.med(ratio) >= 10)
    dropped = max(b.extra["dropped"] for b in sw)
    m.verdict("P2", f"sweep dropped, {name}", f"{dropped} of {n:,} (worst round)", "0", dropped == 0)
    rss = max(b.extra["rss"] for b in sw)
    m.verdict("P2", f"sweep process peak RSS, {name}", f"{rss:,.0f} MB (worst round)", "<= 150 MB", rss <= 150)
    app.store.dispose()


def sweep_profile(name: str, url: str, workdir: Path, *, n: int) -> None:
    """Where a sweep step's CPU goes: cProfile (CPU clock) over one Service.run_due of `n` due reminders, in this
    process."""
    from bench.profiling import print_profile, profile

    app = make_app(url, workdir)
    seeded = seed_agreements(app, n, prefix="prof")
    prof = profile(lambda: app.service.run_due(), n)
    outcome = sweep_outcome(app, seeded)
    print_profile(prof, f"profile of the sweep (Service.run_due), {name}, {outcome['advanced']:,} steps advanced",
                  unit="step")
    app.store.dispose()


def mb(value: float) -> str:
    return f"{value:,.0f} MB"


def p5_workers(url: str, workdir: Path, *, n: int, rounds: int) -> None:
    from bench.workers import race

    app = make_app(url, workdir)
    seeded = seed_agreements(app, n, prefix="race")
    snapshot = due_snapshot(app, seeded)
    first = [True]

    def run(count: int):
        def block(_r: int) -> m.Block:
            if not first[0]:
                reset_due(app, snapshot)
            first[0] = False
            wall, reports = race(url, workdir, count, batch_size=None)
            outcome = sweep_outcome(app, seeded)
            ran = sum(r["ran"] for r in reports)
            return m.Block(outcome["advanced"], wall, sum(r["cpu"] for r in reports),
                           {"dup": ran - outcome["advanced"], "lost": n - outcome["advanced"],
                            "dup_mail": outcome["outbox"] - outcome["keys"],
                            "shares": sorted(r["ran"] for r in reports)})
        return block

    out = m.interleave(rounds, [("one", run(1)), ("two", run(2))])
    m.describe(f"1 PostgreSQL worker over {n:,} due deadlines", out["one"], "step", child=" (workers)")
    m.describe(f"2 PostgreSQL workers over {n:,} due deadlines", out["two"], "step", child=" (workers)")
    m.line(f"  2 workers' shares of the steps: {[b.extra['shares'] for b in out['two']]}")
    dup = max(b.extra["dup"] + b.extra["dup_mail"] for b in out["one"] + out["two"])
    lost = max(b.extra["lost"] for b in out["one"] + out["two"])
    ratio = m.ratios(out["two"], out["one"])
    m.verdict("P5", "2 workers vs 1", f"{m.spread(ratio, m.times)}", ">= 1.5x", m.med(ratio) >= 1.5)
    m.verdict("P5", "duplicated / lost steps", f"{dup} / {lost} (worst round)", "0 / 0", dup == 0 and lost == 0)
    app.store.dispose()


def p5_commands(url: str, workdir: Path, *, per: int, rounds: int) -> None:
    from bench.workers import command_race

    app = make_app(url, workdir)
    warm = 5
    need = rounds * 3 * per + 3 * warm * rounds * 2
    seeded = seed_agreements(app, need + 1, prefix="cmds")
    pool = iter(seeded.ids[1:])

    def take(k: int) -> list[str]:
        return [next(pool) for _ in range(k)]

    def run(count: int):
        def block(_r: int) -> m.Block:
            ids = [take(per) for _ in range(count)]
            warms = [take(warm) for _ in range(count)]
            wall, reports = command_race(url, workdir, ids, warms)
            return m.Block(sum(r["done"] for r in reports), wall, sum(r["cpu"] for r in reports),
                           {"conflicts": sum(r["conflicts"] for r in reports)})
        return block

    out = m.interleave(rounds, [("one", run(1)), ("two", run(2))])
    m.describe("1 process issuing commands (PostgreSQL)", out["one"], "command", child=" (processes)")
    m.describe("2 processes issuing commands on different agreements", out["two"], "command",
               child=" (processes)")
    conflicts = sum(b.extra["conflicts"] for b in out["one"] + out["two"])
    m.line(f"  conflicts: {conflicts}")
    ratio = m.ratios(out["two"], out["one"])
    m.verdict("P5", "2 command processes vs 1", f"{m.spread(ratio, m.times)}", ">= 1.6x", m.med(ratio) >= 1.6)
    app.store.dispose()
