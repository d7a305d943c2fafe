"""`convenant whatif`: rehearse a live agreement on a throwaway fork.

The agreement, its children, their deadlines and the mail still waiting in the outbox are read from the real
store (one read-only unit of work) and loaded into a fresh store the caller's factory makes (app/bootstrap.py: the
in-memory store), on a virtual clock set to the real store's time. There the hypothetical acts are fired at their
dates and the clock runs to `until`, with a dispatcher that records each message instead of sending it. The real
store is never written to and no transport is ever called. The same fork is also run forward without the acts, so
that the report can say what the acts change."""
from __future__ import annotations

import datetime as dt
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from convenant.engine.access import agreement_of
from convenant.engine.clock import DatabaseClock, iso_moment, local_date, local_moment
from convenant.engine.dates import parse_date
from convenant.engine.errors import BadInput, ConvenantError, NotFound
from convenant.engine.machine import expand_sources
from convenant.engine.model import Deadline, Notification, Process
from convenant.engine.pipeline import TriggerRequest
from convenant.engine.ports import OutboxQueue, ReadModels, Store

ACTOR = "whatif"
ACT_TIME = dt.time(12, 0)      # a hypothetical act dated after the fork's today happens at noon of its date


@dataclass(frozen=True)
class Fork:
    """A fresh, empty store with its outbox queue and read models (what the factory gives)."""
    store: Store
    outbox: OutboxQueue
    reads: ReadModels
    load: Callable[..., None]       # fills the empty store with processes and deadlines as they are


ForkFactory = Callable[[], Fork]


@dataclass(frozen=True)
class Act:
    """One hypothetical act: `TRIGGER [--party P] [--on DATE] [--set K=V]... [--ref R] [--process ID]`."""
    trigger: str
    party: str | None = None
    on: dt.date | None = None
    data: dict[str, Any] = field(default_factory=dict)
    ref: str | None = None
    process: str | None = None
    source: str | None = None       # where it was written: "acts.txt line 3", or None for an --act

    @property
    def role(self) -> str:
        return "party" if self.party else "secretariat"


_OPTIONS = {"--party": "party", "--on": "on", "--ref": "ref", "--process": "process"}


def parse_act(text: str, *, source: str | None = None, field: str = "act") -> Act:
    """One --act value (or one line of a script, `source` naming it); a bad one is refused naming `field`."""
    where = source or f"--act {text!r}"

    def bad(message: str) -> BadInput:
        return BadInput(f"{where}: {message}", field=field)
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise bad(str(exc)) from None
    if not words or words[0].startswith("-"):
        raise bad("the trigger comes first")
    found: dict[str, Any] = {"trigger": words[0], "data": {}}
    rest = words[1:]
    while rest:
        option = rest.pop(0)
        if not rest or (option not in _OPTIONS and option != "--set"):
            raise bad(f"{option!r} is not --party, --on, --set, --ref or --process with a value")
        value = rest.pop(0)
        if option == "--set":
            key, eq, val = value.partition("=")
            if not eq or not key:
                raise bad(f"--set {value!r} is not KEY=VALUE")
            if key in found["data"]:
                raise bad(f"--set {key} given twice")
            found["data"][key] = val
        elif option == "--on":
            try:
                found["on"] = parse_date(value, "on")
            except ValueError as exc:
                raise bad(str(exc)) from None
        else:
            found[_OPTIONS[option]] = value
    return Act(**found, source=source)


# -- a script of acts ---------------------------------------------------------------------------------------
SCRIPT_FIELD = "--script"


def parse_script(text: str, name: str) -> list[Act]:
    """A script: one act a line in the --act syntax (`TRIGGER [--party P] [--on DATE] [--set K=V]... [--ref R]
    [--process ID]`); blank lines and lines starting with `#` are skipped. A bad line is refused naming the file
    and its line number."""
    acts = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        acts.append(parse_act(stripped, source=f"{name} line {number}", field=SCRIPT_FIELD))
    if not acts:
        raise BadInput(f"{name}: no act in the script (one act a line, like "
                       f"'give_notice --party vng --on 2026-01-31')", field=SCRIPT_FIELD)
    return acts


def load_script(path: str | Path, workflows: dict[str, Any], max_bytes: int) -> list[Act]:
    """`whatif --script FILE`: the file read through engine/text.py (a regular UTF-8 text file, every line free
    of control characters, bounded), its acts parsed; a `--set KEY=FILE` of a document parameter names a file
    relative to the script's folder and inside it (the one path policy for a file that a file names)."""
    from convenant.engine.documents import DocumentFile, document_params
    from convenant.engine.text import MAX_FILE, read_text, referenced
    file = Path(path)
    try:
        text = read_text(file, SCRIPT_FIELD, MAX_FILE)
    except BadInput as exc:      # decode() names the field with the file; the option is the field
        exc.field = SCRIPT_FIELD
        raise
    acts = parse_script(text, file.name)
    out = []
    for act in acts:
        docs = document_params(workflows, act.trigger) & set(act.data)
        if not docs:
            out.append(act)
            continue
        data: dict[str, Any] = dict(act.data)
        for key in docs:
            target = referenced(file, data[key], f"{act.source}: --set {key}", max_bytes)
            data[key] = DocumentFile(str(target), max_bytes)
        out.append(Act(act.trigger, act.party, act.on, data, act.ref, act.process, act.source))
    return out


def check_vocabulary(wf: Any, root: Process, acts: Sequence[Act]) -> None:
    """Before anything runs: each act's trigger is one of the workflow's and its party one of the agreement's
    (exit 2 naming the act: its line in a script); the rest the pipeline judges as it would for real."""
    triggers = sorted({t for spec in wf.processes.values() for t in spec.trigger_map})
    for act in acts:
        where = act.source or f"--act {act.trigger}"
        field = SCRIPT_FIELD if act.source else "act"
        if act.trigger not in triggers:
            raise BadInput(f"{where}: unknown trigger {act.trigger!r} of workflow {wf.name}; one of "
                           f"{', '.join(triggers)}", field=field)
        if act.party is not None and act.party not in root.parties:
            raise BadInput(f"{where}: unknown party {act.party!r}; parties are "
                           f"{', '.join(sorted(root.parties))}", field=field)


# -- the fork -------------------------------------------------------------------------------------------------
@dataclass
class Snapshot:
    root: Process
    children: list[Process]
    deadlines: list[Deadline]
    now: dt.datetime


def read_agreement(service: Any, pid: str) -> Snapshot:
    """Everything of one agreement the fork needs, read in one unit of work that writes nothing."""
    with service.store.transaction() as tx:
        proc = tx.get_process(pid)
        if proc is None:
            raise NotFound(f"no process {pid!r}", process=pid)
        root = agreement_of(proc, tx.get_process)
        children = tx.children(root.id)
        deadlines = [d for p in (root, *children) for d in tx.deadlines_of(p.id)]
        return Snapshot(root=root, children=children, deadlines=deadlines, now=service.now(tx))


def pending_mail(rows: Sequence[dict[str, Any]]) -> list[Notification]:
    """The messages of the real outbox still waiting (rows as ReadModels.outbox gives them), to be sent in the fork."""
    return [Notification(key=r["key"], process_id=r["process_id"], root_id=r["root_id"], to_addr=r["to_addr"],
                         to_name=r["to_name"], subject=r["subject"], payload=r["payload"],
                         deadline_id=r.get("deadline_id"), kind=r["kind"]) for r in rows if r["status"] == "pending"]


class Rehearsal:
    """One fork of the agreement, on its own store and virtual clock, with the mail recorded."""

    def __init__(self, service: Any, snap: Snapshot, fork: Fork, pending: list[Notification]) -> None:
        from convenant.engine.service import Service

        self.fork = fork
        self.snap = snap
        self.mails: list[dict[str, Any]] = []
        fork.load(processes=[snap.root, *snap.children], deadlines=[_copy(d) for d in snap.deadlines], now=snap.now)
        self.service = Service(fork.store, service.settings, service.workflows, service.subject,
                               clock=DatabaseClock(fork.store))
        from convenant.engine.log import NoLog
        self.service.log = NoLog()  # type: ignore[assignment]   # a fork signs nothing and makes no key
        with fork.store.transaction() as tx:
            DatabaseClock.run_simulated(tx, snap.now)
            if pending:
                tx.enqueue(pending, snap.now)
        self.tz = service.tz

    def dispatch(self, now: dt.datetime) -> int:
        """Record, never send: every message due now is claimed, noted and marked sent in the fork alone."""
        rows = self.fork.outbox.claim(now, 100_000, dt.timedelta(minutes=5))
        for row in rows:
            self.mails.append({"date": iso_moment(now, self.tz), "to": row.to_addr, "name": row.to_name,
                               "subject": row.subject, "kind": row.kind, "process": row.process_id})
            self.fork.outbox.mark_sent(row.id, now, f"<whatif-{row.id}@convenant>")
        return len(rows)

    def target(self, act: Act) -> str:
        """The process the act is for: --process, else the agreement if its trigger is the agreement's, else the
        latest open child in whose state the trigger is allowed."""
        if act.process:
            return act.process
        root = self.snap.root
        wf = self.service.workflow(root.workflow)
        if act.trigger in wf.process(root.ptype).trigger_map:
            return root.id
        for child in reversed(self.service_children()):
            spec = wf.process(child.ptype)
            tspec = spec.trigger_map.get(act.trigger)
            if tspec is not None and not child.final and child.state in expand_sources(wf, tspec.source):
                return child.id
        return root.id          # the pipeline refuses it, naming the trigger

    def service_children(self) -> list[Process]:
        with self.fork.store.transaction() as tx:
            return tx.children(self.snap.root.id)

    def apply(self, act: Act) -> dict[str, Any]:
        simulated, now = self.service.clock_info()
        if act.on is not None and act.on > local_date(now, self.tz):
            self.service.advance_clock(local_moment(act.on, self.tz, ACT_TIME), dispatch=self.dispatch)
        pid = self.target(act)
        try:
            fired = self.service.fire(TriggerRequest(pid, act.trigger, actor=ACTOR, role=act.role,
                                                     party=act.party, on=act.on, ref=act.ref, data=dict(act.data)))
        except ConvenantError as exc:
            if act.source:       # a refused line of a script says which line it was
                exc.message = f"{act.source}: {exc.message}"
                exc.args = (exc.message,)
            raise
        self.dispatch(self.service.now())
        return {"trigger": act.trigger, "party": act.party, "on": fired.effective, "process": fired.process,
                "state": fired.dest}

    def run(self, acts: Sequence[Act], until: dt.datetime) -> dict[str, Any]:
        done = [self.apply(a) for a in sorted(acts, key=lambda a: a.on or dt.date.min)]
        self.service.advance_clock(until, dispatch=self.dispatch)
        final = {(d.process_id, d.kind, d.subject): (d.due.isoformat(), str(d.status))
                 for d in self.fork.reads.deadlines(statuses=None, root_id=self.snap.root.id)}
        return {"acts": done, "states": self.states(), "deadlines": self.deadlines(), "mails": list(self.mails),
                "_final": final}

    def states(self) -> list[dict[str, Any]]:
        out = []
        for rec in self.fork.reads.history(self.snap.root.id):
            if rec.get("dest") and rec["dest"] != rec.get("source"):
                out.append({"process": rec["process"], "state": rec["dest"], "at": rec["effective"],
                            "recorded_at": rec["recorded_at"], "trigger": rec["trigger"]})
        return out

    def deadlines(self) -> list[dict[str, Any]]:
        before = {d.id: d for d in self.snap.deadlines}
        out = []
        for d in self.fork.reads.deadlines(statuses=None, root_id=self.snap.root.id):
            old = before.get(d.id)
            change = _change(old, d)
            if change is not None:
                out.append({"process": d.process_id, "kind": d.kind, "subject": d.subject, "due": d.due.isoformat(),
                            "status": str(d.status), "change": change,
                            "due_before": old.due.isoformat() if old else None,
                            "status_before": str(old.status) if old else None})
        return out


def _change(old: Deadline | None, new: Deadline) -> str | None:
    if old is None:
        return "created"
    if new.status != old.status:
        return str(new.status)
    if new.due != old.due:
        return "moved"
    return None


def _copy(d: Deadline) -> Deadline:
    return Deadline(**{k: getattr(d, k) for k in Deadline.__dataclass_fields__})


def whatif(service: Any, pid: str, acts: Sequence[Act], until: dt.datetime, fork: ForkFactory, *,
           pending: Sequence[dict[str, Any]] = (), compare: bool = True) -> dict[str, Any]:
    """Fork agreement `pid`, apply `acts`, run the clock to `until`; report states, deadlines and mails, and -
    with `compare` - how that differs from the same fork run forward without the acts."""
    snap = read_agreement(service, pid)
    check_vocabulary(service.workflow(snap.root.workflow), snap.root, acts)
    if until < snap.now:
        raise BadInput(f"--until {iso_moment(until, service.tz)} is before the agreement's clock "
                       f"({iso_moment(snap.now, service.tz)})", field="until")
    for act in acts:
        if act.on is not None and local_moment(act.on, service.tz) > until:
            raise BadInput(f"{act.source or '--act ' + act.trigger} --on {act.on.isoformat()} is after --until",
                           field=SCRIPT_FIELD if act.source else "act")
    notes = pending_mail(pending)
    report = Rehearsal(service, snap, fork(), notes).run(acts, until)
    out: dict[str, Any] = {"agreement": snap.root.id, "from": iso_moment(snap.now, service.tz),
                           "until": iso_moment(until, service.tz), **report}
    if compare:
        base = Rehearsal(service, snap, fork(), notes).run([], until)
        out["difference"] = difference(base, report)
    out.pop("_final")
    return out


def _keyed(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> set[tuple[Any, ...]]:
    return {tuple(r.get(k) for k in keys) for r in rows}


def difference(base: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """What the acts change against the fork run forward without them."""
    out: dict[str, Any] = {}
    for part, keys in (("states", ("process", "state", "at")), ("mails", ("date", "to", "subject"))):
        was, now = _keyed(base[part], keys), _keyed(other[part], keys)
        out[part] = {"added": [dict(zip(keys, k, strict=True)) for k in sorted(now - was, key=str)],
                     "removed": [dict(zip(keys, k, strict=True)) for k in sorted(was - now, key=str)]}
    was, now = base["_final"], other["_final"]
    changed = []
    for key in sorted(set(was) | set(now), key=str):
        a, b = was.get(key), now.get(key)
        if a != b:
            changed.append({"process": key[0], "kind": key[1], "subject": key[2],
                            "without": {"due": a[0], "status": a[1]} if a else None,
                            "with": {"due": b[0], "status": b[1]} if b else None})
    out["deadlines"] = changed
    return out
