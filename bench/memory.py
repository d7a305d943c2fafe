"""An in-memory unit of work, for timing the engine's in-memory step (authorise, validate, guards, effects, the
state machine, deadlines, notifications) without any SQL. Every command starts from the same stored objects,
handed out as shallow copies (what decoding a row costs is the store's, not the engine's; the engine copies
what it changes), so repeating one does not grow the agreement."""
from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from convenant.engine.model import Deadline, Notification, Process, Record


class MemoryTx:
    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self.earliest_write: dt.datetime | None = None

    def get_process(self, pid: str, *, lock: bool = False) -> Process | None:
        proc = self.store.processes.get(pid)
        return copy.copy(proc) if proc else None

    def children(self, root_id: str) -> list[Process]:
        return []

    def insert_process(self, p: Process, now: dt.datetime) -> None:
        p.version = 1

    def update_process(self, p: Process, now: dt.datetime) -> None:
        p.version += 1

    def deadlines_of(self, process_id: str) -> list[Deadline]:
        return [copy.copy(d) for d in self.store.deadlines.get(process_id, [])]

    def get_deadline(self, did: int, *, lock: bool = False) -> Deadline | None:
        return None

    def insert_deadline(self, d: Deadline) -> None:
        d.id = 0

    def update_deadline(self, d: Deadline) -> None:
        pass

    def append_record(self, rec: Record) -> Record:
        self.store.seq += 1
        rec.seq = self.store.seq
        return rec

    def enqueue(self, notes: list[Notification], now: dt.datetime) -> int:
        self.store.queued += len(notes)
        return len(notes)

    def meta(self, key: str) -> str | None:
        return self.store.meta.get(key)

    def set_meta(self, key: str, value: str) -> None:
        self.store.meta[key] = value

    def prefetch(self, items: list[Any]) -> None:
        pass


class MemoryStore:
    is_postgres = False

    def __init__(self, processes: list[Process], deadlines: dict[str, list[Deadline]], meta: dict[str, str]
                 ) -> None:
        self.processes = {p.id: p for p in processes}
        self.deadlines = deadlines
        self.meta = dict(meta)
        self.seq = 0
        self.queued = 0

    @contextmanager
    def transaction(self) -> Iterator[MemoryTx]:
        yield MemoryTx(self)

    def log_refusal(self, now: dt.datetime, error: Exception, **who: Any) -> None:
        pass
