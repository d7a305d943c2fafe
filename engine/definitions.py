"""Workflow definitions as data: pydantic models of a definition file, loaded and validated once.

A definition names, for every state, trigger, deadline, decision and guard, the article it comes from. The engine
gives the building blocks (guards, effects, conditions in `engine.rules`); a definition composes them. A new
agreement is a new definition file, not new engine code."""
from __future__ import annotations

import datetime as dt
import inspect
import tomllib
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from convenant.engine.dates import CalendarRule
from convenant.engine.errors import BadInput
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

ROLES = ("secretariat", "party", "auditor")
Text = dict[str, str]  # {"nl": ..., "en": ...}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DateExpr(Strict):
    """A date derived from what is known: a fact of the process, another deadline, a fixed date, or the act's
    own legal date; plus days or calendar months; then the calendar rule (calendar days or the Atw)."""
    fact: str | None = None
    deadline: str | None = None
    date: dt.date | None = None
    on: bool = False
    days: int | str = 0            # an int, or "$section.key" / "-$section.key" taken from config.toml
    months: int = 0
    calendar: CalendarRule = "calendar_days"   # a Literal, so that an error names the field 'calendar'

    @field_validator("days")
    @classmethod
    def _days(cls, value: int | str) -> int | str:
        if isinstance(value, str) and not value.lstrip("-").startswith("$"):
            raise ValueError("days must be a number or a '$section.key' of config.toml")
        return value

    @model_validator(mode="after")
    def _one_base(self) -> DateExpr:
        bases = [self.fact is not None, self.deadline is not None, self.date is not None, self.on]
        if sum(bases) != 1:
            raise ValueError("a date needs exactly one of 'fact', 'deadline', 'date' or 'on'")
        return self

    @property
    def config_key(self) -> str | None:
        """The dotted config.toml key that 'days' names, if it names one."""
        return self.days.lstrip("-")[1:] if isinstance(self.days, str) else None

    def describe(self) -> str:
        base = (f"fixed {self.date.isoformat()}" if self.date else f"deadline {self.deadline}" if self.deadline
                else f"{self.fact}" if self.fact else "date of the act")
        parts = [base]
        if self.months:
            parts.append(f"{'+' if self.months > 0 else '-'} {abs(self.months)} calendar month(s)")
        if isinstance(self.days, str):
            sign = "-" if self.days.startswith("-") else "+"
            parts.append(f"{sign} {self.days.lstrip('-')} days")
        elif self.days:
            parts.append(f"{'+' if self.days > 0 else '-'} {abs(self.days)} days")
        if self.calendar != "calendar_days":
            parts.append(f"({self.calendar})")
        return " ".join(parts)


class ParamSpec(Strict):
    # "document": an attached file, recorded by name, SHA-256 and size only (the CLI reads the file)
    type: Literal["text", "date", "option", "list", "int", "document"] = "text"
    options: list[str] | None = None
    vocabulary: Literal["themes", "layers", "commitments"] | None = None
    required: bool = False
    required_if: dict[str, str] | None = None
    required_unless: list[str] | None = None     # required unless one of these other values is given
    max_items: int | None = None
    max_length: int = 2000
    label: Text = Field(default_factory=dict)

    @model_validator(mode="after")
    def _options(self) -> ParamSpec:
        if self.type == "option" and not self.options and not self.vocabulary:
            raise ValueError("an option parameter needs 'options' or a 'vocabulary'")
        return self


class Call(Strict):
    """A named building block of engine.rules with its arguments."""
    do: str
    args: dict[str, Any] = Field(default_factory=dict)


class GuardCall(Strict):
    check: str
    article: str
    args: dict[str, Any] = Field(default_factory=dict)


class Branch(Strict):
    when: str                      # a condition of engine.rules, e.g. "all_signed", "outcome:adopted"
    dest: str
    effects: list[Call] = Field(default_factory=list)


class Automatic(Strict):
    """Fires at 00:00 local time of the latest of these dates, once the trigger is allowed in the state."""
    at: list[DateExpr]


class TriggerSpec(Strict):
    name: str
    article: str
    title: Text = Field(default_factory=dict)
    source: list[str]
    dest: str | None = None        # None: the state stays (an internal transition)
    branches: list[Branch] = Field(default_factory=list)
    roles: list[Literal["secretariat", "party"]] = Field(default_factory=list)
    parties: list[str] | None = None          # only these parties (or the secretariat) may fire it
    party: Literal["none", "optional", "required"] = "none"   # must the act name the party it is for?
    own: str | None = None                    # a fact naming the only party that may fire it (e.g. requester)
    ref_required: bool = False
    params: dict[str, ParamSpec] = Field(default_factory=dict)
    guards: list[GuardCall] = Field(default_factory=list)
    effects: list[Call] = Field(default_factory=list)
    decision: str | None = None
    answer: str | None = None      # a vote trigger with a fixed answer (consent, refuse)
    meets: list[str] = Field(default_factory=list)
    automatic: Automatic | None = None
    manual: bool = True
    not_before: list[str] = Field(default_factory=list)   # facts the act's date may not precede

    @model_validator(mode="after")
    def _someone(self) -> TriggerSpec:
        if self.manual and not self.roles:
            raise ValueError(f"trigger {self.name!r}: a manual trigger needs 'roles'")
        if not self.manual and self.automatic is None:
            raise ValueError(f"trigger {self.name!r}: neither manual nor automatic")
        return self


class StateSpec(Strict):
    article: str
    title: Text = Field(default_factory=dict)
    in_force: bool = False
    final: bool = False
    on_enter: list[Call] = Field(default_factory=list)


class DeadlineSpec(Strict):
    kind: str
    article: str
    title: Text
    due: DateExpr
    moment: bool = False            # a moment, not an awaited act: met when its transition fires
    met_by: list[str] = Field(default_factory=list)
    responsible: list[str] = Field(default_factory=lambda: ["parties"])
    expected: Text = Field(default_factory=dict)


class OutcomeRule(Strict):
    when: Literal["any", "all", "mixed"]
    answer: str | None = None
    outcome: str


class DecisionSpec(Strict):
    """A decision that needs every current party: who votes, the answers, which combination decides what."""
    article: str
    param: str                          # the --set key that carries the answer
    answers: list[str]
    rules: list[OutcomeRule]
    deadline: str | None = None         # the deadline kind met once the outcome is known
    initiator: str | None = None        # a fact naming the party whose request counts as its answer
    initiator_answer: str | None = None
    carry: list[str] = Field(default_factory=list)   # params the first vote sets and later votes may only repeat
    carry_with: str | None = None       # the answer that carries them

    @model_validator(mode="after")
    def _answers(self) -> DecisionSpec:
        for rule in self.rules:
            if rule.answer is not None and rule.answer not in self.answers:
                raise ValueError(f"rule names answer {rule.answer!r}, not one of {self.answers}")
        return self


class ProcessSpec(Strict):
    title: Text
    article: str
    initial: str
    id_prefix: str | None = None     # children: "{root}/{id_prefix}-{n}"
    states: dict[str, StateSpec]
    triggers: list[TriggerSpec]
    deadlines: list[DeadlineSpec] = Field(default_factory=list)
    decisions: dict[str, DecisionSpec] = Field(default_factory=dict)
    on_create: list[Call] = Field(default_factory=list)

    @cached_property
    def trigger_map(self) -> dict[str, TriggerSpec]:
        return {t.name: t for t in self.triggers}

    @cached_property
    def deadline_map(self) -> dict[str, DeadlineSpec]:
        return {d.kind: d for d in self.deadlines}


class WorkflowDefinition(Strict):
    name: str
    version: int
    title: Text
    article: str
    root: str
    processes: dict[str, ProcessSpec]
    example: str | None = None
    groups: dict[str, list[str]] = Field(default_factory=dict)   # state groups usable as a source: "@in_force"
    layer_themes: dict[str, list[str]] = Field(default_factory=dict)  # e.g. water_board: [inkoop, vth]
    # Where the agreement says who represents whom (a represented party acting directly is refused citing it).
    parties_article: str = "Partijen (aanhef)"
    source_file: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.replace("_", "").isalnum() or value != value.lower():
            raise ValueError("a workflow name is lower case letters, digits and underscores")
        return value

    @cached_property
    def vocabulary(self) -> set[str]:
        return {t.name for p in self.processes.values() for t in p.triggers}

    def process(self, ptype: str) -> ProcessSpec:
        return self.processes[ptype]


def _check_references(wf: WorkflowDefinition) -> list[tuple[str, str]]:
    """Cross-references that pydantic cannot see: each problem as (field path, message)."""
    from convenant.engine import rules  # the building blocks a definition may name

    problems: list[tuple[str, str]] = []
    if wf.root not in wf.processes:
        problems.append(("root", f"no process {wf.root!r}"))
    for pname, proc in wf.processes.items():
        where = f"processes.{pname}"
        states = set(proc.states)
        if proc.initial not in states:
            problems.append((f"{where}.initial", f"unknown state {proc.initial!r}"))
        if not any(s.final for s in proc.states.values()):
            problems.append((f"{where}.states", "no final state"))
        for sname, state in proc.states.items():
            if not state.article.strip():
                problems.append((f"{where}.states.{sname}.article", "every state names its article"))
            for i, call in enumerate(state.on_enter):
                problems += _check_call(call, f"{where}.states.{sname}.on_enter[{i}]", rules.EFFECTS, wf)
        for i, call in enumerate(proc.on_create):
            problems += _check_call(call, f"{where}.on_create[{i}]", rules.EFFECTS, wf)
        seen: set[str] = set()
        for i, trig in enumerate(proc.triggers):
            tw = f"{where}.triggers[{i}]({trig.name})"
            if trig.name in seen:
                problems.append((tw, "trigger defined twice"))
            seen.add(trig.name)
            if not trig.article.strip():
                problems.append((f"{tw}.article", "every trigger names its article"))
            for src in trig.source:
                if src.startswith("@"):
                    if src[1:] not in wf.groups:
                        problems.append((f"{tw}.source", f"unknown state group {src!r}"))
                    else:
                        problems += [(f"{tw}.source", f"group {src} names unknown state {s!r}")
                                     for s in wf.groups[src[1:]] if s not in states]
                elif src not in states:
                    problems.append((f"{tw}.source", f"unknown state {src!r}"))
            for dest in [trig.dest] + [b.dest for b in trig.branches]:
                if dest is not None and dest not in states:
                    problems.append((f"{tw}.dest", f"unknown state {dest!r}"))
            outcomes = ({r.outcome for r in proc.decisions[trig.decision].rules}
                        if trig.decision in proc.decisions else set())
            for j, branch in enumerate(trig.branches):
                if not rules.condition_known(branch.when):
                    problems.append((f"{tw}.branches[{j}].when", f"unknown condition {branch.when!r}"))
                else:
                    problems += _check_condition(branch.when, trig, outcomes, f"{tw}.branches[{j}].when")
                for k, call in enumerate(branch.effects):
                    problems += _check_call(call, f"{tw}.branches[{j}].effects[{k}]", rules.EFFECTS, wf)
            for j, guard in enumerate(trig.guards):
                if guard.check not in rules.GUARDS:
                    problems.append((f"{tw}.guards[{j}].check", f"unknown guard {guard.check!r}"))
                else:
                    problems += _check_args(rules.GUARDS[guard.check], guard.args, f"{tw}.guards[{j}].args",
                                            wf, article=guard.article)
                    if isinstance(guard.args.get("date"), dict):
                        problems += _check_date(guard.args["date"], f"{tw}.guards[{j}].args.date", proc)
                if not guard.article.strip():
                    problems.append((f"{tw}.guards[{j}].article", "every guard names its article"))
            for j, call in enumerate(trig.effects):
                problems += _check_call(call, f"{tw}.effects[{j}]", rules.EFFECTS, wf)
            for kind in trig.meets:
                if kind not in proc.deadline_map:
                    problems.append((f"{tw}.meets", f"unknown deadline {kind!r}"))
            if trig.decision and trig.decision not in proc.decisions:
                problems.append((f"{tw}.decision", f"unknown decision {trig.decision!r}"))
            if trig.decision and proc.decisions.get(trig.decision):
                dec = proc.decisions[trig.decision]
                if dec.param not in trig.params and trig.answer is None:
                    problems.append((f"{tw}.params", f"a vote needs the parameter {dec.param!r}"))
                if trig.answer is not None and trig.answer not in dec.answers:
                    problems.append((f"{tw}.answer", f"{trig.answer!r} is not one of {dec.answers}"))
            elif trig.answer is not None:
                problems.append((f"{tw}.answer", "an answer needs a 'decision'"))
            if trig.automatic is not None:
                for j, expr in enumerate(trig.automatic.at):
                    problems += _check_date(expr, f"{tw}.automatic.at[{j}]", proc)
        for i, dl in enumerate(proc.deadlines):
            if not dl.article.strip():
                problems.append((f"{where}.deadlines[{i}].article", "every deadline names its article"))
            problems += _check_date(dl.due, f"{where}.deadlines[{i}].due", proc)
            for trig_name in dl.met_by:
                if trig_name not in proc.trigger_map:
                    problems.append((f"{where}.deadlines[{i}].met_by", f"unknown trigger {trig_name!r}"))
        for dname, dec in proc.decisions.items():
            if dec.deadline and dec.deadline not in proc.deadline_map:
                problems.append((f"{where}.decisions.{dname}.deadline", f"unknown deadline {dec.deadline!r}"))
            from convenant.engine.decisions import uncovered
            for combo in uncovered(dec):
                problems.append((f"{where}.decisions.{dname}.rules",
                                 f"no rule decides the answers {' + '.join(sorted(combo))}"))
    return problems


def _check_call(call: Call, where: str, library: dict, wf: WorkflowDefinition) -> list[tuple[str, str]]:
    if call.do not in library:
        return [(f"{where}.do", f"unknown effect {call.do!r}")]
    return _check_args(library[call.do], call.args, f"{where}.args", wf)


def _check_args(fn: Any, args: dict[str, Any], where: str, wf: WorkflowDefinition, **fixed: Any
                ) -> list[tuple[str, str]]:
    """The arguments a building block needs must be there, so that a definition cannot fail mid-command."""
    try:
        inspect.signature(fn).bind(None, **fixed, **args)
    except TypeError as exc:
        return [(where, str(exc))]
    ptype = args.get("ptype")
    if ptype is not None and ptype not in wf.processes:
        return [(f"{where}.ptype", f"unknown process type {ptype!r}")]
    return []


def _check_condition(when: str, trig: TriggerSpec, outcomes: set[str], where: str) -> list[tuple[str, str]]:
    if when.startswith("param:"):
        key, _, want = when[len("param:"):].partition("=")
        spec = trig.params.get(key)
        if spec is None:
            return [(where, f"condition {when!r} names no parameter of {trig.name}")]
        if spec.options and want not in spec.options:
            return [(where, f"condition {when!r}: {want!r} is not one of {spec.options}")]
    if when.startswith("outcome:") and when[len("outcome:"):] not in outcomes:
        return [(where, f"condition {when!r}: no rule of the trigger's decision has this outcome")]
    return []


def _check_date(expr: DateExpr | dict, where: str, proc: ProcessSpec) -> list[tuple[str, str]]:
    from convenant.engine.config import Settings

    if isinstance(expr, dict):
        try:
            expr = DateExpr.model_validate(expr)
        except ValidationError as exc:
            return [(where, exc.errors()[0]["msg"])]
    if expr.deadline and expr.deadline not in proc.deadline_map:
        return [(f"{where}.deadline", f"unknown deadline {expr.deadline!r}")]
    if expr.config_key is not None:
        try:
            value = Settings().param(expr.config_key)
        except (AttributeError, KeyError):
            return [(f"{where}.days", f"config.toml has no key {expr.config_key!r}")]
        if not isinstance(value, int):
            return [(f"{where}.days", f"config.toml key {expr.config_key!r} is not a number of days")]
    return []


def parse_definition(raw: dict, source: str) -> WorkflowDefinition:
    try:
        wf = WorkflowDefinition.model_validate({**raw, "source_file": source})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise BadInput(f"{source}: field {field!r}: {first['msg']}", field=field) from None
    problems = _check_references(wf)
    if problems:
        field, message = problems[0]
        raise BadInput(f"{source}: field {field!r}: {message}", field=field)
    return wf


def load_definition(path: str | Path) -> WorkflowDefinition:
    file = Path(path)
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"{file}: not valid TOML: {exc}", field=str(file)) from None
    except OSError as exc:
        raise BadInput(f"{file}: cannot be read: {exc.strerror}", field=str(file)) from None
    return parse_definition(raw, str(file))
