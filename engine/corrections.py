"""`convenant correct`: correct (or withdraw) an act recorded wrongly, and `show --as-recorded-on`.

A correction is a new record in the history that names the record it corrects (`corrects`, committed in its hash)
and says what changed (`data`: `set`, `withdraw`, `changes`); the corrected record stays in the chain untouched.
What follows from the act is recomputed by rebuilding the agreement from its history on a scratch store (the
caller's factory: app/bootstrap.py gives the in-memory one) on a virtual clock: each act a person recorded is
entered again, with every correction recorded so far and this one applied, at the moment it was entered (or on its
legal date, where a corrected date lies after that), the engine's own steps run in between as `clock advance` runs
them, up to the live clock. The difference - states, the agreement's facts, deadlines moved, added or cancelled -
is written to the live agreement in one unit of work with the correction's record. An act the rebuilt agreement
refuses (a signature moved after the publication) makes the correction refused, naming the act and why.

`rebuild` is the reusable part: the same machinery rebuilds an agreement as it was known at the end of a day
(`as_recorded_on`: only the records entered up to then)."""
from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from convenant.engine import upcast
from convenant.engine.access import agreement_of, root_of
from convenant.engine.clock import DatabaseClock, iso_moment, local_date, local_moment
from convenant.engine.dates import parse_date
from convenant.engine.errors import BadInput, ConvenantError, NotAllowed, NotFound
from convenant.engine.migrate import MIGRATE, enter_migration, future_reminders
from convenant.engine.model import Deadline, DeadlineStatus, Process, Record
from convenant.engine.pipeline import TriggerRequest

if TYPE_CHECKING:
    from convenant.engine.ports import ReadModels
    from convenant.engine.service import Service
    from convenant.engine.whatif import Fork

CORRECT = "correct"
SYSTEM_ROLE = "system"
ACT_TIME = dt.time(12, 0)          # a corrected date after its entry: entered again at noon of that date
RECORD_FIELDS = {"on": "effective", "ref": "ref", "party": "party"}   # --set keys that are fields of the record
BOOKKEEPING = frozenset({CORRECT})                                   # records that are no acts to enter again


class _NoLog:
    """The scratch store keeps no log of its own: no key is read, nothing is signed."""

    def step(self, now: dt.datetime | None = None) -> dict[str, Any]:
        return {}


def _moment(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC)


def entered_by_a_person(rec: dict[str, Any]) -> bool:
    """An act to enter again: not the engine's own (system), not a child opened by an act, not bookkeeping."""
    if rec.get("role") == SYSTEM_ROLE or rec["trigger"] in BOOKKEEPING:
        return False
    return not (rec["source"] is None and rec["trigger"] != "create" and "opened_by" in (rec.get("data") or {}))


def corrected(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The acts a person recorded, as the corrections recorded among `records` say they should have been: a
    withdrawn act left out, a corrected one with its fields and parameters set anew (in the order corrected)."""
    rows = list(records)
    acts = {r["seq"]: copy.deepcopy(r) for r in rows if entered_by_a_person(r)}
    for r in rows:
        if r["trigger"] != CORRECT or r.get("corrects") not in acts:
            continue
        data = r.get("data") or {}
        if data.get("withdraw"):
            acts.pop(r["corrects"])
        else:
            apply_set(acts[r["corrects"]], data.get("set") or {})
    return [acts[s] for s in sorted(acts)]


RESERVE = "reserve_children"     # not a record: where a withdrawn act opened children, their numbers stay taken


def reservations(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """For each withdrawn act that opened children (a notice its termination), an entry for `rebuild` at the act's
    moment that keeps those children's numbers taken: the live database keeps the closed child under its id, so a
    later act of the same kind must get the next number in the rebuilt agreement as it did (or does) live."""
    every = list(records)
    rows = sorted((r for r in every if r.get("seq") is not None), key=lambda r: r["seq"])
    gone = {r.get("corrects") for r in every if r["trigger"] == CORRECT and (r.get("data") or {}).get("withdraw")}
    out = []
    for i, rec in enumerate(rows):
        if rec["seq"] not in gone:
            continue
        kids = []
        for nxt in rows[i + 1:]:
            if nxt["source"] is None and (nxt.get("data") or {}).get("opened_by") == rec["process"]:
                kids.append(nxt["process"])
            else:
                break
        if kids:
            out.append({"trigger": RESERVE, "process": root_of(rec["process"]), "seq": rec["seq"],
                        "recorded_at": rec["recorded_at"], "effective": rec["effective"], "party": None,
                        "children": kids})
    return out


def _reserve(svc: Service, rec: dict[str, Any]) -> None:
    with svc.store.transaction() as tx:
        root = tx.get_process(rec["process"], lock=True)
        if root is None:
            return
        wf = svc.workflow(root.workflow)
        prefixes = {spec.id_prefix or ptype: ptype for ptype, spec in wf.processes.items()}
        for child in rec["children"]:
            prefix, _, number = child.rsplit("/", 1)[-1].rpartition("-")
            if prefix in prefixes and number.isdigit():
                ptype = prefixes[prefix]
                root.counters[ptype] = max(root.counters.get(ptype, 0), int(number))
        tx.update_process(root, svc.now(tx))


def apply_set(rec: dict[str, Any], sets: dict[str, str]) -> None:
    for key, value in sets.items():
        if key in RECORD_FIELDS:
            rec[RECORD_FIELDS[key]] = value
        else:
            rec.setdefault("data", {}).setdefault("params", {})[key] = value


def _entry_moment(rec: dict[str, Any], tz: Any) -> dt.datetime:
    at = _moment(rec["recorded_at"])
    legal = dt.date.fromisoformat(rec["effective"])
    return max(at, local_moment(legal, tz, ACT_TIME)) if legal > local_date(at, tz) else at


def enter(svc: Service, rec: dict[str, Any]) -> None:
    """Enter one recorded act again on `svc` (a create, a trigger, or the contacts replaced)."""
    data = rec.get("data") or {}
    if rec["trigger"] == "create":
        svc.create_agreement(data["workflow"], data["agreement"], actor=rec["actor"], pid=rec["process"])
    elif rec["trigger"] == RESERVE:
        _reserve(svc, rec)
    elif rec["trigger"] == MIGRATE:            # entered again at its moment, but never corrected itself
        enter_migration(svc, rec)
    elif rec["trigger"] == "update_contacts":
        language = (data.get("language") or {}).get("after")
        svc.update_contacts(rec["process"], rec["party"], (data.get("contacts") or {}).get("after") or [],
                            actor=rec["actor"], role=rec["role"], language=language, reason=rec.get("reason"))
    else:
        svc.fire(TriggerRequest(rec["process"], rec["trigger"], actor=rec["actor"], role=rec["role"],
                                party=rec["party"], on=rec["effective"], ref=rec["ref"], reason=rec["reason"],
                                data=dict(data.get("params") or {})))


class Impossible(NotAllowed):
    """An act of the history that the corrected history refuses."""


def rebuild(service: Service, acts: Sequence[dict[str, Any]], fork: Callable[[], Fork], until: dt.datetime
            ) -> tuple[Service, Fork]:
    """A scratch service with `acts` (history rows, in order) entered again at their moments, the clock run between
    them and on to `until`. An act refused on the way raises Impossible naming it."""
    from convenant.engine.service import Service

    scratch = fork()
    svc = Service(scratch.store, service.settings, service.workflows, subject=service.subject,
                  clock=DatabaseClock(scratch.store))
    svc.log = _NoLog()  # type: ignore[assignment]
    timed = sorted(((_entry_moment(r, service.tz), i, r) for i, r in enumerate(acts)), key=lambda x: x[:2])
    start = min([timed[0][0], until]) if timed else until
    svc.init_database(simulation=True, start=start)
    for at, _i, rec in timed:
        if at > svc.now():
            svc.advance_clock(at)
        try:
            enter(svc, rec)
        except ConvenantError as exc:
            raise Impossible(f"history seq {rec['seq']} ({rec['trigger']}"
                             f"{', ' + rec['party'] if rec.get('party') else ''}, {rec['effective']}) would no "
                             f"longer be possible: {exc.message if hasattr(exc, 'message') else exc}",
                             article=getattr(exc, "article", None), process=rec["process"]) from None
    if until > svc.now():
        svc.advance_clock(until)
    return svc, scratch


# -- the difference ----------------------------------------------------------------------------------------------
def _processes(tx: Any, root_id: str) -> dict[str, Process]:
    root = tx.get_process(root_id)
    return {} if root is None else {p.id: p for p in (root, *tx.children(root_id))}


def _deadlines(tx: Any, procs: Iterable[str]) -> dict[tuple[str, str, str | None], list[Deadline]]:
    out: dict[tuple[str, str, str | None], list[Deadline]] = {}
    for pid in procs:
        for d in tx.deadlines_of(pid):
            out.setdefault((d.process_id, d.kind, d.subject), []).append(d)
    for rows in out.values():
        rows.sort(key=lambda d: (d.created_at, d.id or 0))
    return out


def _facts(p: Process) -> dict[str, Any]:
    return {k: v for k, v in upcast.process_data(p).items()}


def _diff(a: Any, b: Any, path: str) -> Iterable[tuple[str, Any, Any]]:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            yield from _diff(a.get(k), b.get(k), f"{path}.{k}")
    elif a != b:
        yield path, a, b


class Plan:
    """What the correction changes on the live agreement, and how to write it."""

    def __init__(self, service: Service, live_tx: Any, scratch: Fork, root_id: str, now: dt.datetime) -> None:
        self.service, self.now = service, now
        self.changes: list[dict[str, Any]] = []
        self.process_writes: list[tuple[Process, Process | None]] = []      # (new, live or None)
        self.deadline_writes: list[tuple[Deadline, Deadline | None]] = []   # (new or cancelled, live or None)
        with scratch.store.transaction() as stx:
            again = _processes(stx, root_id)
            again_deadlines = _deadlines(stx, again)
        live = _processes(live_tx, root_id)
        # each side's reminders under its own agreement's scheme (an amended one, its version's)
        self.roots = (live.get(root_id), again.get(root_id))
        self._plan_processes(live, again)
        self._plan_deadlines(_deadlines(live_tx, live), again_deadlines)

    def _plan_processes(self, live: dict[str, Process], again: dict[str, Process]) -> None:
        for pid in sorted(set(live) | set(again)):
            a, b = live.get(pid), again.get(pid)
            if b is None:
                assert a is not None
                if a.final and a.next_auto_at is None:
                    continue                     # closed already (by an earlier correction that withdrew its act)
                closed = copy.deepcopy(a)
                closed.final, closed.next_auto_at = True, None
                self.changes.append({"what": f"{pid}: process", "before": a.state, "after": "closed (opened by "
                                     "an act the correction withdraws)"})
                self.process_writes.append((closed, a))
                continue
            if a is None:
                self.changes.append({"what": f"{pid}: process", "before": None, "after": b.state})
                self.process_writes.append((b, None))
                continue
            found = [{"what": f"{pid}: state", "before": a.state, "after": b.state}] if a.state != b.state else []
            found += [{"what": f"{pid}: {path}", "before": x, "after": y}
                      for path, x, y in _diff(_facts(a), _facts(b), "data")]
            if found or a.final != b.final or a.next_auto_at != b.next_auto_at:
                b.version = a.version
                self.process_writes.append((b, a))
                self.changes += found

    def _plan_deadlines(self, live: dict[Any, list[Deadline]], again: dict[Any, list[Deadline]]) -> None:
        for key in sorted(set(live) | set(again), key=str):
            mine, theirs = live.get(key, []), again.get(key, [])
            name = f"{key[0]}: deadline {key[1]}" + (f" ({key[2]})" if key[2] else "")
            for i in range(max(len(mine), len(theirs))):
                a = mine[i] if i < len(mine) else None
                b = theirs[i] if i < len(theirs) else None
                self._plan_deadline(name, a, b)

    def _plan_deadline(self, name: str, a: Deadline | None, b: Deadline | None) -> None:
        if b is None:
            assert a is not None
            if not a.awaited:
                return
            new = copy.deepcopy(a)
            new.status, new.next_at = DeadlineStatus.CANCELLED, None
        else:
            new = copy.deepcopy(b)
            new.id = a.id if a is not None else None
        before = {"due": a.due.isoformat(), "status": str(a.status)} if a else None
        after = {"due": new.due.isoformat(), "status": str(new.status)}
        same = a is not None and all(getattr(a, f) == getattr(new, f) for f in
                                     ("due", "status", "met_on", "missed_at", "step", "next_at", "responsible"))
        if same:
            return
        change: dict[str, Any] = {"what": name, "before": before, "after": after}
        live_root, again_root = self.roots
        was = future_reminders(self.service, a, self.now, live_root) if live_root else set()
        other = again_root or live_root
        will = future_reminders(self.service, new, self.now, other) if other else set()
        if was - will:
            change["reminders_withdrawn"] = sorted(was - will)
        if will - was:
            change["reminders_due"] = sorted(will - was)
        if before != after or len(change) > 3:
            self.changes.append(change)
        self.deadline_writes.append((new, a))

    def write(self, tx: Any) -> None:
        for new, old in self.process_writes:
            if old is None:
                tx.insert_process(new, self.now)
            else:
                tx.update_process(new, self.now)
        for d, was in self.deadline_writes:
            if was is None:
                tx.insert_deadline(d)
            else:
                tx.update_deadline(d)


# -- the command -------------------------------------------------------------------------------------------------
def _parse_sets(sets: dict[str, str], withdraw: bool, rec: dict[str, Any], service: Service) -> dict[str, str]:
    if withdraw and sets:
        raise BadInput("--withdraw takes no --set: a withdrawn act has no values", field="set")
    if not withdraw and not sets:
        raise BadInput("say what is corrected (--set on=DATE, --set ref=TEXT, --set KEY=VALUE) or --withdraw",
                       field="set")
    out: dict[str, str] = {}
    params = _params_of(service, rec)
    for key, value in sets.items():
        if key == "on":
            try:
                out[key] = parse_date(value, "on").isoformat()
            except ValueError as exc:
                raise BadInput(f"--set on={value!r}: {exc}", field="on") from None
        elif key in RECORD_FIELDS or key in params:
            out[key] = value
        else:
            raise BadInput(f"--set {key}: {rec['trigger']} has no such value; known: "
                           f"{', '.join(sorted({*RECORD_FIELDS, *params}))}", field=key)
    return out


def _params_of(service: Service, rec: dict[str, Any]) -> set[str]:
    if rec["trigger"] in ("create", "update_contacts"):
        return set()
    with service.store.transaction() as tx:
        proc = tx.get_process(rec["process"])
    if proc is None:
        return set()
    tspec = service.workflow(proc.workflow).process(proc.ptype).trigger_map.get(rec["trigger"])
    return set(tspec.params) if tspec is not None else set()


def _the_record(rows: list[dict[str, Any]], seq: int, root_id: str) -> dict[str, Any]:
    found = [r for r in rows if r["seq"] == seq]
    if not found:
        raise NotFound(f"agreement {root_id!r} has no record seq {seq}", process=root_id)
    rec = found[0]
    if rec["trigger"] == "create":
        raise NotAllowed(f"seq {seq} enters the agreement (bookkeeping): it is corrected by an amendment, not here",
                         process=root_id)
    if rec["trigger"] == MIGRATE:
        raise NotAllowed(f"seq {seq} migrated the agreement to another version of its definition: it is undone "
                         f"by migrating back (convenant migrate {root_id} --to VERSION), not corrected",
                         process=root_id)
    if not entered_by_a_person(rec):
        raise NotAllowed(f"seq {seq} ({rec['trigger']}) was recorded by the engine or is a correction itself: "
                         f"correct the act it follows from", process=root_id)
    if any(r["trigger"] == CORRECT and r.get("corrects") == seq and (r.get("data") or {}).get("withdraw")
           for r in rows):
        raise NotAllowed(f"seq {seq} was withdrawn already", process=root_id)
    return rec


def correct(service: Service, reads: ReadModels, fork: Callable[[], Fork], pid: str, seq: int, *,
            sets: dict[str, str], withdraw: bool, who: dict[str, str], dry_run: bool = False) -> dict[str, Any]:
    """Correct (or withdraw) record `seq` of agreement `pid`; `who`: actor, role, reason. JSON: `seq`,
    `corrects`, `changes` (each `what`, `before`, `after`), `dry_run`."""
    if who.get("role") != "secretariat":
        raise NotAllowed("only the secretariat corrects a recorded act", field="role")
    if not (who.get("reason") or "").strip():
        raise BadInput("a correction says why (--reason)", field="reason")
    with service.store.transaction() as tx:
        proc = tx.get_process(pid)
        if proc is None:
            raise NotFound(f"no process {pid!r}", process=pid)
        root_id = agreement_of(proc, tx.get_process).id
    rows = [r for r in reads.history(root_id) if root_of(r["process"]) == root_id]
    rec = _the_record(rows, seq, root_id)
    clean = _parse_sets(sets, withdraw, rec, service)
    new = {"trigger": CORRECT, "corrects": seq, "data": {"set": clean, "withdraw": withdraw}}
    acts = sorted([*corrected([*rows, new]), *reservations([*rows, new])], key=lambda r: r["seq"])
    now = service.now()
    _svc, scratch = rebuild(service, acts, fork, now)
    record_changes = [{"what": f"seq {seq}: {k}", "before": _before(rec, k), "after": v} for k, v in clean.items()]
    if withdraw:
        record_changes = [{"what": f"seq {seq}", "before": rec["trigger"], "after": "withdrawn"}]
    with service.store.transaction() as tx:
        now = service.now(tx)
        plan_ = Plan(service, tx, scratch, root_id, now)
        changes = record_changes + plan_.changes
        out: dict[str, Any] = {"seq": None, "corrects": seq, "changes": changes, "dry_run": dry_run}
        if dry_run:
            return out
        plan_.write(tx)
        target = tx.get_process(rec["process"])
        state = target.state if target is not None else None
        written = tx.append_record(Record(
            process=rec["process"], root=root_id, trigger=CORRECT, source=_state_before(plan_, rec, state),
            dest=state, actor=who["actor"], role="secretariat", party=None, effective=local_date(now, service.tz)
            .isoformat(), recorded_at=iso_moment(now, service.tz), article=rec["article"], ref=None,
            reason=who["reason"], data={"set": clean, "withdraw": withdraw, "changes": changes},
            corrects=seq))
        out["seq"] = written.seq
    return out


def _before(rec: dict[str, Any], key: str) -> Any:
    if key in RECORD_FIELDS:
        return rec.get(RECORD_FIELDS[key])
    return ((rec.get("data") or {}).get("params") or {}).get(key)


def _state_before(plan_: Plan, rec: dict[str, Any], state: str | None) -> str | None:
    for _new, was in plan_.process_writes:
        if was is not None and was.id == rec["process"]:
            return was.state
    return state


# -- the process as known at the end of a day --------------------------------------------------------------------
def as_recorded_on(service: Service, reads: ReadModels, fork: Callable[[], Fork], pid: str, day: dt.date
                   ) -> tuple[Service, str]:
    """A scratch service holding agreement `pid` as it was known at the end of `day` (entry time): only the
    records entered up to then, corrections among them applied, the clock run to the end of that day."""
    with service.store.transaction() as tx:
        proc = tx.get_process(pid)
        if proc is None:
            raise NotFound(f"no process {pid!r}", process=pid)
        root_id = agreement_of(proc, tx.get_process).id
    end = local_moment(day + dt.timedelta(days=1), service.tz) - dt.timedelta(microseconds=1)
    rows = [r for r in reads.history(root_id)
            if root_of(r["process"]) == root_id and _moment(r["recorded_at"]) <= end]
    if not rows:
        raise NotFound(f"agreement {root_id!r} was not yet entered at the end of {day.isoformat()}",
                       process=root_id)
    acts = sorted([*corrected(rows), *reservations(rows)], key=lambda r: r["seq"])
    svc, _scratch = rebuild(service, acts, fork, min(end, service.now()))
    return svc, pid
