"""The single entry for every command - CLI, HTTP API and scheduler alike.

One command is one transaction: authorise, validate and check guards before anything is written; then the new
state, the chained transition record, deadline changes and outbox rows are written together, or nothing is."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from convenant.engine import pipeline, rules
from convenant.engine.access import Attempt, agreement_of, authorise
from convenant.engine.clock import DatabaseClock, iso_moment, local_date, local_moment
from convenant.engine.config import Settings
from convenant.engine.deadlines import Step, first_step, plan_of, step_at
from convenant.engine.definitions import ParamSpec, ProcessSpec, TriggerSpec, WorkflowDefinition, version_of
from convenant.engine.errors import BadInput, ConvenantError, NotAllowed, NotFound
from convenant.engine.machine import Machines, expand_sources
from convenant.engine.model import Deadline, DeadlineStatus, Notification, Process, Record
from convenant.engine.pipeline import TriggerRequest
from convenant.engine.plugins import registry
from convenant.engine.ports import Clock, Store, SubjectRenderer, UnitOfWork

SYSTEM_ACTOR = "convenant"
SYSTEM_ROLE = "system"


@dataclass
class Fired:
    process: str
    trigger: str
    source: str
    dest: str
    seq: int
    effective: str
    created: str | None = None
    follow_ups: list[Fired] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out = {"process": self.process, "trigger": self.trigger, "source": self.source, "dest": self.dest,
               "state": self.dest, "seq": self.seq, "effective": self.effective}
        if self.created:
            out["created"] = self.created
        if self.follow_ups:
            out["follow_ups"] = [f.as_dict() for f in self.follow_ups]
        return out


def _as_json(data: dict[str, Any]) -> Any:
    """The data file as the history keeps it (dates as ISO text), so that `audit replay` can enter it again."""
    import json
    return json.loads(json.dumps(data, default=lambda v: v.isoformat() if hasattr(v, "isoformat") else str(v)))


@dataclass(frozen=True)
class EngineEntry:
    """What a record of the engine's own (a deadline missed, a rung of the ladder) says."""
    trigger: str
    effective: dt.date
    reason: str
    data: dict[str, Any]


class Service:
    def __init__(self, store: Store, settings: Settings, workflows: dict[str, WorkflowDefinition],
                 subject: SubjectRenderer, clock: Clock | None = None) -> None:
        self.store = store
        self.settings = settings
        self.workflows = workflows
        self.machines = Machines()
        self.subject = subject
        self.clock: Clock = clock or DatabaseClock(store)
        self.tz = settings.tz
        from convenant.engine.log import LogService
        self.log = LogService(store, settings, self.now, subject)   # the verifiable log (engine/log.py)

    # -- the clock ----------------------------------------------------------------------------------
    def clock_info(self, tx: UnitOfWork | None = None) -> tuple[bool, dt.datetime]:
        """(simulated, now): a simulation database keeps its virtual clock in the database."""
        if tx is None:
            with self.store.transaction() as tx2:
                return self.clock_info(tx2)
        return self.clock.simulated(tx), self.clock.now(tx)

    def now(self, tx: UnitOfWork | None = None) -> dt.datetime:
        return self.clock.now(tx)

    def today(self, tx: UnitOfWork | None = None) -> dt.date:
        return local_date(self.now(tx), self.tz)

    # -- the database ---------------------------------------------------------------------------------
    def init_database(self, *, simulation: bool, start: dt.datetime | None) -> dict[str, Any]:
        """`convenant init`: create or upgrade the schema, and set the clock the database runs on. A simulation
        needs a database of its own: one that runs on the real clock and holds agreements is refused."""
        if start is not None and not simulation:
            raise BadInput("--start goes with --simulation", field="start")
        self.store.migrate()
        with self.store.transaction() as tx:
            mode = DatabaseClock.mode(tx)
            if simulation:
                if mode == "real" and tx.has_processes():
                    raise NotAllowed("this database already runs on the real clock with agreements in it; a "
                                     "simulation needs its own database: give it another [database] url (in "
                                     "another folder's config.toml, or --config)", field="simulation")
                current = DatabaseClock.virtual_now(tx)
                if mode == "simulation" and current and start and start < current:
                    raise BadInput("--start is before the simulation's clock; the clock never goes back",
                                   field="start")
                if mode != "simulation" or start is not None:
                    DatabaseClock.run_simulated(tx, start or self.clock.now(tx))   # now: the real time
            elif mode is None:
                DatabaseClock.run_real(tx)
            tx.set_meta("schema", "0001")
            simulated, now = self.clock_info(tx)
        return {"clock": "simulation" if simulated else "real", "now": iso_moment(now, self.tz)}

    # -- definitions --------------------------------------------------------------------------------
    def workflow(self, name: str) -> WorkflowDefinition:
        """The definition by name: the version new agreements are made under, or - for a process's workflow,
        which carries the version it runs under (engine/definitions.py WorkflowRef) - that version."""
        try:
            wf = self.workflows[name]
        except KeyError:
            raise BadInput(f"unknown workflow {name!r}; known: {', '.join(sorted(self.workflows))}",
                           field="workflow") from None
        found = wf.at_version(version_of(name))
        if found is None:
            raise BadInput(f"workflow {name!r} has no version {version_of(name)}; known: "
                           f"{', '.join(str(v) for v in sorted(wf.versions))}", field="workflow")
        return found

    # -- creating an agreement ----------------------------------------------------------------------
    def create_agreement(self, workflow: str, data: dict[str, Any], *, actor: str = "secretariat",
                         pid: str | None = None) -> dict[str, Any]:
        from convenant.engine.agreements import agreement_data  # validation of the data file

        wf = self.workflow(workflow)
        new = agreement_data(wf, data, registry.library(wf).plugins)
        pid = pid or new.id
        if not pid or "/" in pid or len(pid) > 100:
            raise BadInput(f"agreement id {pid!r} must be 1-100 characters without '/'", field="id")
        with self.store.transaction() as tx:
            now = self.now(tx)
            if tx.get_process(pid) is not None:
                raise NotAllowed(f"an agreement with id {pid!r} exists already", process=pid)
            spec = wf.process(wf.root)
            proc = new.process(pid, wf, state=spec.initial, created_at=now,
                               entered_at=now.astimezone(self.tz).replace(microsecond=0))
            proc.workflow = wf.ref          # the definition version it runs under
            act = self._act(None, wf=wf, spec=spec, proc=proc, root=proc, now=now)
            act.actor, act.role = actor, "secretariat"
            registry.run_effects(act, spec.on_create)
            proc.next_auto_at = self._next_auto(wf, proc, proc, act.deadlines + act.new_deadlines)
            tx.insert_process(proc, now)
            self._write_deadlines(tx, act, now)
            rec = tx.append_record(Record(
                process=pid, root=pid, trigger="create", source=None, dest=spec.initial, actor=actor,
                role="secretariat", party=None, effective=local_date(now, self.tz).isoformat(),
                recorded_at=iso_moment(now, self.tz), article=spec.article,
                reason="agreement entered (bookkeeping, not a legal act)",
                data={"workflow": wf.name, "agreement": _as_json(data)}))   # the history alone rebuilds it
        return {"id": pid, "workflow": wf.name, "state": spec.initial, "seq": rec.seq}

    # -- firing a trigger ---------------------------------------------------------------------------
    def fire(self, pid: str | TriggerRequest, trigger: str | None = None, /, **fields: Any) -> Fired:
        """Fire a trigger: one unit of work. Takes a `TriggerRequest`, or its fields (process id, trigger, and
        the keyword fields of TriggerRequest; `data` the --set values). A refusal is logged apart and raised."""
        request = pid if isinstance(pid, TriggerRequest) else TriggerRequest(pid, trigger or "", **fields)
        now = None
        try:
            with self.store.transaction() as tx:
                now = self.now(tx)
                return self._fire(tx, request, now)
        except ConvenantError as exc:
            self.store.log_refusal(now or self.clock.now(), exc, process=request.process,
                                   trigger=request.trigger, actor=request.actor, role=request.role,
                                   party=request.party)
            raise

    def _fire(self, tx: UnitOfWork, request: TriggerRequest, now: dt.datetime, at: dt.datetime | None = None
              ) -> Fired:
        """The pipeline's checks and effects (engine/pipeline.py), then everything written in `tx`. `at`: for an
        automatic act run late (after downtime), the moment it fell due: what it opens (deadlines, children) is
        reckoned from then, so their reminders and ladders keep their own moments; it is recorded at `now`."""
        f = pipeline.run(self, tx, request, at or now)
        act, system = f.the_act, request.system
        rec = self._save(tx, f, now, SYSTEM_ROLE if system else request.role)
        if act.notices:  # `notify` effects of the definition, in this same transaction
            from convenant.engine.notify import act_notifications
            tx.enqueue(act_notifications(self, f.workflow, act.process, act.root, act.notices, rec), now)
        if not system:  # a person acted: confirm it, in this same transaction (engine/confirmations.py)
            from convenant.engine.confirmations import confirmation_notifications
            tx.enqueue(confirmation_notifications(self, act, rec, f.dest, now), now)
        fired = Fired(process=f.process.id, trigger=request.trigger, source=f.source, dest=f.dest, seq=rec.seq or 0,
                      effective=f.on.isoformat(), created=act.notes.get("created"))
        for target, follow, why in act.follow_ups:
            fired.follow_ups.append(self._fire(tx, self._system_request(target, follow, f.on, request.ref, why),
                                               now, at))
        return fired

    @staticmethod
    def _system_request(pid: str, trigger: str, on: dt.date, ref: str | None = None,
                        reason: str | None = None) -> TriggerRequest:
        return TriggerRequest(pid, trigger, actor=SYSTEM_ACTOR, role=SYSTEM_ROLE, on=on, ref=ref, reason=reason,
                              system=True)

    def _act(self, base: rules.Act | None, *, wf: WorkflowDefinition, spec: ProcessSpec, proc: Process,
             root: Process, now: dt.datetime) -> rules.Act:
        """An act of the engine on `proc` (opening effects, probes), as `base`'s actor where one is given."""
        return rules.Act(wf=wf, spec=spec, trigger=None, process=proc, root=root,
                         actor=base.actor if base else SYSTEM_ACTOR, role=base.role if base else SYSTEM_ROLE,
                         party=base.party if base else None, on=base.on if base else local_date(now, self.tz),
                         ref=base.ref if base else None, reason=base.reason if base else None,
                         params=base.params if base else {}, settings=self.settings, now=now, deadlines=[])

    def options(self, pspec: ParamSpec, root: Process) -> list[str] | None:
        """The words an option parameter accepts here (for forms)."""
        return pipeline.options(pspec, root)

    # -- deadlines of one act -----------------------------------------------------------------------
    def plan_of(self, d: Deadline, root: Process) -> list[Step]:
        """The reminder and escalation plan of `d` under the scheme of its agreement `root` (its amended scheme,
        else its definition version's, else config.toml's: engine/deadlines.py scheme())."""
        return plan_of(d, self.settings, self.workflow(root.workflow), root.facts)

    def _schedule(self, d: Deadline, now: dt.datetime, *, fresh: bool, root: Process) -> None:
        steps = self.plan_of(d, root)
        if fresh:
            d.step = first_step(steps, d.created_at)
        elif d.step < 0:  # re-planned (a moved due date): reminders before now are not sent
            d.step = first_step(steps, now)
        nxt = step_at(steps, d.step)
        d.next_at = nxt.moment if nxt and d.status in ("open", "missed") and d.met_on is None else None

    def _write_deadlines(self, tx: UnitOfWork, act: rules.Act, now: dt.datetime) -> None:
        for d in act.new_deadlines:
            self._schedule(d, now, fresh=True, root=act.root)
            tx.insert_deadline(d)
        seen: set[int | None] = set()
        for d in act.changed_deadlines:
            if d.id in seen:
                continue
            seen.add(d.id)
            if d.step < 0:
                self._schedule(d, now, fresh=False, root=act.root)
            tx.update_deadline(d)

    def _next_auto(self, wf: WorkflowDefinition, proc: Process, root: Process, deadlines: list[Deadline]
                   ) -> dt.datetime | None:
        """The earliest moment an automatic trigger of the current state can fire (00:00 local of its date)."""
        spec = wf.process(proc.ptype)
        if spec.states[proc.state].final:
            return None
        best: dt.datetime | None = None
        for _, day in self._auto_candidates(wf, proc, root, deadlines):
            moment = local_moment(day, self.tz)
            best = moment if best is None or moment < best else best
        return best

    def _auto_candidates(self, wf: WorkflowDefinition, proc: Process, root: Process, deadlines: list[Deadline]
                         ) -> list[tuple[TriggerSpec, dt.date]]:
        spec = wf.process(proc.ptype)
        # A time anchored on a deadline holds only while that deadline is awaited: once the extension decision
        # is taken, 'open_extension_decision' must not fire again from the state the decision led back to.
        awaited = [d for d in deadlines if d.status in ("open", "missed") and d.met_on is None]
        probe = self._act(None, wf=wf, spec=spec, proc=proc, root=root, now=proc.created_at)
        probe.on, probe.deadlines = dt.date.min, awaited
        out = []
        for tspec in spec.triggers:
            if tspec.automatic is None or proc.state not in expand_sources(wf, tspec.source):
                continue
            days = [day for expr in tspec.automatic.at if (day := probe.date(expr)) is not None]
            if days and len(days) == len(tspec.automatic.at):
                out.append((tspec, max(days)))
        return out

    def _save(self, tx: UnitOfWork, f: pipeline.Firing, now: dt.datetime, role: str) -> Record:
        """Write what the fired act collected: children, deadlines, the state and the record."""
        wf, act, source, dest = f.workflow, f.the_act, f.source, f.dest
        proc, root = act.process, act.root
        # children first: they are new rows, with their own opening effects and deadlines
        for child in act.children:
            child.workflow = wf.ref     # a child runs under its agreement's definition version
            cspec = wf.process(child.ptype)
            cact = self._act(act, wf=wf, spec=cspec, proc=child, root=root, now=act.now)   # `at` of a late act
            registry.run_effects(cact, cspec.on_create)
            registry.run_effects(cact, cspec.states[child.state].on_enter)
            child.next_auto_at = self._next_auto(wf, child, root, cact.new_deadlines)
            tx.insert_process(child, now)
            self._write_deadlines(tx, cact, now)
        self._write_deadlines(tx, act, now)
        all_deadlines = [d for d in act.deadlines + act.new_deadlines]
        proc.next_auto_at = self._next_auto(wf, proc, root, all_deadlines)
        if root is not proc and act.root_changed:
            root.next_auto_at = self._next_auto(wf, root, root, tx.deadlines_of(root.id))
            tx.update_process(root, now)
        tx.update_process(proc, now)
        data: dict[str, Any] = {}
        if act.params:
            data["params"] = act.params
        data.update({k: v for k, v in act.notes.items() if k != "decides"})
        assert act.trigger is not None, "a fired act has its trigger"
        rec = tx.append_record(Record(
            process=proc.id, root=root.id, trigger=act.trigger.name, source=source, dest=dest, actor=act.actor,
            role=role, party=act.party, effective=act.on.isoformat(), recorded_at=iso_moment(now, self.tz),
            article=act.trigger.article, ref=act.ref, reason=act.reason, data=data))
        for child in act.children:
            tx.append_record(Record(
                process=child.id, root=root.id, trigger=act.trigger.name, source=None, dest=child.state,
                actor=act.actor, role=role, party=act.party, effective=act.on.isoformat(),
                recorded_at=iso_moment(now, self.tz), article=act.trigger.article, ref=act.ref,
                reason=act.reason, data={"opened_by": proc.id}))
        return rec

    # -- running what is due ------------------------------------------------------------------------
    def run_due(self, now: dt.datetime | None = None, *, dispatch: Callable[[dt.datetime], int] | None = None,
                limit: int | None = None) -> int:
        """Run every automatic transition and deadline step due at `now`, then hand the outbox to `dispatch`.

        Work is claimed in batches of `[scheduler] batch_size` (PostgreSQL: FOR UPDATE SKIP LOCKED, so several
        workers share it and none takes a row twice) and a batch is one transaction, in time order with a process
        before a deadline at the same moment: one commit per batch instead of one per item is what makes a sweep
        over 100,000 agreements fast. A worker that dies mid-batch commits nothing and its rows are unlocked for
        the others. `advance_clock` keeps the strict one-at-a-time order a simulation needs."""
        size = self.settings.scheduler.batch_size
        done = 0
        while limit is None or done < limit:
            ran = self._run_batch(now, size if limit is None else min(size, limit - done))
            if ran == 0:
                break
            done += ran
        self.log.step(now)   # the log's sequencer: the records committed so far, a signed checkpoint
        if dispatch is not None:
            dispatch(now or self.now())
        return done

    def _run_batch(self, now: dt.datetime | None, size: int) -> int:
        """Claim up to `size` due items and run them in one transaction, in time order; the batch ends early
        where an item it ran made something due that comes before the next claimed one (a deadline's next step
        already past after downtime), so the next claim keeps the order. If the batch fails (a concurrent
        command's conflict, a bad item), it is redone one item per transaction, so that what can be done is
        committed and the failing item's error is raised as before."""
        try:
            with self.store.transaction() as tx:
                current = now or self.now(tx)
                items = tx.claim_due(current, size)
                tx.prefetch(items)
                for done, (moment, kind, ident) in enumerate(items):
                    if tx.earliest_write is not None and tx.earliest_write <= moment:
                        return done  # an item run here made something due before this one: claim again
                    # each item at its own moment (after downtime: long past), recorded now (issue 19)
                    if kind == "process":
                        self._run_process(tx, ident, current, min(moment, current))
                    else:
                        self._run_deadline(tx, ident, current, min(moment, current))
                return len(items)
        except Exception:
            if size == 1:
                raise
        done = 0
        while done < size and self._run_batch(now, 1):
            done += 1
        return done

    def advance_clock(self, to: dt.datetime, *, dispatch: Callable[[dt.datetime], int] | None = None) -> dict:
        """Move a simulation database's clock to `to`, running in time order everything that falls due on the
        way, each at its own moment."""
        with self.store.transaction() as tx:
            simulated, start = self.clock_info(tx)
        if not simulated:
            raise NotAllowed("this database runs on the real clock; only a simulation database's clock can be "
                             "moved (convenant init --simulation)")
        if to < start:
            raise BadInput(f"--to {iso_moment(to, self.tz)} is before the clock ({iso_moment(start, self.tz)}); "
                           f"the clock never goes back", field="to")
        steps = 0
        while True:
            with self.store.transaction() as tx:
                current = DatabaseClock.virtual_now(tx) or start
                item = tx.next_due(to)
                pending_mail = tx.next_mail_at(to) if dispatch else None
                candidates = [m for m in (item[0] if item else None, pending_mail) if m is not None]
                if not candidates:
                    DatabaseClock.move(tx, to)
                    break
                moment = max(min(candidates), current)
                DatabaseClock.move(tx, moment)
                if item and item[0] <= moment:
                    _, kind, ident = item
                    if kind == "process":
                        self._run_process(tx, ident, moment)
                    else:
                        self._run_deadline(tx, ident, moment)
                    steps += 1
                    continue
            if dispatch is not None:
                self.log.step(moment)   # mail goes out with a checkpoint that covers what it tells
                dispatch(moment)
        self.log.step(to)
        if dispatch is not None:
            dispatch(to)
        return {"from": iso_moment(start, self.tz), "to": iso_moment(to, self.tz), "steps": steps}

    def _run_process(self, tx: UnitOfWork, pid: str, now: dt.datetime, at: dt.datetime | None = None) -> None:
        """Fire the automatic trigger of `pid` that is due; `at` the moment it fell due (default `now`)."""
        proc = tx.get_process(pid, lock=True)
        if proc is None:
            return
        root = agreement_of(proc, tx.get_process)
        wf = self.workflow(proc.workflow)
        today = local_date(now, self.tz)
        due = [(day, t) for t, day in self._auto_candidates(wf, proc, root, tx.deadlines_of(pid))
               if local_moment(day, self.tz) <= now]
        if not due:
            proc.next_auto_at = self._next_auto(wf, proc, root, tx.deadlines_of(pid))
            tx.update_process(proc, now)
            return
        day, tspec = min(due, key=lambda x: (x[0], x[1].name))
        self._fire(tx, self._system_request(pid, tspec.name, min(day, today)), now,
                   max(at, local_moment(day, self.tz)) if at is not None and at < now else None)

    def _run_deadline(self, tx: UnitOfWork, did: int, now: dt.datetime, at: dt.datetime | None = None) -> None:
        """Run the next step of deadline `did`: a reminder (dropped only when the deadline itself has passed by
        `now`), the miss, or a rung of the ladder (never dropped); `at` the moment the step fell due."""
        from convenant.engine.notify import deadline_notifications

        d = tx.get_deadline(did, lock=True)
        if d is None or d.next_at is None or d.next_at > now:
            return
        proc = tx.get_process(d.process_id)
        if proc is None:
            raise NotFound(f"deadline {did} belongs to no process {d.process_id!r}", process=d.process_id)
        root = agreement_of(proc, tx.get_process)
        wf = self.workflow(proc.workflow)
        steps = self.plan_of(d, root)
        step = step_at(steps, d.step)
        today = local_date(now, self.tz)
        notes: list[Notification] = []
        if step is not None:
            if step.kind == "reminder":
                if d.status == "open" and today <= d.due:
                    notes = deadline_notifications(self, wf, (proc, root), d, step, now)
            elif step.kind == "missed":
                if d.status == "open":
                    d.status = DeadlineStatus.MISSED
                    d.missed_at = at or now
                    tx.append_record(self._system_record((proc, root), d, now, EngineEntry(
                        "deadline_missed", (d.due + dt.timedelta(days=1)),
                        f"{d.kind} deadline{f' ({d.subject})' if d.subject else ''} of {d.due.isoformat()} "
                        f"passed unmet",
                        {"deadline": d.kind, "due": d.due.isoformat(),
                         **({"subject": d.subject} if d.subject else {})})))
            elif step.kind == "escalation" and d.status == "missed" and d.met_on is None:
                notes = deadline_notifications(self, wf, (proc, root), d, step, now)
                rec = tx.append_record(self._system_record((proc, root), d, now, EngineEntry(
                    "escalate", today,
                    f"{d.kind} deadline{f' ({d.subject})' if d.subject else ''} of {d.due.isoformat()} missed: "
                    f"escalation level {step.level}",
                    {"deadline": d.kind, "due": d.due.isoformat(), "level": step.level,
                     **({"subject": d.subject} if d.subject else {}), "to": sorted({n.to_addr for n in notes}),
                     **({} if notes else {"no_recipients": self._why_no_recipients(step.level or 0)})})))
                for n in notes:
                    n.payload["record_seq"] = rec.seq
                # a plug-in may keep the rung in the agreement (themes: show's escalation_level)
                fresh = tx.get_process(root.id, lock=True) if registry.follows_escalation(root, d) else None
                if fresh is not None and registry.escalated(fresh, d, step.level or 0):
                    tx.update_process(fresh, now)
        d.step += 1
        nxt = step_at(steps, d.step)
        active = d.status == "open" or (d.status == "missed" and d.met_on is None)
        d.next_at = nxt.moment if nxt is not None and active else None
        tx.update_deadline(d)
        tx.enqueue(notes, now)

    def _why_no_recipients(self, level: int) -> str:
        """Said in the history when a rung of the ladder reaches nobody: which body, and what is missing."""
        levels = self.settings.escalation.levels
        body = levels[min(level, len(levels) - 1)]
        return (f"escalation level {level} goes to {body}, but no e-mail address is known for it (neither in the "
                f"agreement's data nor in config.toml [contacts.{body}]); nobody was notified")

    def _system_record(self, where: tuple[Process, Process], d: Deadline, now: dt.datetime,
                       entry: EngineEntry) -> Record:
        """The engine's record about deadline `d` of `where` (the process and its agreement)."""
        proc, root = where
        trigger, effective, reason, data = entry.trigger, entry.effective, entry.reason, entry.data
        return Record(process=proc.id, root=root.id, trigger=trigger, source=proc.state, dest=proc.state,
                      actor=SYSTEM_ACTOR, role=SYSTEM_ROLE, party=None, effective=effective.isoformat(),
                      recorded_at=iso_moment(now, self.tz), article=d.article, ref=None, reason=reason, data=data)

    # -- acts outside a definition's triggers -------------------------------------------------------------
    def migrate(self, pid: str, to: str | int, *, actor: str = "secretariat", role: str = "secretariat",
                reason: str | None = None, dry_run: bool = False) -> dict[str, Any]:
        """Move agreement `pid` and its children to version `to` of their workflow definition: one unit of work,
        one `migrate` record naming both versions and the diff (engine/migrate.py). `dry_run`: the same answer,
        nothing written. Bad `to` is BadInput (field `to`); a mapping that leaves a state or an open deadline
        without a place is NotAllowed naming it."""
        from convenant.engine.migrate import migrate
        return migrate(self, pid, to, actor=actor, role=role, reason=reason, dry_run=dry_run)

    def update_contacts(self, pid: str, party: str, contacts: list[dict[str, Any]], *, actor: str, role: str,
                        language: str | None = None, reason: str | None = None) -> dict[str, Any]:
        """The secretariat replaces a party's contacts (who receives its mail, in which language): one unit of
        work writes the agreement's new reference data and an `update_contacts` record in the history that
        says what the contacts were and became. A refusal changes nothing and is logged apart."""
        now = None
        try:
            with self.store.transaction() as tx:
                now = self.now(tx)
                return self._update_contacts(tx, now, pid, party, contacts, actor=actor, role=role,
                                             language=language, reason=reason)
        except ConvenantError as exc:
            self.store.log_refusal(now or self.clock.now(), exc, process=pid, trigger="update_contacts",
                                   actor=actor, role=role, party=party)
            raise

    def _update_contacts(self, tx: UnitOfWork, now: dt.datetime, pid: str, party: str,
                         contacts: list[dict[str, Any]], *, actor: str, role: str, language: str | None,
                         reason: str | None) -> dict[str, Any]:
        import dataclasses

        from pydantic import ValidationError

        from convenant.engine.contacts import Contact as CheckedContact
        from convenant.engine.errors import NotFound, invalid
        from convenant.engine.model import Contact, Language, Reference

        found = tx.get_process(pid)
        if found is None:
            raise NotFound(f"no process {pid!r}", process=pid)
        root = tx.get_process(agreement_of(found, tx.get_process).id, lock=True)
        assert root is not None
        if role != "secretariat":
            raise NotAllowed(f"the role {role} may not change a party's contacts; secretariat may", forbidden=True,
                             process=root.id, trigger="update_contacts")
        if party not in root.parties:
            raise BadInput(f"unknown party {party!r}; parties are {', '.join(root.parties)}", field="party")
        if language is not None and language not in ("nl", "en"):
            raise BadInput(f"language {language!r} is not one of nl, en", field="language")
        checked = []
        for i, raw in enumerate(contacts):
            try:
                checked.append(CheckedContact(**raw))
            except ValidationError as exc:
                raise invalid(exc, "contacts", prefix=f"contacts.{i}") from None
        reference = root.reference or Reference()
        before = [c.to_dict() for c in reference.contacts.get(party, [])]
        after = [Contact(name=c.name, email=c.email, language=Language(c.language)) for c in checked]
        lang_before = str(root.parties[party].language)
        if before == [c.to_dict() for c in after] and (language is None or language == lang_before):
            raise BadInput("the contacts are unchanged", field="contacts")
        root.reference = dataclasses.replace(reference, contacts={**reference.contacts, party: after}, id="")
        if language is not None:
            root.parties[party].language = Language(language)
        tx.update_process(root, now)
        wf = self.workflow(root.workflow)
        data: dict[str, Any] = {"contacts": {"before": before, "after": [c.to_dict() for c in after]}}
        if language is not None and language != lang_before:
            data["language"] = {"before": lang_before, "after": language}
        rec = tx.append_record(Record(
            process=root.id, root=root.id, trigger="update_contacts", source=root.state, dest=root.state,
            actor=actor, role=role, party=party, effective=local_date(now, self.tz).isoformat(),
            recorded_at=iso_moment(now, self.tz), article=wf.parties_article or wf.article, reason=reason,
            data=data))
        return {"process": root.id, "party": party, "seq": rec.seq, "contacts": data["contacts"]["after"]}

    def resend_mail(self, row_id: int, *, actor: str, role: str) -> dict[str, Any]:
        """The secretariat sends a failed message again: it is queued anew (its attempts start over) and the
        dispatcher takes it at its next run. Only a failed message can be sent again."""
        now = self.clock.now()
        try:
            if role != "secretariat":
                raise NotAllowed(f"the role {role} may not send a message again; secretariat may", forbidden=True)
            with self.store.transaction() as tx:
                now = self.now(tx)
                status = tx.requeue(row_id, now)
            if status is None:
                from convenant.engine.errors import NotFound
                raise NotFound(f"no message {row_id} in the outbox")
            if status != "failed":
                raise NotAllowed(f"message {row_id} is {status}; only a failed message can be sent again")
        except ConvenantError as exc:
            self.store.log_refusal(now, exc, process=None, trigger="resend", actor=actor, role=role, party=None)
            raise
        return {"id": row_id, "status": "pending"}

    # -- views --------------------------------------------------------------------------------------
    def allowed_triggers(self, wf: WorkflowDefinition, proc: Process, root: Process, role: str | None,
                         party: str | None, today: dt.date) -> list[str]:
        """What may be fired now by this role and party (or by anyone), judged as a command would be."""
        spec = wf.process(proc.ptype)
        out = []
        for tspec in spec.triggers:
            if not tspec.manual or proc.state not in expand_sources(wf, tspec.source):
                continue
            if role is None:
                out.append(tspec.name)
                continue
            try:
                authorise(Attempt(wf=wf, trigger=tspec, process=proc, root=root, role=role, party=party))
                if party is not None and not rules.is_current(root, party, today):
                    continue
                if tspec.decision and party is not None:
                    decision = proc.decisions.get(tspec.decision)
                    if decision is not None and party in decision.answers:
                        continue
                if tspec.name == "sign" and party is not None and root.parties[party].signed_on:
                    continue
            except NotAllowed:
                continue
            out.append(tspec.name)
        return out

    def next_reminder(self, d: Deadline) -> dt.datetime | None:
        """The moment of the next reminder: the next step, while it is one. Reminders fall on or before the due
        date and the miss at 00:00 the day after (engine/deadlines.py plan()), so this needs no scheme."""
        if d.next_at is None or d.status != "open":
            return None
        return d.next_at if d.moment or d.next_at < local_moment(d.due + dt.timedelta(days=1), self.tz) else None
