"""The shape of the house, asserted: the ways in reach storage only through bootstrap, nothing but the clock asks
the system for the time, and no module imports itself through others (no cycles)."""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"engine": "convenant.engine", "storage": "convenant.storage", "notifications": "convenant.notifications",
            "workflows": "convenant.workflows", "app": "convenant.app", "convenant": "convenant"}


def modules() -> dict[str, Path]:
    out = {}
    for folder, name in PACKAGES.items():
        for file in sorted((ROOT / folder).rglob("*.py")):
            parts = list(file.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join([name, *parts])] = file
    return out


def imports_of(module: str, file: Path) -> set[str]:
    """Every module this one imports, at the top or inside a function (relative imports resolved)."""
    found: set[str] = set()
    package = module if file.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return found


def test_the_ways_in_import_no_storage():
    offenders = {}
    for module, file in modules().items():
        if module.startswith("convenant.app.") and module != "convenant.app.bootstrap":
            bad = sorted(i for i in imports_of(module, file) if i.startswith("convenant.storage"))
            if bad:
                offenders[module] = bad
    assert offenders == {}, "app/ talks to the service layer; only app/bootstrap.py knows storage"


def test_the_engine_imports_no_sql_http_or_smtp():
    forbidden = ("sqlalchemy", "psycopg", "fastapi", "starlette", "smtplib", "convenant.storage",
                 "convenant.app", "convenant.notifications.transports")
    offenders = {m: sorted(i for i in imports_of(m, f) if i.startswith(forbidden))
                 for m, f in modules().items() if m.startswith("convenant.engine")}
    assert {m: bad for m, bad in offenders.items() if bad} == {}


NOW = re.compile(r"\b(datetime\.now|datetime\.utcnow|date\.today|time\.time|time\.monotonic)\(")


def test_only_the_clock_reads_the_time():
    offenders = []
    for module, file in modules().items():
        if module == "convenant.engine.clock":
            continue
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
            if NOW.search(line.split("#", 1)[0]):
                offenders.append(f"{file.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == [], "the time comes from the injected clock (engine/clock.py)"


def test_no_import_cycles():
    mods = modules()
    graph = {m: {i for i in imports_of(m, f) if i in mods and i != m} for m, f in mods.items()}
    # A package's __init__ importing its own submodules is not a cycle of meaning; leave packages out.
    packages = {m for m, f in mods.items() if f.name == "__init__.py"}
    graph = {m: deps - packages for m, deps in graph.items() if m not in packages}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def connect(v: str) -> None:          # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    assert cycles == []
