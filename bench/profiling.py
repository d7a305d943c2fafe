"""Where the time goes: cProfile over a block of commands, summarised by package (SQLAlchemy, the driver, json,
the engine ...) and by function; and `python -X importtime` of a CLI call, summarised by package with the chain of
convenant modules that first imports each one. cProfile adds its own overhead to every Python call, so its shares
say where the time goes, not how long it takes: the timed figures come from the runs without it."""
from __future__ import annotations

import cProfile
import pstats
import re
import subprocess
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def _product_dirs() -> list[tuple[str, str]]:
    import convenant
    import convenant.app
    import convenant.engine
    import convenant.notifications
    import convenant.storage
    dirs = [(str(Path(m.__file__).resolve().parent), name) for m, name in (
        (convenant.engine, "convenant.engine"), (convenant.storage, "convenant.storage"),
        (convenant.notifications, "convenant.notifications"), (convenant.app, "convenant.app"))]
    dirs.append((str(Path(convenant.__file__).resolve().parent), "convenant"))
    return sorted(dirs, key=lambda d: -len(d[0]))


LIBS = ("sqlalchemy", "psycopg", "psycopg_binary", "jinja2", "transitions", "pydantic", "dateutil", "json",
        "pickle", "copy", "hashlib", "zoneinfo", "holidays", "babel", "contextlib", "threading", "alembic",
        "fastapi", "starlette", "uvicorn", "anyio", "icalendar", "apscheduler", "dataclasses", "logging",
        "datetime", "enum", "functools", "typing")
BUILTIN_HINTS = (("sqlite3", "sqlite3 (driver, C)"), ("psycopg", "psycopg (C)"), ("_json", "json"),
                 ("json", "json"), ("pickle", "pickle"), ("hashlib", "hashlib"), ("sha256", "hashlib"),
                 ("_datetime", "datetime"), ("datetime", "datetime"), ("zoneinfo", "zoneinfo"))


def classify(filename: str, funcname: str, dirs: list[tuple[str, str]]) -> str:
    if filename == "~" or filename.startswith("<"):
        for hint, group in BUILTIN_HINTS:
            if hint in funcname:
                return group
        return "builtins"
    try:
        path = str(Path(filename).resolve())
    except OSError:
        path = filename
    for root, name in dirs:
        if path.startswith(root + "/"):
            return name
    parts = Path(path).parts
    for lib in LIBS:
        if lib in parts or f"{lib}.py" in parts:
            return lib
    if "site-packages" in parts:
        i = parts.index("site-packages")
        return parts[i + 1].split(".")[0] if i + 1 < len(parts) else "site-packages"
    return "stdlib/other"


@dataclass
class Profile:
    total: float                                   # seconds of profiled time (sum of tottime)
    ops: int
    by_group: list[tuple[str, float]]              # (group, seconds)
    top_self: list[tuple[float, float, int, str]]  # (tottime, cumtime, calls, function)
    top_product: list[tuple[float, int, str]]      # (cumtime, calls, function) of convenant's own functions
    calls: dict[str, Any] = field(default_factory=dict)


def profile(fn: Callable[[], Any], ops: int, *, top: int = 15) -> Profile:
    """CPU time (the process's CPU clock, so that waiting for the database is not counted) of `fn`."""
    prof = cProfile.Profile(time.process_time)
    prof.enable()
    try:
        fn()
    finally:
        prof.disable()
    stats = pstats.Stats(prof)
    dirs = _product_dirs()
    groups: dict[str, float] = defaultdict(float)
    rows = []
    product = []
    for (filename, lineno, name), (_cc, nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        group = classify(filename, name, dirs)
        groups[group] += tt
        label = name if filename == "~" else f"{_short(filename, dirs)}:{lineno}({name})"
        rows.append((tt, ct, nc, label))
        if group.startswith("convenant"):
            product.append((ct, nc, label))
    total = sum(groups.values())
    return Profile(total=total, ops=ops, by_group=sorted(groups.items(), key=lambda kv: -kv[1]),
                   top_self=sorted(rows, reverse=True)[:top], top_product=sorted(product, reverse=True)[:top])


def _short(filename: str, dirs: list[tuple[str, str]]) -> str:
    try:
        path = str(Path(filename).resolve())
    except OSError:
        path = filename
    for root, name in dirs:
        if path.startswith(root + "/"):
            return name + "/" + path[len(root) + 1:]
    parts = Path(path).parts
    if "site-packages" in parts:
        return "/".join(parts[parts.index("site-packages") + 1:])
    return "/".join(parts[-2:])


def print_profile(p: Profile, title: str, indent: int = 4, unit: str = "command") -> None:
    pad = " " * indent
    per = p.total / p.ops if p.ops else 0
    print(f"{pad}{title}: {p.ops:,} {unit}s under cProfile (CPU clock), {per * 1e6:,.0f} µs CPU per {unit} as "
          f"profiled (cProfile's own overhead included: the shares matter, not the total)", flush=True)
    print(f"{pad}  by package (own time):", flush=True)
    for group, secs in p.by_group[:12]:
        print(f"{pad}    {secs / p.total:6.1%}  {secs / p.ops * 1e6:8,.0f} µs/{unit}  {group}", flush=True)
    print(f"{pad}  top functions by own time (tottime µs/{unit}, cumtime µs/{unit}, calls/{unit}):", flush=True)
    for tt, ct, nc, label in p.top_self:
        print(f"{pad}    {tt / p.ops * 1e6:8,.1f} {ct / p.ops * 1e6:9,.1f} {nc / p.ops:7,.1f}  {label}", flush=True)
    print(f"{pad}  convenant's own functions by cumulative time (µs/{unit}, calls/{unit}):", flush=True)
    for ct, nc, label in p.top_product:
        print(f"{pad}    {ct / p.ops * 1e6:9,.1f} {nc / p.ops:7,.1f}  {label}", flush=True)


# -- import time --------------------------------------------------------------------------------------------
_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s+)(\S+)\s*$")


@dataclass
class ImportNode:
    name: str
    self_us: int
    cumulative_us: int
    depth: int
    parent: ImportNode | None = None


def parse_importtime(stderr: str) -> list[ImportNode]:
    """The nodes of `-X importtime` output, each with its parent (the module whose import pulled it in)."""
    nodes: list[ImportNode] = []
    pending: list[ImportNode] = []
    for row in stderr.splitlines():
        m = _LINE.match(row)
        if not m:
            continue
        depth = (len(m.group(3)) - 1) // 2
        node = ImportNode(m.group(4), int(m.group(1)), int(m.group(2)), depth)
        while pending and pending[-1].depth > depth:
            pending.pop().parent = node
        pending.append(node)
        nodes.append(node)
    return nodes


def import_summary(nodes: list[ImportNode]) -> dict[str, Any]:
    """Total import time, own time by top-level package, and for each package where it is first imported from
    (the chain of convenant modules above its first module)."""
    by_pkg: dict[str, int] = defaultdict(int)
    first: dict[str, ImportNode] = {}
    for n in nodes:
        pkg = n.name.split(".")[0]
        by_pkg[pkg] += n.self_us
        top = n
        while top.parent is not None and top.parent.name.split(".")[0] == pkg:
            top = top.parent
        if pkg not in first or top.cumulative_us > first[pkg].cumulative_us:
            first[pkg] = top
    chains = {}
    for pkg, node in first.items():
        chain, up = [], node.parent
        while up is not None:
            if up.name.startswith("convenant"):
                chain.append(up.name)
            up = up.parent
        chains[pkg] = (node.name, node.cumulative_us, chain[:4])
    own = sorted((n for n in nodes if n.name.startswith("convenant")), key=lambda n: -n.self_us)
    return {"total_us": sum(n.self_us for n in nodes), "modules": len(nodes),
            "by_package": sorted(by_pkg.items(), key=lambda kv: -kv[1]), "first": chains,
            "own": [(n.name, n.self_us, n.cumulative_us) for n in own[:10]]}


def importtime(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> list[ImportNode]:
    out = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {out.returncode}: {out.stderr[-2000:]}")
    return parse_importtime(out.stderr)


def print_imports(summary: dict[str, Any], title: str, top: int = 15, indent: int = 4) -> None:
    pad = " " * indent
    total = summary["total_us"]
    print(f"{pad}{title}: {summary['modules']} modules, {total / 1000:,.0f} ms of import time (sum of self "
          f"times under -X importtime, which slows imports somewhat)", flush=True)
    print(f"{pad}  by top-level package (own ms, share; first imported as <- by):", flush=True)
    for pkg, self_us in summary["by_package"][:top]:
        name, cum, chain = summary["first"][pkg]
        via = " <- ".join(chain) if chain else "(the interpreter / the script)"
        print(f"{pad}    {self_us / 1000:7,.1f} ms {self_us / total:6.1%}  {pkg:<22} {name} ({cum / 1000:,.0f} ms "
              f"cumulative) <- {via}", flush=True)
    print(f"{pad}  convenant's own modules with the most own import time (own ms, cumulative ms):", flush=True)
    for name, self_us, cum in summary["own"]:
        print(f"{pad}    {self_us / 1000:7,.1f} {cum / 1000:9,.1f}  {name}", flush=True)
