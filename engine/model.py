"""The things the engine works on, as plain data: processes, deadlines, transition records, notifications."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Process:
    id: str
    workflow: str
    ptype: str
    state: str
    data: dict[str, Any]
    created_at: dt.datetime
    version: int = 0
    parent_id: str | None = None
    root_id: str | None = None
    next_auto_at: dt.datetime | None = None
    final: bool = False

    @property
    def facts(self) -> dict[str, Any]:
        return self.data.setdefault("facts", {})

    @property
    def parties(self) -> dict[str, dict[str, Any]]:
        return self.data.setdefault("parties", {})


@dataclass
class Deadline:
    process_id: str
    root_id: str
    kind: str
    due: dt.date
    article: str
    rule: str
    created_at: dt.datetime
    status: str = "open"               # open, met, missed, cancelled
    moment: bool = False
    responsible: list[str] = field(default_factory=list)
    met_on: dt.date | None = None
    missed_at: dt.datetime | None = None
    step: int = 0                      # index of the next step of its plan
    next_at: dt.datetime | None = None
    id: int | None = None
    subject: str | None = None         # a deadline on one government or theme (VTH targets)


@dataclass
class Record:
    process: str
    root: str
    trigger: str
    source: str | None
    dest: str | None
    actor: str
    role: str
    party: str | None
    effective: str
    recorded_at: str
    article: str
    ref: str | None = None
    reason: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    seq: int | None = None
    prev_hash: str | None = None
    hash: str | None = None


@dataclass
class Notification:
    key: str                            # idempotency key: process, deadline, step, recipient
    process_id: str
    root_id: str
    to_addr: str
    to_name: str
    subject: str
    payload: dict[str, Any]
    deadline_id: int | None = None
    kind: str = "reminder"
