"""The store of the benchmark's in-memory step (bench/run.py): storage/memory.py, changed in two ways so that it
times the engine's in-memory step (authorise, validate, guards, effects, the state machine, deadlines,
notifications) and not the store:
- every unit of work is rolled back, so each repetition of a command starts from the same stored objects and
  repeating one does not grow the agreement;
- reads hand out shallow copies instead of decoding JSON (what decoding a row costs is the store's, not the
  engine's; the engine copies what it changes)."""
from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from convenant.engine.model import Deadline, Process
from convenant.storage.memory import MemoryStore, MemoryTx


class RepeatingStore(MemoryStore):
    def __init__(self, processes: list[Process], deadlines: Mapping[str, list[Deadline]],
                 meta: Mapping[str, str | None]) -> None:
        super().__init__()
        self.load(processes, [d for rows in deadlines.values() for d in rows], meta)

    @contextmanager
    def transaction(self) -> Iterator[MemoryTx]:
        with self._lock:
            yield MemoryTx(self)      # never committed: the next command sees what the last one saw

    def _freeze(self, value: Any) -> Any:
        return value

    def _thaw(self, stored: Any) -> Any:
        return copy.copy(stored)

    def log_refusal(self, now: dt.datetime, error: Exception, **who: Any) -> None:
        """A refusal in the benchmark is a bug in the benchmark: say so."""
        raise AssertionError(f"the benchmark's command was refused: {error}")
