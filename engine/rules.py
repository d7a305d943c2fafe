"""The generic building blocks a workflow definition names: guards (may this act happen?), conditions (which way
does it go?) and effects (what does it change?). Each works on an `Act`, the context of one command; effects only
change the in-memory copies and collect what must be written, the service writes it in one transaction.

What belongs to one kind of agreement only (themes, sign-ups, progress reports) is a plug-in (engine/plugins/);
engine/plugins/registry.py puts these blocks and the plug-ins' together and dispatches them by name."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from convenant.engine import decisions as decision_rules
from convenant.engine.config import Settings
from convenant.engine.dates import add_days, add_months, apply_calendar
from convenant.engine.definitions import DateExpr, ProcessSpec, TriggerSpec, WorkflowDefinition
from convenant.engine.errors import BadInput, NotAllowed
from convenant.engine.model import (
    AWAITED,
    ChildRef,
    Deadline,
    DeadlineStatus,
    Decision,
    Facts,
    Party,
    Process,
    TextVersion,
    Vote,
)
from convenant.engine.plugins.base import Plugin


@dataclass
class Act:
    wf: WorkflowDefinition
    spec: ProcessSpec
    trigger: TriggerSpec | None
    process: Process
    root: Process
    actor: str
    role: str
    party: str | None
    on: dt.date
    ref: str | None
    reason: str | None
    params: dict[str, Any]
    settings: Settings
    now: dt.datetime
    deadlines: list[Deadline]                    # this process's deadlines (mutable copies)
    # what the act produced, written by the service in the same transaction
    new_deadlines: list[Deadline] = field(default_factory=list)
    changed_deadlines: list[Deadline] = field(default_factory=list)
    children: list[Process] = field(default_factory=list)
    follow_ups: list[tuple[str, str, str]] = field(default_factory=list)   # (process id, trigger, reason)
    notices: list[dict[str, Any]] = field(default_factory=list)   # `notify` effects, queued by the service
    notes: dict[str, Any] = field(default_factory=dict)
    root_changed: bool = False
    outcome: str | None = None

    # -- facts ------------------------------------------------------------------------------------------
    def fact(self, name: str) -> Any:
        if name == "last_signature":
            return last_signature(self.root)
        for proc in (self.process, self.root):
            if name in proc.facts:
                return proc.facts.value(name)
        return None

    def deadline_due(self, kind: str) -> dt.date | None:
        for d in self.deadlines + self.new_deadlines:
            if d.kind == kind and d.status != DeadlineStatus.CANCELLED:
                return d.due
        return None

    def date(self, expr: DateExpr) -> dt.date | None:
        return resolve_date(expr, self.settings, fact=self.fact, deadline=self.deadline_due, on=self.on)

    def value(self, expr: Any) -> Any:
        """Evaluate a value of a definition: '$on', '$ref', '$party', '$reason', '$param.K', '$fact.K',
        '$decision.NAME.K', '$process', a date expression (a table with 'fact', 'deadline', 'date' or 'on'), or
        a literal."""
        if isinstance(expr, dict) and ({"fact", "deadline", "date", "on"} & set(expr)):
            got = self.date(DateExpr.model_validate(expr))
            return got.isoformat() if got else None
        if not isinstance(expr, str) or not expr.startswith("$"):
            return expr
        simple = {"$on": self.on.isoformat(), "$ref": self.ref, "$reason": self.reason, "$party": self.party,
                  "$actor": self.actor, "$process": self.process.id}
        if expr in simple:
            return simple[expr]
        if expr.startswith("$param."):
            return self.params.get(expr[len("$param."):])
        if expr.startswith("$fact."):
            got = self.fact(expr[len("$fact."):])
            return got.isoformat() if isinstance(got, dt.date) else got
        if expr.startswith("$decision."):
            name, _, key = expr[len("$decision."):].partition(".")
            decision = self.process.decisions.get(name)
            return decision.carried.get(key) if decision else None
        raise BadInput(f"unknown value {expr!r} in the definition", field="definition")

    def refuse(self, message: str, article: str, *, forbidden: bool = False) -> NotAllowed:
        return NotAllowed(message, article=article, process=self.process.id, state=self.process.state,
                          trigger=self.trigger.name if self.trigger else None, forbidden=forbidden)

    # -- deadlines a block opens ------------------------------------------------------------------------
    def awaited(self, kind: str, subject: str | None = None) -> list[Deadline]:
        """The rows of this kind (and subject) still awaited: open, or missed with the ladder running."""
        return [d for d in self.deadlines + self.new_deadlines
                if d.kind == kind and d.subject == subject and d.awaited]

    def open_deadline(self, kind: str, due: dt.date, rule: str, *, subject: str | None = None,
                      responsible: list[str] | None = None) -> Deadline:
        spec = self.spec.deadline_map[kind]
        row = Deadline(process_id=self.process.id, root_id=self.root.id, kind=kind, due=due, article=spec.article,
                       rule=rule, created_at=self.now, moment=spec.moment,
                       responsible=list(spec.responsible if responsible is None else responsible), subject=subject)
        self.new_deadlines.append(row)
        return row


def resolve_date(expr: DateExpr, settings: Settings, *, fact: Callable[[str], Any],
                 deadline: Callable[[str], dt.date | None], on: dt.date | None) -> dt.date | None:
    base: dt.date | None
    if expr.date is not None:
        base = expr.date
    elif expr.fact is not None:
        base = fact(expr.fact)
        if isinstance(base, str):
            base = dt.date.fromisoformat(base)
    elif expr.deadline is not None:
        base = deadline(expr.deadline)
    else:
        base = on
    if base is None:
        return None
    days = expr.days
    if isinstance(days, str):
        sign = -1 if days.startswith("-") else 1
        value = settings.param(days.lstrip("-")[1:])
        if not isinstance(value, int):
            raise BadInput(f"config.toml key {days!r} is not a number of days", field=days.lstrip("-")[1:])
        days = sign * value
    due = add_days(add_months(base, expr.months), days)
    if expr.calendar != "calendar_days":
        due = apply_calendar(due, expr.calendar, start=base, extra_rest_days=settings.calendar.extra_rest_days,
                             backwards=days < 0 or expr.months < 0)      # Atw Art. 1(2)
    return due


# -- parties --------------------------------------------------------------------------------------------
def last_signature(root: Process) -> dt.date | None:
    dates = [p.signed_on for p in root.parties.values()]
    if not dates or any(d is None for d in dates):
        return None
    return max(d for d in dates if d is not None)


def represented_by(root: Process, party: str) -> list[str]:
    """The party itself and every party it signs and acts for."""
    return [party] + [pid for pid, p in root.parties.items() if p.represented_by == party]


def is_current(root: Process, party: str, on: dt.date | None = None) -> bool:
    known = root.parties.get(party)
    withdrawn = known.withdrawn_on if known else None
    return withdrawn is None or (on is not None and withdrawn > on)


def voters(root: Process, on: dt.date | None = None) -> list[str]:
    """Current parties that act for themselves; a representative's answer counts for those it represents."""
    return [pid for pid, p in root.parties.items() if not p.represented_by and is_current(root, pid, on)]


def withdrawn_on(root: Process, party: str) -> dt.date | None:
    known = root.parties.get(party)
    return known.withdrawn_on if known else None


# -- guards: raise NotAllowed with the article, or return -----------------------------------------------
def _party(act: Act) -> str:
    if act.party is None:   # the definition says `party = "required"` for triggers with these guards
        raise BadInput(f"--party is required for {act.trigger.name if act.trigger else 'this act'}",
                       field="party")
    return act.party


def guard_not_signed(act: Act, article: str, **_: Any) -> None:
    party = _party(act)
    signed = act.root.parties[party].signed_on
    if signed:
        raise act.refuse(f"{party} signed already on {signed.isoformat()}", article)


def guard_no_open_child(act: Act, article: str, ptype: str, fact: str, **_: Any) -> None:
    for child in act.root.children:
        if child.ptype == ptype and not child.final and child.facts.get(fact) == act.party:
            raise act.refuse(f"{act.party} has an open {ptype} already: {child.id}", article)


def guard_on_before(act: Act, article: str, date: dict, **_: Any) -> None:
    limit = act.date(DateExpr.model_validate(date))
    if limit is not None and act.on >= limit:
        raise act.refuse(f"too late: this was possible only before {limit.isoformat()}", article)


def guard_date_after(act: Act, article: str, param: str, facts: list[str] | None = None, **_: Any) -> None:
    """A date the act sets (--set PARAM=DATE) must lie after the act itself and after each named fact (Art. 5.4:
    an extension's new end lies after the current end and after the vote; it cannot end the term early)."""
    got = act.params.get(param)
    if got in (None, ""):
        return
    day = dt.date.fromisoformat(str(got))
    if day <= act.on:
        raise act.refuse(f"{param} {day.isoformat()} must lie after the act's date ({act.on.isoformat()})", article)
    for name in facts or []:
        limit = act.fact(name)
        if isinstance(limit, dt.date) and day <= limit:
            raise act.refuse(f"{param} {day.isoformat()} must lie after the current {name.replace('_', ' ')} "
                             f"({limit.isoformat()})", article)


GUARDS: dict[str, Callable[..., None]] = {
    "date_after": guard_date_after,
    "not_signed": guard_not_signed,
    "no_open_child": guard_no_open_child,
    "on_before": guard_on_before,
}


# -- conditions: choose the branch of a trigger (a name, or "name:argument") ------------------------------
def _param_is(act: Act, arg: str) -> bool:
    key, _, want = arg.partition("=")
    return str(act.params.get(key)) == want


def _all_of(act: Act, arg: str) -> bool:
    """'all:COND&COND...': every one of the generic conditions holds (a branch that needs two things)."""
    for part in arg.split("&"):
        head, _, rest = part.partition(":")
        if not CONDITIONS[head](act, rest):
            return False
    return True


CONDITIONS: dict[str, Callable[[Act, str], bool]] = {
    "always": lambda act, _: True,
    "all_signed": lambda act, _: last_signature(act.root) is not None,
    "outcome": lambda act, arg: act.outcome == arg,
    "param": _param_is,
    "state": lambda act, arg: act.process.state == arg,          # the state the act starts from
    "fact": lambda act, arg: act.fact(arg) not in (None, ""),    # a fact of the process or agreement is known
    "all": _all_of,
}


# -- effects --------------------------------------------------------------------------------------------
def effect_record_signature(act: Act, **_: Any) -> None:
    for pid in represented_by(act.root, _party(act)):
        act.root.parties[pid].signed_on = act.on
    act.root_changed = True


def effect_set_fact(act: Act, name: str, value: Any, on: str = "self", keep: bool = False, **_: Any) -> None:
    """Set a fact; with `keep`, only where it is not known yet (a state entered again keeps what changed since)."""
    target = act.root if on == "root" else act.process
    if keep and target.facts.get(name) not in (None, ""):
        return
    target.facts[name] = act.value(value)
    act.root_changed |= target is act.root


def effect_open_deadlines(act: Act, kinds: list[str], **_: Any) -> None:
    for kind in kinds:
        spec = act.spec.deadline_map[kind]
        if any(d.kind == kind and d.status in AWAITED for d in act.deadlines + act.new_deadlines):
            continue
        due = act.date(spec.due)
        if due is None:
            raise BadInput(f"deadline {kind}: its date cannot be computed yet ({spec.due.describe()})",
                           field="definition")
        act.open_deadline(kind, due, spec.due.describe())


def effect_reschedule_deadlines(act: Act, kinds: list[str], **_: Any) -> None:
    for d in act.deadlines:
        if d.kind in kinds and d.status == DeadlineStatus.OPEN:
            due = act.date(act.spec.deadline_map[d.kind].due)
            if due and due != d.due:
                d.due = due
                d.step = -1            # the service re-plans its reminders from now
                act.changed_deadlines.append(d)


def effect_open_decision(act: Act, name: str, **_: Any) -> None:
    spec = act.spec.decisions[name]
    state = Decision(opened_on=act.on)
    if spec.initiator:
        initiator = act.value(f"$fact.{spec.initiator}")
        if initiator and spec.initiator_answer:
            state.answers[initiator] = Vote(answer=spec.initiator_answer, on=act.on, ref=act.value("$fact.ref"),
                                            actor=act.actor, initiator=True)
    act.process.decisions[name] = state


def effect_create_child(act: Act, ptype: str, facts: dict | None = None, **_: Any) -> None:
    counters = act.root.counters
    counters[ptype] = counters.get(ptype, 0) + 1
    spec = act.wf.process(ptype)
    child_id = f"{act.root.id}/{spec.id_prefix or ptype}-{counters[ptype]}"
    opening = Facts({k: act.value(v) for k, v in (facts or {}).items()})
    opening.setdefault("opened_on", act.on.isoformat())
    child = Process(id=child_id, workflow=act.wf.name, ptype=ptype, state=spec.initial, facts=opening,
                    created_at=act.now, parent_id=act.root.id, root_id=act.root.id)
    act.children.append(child)
    act.root.children.append(ChildRef(id=child_id, ptype=ptype, facts={
        k: v for k, v in opening.items() if isinstance(v, str) and len(v) < 200}))
    act.root_changed = True
    act.notes["created"] = child_id


def effect_withdraw_party(act: Act, party: str, **_: Any) -> None:
    pid = act.value(party)
    for p in represented_by(act.root, pid):
        act.root.parties[p].withdrawn_on = act.on
    act.root_changed = True
    voters_changed(act, f"{pid} withdrew on {act.on.isoformat()}")
    if not voters(act.root, act.on):
        # Art. 5.7: with the last party gone there is nobody left to be bound; the agreement ends
        act.root.facts["ends_on"] = act.on.isoformat()
        act.root.facts["ended_by"] = act.process.id
        act.follow_ups.append((act.root.id, "end", f"Art. 5.7: {pid} was the last party; no parties remain"))


JUDGE = "voters_changed"      # the engine's trigger that judges a process's open decision again


def voters_changed(act: Act, why: str) -> None:
    """The set of voters changed (a withdrawal, an accession): every open decision of the agreement and its open
    children is judged again (follow-ups in the same transaction), except the process acting now."""
    root_judge = act.wf.process(act.root.ptype).trigger_map.get(JUDGE)
    if (root_judge is not None and act.process is not act.root and act.root.state in root_judge.source
            and any(d.outcome is None for d in act.root.decisions.values())):
        act.follow_ups.append((act.root.id, JUDGE, f"judged again: {why}"))
    for child in act.root.children:
        if not child.final and child.id != act.process.id and JUDGE in act.wf.process(child.ptype).trigger_map:
            act.follow_ups.append((child.id, JUDGE, f"judged again: {why}"))


def effect_judge_decision(act: Act, name: str, **_: Any) -> None:
    """Judge an open decision again with the current voters: a withdrawal may complete it (Art. 5.7, 5.8)."""
    spec = act.spec.decisions[name]
    state = act.process.decisions.get(name)
    if state is None or state.outcome:
        act.notes["judged"] = {"decision": name, "outcome": state.outcome if state else None, "open": False}
        return
    eligible = voters(act.root, act.on)
    result = decision_rules.outcome(spec, eligible, {k: v.answer for k, v in state.answers.items()})
    if result is not None and eligible:
        state.outcome, state.decided_on, act.outcome = result, act.on, result
        if spec.deadline:
            act.notes.setdefault("decides", spec.deadline)
    act.notes["judged"] = {"decision": name, "voters": eligible, "outcome": state.outcome}


CHANGE_KEYS = ("new_ends_on", "accede", "accede_name", "accede_group", "accede_represented_by", "leave",
               "deadline", "reminders", "theme", "commitment")   # theme, commitment: the themes plug-in's
AMENDED = "amended_deadlines"      # fact: the deadlines an adopted amendment set to a date of its own (kind: date)


def effect_take_effect(act: Act, trigger: str = "apply_amendment", **_: Any) -> None:
    """An adopted amendment with a structured change: the agreement applies it in this same transaction."""
    if any(act.process.facts.get(k) for k in CHANGE_KEYS):
        act.follow_ups.append((act.root.id, trigger, f"Art. 5.8: amendment {act.process.id} adopted on "
                                                     f"{act.on.isoformat()} takes effect"))


def _pending_amendment(act: Act) -> ChildRef | None:
    applied = act.root.facts.get("applied_amendments") or []
    return next((c for c in act.root.children if c.ptype == "amendment" and c.state == "adopted"
                 and c.id not in applied and any(c.facts.get(k) for k in CHANGE_KEYS)), None)


def effect_apply_amendment(act: Act, **_: Any) -> None:
    """Apply the structured change of the adopted amendment (Art. 5.8) to the running agreement, as a recorded
    migration: what the agreement was, what it becomes, under which amendment; every derived deadline follows."""
    child = _pending_amendment(act)
    if child is None:
        raise act.refuse("no adopted amendment with a change waits to take effect", "Art. 5.8")
    change = child.facts
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    if change.get("new_ends_on"):
        before["ends_on"], after["ends_on"] = act.root.facts.get("ends_on"), change["new_ends_on"]
        act.root.facts["ends_on"] = change["new_ends_on"]
        # every deadline reckoned from the end follows it, but one an amendment set to a date of its own
        fixed = act.root.facts.get(AMENDED) or {}
        effect_reschedule_deadlines(act, [d.kind for d in act.spec.deadlines
                                          if d.due.fact == "ends_on" and d.kind not in fixed] or ["end"])
    if change.get("deadline"):
        _amend_deadline(act, child.id, change["deadline"], change["due"], (before, after))
    if change.get("reminders"):
        _amend_reminders(act, child.id, change["reminders"], parse_days(change.get("days")), (before, after))
    if change.get("accede"):
        pid = change["accede"]
        act.root.parties[pid] = Party(name=change.get("accede_name") or pid, group=change.get("accede_group"),
                                      represented_by=change.get("accede_represented_by") or None,
                                      signed_on=act.on)
        after["accede"] = {"id": pid, **act.root.parties[pid].to_dict()}
    if change.get("leave"):
        after["leave"] = {"id": change["leave"], "withdrawn_on": act.on.isoformat()}
    act.root.facts["applied_amendments"] = [*(act.root.facts.get("applied_amendments") or []), child.id]
    act.notes["migration"] = {"amendment": child.id, "before": before, "after": after}
    act.root_changed = True
    if change.get("leave"):
        effect_withdraw_party(act, change["leave"])        # judges open decisions again; the last one ends it
    elif change.get("accede"):
        voters_changed(act, f"{change['accede']} acceded on {act.on.isoformat()}")


def guard_amendment_change(act: Act, article: str, **_: Any) -> None:
    """A structured change must make sense for this agreement: a new party is new, a leaving one is current,
    and a new end lies after the request and the current end."""
    accede, leave = act.params.get("accede"), act.params.get("leave")
    if accede and accede in act.root.parties:
        raise act.refuse(f"{accede} is a party already; it cannot accede", article)
    if accede and not act.params.get("accede_name"):
        raise BadInput("--set accede_name=NAME is required with --set accede=ID", field="accede_name")
    rep = act.params.get("accede_represented_by")
    if rep and rep not in act.root.parties:
        raise BadInput(f"accede_represented_by: unknown party {rep!r}", field="accede_represented_by")
    if leave and leave not in act.root.parties:
        raise BadInput(f"leave: unknown party {leave!r}; parties are {', '.join(act.root.parties)}", field="leave")
    if leave and not is_current(act.root, leave, act.on):
        raise act.refuse(f"{leave} has withdrawn already", article)
    guard_date_after(act, article, "new_ends_on", ["ends_on"])
    _guard_deadline_change(act, article)
    _guard_reminder_change(act)


def _changeable(act: Act) -> list[str]:
    """The deadlines an amendment may set to another date: the agreement's own, one per agreement (not those per
    theme or government), not the end (that is `new_ends_on`)."""
    return [d.kind for d in act.spec.deadlines if d.kind != "end" and not d.due.on]


def _guard_deadline_change(act: Act, article: str) -> None:
    kind, due = act.params.get("deadline"), act.params.get("due")
    if due and not kind:
        raise BadInput("--set due=DATE goes with --set deadline=KIND (the deadline it moves)", field="deadline")
    if not kind:
        return
    if kind == "end":
        raise BadInput("deadline=end: the end moves with --set new_ends_on=DATE (Art. 5.3)", field="deadline")
    if kind not in _changeable(act):
        raise BadInput(f"deadline={kind!r} is not a deadline an amendment can move; one of "
                       f"{', '.join(_changeable(act))}", field="deadline")
    if not due:
        raise BadInput(f"--set due=DATE is required with --set deadline={kind}", field="due")
    if dt.date.fromisoformat(due) < act.on:
        raise act.refuse(f"due={due} lies before the request ({act.on.isoformat()}): an amendment moves a "
                         f"deadline forward from now, it does not make it missed in the past", article)
    if not act.awaited(kind):
        raise act.refuse(f"the {kind} deadline is no longer awaited (met or cancelled); there is nothing to move",
                         article)


def _amend_deadline(act: Act, amendment: str, kind: str, due: str, change: tuple[dict, dict]) -> None:
    """The adopted amendment sets deadline `kind` to `due`: its reminders and ladder are planned again, and what
    is reckoned from it (the automatic opening of the extension decision) follows; kept as the agreement's fact
    so that a later move of the end leaves it where the amendment put it."""
    before, after = change
    new = dt.date.fromisoformat(due)
    rows = act.awaited(kind)
    before["deadlines"] = [{"kind": kind, "due": d.due.isoformat(), "status": str(d.status)} for d in rows]
    for d in rows:
        if d.due != new:
            d.due, d.rule, d.step = new, f"amendment {amendment}: {due}", -1
            if d.status == DeadlineStatus.MISSED and act.on <= new:
                d.status, d.missed_at = DeadlineStatus.OPEN, None     # awaited again, within its new date
            act.changed_deadlines.append(d)
    after["deadlines"] = [{"kind": kind, "due": d.due.isoformat(), "status": str(d.status)} for d in rows]
    if not rows:
        after["deadlines"] = [{"kind": kind, "due": due, "status": "no longer awaited: nothing moved"}]
    act.root.facts[AMENDED] = {**(act.root.facts.get(AMENDED) or {}), kind: due}


def parse_days(text: Any) -> list[int]:
    """--set days=28,14,7: whole numbers of days before the due date, 0 to 36600, separated by commas; `none` for
    no reminders at all (exit 2 naming `days`). Kept highest first, each once."""
    words = str(text if text is not None else "").replace(" ", "")
    if words.lower() == "none":
        return []
    parts = words.split(",")
    if not words or not all(p.isdigit() for p in parts):
        raise BadInput(f"days={text!r}: give the days before the due date as whole numbers separated by commas "
                       f"(like 28,14,7), or none", field="days")
    days = sorted({int(p) for p in parts}, reverse=True)
    if days[0] > MAX_REMINDER_DAYS:
        raise BadInput(f"days={text!r}: {days[0]} days is more than {MAX_REMINDER_DAYS}", field="days")
    if len(days) > 50:
        raise BadInput(f"days={text!r}: at most 50 reminders", field="days")
    return days


MAX_REMINDER_DAYS = 36_600


def _guard_reminder_change(act: Act) -> None:
    """--set reminders=KIND --set days=LIST: a deadline kind of the agreement itself, and a valid list of days."""
    kind, days = act.params.get("reminders"), act.params.get("days")
    if days not in (None, "") and not kind:
        raise BadInput("--set days=LIST goes with --set reminders=KIND (the deadline kind whose reminders it sets)",
                       field="reminders")
    if not kind:
        return
    kinds = [d.kind for d in act.spec.deadlines]
    if kind not in kinds:
        raise BadInput(f"reminders={kind!r} is not a deadline kind of the agreement; one of {', '.join(kinds)}",
                       field="reminders")
    if days in (None, ""):
        raise BadInput(f"--set days=LIST is required with --set reminders={kind} (like 28,14,7, or none)",
                       field="days")
    parse_days(days)


def _amend_reminders(act: Act, amendment: str, kind: str, days: list[int], change: tuple[dict, dict]) -> None:
    """The adopted amendment sets the reminder scheme of deadline `kind`: kept as the agreement's fact (over its
    definition version's and config.toml's), and every awaited deadline of that kind has its reminders planned
    again from now (past ones are not sent; a deadline in its ladder keeps its place in it)."""
    from convenant.engine.clock import iso_moment
    from convenant.engine.deadlines import AMENDED_REMINDERS, carry_step, plan_of, scheme, step_at

    before, after = change
    tz = act.settings.tz
    old_facts = dict(act.root.facts)
    was = scheme(kind, act.settings, act.wf, old_facts)
    act.root.facts[AMENDED_REMINDERS] = {**(act.root.facts.get(AMENDED_REMINDERS) or {}),
                                         kind: {"days": days, "amendment": amendment}}
    will = scheme(kind, act.settings, act.wf, act.root.facts)
    withdrawn: set[str] = set()
    planned: set[str] = set()

    def future(steps: list[Any], at: int) -> set[str]:
        return {iso_moment(s.moment, tz) for s in steps[max(at, 0):] if s.kind == "reminder" and s.moment > act.now}

    for d in act.awaited(kind):
        old_steps = plan_of(d, act.settings, act.wf, old_facts)
        new_steps = plan_of(d, act.settings, act.wf, act.root.facts)
        gone = future(old_steps, d.step) if d.next_at is not None else set()
        if d.step >= 0:            # one moved by this same amendment (step -1) is planned by the service
            d.step = carry_step(old_steps, new_steps, d.step, act.now)
            nxt = step_at(new_steps, d.step)
            d.next_at = nxt.moment if nxt is not None else None
            act.changed_deadlines.append(d)
        come = future(new_steps, d.step) if d.step >= 0 and d.next_at is not None else set()
        withdrawn |= gone - come
        planned |= come - gone
    before["reminders"] = {"kind": kind, **was.as_dict()}
    after["reminders"] = {"kind": kind, **will.as_dict(), "reminders_withdrawn": sorted(withdrawn),
                          "reminders_due": sorted(planned)}


GUARDS["amendment_change"] = guard_amendment_change


def effect_record_mandate(act: Act, **_: Any) -> None:
    """A step of a party's own bodies before it signs (Art. 3.2; seed 001: the CWE advises, the Uniebestuur
    decides): recorded on the party, the representative's for those it represents."""
    party = _party(act)
    act.root.parties[party].mandate.append({"step": act.params["step"], "body": act.params["body"],
                                            "on": act.on.isoformat(), "ref": act.ref})
    act.root_changed = True


def guard_mandate(act: Act, article: str, enforce: bool = False, **_: Any) -> None:
    """Signing without a recorded mandate decision: flagged in the record by default (Art. 5.1 makes nothing
    enforceable), refused where the definition sets `enforce = true`."""
    party = _party(act)
    if act.root.parties[party].has_mandate:
        return
    if enforce:
        raise act.refuse(f"{party} has no recorded mandate decision of its own bodies yet", article)
    act.notes["mandate_missing"] = f"{article}: {party} signed without a recorded mandate decision"


GUARDS["mandate"] = guard_mandate


def effect_close_children(act: Act, trigger: str = "close", **_: Any) -> None:
    """The end ends everything: every open child is closed by the engine, each with a recorded reason."""
    for child in act.root.children:
        if not child.final:
            why = act.reason or "Art. 5.3: the end of its term"
            act.follow_ups.append((child.id, trigger, f"the agreement ended on {act.on.isoformat()}: {why}"))


def effect_fire_root(act: Act, trigger: str, reason: str, **_: Any) -> None:
    act.follow_ups.append((act.root.id, trigger, reason))


def effect_record_text_version(act: Act, **_: Any) -> None:
    """Art. 5.8: an adopted amendment is a new version of the agreement's text. Version 1 is the text as
    signed; each adoption records what changed (wording and/or document), from which version, and when."""
    versions = act.root.text_versions
    if not versions:
        versions.append(TextVersion(version=1, adopted_on=last_signature(act.root), note="the text as signed"))
    previous = versions[-1].version
    facts = act.process.facts
    versions.append(TextVersion(version=previous + 1, from_version=previous, change=facts.get("change"),
                                document=facts.get("document"), amendment=act.process.id,
                                requested_by=facts.get("requester"), requested_on=facts.date("requested_on"),
                                adopted_on=act.on, ref=facts.get("ref")))
    act.root_changed = True


def effect_notify(act: Act, to: list[str], template: str = "escalation", body: str | None = None,
                  text: Any = None, **_: Any) -> None:
    """Queue a message about this act to recipients the definition names (a governance body such as 'bo',
    'parties', 'party:ID', 'fact:NAME'); the service resolves them and writes the outbox rows in the same
    transaction as the act."""
    act.notices.append({"to": list(to), "template": template, "body": body, "text": act.value(text)})


EFFECTS: dict[str, Callable[..., None]] = {
    "record_text_version": effect_record_text_version,
    "notify": effect_notify,
    "record_signature": effect_record_signature,
    "set_fact": effect_set_fact,
    "open_deadlines": effect_open_deadlines,
    "reschedule_deadlines": effect_reschedule_deadlines,
    "open_decision": effect_open_decision,
    "create_child": effect_create_child,
    "withdraw_party": effect_withdraw_party,
    "fire_root": effect_fire_root,
    "judge_decision": effect_judge_decision,
    "close_children": effect_close_children,
    "take_effect": effect_take_effect,
    "apply_amendment": effect_apply_amendment,
    "record_mandate": effect_record_mandate,
}

GENERIC = Plugin(name="generic", guards=GUARDS, effects=EFFECTS, conditions=CONDITIONS)


# -- votes ----------------------------------------------------------------------------------------------
def _carry(act: Act, decision: Decision, spec: Any, answer: str) -> None:
    """The first vote with `carry_with` sets the carried values (new_end); later ones may only repeat them."""
    for key in spec.carry:
        value = act.params.get(key)
        carried = decision.carried.get(key)
        if carried is None and value is None:
            raise BadInput(f"--set {key}=... is required with the first '{answer}'", field=key)
        if carried is not None and value is not None and value != carried:
            raise act.refuse(f"{key} was set to {carried} by an earlier vote; a different {key} is not "
                             f"possible", spec.article)
        if carried is None:
            decision.carried[key] = value


def cast_vote(act: Act, decision: str, answer: str) -> None:
    """Record one party's answer; a representative's answer counts for those it represents."""
    spec = act.spec.decisions[decision]
    state = act.process.decisions.get(decision)
    if state is None or state.outcome:
        raise act.refuse(f"the {decision} decision is not open", spec.article)
    party = _party(act)
    eligible = voters(act.root, act.on)
    if party not in eligible:
        raise act.refuse(f"{party} has no say in this decision (withdrawn)", spec.article)
    if party in state.answers:
        given = state.answers[party]
        raise act.refuse(f"{party} answered already ({given.answer} on {given.on.isoformat()})", spec.article)
    if spec.carry and answer == spec.carry_with:
        _carry(act, state, spec, answer)
    state.answers[party] = Vote(answer=answer, on=act.on, ref=act.ref, actor=act.actor, role=act.role)
    result = decision_rules.outcome(spec, eligible, {k: v.answer for k, v in state.answers.items()})
    if result is not None:
        state.outcome = result
        state.decided_on = act.on
        act.outcome = result
        if spec.deadline:
            act.notes.setdefault("decides", spec.deadline)
    act.notes["vote"] = {"decision": decision, "answer": answer, "outcome": result}


def snapshot(process: Process) -> Process:
    """A working copy an act may change freely, so that a refused act leaves the original as it was (the
    reference data, immutable, is shared)."""
    return process.copy()
