"""Loading a definition file: pydantic validates its shape (engine/definitions.py), then the cross-references
pydantic cannot see are checked here - states, deadlines and decisions named by triggers, and the building blocks
(engine/rules.py and the plug-ins it names, engine/plugins/) and decision rules (engine/decisions.py) a definition
names. Errors name the file and field.

This module sits above definitions, rules and decisions, so none of those needs to import another upward."""
from __future__ import annotations

import inspect
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from convenant.engine.config import Settings
from convenant.engine.decisions import uncovered
from convenant.engine.definitions import (
    Call,
    DateExpr,
    GuardCall,
    ProcessSpec,
    TriggerSpec,
    WorkflowDefinition,
)
from convenant.engine.errors import BadInput, invalid
from convenant.engine.plugins import registry

Problem = tuple[str, str]          # (field path, message)


VERSIONS_DIR = "versions"        # beside a definition file: versions/NAME.vN.toml, its other versions


def load_definition(path: str | Path) -> WorkflowDefinition:
    """A definition file, with the other versions of the same definition kept beside it (versions/NAME.vN.toml):
    the file itself is the version new agreements are made under; a running one moves to another with
    `convenant migrate`, along the `[[migrations]]` table of the version it moves to."""
    wf = _load_one(Path(path))
    folder = Path(path).parent / VERSIONS_DIR
    others: dict[int, WorkflowDefinition] = {}
    for file in sorted(folder.glob(f"{wf.name}.v*.toml")) if folder.is_dir() else []:
        other = _load_one(file)
        if other.name != wf.name:
            raise BadInput(f"{file}: field 'name': a version of {wf.name!r} must have the same name, not "
                           f"{other.name!r}", field="name")
        if other.version == wf.version or other.version in others:
            raise BadInput(f"{file}: field 'version': version {other.version} of {wf.name!r} is defined twice",
                           field="version")
        others[other.version] = other
    every = {wf.version: wf, **others}
    for version in every.values():
        for field, message in check_migrations(version, every):
            raise BadInput(f"{version.source_file}: field {field!r}: {message}", field=field)
    wf.attach_versions(others)
    return wf


def _load_one(file: Path) -> WorkflowDefinition:
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"{file}: not valid TOML: {exc}", field=str(file)) from None
    except OSError as exc:
        raise BadInput(f"{file}: cannot be read: {exc.strerror}", field=str(file)) from None
    return parse_definition(raw, str(file))


def parse_definition(raw: dict, source: str) -> WorkflowDefinition:
    try:
        wf = WorkflowDefinition.model_validate({**raw, "source_file": source})
    except ValidationError as exc:
        raise invalid(exc, source) from None
    for field, message in check_references(wf):
        raise BadInput(f"{source}: field {field!r}: {message}", field=field)
    return wf


def check_migrations(wf: WorkflowDefinition, every: dict[int, WorkflowDefinition]) -> list[Problem]:
    """A `[[migrations]]` table names a version that exists, and states and deadline kinds each side knows.
    Whether a running process finds a place for all of its states and open deadlines is judged when it is
    migrated (engine/migrate.py): a mapping may leave out what a process can no longer be in."""
    problems: list[Problem] = []
    for i, mig in enumerate(wf.migrations):
        where = f"migrations[{i}]"
        source = every.get(mig.from_version)
        if source is None or mig.from_version == wf.version:
            problems.append((f"{where}.from", f"no other version {mig.from_version} of {wf.name!r} (known: "
                             f"{', '.join(str(n) for n in sorted(every))})"))
            continue
        for ptype, mapping in mig.processes.items():
            pw = f"{where}.processes.{ptype}"
            if ptype not in wf.processes or ptype not in source.processes:
                problems.append((pw, f"process type {ptype!r} is not in both versions"))
                continue
            old, new = source.process(ptype), wf.process(ptype)
            problems += [(f"{pw}.states.{a}", f"version {mig.from_version} has no state {a!r}")
                         for a in mapping.states if a not in old.states]
            problems += [(f"{pw}.states.{a}", f"version {wf.version} has no state {b!r}")
                         for a, b in mapping.states.items() if b not in new.states]
            problems += [(f"{pw}.deadlines.{a}", f"version {mig.from_version} has no deadline {a!r}")
                         for a in [*mapping.deadlines, *mapping.cancel] if a not in old.deadline_map]
            problems += [(f"{pw}.deadlines.{a}", f"version {wf.version} has no deadline {b!r}")
                         for a, b in mapping.deadlines.items() if b not in new.deadline_map]
            problems += [(f"{pw}.add", f"version {wf.version} has no deadline {k!r}")
                         for k in mapping.add if k not in new.deadline_map]
            problems += [(f"{pw}.add_in", f"version {wf.version} has no state {s!r}")
                         for s in mapping.add_in if not s.startswith("@") and s not in new.states]
            problems += [(f"{pw}.add_in", f"version {wf.version} has no state group {s!r}")
                         for s in mapping.add_in if s.startswith("@") and s[1:] not in wf.groups]
        problems += [(f"{where}.processes", f"process type {p!r} of version {mig.from_version} is not in "
                      f"version {wf.version}") for p in source.processes if p not in wf.processes]
    return problems


def check_references(wf: WorkflowDefinition) -> list[Problem]:
    """Every cross-reference problem of a definition, in file order."""
    problems: list[Problem] = []
    if wf.root not in wf.processes:
        problems.append(("root", f"no process {wf.root!r}"))
    try:
        registry.library(wf)          # the plug-ins it names exist and share no block name
    except BadInput as exc:
        return problems + [("plugins", exc.message)]
    for pname, proc in wf.processes.items():
        problems += _process(wf, proc, f"processes.{pname}")
    kinds = {d.kind for proc in wf.processes.values() for d in proc.deadlines}
    for kind, scheme in wf.reminders.items():     # a definition's own reminder scheme names a kind it has
        if kind not in kinds:
            problems.append((f"reminders.{kind}", f"no deadline of kind {kind!r} (kinds: {', '.join(sorted(kinds))})"))
        elif not scheme.article.strip():
            problems.append((f"reminders.{kind}.article", "a reminder scheme names its article"))
    return problems


def _process(wf: WorkflowDefinition, proc: ProcessSpec, where: str) -> list[Problem]:
    problems = list(_states(wf, proc, where))
    problems += [p for i, call in enumerate(proc.on_create) for p in _call(call, f"{where}.on_create[{i}]", wf)]
    seen: set[str] = set()
    for i, trig in enumerate(proc.triggers):
        tw = f"{where}.triggers[{i}]({trig.name})"
        if trig.name in seen:
            problems.append((tw, "trigger defined twice"))
        seen.add(trig.name)
        problems += _trigger(wf, proc, trig, tw)
    problems += list(_deadlines(proc, where))
    problems += list(_decisions(proc, where))
    return problems


def _states(wf: WorkflowDefinition, proc: ProcessSpec, where: str) -> Iterator[Problem]:
    if proc.initial not in proc.states:
        yield f"{where}.initial", f"unknown state {proc.initial!r}"
    if not any(s.final for s in proc.states.values()):
        yield f"{where}.states", "no final state"
    for sname, state in proc.states.items():
        if not state.article.strip():
            yield f"{where}.states.{sname}.article", "every state names its article"
        for i, call in enumerate(state.on_enter):
            yield from _call(call, f"{where}.states.{sname}.on_enter[{i}]", wf)


def _trigger(wf: WorkflowDefinition, proc: ProcessSpec, trig: TriggerSpec, tw: str) -> list[Problem]:
    problems: list[Problem] = []
    if not trig.article.strip():
        problems.append((f"{tw}.article", "every trigger names its article"))
    problems += list(_sources(wf, proc, trig, tw))
    problems += [(f"{tw}.dest", f"unknown state {dest!r}") for dest in [trig.dest] + [b.dest for b in trig.branches]
                 if dest is not None and dest not in proc.states]
    problems += list(_branches(wf, proc, trig, tw))
    for j, guard in enumerate(trig.guards):
        problems += list(_guard(wf, proc, guard, f"{tw}.guards[{j}]"))
    problems += [p for j, call in enumerate(trig.effects) for p in _call(call, f"{tw}.effects[{j}]", wf)]
    problems += [(f"{tw}.meets", f"unknown deadline {kind!r}") for kind in trig.meets
                 if kind not in proc.deadline_map]
    problems += list(_vote(proc, trig, tw))
    problems += [(f"{tw}.params.{key}.vocabulary", f"unknown vocabulary {p.vocabulary!r} (the definition's "
                  f"plug-ins know {', '.join(sorted(registry.library(wf).vocabularies)) or 'none'})")
                 for key, p in trig.params.items()
                 if p.vocabulary is not None and p.vocabulary not in registry.library(wf).vocabularies]
    if trig.automatic is not None:
        for j, expr in enumerate(trig.automatic.at):
            problems += _date(expr, f"{tw}.automatic.at[{j}]", proc)
    return problems


def _sources(wf: WorkflowDefinition, proc: ProcessSpec, trig: TriggerSpec, tw: str) -> Iterator[Problem]:
    for src in trig.source:
        if not src.startswith("@"):
            if src not in proc.states:
                yield f"{tw}.source", f"unknown state {src!r}"
        elif src[1:] not in wf.groups:
            yield f"{tw}.source", f"unknown state group {src!r}"
        else:
            for state in wf.groups[src[1:]]:
                if state not in proc.states:
                    yield f"{tw}.source", f"group {src} names unknown state {state!r}"


def _branches(wf: WorkflowDefinition, proc: ProcessSpec, trig: TriggerSpec, tw: str) -> Iterator[Problem]:
    # the decision it votes in, or the one it judges again (the engine's `judge_decision` effect)
    named = [trig.decision] + [str(c.args.get("name")) for c in trig.effects if c.do == "judge_decision"]
    outcomes = {r.outcome for n in named if n in proc.decisions for r in proc.decisions[n].rules}
    for j, branch in enumerate(trig.branches):
        if not registry.library(wf).condition_known(branch.when):
            yield f"{tw}.branches[{j}].when", f"unknown condition {branch.when!r}"
        else:
            yield from _condition(branch.when, trig, outcomes, f"{tw}.branches[{j}].when")
        for k, call in enumerate(branch.effects):
            yield from _call(call, f"{tw}.branches[{j}].effects[{k}]", wf)


def _guard(wf: WorkflowDefinition, proc: ProcessSpec, guard: GuardCall, gw: str) -> Iterator[Problem]:
    guards = registry.library(wf).guards
    if guard.check not in guards:
        yield f"{gw}.check", f"unknown guard {guard.check!r}"
    else:
        yield from _args(guards[guard.check], guard.args, f"{gw}.args", wf, article=guard.article)
        if isinstance(guard.args.get("date"), dict):
            yield from _date(guard.args["date"], f"{gw}.args.date", proc)
    if not guard.article.strip():
        yield f"{gw}.article", "every guard names its article"


def _vote(proc: ProcessSpec, trig: TriggerSpec, tw: str) -> Iterator[Problem]:
    if trig.decision and trig.decision not in proc.decisions:
        yield f"{tw}.decision", f"unknown decision {trig.decision!r}"
    elif trig.decision:
        dec = proc.decisions[trig.decision]
        if dec.param not in trig.params and trig.answer is None:
            yield f"{tw}.params", f"a vote needs the parameter {dec.param!r}"
        if trig.answer is not None and trig.answer not in dec.answers:
            yield f"{tw}.answer", f"{trig.answer!r} is not one of {dec.answers}"
    elif trig.answer is not None:
        yield f"{tw}.answer", "an answer needs a 'decision'"


def _deadlines(proc: ProcessSpec, where: str) -> Iterator[Problem]:
    for i, dl in enumerate(proc.deadlines):
        if not dl.article.strip():
            yield f"{where}.deadlines[{i}].article", "every deadline names its article"
        yield from _date(dl.due, f"{where}.deadlines[{i}].due", proc)
        for trig_name in dl.met_by:
            if trig_name not in proc.trigger_map:
                yield f"{where}.deadlines[{i}].met_by", f"unknown trigger {trig_name!r}"


def _decisions(proc: ProcessSpec, where: str) -> Iterator[Problem]:
    for dname, dec in proc.decisions.items():
        if dec.deadline and dec.deadline not in proc.deadline_map:
            yield f"{where}.decisions.{dname}.deadline", f"unknown deadline {dec.deadline!r}"
        for combo in uncovered(dec):
            yield f"{where}.decisions.{dname}.rules", f"no rule decides the answers {' + '.join(sorted(combo))}"


def _call(call: Call, where: str, wf: WorkflowDefinition) -> list[Problem]:
    effects = registry.library(wf).effects
    if call.do not in effects:
        return [(f"{where}.do", f"unknown effect {call.do!r}")]
    return _args(effects[call.do], call.args, f"{where}.args", wf)


def _args(fn: Any, args: dict[str, Any], where: str, wf: WorkflowDefinition, **fixed: Any) -> list[Problem]:
    """The arguments a building block needs must be there, so that a definition cannot fail mid-command."""
    try:
        inspect.signature(fn).bind(None, **fixed, **args)
    except TypeError as exc:
        return [(where, str(exc))]
    ptype = args.get("ptype")
    if ptype is not None and ptype not in wf.processes:
        return [(f"{where}.ptype", f"unknown process type {ptype!r}")]
    return []


def _condition(when: str, trig: TriggerSpec, outcomes: set[str], where: str) -> list[Problem]:
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


def _date(expr: DateExpr | dict, where: str, proc: ProcessSpec) -> list[Problem]:
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
