"""How every figure of the benchmark is taken and printed: blocks of work timed in wall and CPU time, run in
interleaved rounds beside their baseline (A B, then B A, ...), summarised as median [min-max] over the rounds, and
compared round by round (the ratio of a round's two blocks, so that a slow minute of the machine slows both).

Nothing here decides a target by itself: each part says what it compares, and `verdict` prints MET or MISSED
beside the target it was given."""
from __future__ import annotations

import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Block:
    """One timed block: `ops` operations in `wall` seconds, `cpu` seconds of CPU (user + system) of the process
    that did the work (the benchmark itself, or the child process named), and what the block reported."""
    ops: int
    wall: float
    cpu: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.ops / self.wall if self.wall else 0.0

    @property
    def wall_per_op(self) -> float:
        return self.wall / self.ops if self.ops else 0.0

    @property
    def cpu_per_op(self) -> float:
        return self.cpu / self.ops if self.ops else 0.0


def cpu_seconds() -> float:
    """CPU time of this process, all threads, user + system."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def children_cpu_seconds() -> float:
    """CPU time of the children this process has waited for (user + system)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def proc_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of another running process, from /proc (0.0 where it cannot be read)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def timed_block(fn: Callable[[], Any], ops: int) -> Block:
    """Run `fn` (which does `ops` operations) in this process; what it returns, if a dict, is kept as extra."""
    cpu0, wall0 = cpu_seconds(), time.perf_counter()
    out = fn()
    wall, cpu = time.perf_counter() - wall0, cpu_seconds() - cpu0
    return Block(ops, wall, cpu, out if isinstance(out, dict) else {})


def interleave(rounds: int, blocks: Sequence[tuple[str, Callable[[int], Block]]],
               between: Callable[[int], None] | None = None) -> dict[str, list[Block]]:
    """`rounds` rounds of every block; the order alternates (A B, B A, A B ...) so that neither side always
    runs first. Each block is called with the round number. `between(round)` runs before each round (setup that
    is not timed)."""
    out: dict[str, list[Block]] = {name: [] for name, _ in blocks}
    for r in range(rounds):
        if between is not None:
            between(r)
        order = list(blocks) if r % 2 == 0 else list(reversed(blocks))
        for name, run in order:
            out[name].append(run(r))
    return out


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def python(*args: str) -> list[str]:
    """A command line for a child Python: this interpreter, `-P` so that the child's working folder is not put
    first on its path (the child imports what this process imports, from `child_env`'s PYTHONPATH)."""
    return [sys.executable, "-P", *args]


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment with PYTHONPATH ending in the checkout (for `bench.*`)."""
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p] + [ROOT]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths), **extra}


# -- summaries ------------------------------------------------------------------------------------------
def med(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def spread(values: Sequence[float], fmt: Callable[[float], str]) -> str:
    """median [min-max] of `values`, each formatted by `fmt`."""
    vals = list(values)
    if not vals:
        return "-"
    if len(vals) == 1:
        return fmt(vals[0])
    return f"{fmt(med(vals))} [{fmt(min(vals))}–{fmt(max(vals))}]"


def us(seconds: float) -> str:
    v = seconds * 1e6
    return f"{v:,.0f} µs" if v >= 100 else f"{v:,.1f} µs"


def ms(seconds: float) -> str:
    v = seconds * 1e3
    return f"{v:,.0f} ms" if v >= 100 else f"{v:,.1f} ms"


def per_s(rate: float) -> str:
    return f"{rate:,.0f}/s" if rate >= 100 else f"{rate:,.1f}/s"


def times(x: float) -> str:
    return f"{x:,.2f}x" if x < 10 else f"{x:,.1f}x"


def pct(x: float) -> str:
    return f"{x:.0%}" if x >= 0.1 else f"{x:.1%}"


def describe(name: str, blocks: Sequence[Block], unit: str = "op", *, per_op: Callable[[float], str] = us,
             child: str = "") -> None:
    """One line per figure: rate, wall per op, CPU per op, over the rounds."""
    line(f"{name}: {spread([b.rate for b in blocks], per_s)}; wall {spread([b.wall_per_op for b in blocks], per_op)}"
         f"/{unit}, CPU{child} {spread([b.cpu_per_op for b in blocks], per_op)}/{unit}  ({len(blocks)} rounds of "
         f"{blocks[0].ops:,})")


def ratios(a: Sequence[Block], b: Sequence[Block], *, by: str = "rate") -> list[float]:
    """Round by round: a's rate over b's rate (by="rate"), or a's wall over b's wall (by="wall")."""
    if by == "rate":
        return [x.rate / y.rate for x, y in zip(a, b, strict=True)]
    return [x.wall_per_op / y.wall_per_op for x, y in zip(a, b, strict=True)]


# -- output ---------------------------------------------------------------------------------------------
SUMMARY: list[tuple[str, str, str, str]] = []


def line(text: str = "", indent: int = 2) -> None:
    print(" " * indent + text if text else "", flush=True)


_PART = [0.0]


def heading(text: str) -> None:
    """A part's title with the load average; the time the part before it took."""
    now = time.perf_counter()
    if _PART[0]:
        line(f"(that part took {now - _PART[0]:.0f} s)")
    _PART[0] = now
    print(f"\n{text}  [load average {load()}]", flush=True)


def verdict(part: str, what: str, value: str, target: str, ok: bool | None) -> None:
    """Print the comparison with its target, and keep it for the summary at the end."""
    word = "n/a" if ok is None else ("MET" if ok else "MISSED")
    line(f"=> {what}: {value}   target {target}: {word}")
    SUMMARY.append((part, what, value, f"{target}: {word}"))


def print_summary() -> None:
    print("\nSummary (median [min–max] over the rounds; each ratio is taken round by round)", flush=True)
    width = max((len(f"{p} {w}") for p, w, _, _ in SUMMARY), default=10)
    for part, what, value, target in SUMMARY:
        print(f"  {f'{part} {what}':<{width}}  {value}   {target}", flush=True)


def load() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "?"


# -- the machine ----------------------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for row in fh:
                if row.startswith("model name"):
                    return row.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def memory_gib() -> str:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for row in fh:
                if row.startswith("MemTotal:"):
                    return f"{int(row.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    return "?"


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in ("SQLAlchemy", "psycopg", "APScheduler", "fastapi", "uvicorn", "httpx"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "not installed"
    return out


def machine(pg: dict[str, str] | None) -> list[str]:
    import sqlite3

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    import subprocess

    import convenant
    head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                          check=False).stdout.strip() or os.environ.get("CONVENANT_BENCH_COMMIT", "?")
    rows = [f"product code: {os.path.dirname(convenant.__file__)} (checkout {ROOT} at {head})",
            f"CPU: {cpu_model()}, {os.cpu_count()} logical cores ({cores} usable here), memory {memory_gib()}",
            f"OS: {platform.system()} {platform.release()} {platform.machine()}",
            f"Python {platform.python_version()} ({sys.executable}); SQLite {sqlite3.sqlite_version}; "
            + ", ".join(f"{k} {v}" for k, v in versions().items())]
    if pg:
        rows.append("PostgreSQL: " + pg.get("version", "?"))
        rows.append("PostgreSQL settings: " + ", ".join(f"{k}={v}" for k, v in pg.items() if k != "version"))
    else:
        rows.append("PostgreSQL: not reachable (its parts are skipped)")
    return rows
