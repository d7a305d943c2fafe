"""The shipped workflow definitions (one TOML file each) and their example agreements (examples/)."""
from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from convenant.engine.definitions import WorkflowDefinition
from convenant.engine.loading import load_definition

HERE = Path(__file__).parent


def definition_files(extra_dirs: Iterable[str | Path] = ()) -> list[Path]:
    files = sorted(HERE.glob("*.toml"))
    for folder in extra_dirs:
        files += sorted(Path(folder).glob("*.toml"))
    return files


@lru_cache(maxsize=8)
def _load(files: tuple[Path, ...]) -> dict[str, WorkflowDefinition]:
    out: dict[str, WorkflowDefinition] = {}
    for file in files:
        wf = load_definition(file)
        out[wf.name] = wf
    return out


def load_all(extra_dirs: Iterable[str | Path] = ()) -> dict[str, WorkflowDefinition]:
    """Every definition, validated once per process."""
    return _load(tuple(definition_files(extra_dirs)))


def example_file(wf: WorkflowDefinition) -> Path | None:
    if not wf.example:
        return None
    base = Path(wf.source_file).parent if wf.source_file else HERE
    return base / wf.example
