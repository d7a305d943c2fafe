"""Stored formats and the upcasters that read older ones (as eventsourcing upcasts old events and SpiffWorkflow
chains its MIGRATIONS): every process row, reference row and outbox payload says which format it is, and reading
climbs a chain of pure functions, one per step, from the stored format to the current one. A step never changes
once released, so a database may hold rows of several formats and each reads back the same; a row is written in
the current format the next time it is written (and storage/migrations/versions/0002 converts a whole database
at once with these same steps). A format newer than this code knows is refused, never guessed at.

Process formats:
  1  the release before 0.2: one untyped dict per row - parties with their contacts, the themes with their
     commitment texts, contacts, governance and every progress report, all in the agreement's row.
  2  the typed agreement (engine/model.py): parties, facts, decisions, text versions, children, counters and each
     plug-in's state in the row; the static reference data (contacts, governance, the plug-ins' texts) in its own
     row, named by the hash of its content; the log (progress reports) in its own table.
Reference formats:  1  contacts per party, governance bodies, each plug-in's reference data.
Outbox payload formats:  1  today's payload (notifications/render.py reads it); no older one exists yet."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from convenant.engine.errors import ConvenantError
from convenant.engine.model import (
    Body,
    ChildRef,
    Contact,
    Decision,
    Facts,
    LogEntry,
    Party,
    PluginData,
    Process,
    Reference,
    TextVersion,
)
from convenant.engine.plugins import registry

PROCESS_FORMAT = 2
REFERENCE_FORMAT = 1
PAYLOAD_FORMAT = 1


class FormatError(ConvenantError):
    """A stored value in a format this code cannot read (written by a newer release)."""


@dataclass
class StoredProcess:
    """A process row's data on its way up the chain: the data at some format, the reference content a format
    kept inline (format 1 did), and log entries a format kept inline (format 1's progress reports)."""
    data: dict[str, Any]
    reference: dict[str, Any] | None = None
    log: list[LogEntry] = field(default_factory=list)


def _climb(kind: str, fmt: int, current: int, steps: dict[int, Callable[[Any], Any]], value: Any) -> Any:
    if fmt > current:
        raise FormatError(f"a {kind} of format {fmt} was written by a newer release; this one reads up to "
                          f"format {current}")
    while fmt < current:
        value = steps[fmt](value)
        fmt += 1
    return value


# -- process format 1 -> 2 ------------------------------------------------------------------------------------
def _child_ref_v1(entry: dict[str, Any]) -> dict[str, Any]:
    fixed = ("id", "ptype", "final", "state")
    return {**{k: entry.get(k) for k in fixed}, "final": bool(entry.get("final")),
            "facts": {k: v for k, v in entry.items() if k not in fixed}}


def process_1_to_2(old: StoredProcess) -> StoredProcess:
    v1 = old.data
    data: dict[str, Any] = {"facts": dict(v1.get("facts") or {}), "decisions": dict(v1.get("decisions") or {})}
    if "parties" not in v1:      # a child process: facts and decisions only, in both formats
        return StoredProcess(data)
    reference: dict[str, Any] = {
        "contacts": {pid: list(p.get("contacts") or []) for pid, p in v1["parties"].items()},
        "governance": dict(v1.get("governance") or {}), "plugins": {}}
    data.update({
        "title": v1.get("title"), "entered_at": v1.get("entered_at"),
        "parties": {pid: {k: v for k, v in p.items() if k != "contacts"} for pid, p in v1["parties"].items()},
        "children": [_child_ref_v1(c) for c in v1.get("children") or []],
        "counters": dict(v1.get("counters") or {}), "text_versions": list(v1.get("text_versions") or []),
        "plugins": {}})
    log: list[LogEntry] = []
    for plugin in registry.PLUGINS.values():
        part = plugin.from_format_1(v1) if plugin.from_format_1 is not None else None
        if part is not None:
            data["plugins"][plugin.name] = part.state
            reference["plugins"][plugin.name] = part.reference
            log += part.log
    return StoredProcess(data, reference, log)


PROCESS_STEPS: dict[int, Callable[[Any], Any]] = {1: process_1_to_2}
REFERENCE_STEPS: dict[int, Callable[[Any], Any]] = {}
PAYLOAD_STEPS: dict[int, Callable[[Any], Any]] = {}


def upcast_process(fmt: int, data: dict[str, Any]) -> StoredProcess:
    return _climb("process", fmt, PROCESS_FORMAT, PROCESS_STEPS, StoredProcess(data))


def upcast_reference(fmt: int, content: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = _climb("reference", fmt, REFERENCE_FORMAT, REFERENCE_STEPS, content)
    return out


def upcast_payload(fmt: int, payload: dict[str, Any]) -> dict[str, Any]:
    """An outbox payload as notifications/ reads it, stamped with the format it now has."""
    out: dict[str, Any] = _climb("outbox payload", fmt, PAYLOAD_FORMAT, PAYLOAD_STEPS, payload)
    return {**out, "format": PAYLOAD_FORMAT}


def stamp_payload(payload: dict[str, Any]) -> dict[str, Any]:
    payload["format"] = PAYLOAD_FORMAT
    return payload


def payload_format(payload: dict[str, Any]) -> int:
    """A payload names its format; one without the field was written before payloads did (format 1)."""
    return int(payload.get("format") or 1)


# -- the current formats, typed ------------------------------------------------------------------------------
def reference_content(ref: Reference) -> dict[str, Any]:
    return {"contacts": {pid: [c.to_dict() for c in cs] for pid, cs in ref.contacts.items()},
            "governance": {key: body.to_dict() for key, body in ref.governance.items()},
            "plugins": {name: part.to_dict() for name, part in ref.plugins.items()}}


def content_id(content: dict[str, Any]) -> str:
    """The SHA-256 of the canonical JSON of reference content: equal content, one row."""
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def identify(ref: Reference) -> tuple[str, dict[str, Any]]:
    """The reference's id (computed once and kept on it) and its content."""
    content = reference_content(ref)
    if not ref.id:
        ref.id = content_id(content)
    return ref.id, content


def reference_id(ref: Reference) -> str:
    """The reference's id; its content is serialised only the first time (a new agreement's)."""
    return ref.id or identify(ref)[0]


def load_reference(fmt: int, content: dict[str, Any], rid: str) -> Reference:
    raw = upcast_reference(fmt, content)
    plugins: dict[str, PluginData] = {}
    for name, part in (raw.get("plugins") or {}).items():
        load = registry.plugin(name).load_reference
        if load is not None:
            plugins[name] = load(part)
    return Reference(contacts={pid: [Contact.from_dict(c) for c in cs] for pid, cs in raw["contacts"].items()},
                     governance={key: Body.from_dict(b) for key, b in raw["governance"].items()},
                     plugins=plugins, id=rid)


def process_data(p: Process) -> dict[str, Any]:
    """The row's data in the current format."""
    data: dict[str, Any] = {"facts": dict(p.facts), "decisions": {n: d.to_dict() for n, d in p.decisions.items()}}
    if not p.is_root:
        return data
    data.update({
        "title": p.title, "entered_at": None if p.entered_at is None else p.entered_at.isoformat(),
        "reference": reference_id(p.reference) if p.reference is not None else None,
        "parties": {pid: party.to_dict() for pid, party in p.parties.items()},
        "children": [c.to_dict() for c in p.children], "counters": dict(p.counters),
        "text_versions": [v.to_dict() for v in p.text_versions],
        "plugins": {name: state.to_dict() for name, state in p.plugins.items()}})
    return data


def fill_process(p: Process, data: dict[str, Any], reference: Reference | None) -> Process:
    """Set a process's typed parts from its data in the current format (the columns are set by the caller)."""
    p.facts = Facts(data.get("facts") or {})
    p.decisions = {n: Decision.from_dict(d) for n, d in (data.get("decisions") or {}).items()}
    if "parties" not in data:
        return p
    p.title = data.get("title")
    p.entered_at = dt.datetime.fromisoformat(data["entered_at"]) if data.get("entered_at") else None
    p.parties = {pid: Party.from_dict(raw) for pid, raw in data["parties"].items()}
    p.children = [ChildRef.from_dict(c) for c in data.get("children") or []]
    p.counters = dict(data.get("counters") or {})
    p.text_versions = [TextVersion.from_dict(v) for v in data.get("text_versions") or []]
    states: dict[str, PluginData] = {}
    for name, raw in (data.get("plugins") or {}).items():
        load = registry.plugin(name).load_state
        if load is not None:
            states[name] = load(raw)
    p.plugins = states
    p.reference = reference
    return p


def reference_id_of(data: dict[str, Any]) -> str | None:
    """The id of the reference row a current-format row names."""
    rid = data.get("reference")
    return rid if isinstance(rid, str) else None
