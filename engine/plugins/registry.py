"""The one registry of plug-ins, and the dispatch of building blocks by name.

`library(wf)` is what a definition may name: the generic blocks (engine/rules.py) and those of the plug-ins the
definition lists, checked once to share no name. Hooks that concern an agreement rather than a definition (its
`show` sections, how its deadlines are named in mail, who its recipients are) follow the plug-ins the agreement
holds state for (`Process.plugins`), so that an agreement read from an older format keeps what it had."""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from convenant.engine import rules
from convenant.engine.errors import BadInput
from convenant.engine.model import Deadline, Process
from convenant.engine.plugins import themes
from convenant.engine.plugins.base import Condition, Effect, Guard, Plugin, Topic, Vocabulary

if TYPE_CHECKING:
    from convenant.engine.config import Settings
    from convenant.engine.definitions import GuardCall, ParamSpec, WorkflowDefinition

PLUGINS: dict[str, Plugin] = {plugin.name: plugin for plugin in (themes.PLUGIN,)}


def plugin(name: str) -> Plugin:
    try:
        return PLUGINS[name]
    except KeyError:
        raise BadInput(f"unknown plug-in {name!r}; known: {', '.join(sorted(PLUGINS))}", field="plugins") from None


@dataclass(frozen=True)
class Library:
    """The building blocks one definition may name, by kind."""
    plugins: tuple[Plugin, ...]
    guards: Mapping[str, Guard]
    effects: Mapping[str, Effect]
    conditions: Mapping[str, Condition]
    vocabularies: Mapping[str, Vocabulary]

    def run_effects(self, act: rules.Act, calls: list[Any]) -> None:
        for call in calls:
            self.effects[call.do](act, **call.args)

    def run_guard(self, act: rules.Act, guard: GuardCall) -> None:
        self.guards[guard.check](act, guard.article, **guard.args)

    def condition(self, act: rules.Act, name: str) -> bool:
        head, _, arg = name.partition(":")
        test = self.conditions.get(head)
        if test is None:
            raise BadInput(f"unknown condition {name!r}", field="definition")
        return test(act, arg)

    def condition_known(self, name: str) -> bool:
        return name.partition(":")[0] in self.conditions

    def validate(self, params: dict[str, Any], root: Process) -> None:
        for p in self.plugins:
            if p.validate is not None:
                p.validate(params, root)


def _merged(parts: tuple[Plugin, ...], kind: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in parts:
        for name, block in getattr(p, kind).items():
            if name in out:
                raise BadInput(f"plug-in {p.name} names the {kind[:-1]} {name!r} a plug-in before it names",
                               field="plugins")
            out[name] = block
    return out


@lru_cache(maxsize=32)
def _library(names: tuple[str, ...]) -> Library:
    parts = (rules.GENERIC, *(plugin(n) for n in names))
    return Library(plugins=parts, guards=_merged(parts, "guards"), effects=_merged(parts, "effects"),
                   conditions=_merged(parts, "conditions"), vocabularies=_merged(parts, "vocabularies"))


def library(wf: WorkflowDefinition) -> Library:
    return _library(tuple(wf.plugins))


# -- the command pipeline's dispatch ------------------------------------------------------------------------
def run_effects(act: rules.Act, calls: list[Any]) -> None:
    library(act.wf).run_effects(act, calls)


def run_guard(act: rules.Act, guard: GuardCall) -> None:
    library(act.wf).run_guard(act, guard)


def condition(act: rules.Act, name: str) -> bool:
    return library(act.wf).condition(act, name)


# -- hooks of the plug-ins an agreement holds state for -----------------------------------------------------
def of_agreement(root: Process) -> Iterator[Plugin]:
    for name in root.plugins:
        found = PLUGINS.get(name)
        if found is not None:
            yield found


def options(pspec: ParamSpec, root: Process) -> list[str] | None:
    """The words an option parameter accepts on this agreement (None: any text): the definition's options, or
    a vocabulary of one of the agreement's plug-ins (themes: its theme ids)."""
    if pspec.options:
        return list(pspec.options)
    for p in of_agreement(root):
        if pspec.vocabulary is not None and pspec.vocabulary in p.vocabularies:
            return p.vocabularies[pspec.vocabulary](root)
    return None


def sections(root: Process, deadlines: list[Deadline], settings: Settings) -> dict[str, Any]:
    """The fields the agreement's plug-ins add to `show` (themes: `themes`)."""
    out: dict[str, Any] = {}
    for p in of_agreement(root):
        if p.show is not None:
            out.update(p.show(root, deadlines, settings))
    return out


def view(root: Process, name: str, deadlines: list[Deadline], settings: Settings) -> dict[str, Any] | None:
    """A named read view of one of the agreement's plug-ins (themes: `progress`), or None if none offers it."""
    for p in of_agreement(root):
        if name in p.views:
            return p.views[name](root, deadlines, settings)
    return None


def offers(root: Process, name: str) -> bool:
    """Does a plug-in of the agreement offer this view, with something in it?"""
    return any(name in p.views and (p.holds is None or p.holds(root)) for p in of_agreement(root))


def recipients(root: Process, entry: str) -> list[dict[str, str]] | None:
    """Contacts for a recipient entry "prefix:ARG" a plug-in resolves (None: no plug-in knows the prefix)."""
    head, _, arg = entry.partition(":")
    for p in of_agreement(root):
        if head in p.recipients:
            return p.recipients[head](root, arg)
    return None


def topic(root: Process, d: Deadline) -> Topic | None:
    for p in of_agreement(root):
        if p.topic is not None:
            found = p.topic(root, d)
            if found is not None:
                return found
    return None


def follows_escalation(root: Process, d: Deadline) -> bool:
    """Does a plug-in keep something of this deadline's ladder in the agreement (so it must be read)?"""
    return any(d.kind in p.escalation_kinds for p in of_agreement(root))


def escalated(root: Process, d: Deadline, level: int) -> bool:
    """A rung of the ladder ran (level 0 first); True when the agreement changed and must be written."""
    changed = False
    for p in of_agreement(root):
        if p.escalated is not None and d.kind in p.escalation_kinds:
            changed |= p.escalated(root, d, level)
    return changed
