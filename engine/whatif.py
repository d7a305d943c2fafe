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
from typing import Any

from convenant.engine.access import agreement_of
from convenant.engine.clock import DatabaseClock, iso_moment, local_date, local_moment
from convenant.engine.dates import parse_date
from convenant.engine.errors import BadInput, NotFound
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
    data: dict[str, str] = field(default_factory=dict)
    ref: str | None = None
    process: str | None = None

    @property
    def role(self) -> str:
        return "party" if self.party else "secretariat"


_OPTIONS = {"--party": "party", "--on": "on", "--ref": "ref", "--process": "process"}


def parse_act(text: str) -> Act:
    """One --act value; a bad one is refused naming the field `act`."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise BadInput(f"--act {text!r}: {exc}", field="act") from None
    if not words or words[0].startswith("-"):
        raise BadInput(f"--act {text!r}: the trigger comes first", field="act")
    found: dict[str, Any] = {"trigger": words[0], "data": {}}
    rest = words[1:]
    while rest:
        option = rest.pop(0)
        if not rest or (option not in _OPTIONS and option != "--set"):
            raise BadInput(f"--act {text!r}: {option!r} is not --party, --on, --set, --ref or --process with a "
                           f"value", field="act")
        value = rest.pop(0)
        if option == "--set":
            key, eq, val = value.partition("=")
            if not eq or not key:
                raise BadInput(f"--act {text!r}: --set {value!r} is not KEY=VALUE", field="act")
            found["data"][key] = val
        elif option == "--on":
            try:
                found["on"] = parse_date(value, "on")
            except ValueError as exc:
                raise BadInput(f"--act {text!r}: {exc}", field="act") from None
        else:
            found[_OPTIONS[option]] = value
    return Act(**found)


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
        fired = self.service.fire(TriggerRequest(pid, act.trigger, actor=ACTOR, role=act.role, party=act.party,
                                                 on=act.on, ref=act.ref, data=dict(act.data)))
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
    if until < snap.now:
        raise BadInput(f"--until {iso_moment(until, service.tz)} is before the agreement's clock "
                       f"({iso_moment(snap.now, service.tz)})", field="until")
    for act in acts:
        if act.on is not None and local_moment(act.on, service.tz) > until:
            raise BadInput(f"--act {act.trigger} --on {act.on.isoformat()} is after --until", field="act")
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
