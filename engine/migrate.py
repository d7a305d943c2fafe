"""`convenant migrate`: move a running agreement and its children to another version of their workflow
definition, as one recorded migration.

The versions of a definition are data (engine/loading.py: the definition file, and versions/NAME.vN.toml beside
it); the version a process moves to carries a `[[migrations]]` table naming the version it comes from, where each
process type's states and deadline kinds go (a name not listed stays itself), which open deadlines are cancelled
and which deadlines the target opens on the way. The plan is computed first, for every process of the agreement:

- each state gets its place in the target (the mapping, else the same name); a process whose state has none
  refuses the whole migration (exit 3, naming process and state);
- each awaited deadline (open, or missed with its ladder running) keeps its kind, or the mapped one, or is
  cancelled where the table says so; one left without a place refuses the migration. Where the target computes
  its date by another rule, it moves (its reminders are planned again from now on); a deadline already met,
  missed or cancelled is history and stays as it was;
- an awaited deadline whose reminder scheme differs under the target (the version's own `[reminders]`; an
  amended scheme of the agreement stays) keeps its date and has its reminders planned again ("reminders");
- the deadlines the table adds are opened where the process is in one of `add_in` and the date can be computed
  (one whose date has passed is missed at once: its ladder starts at the migration, as for any deadline entered
  late).

Then, in one unit of work, every process row names its new version (the row's `definition_version`), its new
state and its next automatic moment; deadlines are moved, cancelled and added; and one history record (trigger
`migrate`, chained like every record) names the versions and the diff. `--dry-run` computes the same and writes
nothing. A correction or replay after a migration enters it again at its moment (engine/corrections.py)."""
from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from convenant.engine.access import agreement_of
from convenant.engine.clock import iso_moment, local_date
from convenant.engine.deadlines import Step, carry_step, scheme, step_at
from convenant.engine.definitions import ROLES, MigrationSpec, WorkflowDefinition
from convenant.engine.errors import BadInput, ConvenantError, NotAllowed, NotFound
from convenant.engine.machine import expand_sources
from convenant.engine.model import Deadline, DeadlineStatus, Process, Record

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from convenant.engine.config import Settings
    from convenant.engine.ports import Clock, Store, UnitOfWork

MIGRATE = "migrate"


class Service(Protocol):
    """What a migration needs of the service (engine/service.py): a protocol, so that this module does not
    import the service that calls it."""
    store: Store
    settings: Settings
    tz: ZoneInfo
    clock: Clock

    def now(self, tx: UnitOfWork | None = None) -> dt.datetime: ...
    def workflow(self, name: str) -> WorkflowDefinition: ...
    def _next_auto(self, wf: WorkflowDefinition, proc: Process, root: Process, deadlines: list[Deadline]
                   ) -> dt.datetime | None: ...
    def _schedule(self, d: Deadline, now: dt.datetime, *, fresh: bool, root: Process) -> None: ...
    def plan_of(self, d: Deadline, root: Process) -> list[Step]: ...
    def migrate(self, pid: str, to: str | int, *, actor: str = ..., role: str = ..., reason: str | None = ...,
                dry_run: bool = ...) -> dict[str, Any]: ...


def future_reminders(service: Service, d: Deadline | None, now: dt.datetime, root: Process) -> set[str]:
    """The reminder moments of `d` still to come (none once it is no longer awaited), under the reminder scheme
    of agreement `root` (its version's, its amended one)."""
    if d is None or not d.awaited or d.next_at is None:
        return set()
    steps = service.plan_of(d, root)
    return {iso_moment(s.moment, service.tz) for s in steps[max(d.step, 0):]
            if s.kind == "reminder" and s.moment > now}


@dataclass
class MigrationPlan:
    """What a migration changes; `problems` non-empty means it cannot be done."""
    source: WorkflowDefinition
    target: WorkflowDefinition
    spec: MigrationSpec
    processes: list[tuple[Process, Process]] = field(default_factory=list)        # (before, after)
    moved: list[tuple[Deadline, Deadline]] = field(default_factory=list)          # (before, after)
    cancelled: list[tuple[Deadline, Deadline]] = field(default_factory=list)
    replanned: list[tuple[Deadline, Deadline]] = field(default_factory=list)      # same date, other reminders
    added: list[Deadline] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    rows: dict[str, list[Deadline]] = field(default_factory=dict)    # each process's deadlines as read

    def diff(self, service: Service, now: dt.datetime) -> dict[str, Any]:
        """The diff as the record and the JSON output give it."""
        def row(d: Deadline) -> dict[str, Any]:
            out = {"kind": d.kind, "due": d.due.isoformat(), "status": str(d.status)}
            return {**out, "subject": d.subject} if d.subject else out

        states = [{"process": a.id, "before": a.state, "after": b.state, "mapped": a.state != b.state}
                  for a, b in self.processes]
        deadlines: list[dict[str, Any]] = []
        root_before, root_after = self.processes[0]
        for change, pairs in (("moved", self.moved), ("cancelled", self.cancelled), ("reminders", self.replanned)):
            for a, b in pairs:
                what = "renamed" if change == "moved" and a.due == b.due else change   # only its kind renamed
                entry: dict[str, Any] = {"process": a.process_id, "change": what, "before": row(a),
                                         "after": row(b), "rule": b.rule}
                if change == "reminders":
                    entry["reminders"] = {"before": scheme(a.kind, service.settings, self.source,
                                                           root_before.facts).as_dict(),
                                          "after": scheme(b.kind, service.settings, self.target,
                                                          root_after.facts).as_dict()}
                was = future_reminders(service, a, now, root_before)
                will = future_reminders(service, b, now, root_after)
                if was - will:
                    entry["reminders_withdrawn"] = sorted(was - will)
                if will - was:
                    entry["reminders_due"] = sorted(will - was)
                deadlines.append(entry)
        for d in self.added:
            deadlines.append({"process": d.process_id, "change": "added", "before": None, "after": row(d),
                              "rule": d.rule, "reminders_due": sorted(future_reminders(service, d, now, root_after))})
        deadlines.sort(key=lambda e: (e["process"], (e["after"] or e["before"])["kind"], e["change"]))
        return {"from": self.source.version, "to": self.target.version, "article": self.spec.article,
                "states": states, "deadlines": deadlines}


def parse_version(text: str | int, field: str = "to") -> int:
    """--to VERSION: a whole number of 1 or more (exit 2 naming the field)."""
    try:
        version = int(str(text).strip())
    except ValueError:
        raise BadInput(f"--{field} {text!r} is not a version number (a whole number, like 2)", field=field) from None
    if version < 1:
        raise BadInput(f"--{field} {version}: versions are numbered from 1", field=field)
    return version


def plan_migration(service: Service, tx: UnitOfWork, root: Process, target: WorkflowDefinition,
                   now: dt.datetime) -> MigrationPlan:
    source = service.workflow(root.workflow)
    spec = target.migration_from(source.version)
    assert spec is not None, "the caller checked that the target has a table from this version"
    out = MigrationPlan(source=source, target=target, spec=spec)
    procs = [root, *tx.children(root.id)]
    after_root = root.copy()
    for proc in procs:
        mapping = spec.mapping(proc.ptype)
        new_spec = target.process(proc.ptype)
        after = after_root if proc.id == root.id else proc.copy()
        after.workflow = target.ref
        after.state = mapping.states.get(proc.state, proc.state)
        if after.state not in new_spec.states:
            out.problems.append(f"{proc.id}: state {proc.state!r} has no place in version {target.version} "
                                f"(its states: {', '.join(new_spec.states)})")
        out.processes.append((proc, after))
        _plan_deadlines(service, tx, out, (after, after_root), now)
    # the agreement's notes of its children (their final states) follow the children's states
    finals = {b.id: b.state for a, b in out.processes if a.id != root.id}
    for ref in after_root.children:
        if ref.final and ref.id in finals:
            ref.state = finals[ref.id]
    if out.problems:
        return out
    for _before, after in out.processes:
        awaited = [d for d in _deadlines_after(out, tx, after.id) if d.awaited]
        after.next_auto_at = service._next_auto(target, after, after_root, awaited)
    for a, d in out.moved + out.replanned:   # reminders planned again (shown in the diff, then written)
        if d.step < 0:
            service._schedule(d, now, fresh=False, root=after_root)
        else:                                # same date, another kind or scheme: the same place in the plan
            after_steps = service.plan_of(d, after_root)
            d.step = carry_step(service.plan_of(a, root), after_steps, a.step, now)
            nxt = step_at(after_steps, d.step)
            d.next_at = nxt.moment if nxt is not None and d.awaited else None
    for d in out.added:
        service._schedule(d, now, fresh=True, root=after_root)
    return out


def _deadlines_after(out: MigrationPlan, tx: UnitOfWork, pid: str) -> list[Deadline]:
    changed = {id(a): b for a, b in out.moved + out.cancelled}
    rows = [changed.get(id(d), d) for d in out_deadlines(out, tx, pid)]
    return rows + [d for d in out.added if d.process_id == pid]


def out_deadlines(out: MigrationPlan, tx: UnitOfWork, pid: str) -> list[Deadline]:
    if pid not in out.rows:
        out.rows[pid] = tx.deadlines_of(pid)
    return out.rows[pid]


def _plan_deadlines(service: Service, tx: UnitOfWork, out: MigrationPlan, procs: tuple[Process, Process],
                    now: dt.datetime) -> None:
    from convenant.engine.rules import Act

    after, root = procs
    mapping = out.spec.mapping(after.ptype)
    old_spec, new_spec = out.source.process(after.ptype), out.target.process(after.ptype)
    current = out_deadlines(out, tx, after.id)
    act = Act(wf=out.target, spec=new_spec, trigger=None, process=after, root=root, actor="convenant",
              role="system", party=None, on=local_date(now, service.tz), ref=None, reason=None, params={},
              settings=service.settings, now=now, deadlines=[d for d in current if d.status != "cancelled"])
    for d in current:
        if not d.awaited:
            continue
        if d.kind in mapping.cancel:
            gone = copy.deepcopy(d)
            gone.status, gone.next_at = DeadlineStatus.CANCELLED, None
            out.cancelled.append((d, gone))
            continue
        kind = mapping.deadlines.get(d.kind, d.kind)
        if kind not in new_spec.deadline_map:
            out.problems.append(f"{after.id}: open deadline {d.kind!r} (due {d.due.isoformat()}) has no place in "
                                f"version {out.target.version}")
            continue
        rule_then = old_spec.deadline_map[d.kind].due if d.kind in old_spec.deadline_map else None
        rule_now = new_spec.deadline_map[kind].due
        due = None if rule_now.on or d.subject is not None or rule_now == rule_then else act.date(rule_now)
        if kind != d.kind or (due is not None and due != d.due):
            moved = copy.deepcopy(d)
            moved.kind, moved.article = kind, new_spec.deadline_map[kind].article
            if due is not None and due != d.due:
                moved.due, moved.rule, moved.step = due, rule_now.describe(), -1
                if moved.status == DeadlineStatus.MISSED and due >= act.on:
                    moved.status, moved.missed_at = DeadlineStatus.OPEN, None   # awaited again, within its date
            out.moved.append((d, moved))
        elif (scheme(d.kind, service.settings, out.source, out.processes[0][0].facts).offsets
              != scheme(kind, service.settings, out.target, root.facts).offsets):
            out.replanned.append((d, copy.deepcopy(d)))        # its version's reminder scheme differs
    if not mapping.add:
        return
    where = expand_sources(out.target, mapping.add_in) if mapping.add_in else [
        s for s, st in new_spec.states.items() if not st.final]
    if after.state not in where or after.final:
        return
    for kind in mapping.add:
        if any(d.kind == kind and d.awaited for d in current):
            continue
        dspec = new_spec.deadline_map[kind]
        due = act.date(dspec.due)
        if due is not None:
            out.added.append(act.open_deadline(kind, due, dspec.due.describe()))


def migrate(service: Service, pid: str, to: str | int, *, actor: str = "secretariat",
            role: str = "secretariat", reason: str | None = None, dry_run: bool = False) -> dict[str, Any]:
    """Move agreement `pid` (and its children) to version `to` of its definition. JSON: `process`, `from`, `to`,
    `article`, `states` (each `process`, `before`, `after`, `mapped`), `deadlines` (each `process`, `change` one
    of added, moved, renamed, cancelled, with `before`/`after` each `kind`, `due`, `status`), `seq` (null in a dry run),
    `dry_run`. A refusal changes nothing and is logged apart."""
    now = None
    try:
        with service.store.transaction() as tx:
            now = service.now(tx)
            return _migrate(service, tx, now, pid, to, who=(actor, role, reason), dry_run=dry_run)
    except ConvenantError as exc:
        service.store.log_refusal(now or service.clock.now(), exc, process=pid, trigger=MIGRATE, actor=actor,
                                  role=role, party=None)
        raise


def _migrate(service: Service, tx: UnitOfWork, now: dt.datetime, pid: str, to: str | int, *,
             who: tuple[str, str, str | None], dry_run: bool) -> dict[str, Any]:
    actor, role, reason = who
    version = parse_version(to)                                               # 2: the arguments
    if role not in ROLES:
        raise BadInput(f"unknown role {role!r}; one of {', '.join(ROLES)}", field="role")
    if not actor or not actor.strip():
        raise BadInput("--actor names who migrates", field="actor")
    found = tx.get_process(pid)                                               # 4: the process
    if found is None:
        raise NotFound(f"no process {pid!r}", process=pid)
    root = tx.get_process(agreement_of(found, tx.get_process).id, lock=True)
    assert root is not None
    current = service.workflow(root.workflow)
    target = current.at_version(version)                                      # 2: the vocabulary
    if target is None:
        raise BadInput(f"--to {version}: workflow {current.name!r} has no version {version}; its versions are "
                       f"{', '.join(str(v) for v in sorted(current.versions))}", field="to")
    if role != "secretariat":                                                 # 3: who may
        raise NotAllowed(f"the role {role} may not migrate an agreement; secretariat may", forbidden=True,
                         process=root.id, trigger=MIGRATE)
    if found.id != root.id:                                                   # 3: state
        raise NotAllowed(f"{found.id} is a child of {root.id}: migrate the agreement, its children move with it",
                         process=found.id, trigger=MIGRATE)
    if version == current.version:
        raise NotAllowed(f"{root.id} runs under version {version} of {current.name} already", process=root.id,
                         trigger=MIGRATE)
    if root.final:
        raise NotAllowed(f"{root.id} has ended ({root.state}); an ended agreement stays under the version it ran "
                         f"under", process=root.id, state=root.state, trigger=MIGRATE)
    spec = target.migration_from(current.version)
    if spec is None:
        raise NotAllowed(f"version {version} of {current.name} says nothing about moving from version "
                         f"{current.version} (no [[migrations]] from = {current.version} in "
                         f"{target.source_file or 'its file'})", process=root.id, trigger=MIGRATE)
    plan = plan_migration(service, tx, root, target, now)
    if plan.problems:
        raise NotAllowed(f"cannot migrate {root.id} from version {current.version} to {version}: "
                         + "; ".join(plan.problems), article=spec.article, process=root.id, state=root.state,
                         trigger=MIGRATE)
    diff = plan.diff(service, now)
    out: dict[str, Any] = {"process": root.id, "workflow": current.name, **diff, "seq": None, "dry_run": dry_run}
    if dry_run:
        return out
    _write(service, tx, plan, now)
    after_root = plan.processes[0][1]
    rec = tx.append_record(Record(
        process=root.id, root=root.id, trigger=MIGRATE, source=root.state, dest=after_root.state, actor=actor,
        role=role, party=None, effective=local_date(now, service.tz).isoformat(),
        recorded_at=iso_moment(now, service.tz), article=spec.article, ref=None,
        reason=reason or f"migrated from version {current.version} to version {version} of {current.name}",
        data={"from": current.version, "to": version, "diff": {k: diff[k] for k in ("states", "deadlines")}}))
    out["seq"] = rec.seq
    return out


def _write(service: Service, tx: UnitOfWork, plan: MigrationPlan, now: dt.datetime) -> None:
    for _before, after in plan.processes:
        tx.update_process(after, now)
    for _a, d in plan.moved + plan.cancelled + plan.replanned:
        tx.update_deadline(d)
    for d in plan.added:
        tx.insert_deadline(d)


def versions_of(wf: WorkflowDefinition) -> list[dict[str, Any]]:
    """Every version of a definition, for `workflows show`: its number, whether new agreements get it, and the
    versions a running agreement may come from."""
    main = wf.main
    base = Path(main.source_file).parent if main.source_file else None

    def file(v: WorkflowDefinition) -> str | None:
        if v.source_file is None or base is None:
            return v.source_file
        return Path(v.source_file).relative_to(base).as_posix()

    return [{"version": n, "current": n == main.version, "file": file(v),
             "migrates_from": sorted(m.from_version for m in v.migrations)}
            for n, v in sorted(wf.versions.items())]



def enter_migration(svc: Service, rec: dict[str, Any]) -> dict[str, Any]:
    """Enter a recorded migration again (a correction's rebuild, `audit replay`): to the version it named, by
    whom and why it said."""
    data = rec.get("data") or {}
    return svc.migrate(rec["process"], data["to"], actor=rec["actor"], role=rec["role"], reason=rec.get("reason"))
