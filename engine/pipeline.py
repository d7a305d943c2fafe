"""Firing a trigger, as a pipeline of small steps in INTERFACE.md's order of checks:

    parse (2) -> locate (4) -> vocabulary (2) -> authorise (3) -> validate (2) -> state (3) -> prepare
    -> guards (3) -> apply

Each step reads and fills one `Firing`; the first that raises decides, before anything is written. The service
(engine/service.py) then writes what `apply` collected - state, record, deadlines, outbox - in the same unit of
work. Steps take the service only for what it holds: definitions, settings, the machines and the clock's zone."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from convenant.engine import rules
from convenant.engine.access import Attempt, agreement_of, authorise
from convenant.engine.dates import parse_date
from convenant.engine.definitions import ROLES, ParamSpec, ProcessSpec, TriggerSpec, WorkflowDefinition
from convenant.engine.errors import BadInput, Conflict, NotAllowed, NotFound
from convenant.engine.machine import expand_sources
from convenant.engine.model import DeadlineStatus, Process
from convenant.engine.plugins import registry

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from convenant.engine.config import Settings
    from convenant.engine.machine import Machines
    from convenant.engine.ports import UnitOfWork

MAX_TEXT = 2000


class Engine(Protocol):
    """What the steps need of the service: its definitions, settings, machines and time zone."""
    settings: Settings
    machines: Machines
    tz: ZoneInfo

    def workflow(self, name: str) -> WorkflowDefinition: ...


@dataclass(frozen=True)
class TriggerRequest:
    """One command: who fires which trigger of which process, with what (INTERFACE.md's `trigger`)."""
    process: str
    trigger: str
    actor: str
    role: str
    party: str | None = None
    on: str | dt.date | None = None        # the legal date of the act (default: today on the engine's clock)
    ref: str | None = None
    reason: str | None = None
    data: Mapping[str, Any] | None = None  # the --set values
    expected_version: int | None = None
    system: bool = False                   # the engine itself (automatic triggers, follow-ups)


@dataclass
class Firing:
    """What the steps learn about one request, in order."""
    request: TriggerRequest
    now: dt.datetime
    today: dt.date
    on: dt.date = dt.date.min
    proc: Process | None = None
    root: Process | None = None
    wf: WorkflowDefinition | None = None
    spec: ProcessSpec | None = None
    tspec: TriggerSpec | None = None
    params: dict[str, Any] = field(default_factory=dict)
    act: rules.Act | None = None
    source: str = ""
    dest: str = ""

    # Accessors for the steps after `locate` (which guarantees these are set).
    @property
    def process(self) -> Process:
        assert self.proc is not None
        return self.proc

    @property
    def agreement(self) -> Process:
        assert self.root is not None
        return self.root

    @property
    def workflow(self) -> WorkflowDefinition:
        assert self.wf is not None
        return self.wf

    @property
    def process_spec(self) -> ProcessSpec:
        assert self.spec is not None
        return self.spec

    @property
    def trigger(self) -> TriggerSpec:
        assert self.tspec is not None
        return self.tspec

    @property
    def the_act(self) -> rules.Act:
        assert self.act is not None
        return self.act


Step = Callable[["Engine", "UnitOfWork", Firing], None]


# -- 1. parse the arguments (2) ---------------------------------------------------------------------------
def parse(service: Engine, tx: UnitOfWork, f: Firing) -> None:
    r = f.request
    if not r.system and r.role not in ROLES:
        raise BadInput(f"unknown role {r.role!r}; one of {', '.join(ROLES)}", field="role")
    if isinstance(r.on, str):
        try:
            f.on = parse_date(r.on, "on")
        except ValueError as exc:
            raise BadInput(str(exc), field="on") from None
    else:
        f.on = r.on or f.today
    if r.role == "party" and not r.party:
        raise BadInput("--party is required with --role party", field="party")
    for text, name in ((r.ref, "ref"), (r.reason, "reason"), (r.actor, "actor")):
        if text is not None and len(text) > MAX_TEXT:
            raise BadInput(f"{name} is longer than {MAX_TEXT} characters", field=name)
    if not r.actor or not r.actor.strip():
        raise BadInput("--actor names who acts", field="actor")


# -- 2. find the process (4) -----------------------------------------------------------------------------
def locate(service: Engine, tx: UnitOfWork, f: Firing) -> None:
    pid = f.request.process
    f.proc = tx.get_process(pid)
    if f.proc is None:
        raise NotFound(f"no process {pid!r}", process=pid)
    f.root = agreement_of(f.proc, tx.get_process)
    f.wf = service.workflow(f.proc.workflow)
    f.spec = f.wf.process(f.proc.ptype)


# -- 3. names outside the workflow's vocabulary (2) ------------------------------------------------------
def vocabulary(service: Engine, tx: UnitOfWork, f: Firing) -> None:
    r, wf, root = f.request, f.workflow, f.agreement
    if r.trigger not in wf.vocabulary:
        raise BadInput(f"unknown trigger {r.trigger!r}; the {wf.name} workflow knows "
                       f"{', '.join(sorted(wf.vocabulary))}", field="trigger")
    if r.party is not None and r.party not in root.parties:
        raise BadInput(f"unknown party {r.party!r}; parties are {', '.join(root.parties)}", field="party")
    f.tspec = f.process_spec.trigger_map.get(r.trigger)
    raw = dict(r.data or {})
    f.params = known_values(f.tspec, raw, root) if f.tspec else raw


def options(pspec: ParamSpec, root: Process) -> list[str] | None:
    """The words an option parameter accepts (None: any text)."""
    if pspec.options:
        return list(pspec.options)
    return registry.options(pspec, root)      # a vocabulary of the agreement's plug-ins (themes)


def known_values(tspec: TriggerSpec, raw: dict[str, Any], root: Process) -> dict[str, Any]:
    """--set keys and option values must be words the definition knows (exit 2)."""
    for key, value in raw.items():
        pspec = tspec.params.get(key)
        if pspec is None:
            known = ", ".join(tspec.params) or "none"
            raise BadInput(f"{tspec.name} takes no value {key!r} (it takes: {known})", field=key)
        allowed = options(pspec, root)
        if pspec.type == "option" and allowed is not None and value not in allowed:
            raise BadInput(f"{key}={value!r} is not one of {', '.join(allowed)}", field=key)
    return dict(raw)


# -- 4. authorise (3) -------------------------------------------------------------------------------------
def authorisation(service: Engine, tx: UnitOfWork, f: Firing) -> None:
    r = f.request
    if r.system:
        return
    if f.tspec is None:
        if r.role == "auditor":
            raise NotAllowed("auditors read; they cannot change anything", forbidden=True, process=r.process)
        return
    authorise(Attempt(wf=f.workflow, trigger=f.tspec, process=f.process, root=f.agreement, role=r.role,
                      party=r.party))


# -- 5. validate the values (2) --------------------------------------------------------------------------
def validate(service: Engine, tx: UnitOfWork, f: Firing) -> None:
    r = f.request
    if not r.system and f.on > f.today:
        raise BadInput(f"--on {f.on.isoformat()} is after today ({f.today.isoformat()} on the engine's clock)",
                       field="on")
    if f.tspec is None:
        return
    f.params = values(f.tspec, f.params, r.ref)
    registry.library(f.workflow).validate(f.params, f.agreement)   # values only the agreement's data can judge
    if f.tspec.party == "required" and not r.party:
        raise BadInput(f"--party is required: name the party this {r.trigger} is for", field="party")


def _required(key: str, pspec: ParamSpec, params: Mapping[str, Any], tspec: TriggerSpec) -> None:
    """An absent value: refused where the definition requires it."""
    if pspec.required_unless and not any(params.get(k) not in (None, "") for k in pspec.required_unless):
        raise BadInput(f"--set {key}=... or --set {' / '.join(pspec.required_unless)}=... is required for "
                       f"{tspec.name}", field=key)
    needed = pspec.required or (pspec.required_if and all(params.get(k) == v
                                                          for k, v in pspec.required_if.items()))
    if needed:
        raise BadInput(f"--set {key}=... is required for {tspec.name}", field=key)


def _as_date(key: str, pspec: ParamSpec, value: Any) -> Any:
    try:
        return parse_date(str(value), key).isoformat()
    except ValueError as exc:
        raise BadInput(str(exc), field=key) from None


def _as_int(key: str, pspec: ParamSpec, value: Any) -> Any:
    try:
        return int(value)
    except ValueError:
        raise BadInput(f"{key}: {value!r} is not a whole number", field=key) from None


def _as_list(key: str, pspec: ParamSpec, value: Any) -> Any:
    items = [v.strip() for v in str(value).split(",") if v.strip()] if isinstance(value, str) else list(value)
    if pspec.max_items is not None and len(items) > pspec.max_items:
        raise BadInput(f"{key}: at most {pspec.max_items} items, got {len(items)}", field=key)
    if pspec.vocabulary == "commitments":
        try:
            return [int(i) for i in items]
        except ValueError:
            raise BadInput(f"{key}: commitments are numbers, like 1,3", field=key) from None
    return items


def _as_document(key: str, pspec: ParamSpec, value: Any) -> Any:
    from convenant.engine.documents import check_document
    return check_document(value, key)


def _as_text(key: str, pspec: ParamSpec, value: Any) -> Any:
    if len(str(value)) > pspec.max_length:
        raise BadInput(f"{key} is longer than {pspec.max_length} characters", field=key)
    return value


PARSERS: dict[str, Callable[[str, ParamSpec, Any], Any]] = {
    "date": _as_date, "int": _as_int, "list": _as_list, "document": _as_document}


def values(tspec: TriggerSpec, params: Mapping[str, Any], ref: str | None) -> dict[str, Any]:
    """Each value parsed by its type (a date, a number, a list, a document description, bounded text)."""
    out: dict[str, Any] = {}
    for key, pspec in tspec.params.items():
        value = params.get(key)
        if value is None or value == "":
            _required(key, pspec, params, tspec)
            continue
        out[key] = PARSERS.get(pspec.type, _as_text)(key, pspec, value)
    if tspec.ref_required and not (ref and ref.strip()):
        raise BadInput(f"--ref is required for {tspec.name}: the letter, decision or publication reference",
                       field="ref")
    return out


# -- 6. state (3) ----------------------------------------------------------------------------------------
def state(service: Engine, tx: UnitOfWork, f: Firing) -> None:
    r, proc, spec = f.request, f.process, f.process_spec
    if f.tspec is None:
        raise NotAllowed(f"{r.trigger} is not a trigger of a {proc.ptype} ({proc.id} is a {proc.ptype})",
                         process=proc.id, state=proc.state, trigger=r.trigger, article=spec.article)
    if not f.tspec.manual and not r.system:
        raise NotAllowed(f"{r.trigger} happens automatically; it cannot be fired by hand", process=proc.id,
                         state=proc.state, trigger=r.trigger, article=f.tspec.article)
    if proc.state not in expand_sources(f.workflow, f.tspec.source):
        raise NotAllowed(f"{r.trigger} is not allowed in state {proc.state}", process=proc.id, state=proc.state,
                         trigger=r.trigger, article=f.tspec.article)
    if r.expected_version is not None and r.expected_version != proc.version:
        raise Conflict(f"process {proc.id} is at version {proc.version}, not {r.expected_version}: someone "
                       f"changed it meanwhile", process=proc.id)


# -- 7. prepare the act on working copies ----------------------------------------------------------------
def prepare(service: Engine, tx: UnitOfWork, f: Firing) -> None:
    r, proc, root = f.request, f.process, f.agreement
    work_root = rules.snapshot(root)
    work_proc = work_root if proc.id == root.id else rules.snapshot(proc)
    f.act = rules.Act(wf=f.workflow, spec=f.process_spec, trigger=f.tspec, process=work_proc, root=work_root,
                      actor=r.actor, role=r.role, party=r.party, on=f.on, ref=r.ref, reason=r.reason,
                      params=f.params, settings=service.settings, now=f.now, deadlines=tx.deadlines_of(proc.id))


# -- 8. guards (3) ---------------------------------------------------------------------------------------
def guards(service: Engine, tx: UnitOfWork, f: Firing) -> None:
    r, act, tspec, root = f.request, f.the_act, f.trigger, f.agreement
    if r.party is not None and not r.system and not rules.is_current(root, r.party, f.on):
        raise act.refuse(f"{r.party} withdrew on {root.parties[r.party].withdrawn_on} and has no say any more",
                         "Art. 5.7")
    for name in tspec.not_before:
        limit = act.fact(name)
        if isinstance(limit, dt.date) and f.on < limit:
            raise act.refuse(f"--on {f.on.isoformat()} is before {name.replace('_', ' ')} ({limit.isoformat()}), "
                             f"the act this one depends on", tspec.article)
    for guard in tspec.guards:
        registry.run_guard(act, guard)


# -- 9. apply: effects, the vote, the machine, branch and entry effects, deadlines -------------------------
def apply(service: Engine, tx: UnitOfWork, f: Firing) -> None:
    act, tspec, spec, proc = f.the_act, f.trigger, f.process_spec, f.process
    registry.run_effects(act, tspec.effects)
    if tspec.decision:
        answer = tspec.answer or f.params[spec.decisions[tspec.decision].param]
        rules.cast_vote(act, tspec.decision, answer)
    machine = service.machines.get(f.workflow, proc.ptype)
    f.dest = machine.fire(proc.state, tspec.name, lambda cond: registry.condition(act, cond))
    for branch in tspec.branches:
        if branch.dest == f.dest and registry.condition(act, branch.when):
            registry.run_effects(act, branch.effects)
            break
    f.source = proc.state
    act.process.state = f.dest
    if f.dest != f.source:
        registry.run_effects(act, spec.states[f.dest].on_enter)
    meet_deadlines(act, spec, tspec)
    if spec.states[f.dest].final:
        finish(act, f.dest)


def meet_deadlines(act: rules.Act, spec: ProcessSpec, tspec: TriggerSpec) -> None:
    kinds = set(tspec.meets)
    if not tspec.decision:
        kinds |= {d.kind for d in spec.deadlines if tspec.name in d.met_by}
    if act.notes.get("decides"):
        kinds.add(act.notes["decides"])
    for d in act.deadlines:
        if d.kind in kinds and d.status in ("open", "missed") and d.met_on is None:
            d.met_on = act.on
            # a moment (end, notice period) is met when its transition fires, the day after included
            d.status = DeadlineStatus.MET if act.on <= d.due or d.moment else DeadlineStatus.MISSED
            d.next_at = None
            act.changed_deadlines.append(d)


def finish(act: rules.Act, dest: str) -> None:
    """A process in a final state awaits nothing: open deadlines are cancelled, ladders stop, and its agreement
    notes that this child is done."""
    act.process.final = True
    for d in act.deadlines:
        if d.status == "open":
            d.status = DeadlineStatus.CANCELLED
            d.next_at = None
            act.changed_deadlines.append(d)
        elif d.next_at is not None:
            d.next_at = None
            act.changed_deadlines.append(d)
    if act.process is not act.root:
        for entry in act.root.children:
            if entry.id == act.process.id:
                entry.final = True
                entry.state = dest
        act.root_changed = True


STEPS: list[Step] = [parse, locate, vocabulary, authorisation, validate, state, prepare, guards, apply]


def run(service: Engine, tx: UnitOfWork, request: TriggerRequest, now: dt.datetime) -> Firing:
    """Every step in order; the first refusal raises, before anything is written."""
    f = Firing(request=request, now=now, today=rules_today(service, now))
    for step in STEPS:
        step(service, tx, f)
    return f


def rules_today(service: Engine, now: dt.datetime) -> dt.date:
    return now.astimezone(service.tz).date()
