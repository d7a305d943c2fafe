"""P3: a user's call, as whole processes on a prepared simulation database: `convenant --json show
krachtenbundeling` and one `convenant --json trigger ... report_progress`, beside `python -c pass` (the same
interpreter starting and stopping). Wall time from spawning to exit, CPU time of the child (user + system); the
cache is warm (two untimed calls of each first), bytecode included: the calls run without PYTHONDONTWRITEBYTECODE,
so that the warm-up writes the `.pyc` files an installed package has (with it set, every call compiled convenant's
own sources again, about 120 ms). Then `python -X importtime` of `show`: what the call imports."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from bench import measure as m
from bench.profiling import import_summary, importtime, print_imports

START = "2025-03-01T09:00:00+01:00"
SETUP = [
    ["init", "--simulation", "--start", START],
    ["agreements", "create", "--example", "krachtenbundeling"],
    ["trigger", "krachtenbundeling", "open_signing", "--actor", "Secretariaat", "--role", "secretariat"],
    ["clock", "advance", "--to", "2025-03-20T12:00:00+01:00"],
    *[["trigger", "krachtenbundeling", "sign", "--actor", f"namens {p}", "--role", "party", "--party", p,
       "--on", "2025-03-20"] for p in ("ienw", "ipo", "uvw", "vng")],
]
SHOW = ["--json", "show", "krachtenbundeling"]
TRIGGER = ["--json", "trigger", "krachtenbundeling", "report_progress", "--actor", "Secretariaat", "--role",
           "secretariat", "--set", "theme=inkoop", "--set", "status=on_track"]


# the calls' environment: the caller's, but free to keep compiled bytecode (see the module's docstring)
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def convenant_command() -> list[str]:
    script = Path(sys.executable).parent / "convenant"
    return [str(script)] if script.exists() else [sys.executable, "-m", "convenant.app.cli"]


def prepare(workdir: Path) -> Path:
    """An empty folder with a simulation database: the Krachtenbundeling signed by its four signatories."""
    folder = workdir / "cli"
    folder.mkdir()
    for args in SETUP:
        out = subprocess.run(convenant_command() + args, cwd=folder, capture_output=True, text=True, env=ENV,
                             check=False)
        if out.returncode != 0:
            raise RuntimeError(f"convenant {' '.join(args)} exited {out.returncode}: {out.stderr[-2000:]}")
    return folder


def calls(argv: list[str], cwd: Path, k: int) -> m.Block:
    wall = cpu = 0.0
    for _ in range(k):
        c0, t0 = m.children_cpu_seconds(), time.perf_counter()
        out = subprocess.run(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV,
                             check=False)
        wall += time.perf_counter() - t0
        cpu += m.children_cpu_seconds() - c0
        if out.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited {out.returncode}: {out.stderr.decode()[-2000:]}")
    return m.Block(k, wall, cpu)


def p3(workdir: Path, *, k: int, rounds: int, profiles: int = 2) -> None:
    folder = prepare(workdir)
    cmd = convenant_command()
    sides = {"pass": [sys.executable, "-c", "pass"], "show": cmd + SHOW, "trigger": cmd + TRIGGER}
    for argv in sides.values():
        calls(argv, folder, 1)
    out = m.interleave(rounds, [(name, lambda _r, a=argv: calls(a, folder, k)) for name, argv in sides.items()])
    m.describe("python -c pass", out["pass"], "call", per_op=m.ms, child=" (child)")
    m.describe("convenant --json show krachtenbundeling", out["show"], "call", per_op=m.ms, child=" (child)")
    m.describe("convenant --json trigger krachtenbundeling report_progress", out["trigger"], "call", per_op=m.ms,
               child=" (child)")
    for name in ("show", "trigger"):
        over = [a.wall_per_op - b.wall_per_op for a, b in zip(out[name], out["pass"], strict=True)]
        m.line(f"  {name} beyond starting Python: {m.spread(over, m.ms)} wall per call")
    show = [b.wall_per_op for b in out["show"]]
    m.verdict("P3", "show, whole process, warm cache", f"{m.spread(show, m.ms)} (python -c pass "
              f"{m.spread([b.wall_per_op for b in out['pass']], m.ms)})", "<= 150 ms", m.med(show) <= 0.150)
    m.verdict("P3", "trigger, whole process", m.spread([b.wall_per_op for b in out["trigger"]], m.ms),
              "(none set)", None)
    nodes = []
    for _ in range(profiles):
        nodes = importtime([sys.executable, "-X", "importtime", *(cmd if len(cmd) == 1 else cmd[1:]), *SHOW], folder,
                           env=ENV)
    print_imports(import_summary(nodes), "python -X importtime convenant --json show krachtenbundeling")
