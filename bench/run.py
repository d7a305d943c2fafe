"""The benchmark: `python -m bench.run [--quick]`. Every figure stands beside its baseline, measured in the same
run in interleaved blocks (A B, B A, ...) over several rounds, and is printed as median [min–max] over the rounds,
in wall and CPU time; each ratio is taken round by round. Not a test: nothing here fails on a slow machine.

P1 durable commands beside the driver's own writes; P3 the CLI as whole processes beside `python -c pass`; P4 a
long history beside the raw keyset query; P5 two PostgreSQL processes beside one; P6 the HTTP API under 50
clients; last, the longest, P2 the reminder sweep beside APScheduler. PostgreSQL is taken from CONVENANT_TEST_PG_URL (default
postgresql+psycopg://postgres@127.0.0.1:5432/test); every part runs in scratch databases of its own, dropped
afterwards. Without a server the PostgreSQL parts are skipped with a note."""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bench import measure as m
from bench.seed import PG_ADMIN_URL, make_app, pg_database

SIZES = {
    "full": {"rounds": 5, "commands": 400, "profile": 200, "sweep": 100_000, "race": 10_000, "proc_commands": 300,
             "others": 100_000, "history": 10_000, "cli_calls": 5, "http_seconds": 30.0, "http_agreements": 6000,
             "p2_rounds": 5},
    "quick": {"rounds": 2, "commands": 100, "profile": 50, "sweep": 2_000, "race": 500, "proc_commands": 50,
              "others": 2_000, "history": 1_000, "cli_calls": 1, "http_seconds": 5.0, "http_agreements": 800,
              "p2_rounds": 2},
}
PARTS = ("P1", "P2", "P3", "P4", "P5", "P6")


def sqlite_url(workdir: Path, name: str) -> str:
    return f"sqlite:///{workdir / name}"


@contextlib.contextmanager
def backend(name: str, workdir: Path, label: str) -> Iterator[str]:
    if name == "SQLite":
        yield sqlite_url(workdir, f"{label}.db")
    else:
        with pg_database() as url:
            yield url


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and fewer rounds: a smoke run")
    parser.add_argument("--rounds", type=int, help="rounds of every interleaved comparison (default 5; quick 2)")
    parser.add_argument("--sweep", type=int, help="agreements in P2's sweep (default 100,000; quick 2,000)")
    parser.add_argument("--p2-rounds", type=int, help="rounds of P2 alone (default as --rounds; one APScheduler round "
                                                      "of 100,000 jobs takes minutes)")
    parser.add_argument("--others", type=int, help="other agreements in P4's database (default 100,000; quick 2,000)")
    parser.add_argument("--only", help="comma-separated parts to run, e.g. P1,P3 (P2-profile, P4-profile, "
                                       "P6-profile: only those profiles)")
    args = parser.parse_args(argv)
    mode = "quick" if args.quick else "full"
    size = dict(SIZES[mode])
    if args.rounds:
        size["rounds"] = size["p2_rounds"] = args.rounds
    if args.sweep:
        size["sweep"] = args.sweep
    if args.p2_rounds:
        size["p2_rounds"] = args.p2_rounds
    if args.others:
        size["others"] = args.others
    parts = [p.strip().upper() for p in args.only.split(",")] if args.only else list(PARTS)
    rounds = int(size["rounds"])
    signal.signal(signal.SIGTERM, _stop)
    try:
        run(parts, size, mode, rounds)
    except KeyboardInterrupt:
        print("\ninterrupted: the summary holds the parts that finished", flush=True)
        m.print_summary()
        raise SystemExit(130) from None


def _stop(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def run(parts: list[str], size: dict, mode: str, rounds: int) -> None:
    from bench.db import pg_settings, product_pragmas, show_pragmas
    from convenant.storage.store import unreachable

    problem = unreachable(PG_ADMIN_URL)
    backends = ["SQLite"] + ([] if problem else ["PostgreSQL"])
    started = time.perf_counter()
    print(f"convenant bench ({mode}, {rounds} rounds) {dt.datetime.now().astimezone().isoformat(timespec='seconds')}"
          f"  load average at the start {m.load()}", flush=True)
    for row in m.machine(None if problem else pg_settings(PG_ADMIN_URL)):
        m.line(row)
    if problem:
        m.line(f"PostgreSQL not reachable at {PG_ADMIN_URL} ({problem}): its parts are skipped")
    with tempfile.TemporaryDirectory(prefix="convenant-bench-") as tmp:
        workdir = Path(tmp)
        probe = sqlite_url(workdir, "pragmas.db")
        make_app(probe, workdir).store.dispose()
        pragmas = product_pragmas(probe)
        m.line(f"SQLite pragmas of the product's connections (storage/store.py), used by every SQLite baseline: "
               f"{show_pragmas(pragmas)}")
        if "P1" in parts:
            p1(workdir, size, rounds, backends, pragmas)
        if "P3" in parts:
            from bench.cli import p3

            m.heading("P3. A user's call as a whole process, beside python -c pass")
            p3(workdir, k=int(size["cli_calls"]), rounds=rounds, profiles=1 if mode == "quick" else 2)
        if "P4" in parts:
            from bench.history import p4

            m.heading(f"P4. One agreement's {size['history']:,}-record history among {size['others']:,} other "
                      f"agreements, beside the raw keyset query")
            for name in backends:
                with backend(name, workdir, "p4") as url:
                    p4(name, url, workdir, others=int(size["others"]), history=int(size["history"]), rounds=rounds,
                       pragmas=pragmas)
        if "P4-PROFILE" in parts:
            from bench.history import verify_profile

            m.heading("P4 profile: one verification of a small database (2,000 other agreements)")
            for name in backends:
                with backend(name, workdir, "p4-profile") as url:
                    verify_profile(name, url, workdir, others=2_000, history=1_000, pragmas=pragmas)
        if "P5" in parts:
            p5(workdir, size, rounds, problem)
        if "P6" in parts or "P6-PROFILE" in parts:
            from bench.http import p6

            m.heading("P6. The HTTP API under load (convenant serve on SQLite)")
            p6(workdir, seconds=float(size["http_seconds"]), agreements=int(size["http_agreements"]),
               load_test="P6" in parts)
        if "P2" in parts or "P2-PROFILE" in parts:  # last: the longest part
            p2(workdir, size, int(size["p2_rounds"]), problem, profile_only="P2" not in parts)
    m.heading("Done")
    m.print_summary()
    print(f"done in {time.perf_counter() - started:.0f} s; load average at the end {m.load()}", flush=True)


def p1(workdir: Path, size: dict, rounds: int, backends: list[str], pragmas: dict) -> None:
    from bench.commands import in_memory
    from bench.commands import p1 as commands

    m.heading("P1. A durable command through the service, beside the same three writes through the driver")
    for name in backends:
        with backend(name, workdir, "p1") as url:
            commands(name, url, workdir, per=int(size["commands"]), rounds=rounds,
                     pragmas=pragmas if name == "SQLite" else None, profile_ops=int(size["profile"]))
    in_memory(workdir, per=int(size["commands"]), rounds=rounds)


def p2(workdir: Path, size: dict, rounds: int, problem: str | None, *, profile_only: bool = False) -> None:
    from bench.reminders import p2 as sweep
    from bench.reminders import sweep_profile

    n = int(size["sweep"])
    m.heading(f"P2. One reminder sweep over {n:,} agreements, beside APScheduler firing one date job per deadline")
    profiled = min(n, 5_000)
    if problem:
        if not profile_only:
            sweep("SQLite", sqlite_url(workdir, "p2.db"), sqlite_url(workdir, "p2-jobs.db"), workdir, n=n,
                  rounds=rounds)
        sweep_profile("SQLite", sqlite_url(workdir, "p2-profile.db"), workdir, n=profiled)
        return
    if not profile_only:
        with pg_database() as url, pg_database() as jobs_url:
            sweep("PostgreSQL", url, jobs_url, workdir, n=n, rounds=rounds)
    with pg_database() as url:
        sweep_profile("PostgreSQL", url, workdir, n=profiled)


def p5(workdir: Path, size: dict, rounds: int, problem: str | None) -> None:
    from bench.reminders import p5_commands, p5_workers

    m.heading("P5. Two PostgreSQL processes beside one")
    if problem:
        m.line("skipped: PostgreSQL not reachable")
        return
    with pg_database() as url:
        p5_workers(url, workdir, n=int(size["race"]), rounds=rounds)
    with pg_database() as url:
        p5_commands(url, workdir, per=int(size["proc_commands"]), rounds=rounds)


if __name__ == "__main__":
    main()
