"""State diagrams of a definition: one walk over its transitions (`edges`), drawn as Mermaid stateDiagram-v2 text
here (`convenant workflows show NAME --diagram mermaid`) and as SVG by the web pages (app/web/diagram.py)."""
from __future__ import annotations

from dataclasses import dataclass

from convenant.engine.definitions import TriggerSpec, WorkflowDefinition
from convenant.engine.machine import expand_sources


@dataclass(frozen=True)
class Edge:
    """One way a trigger leads from a source state to a destination."""

    source: str
    dest: str
    trigger: str
    when: str | None      # the branch's condition; None for the trigger's own destination
    automatic: bool       # fires only by itself (at a date or a condition), never by a person
    article: str

    @property
    def label(self) -> str:
        return self.trigger if self.when is None else f"{self.trigger} [{self.when}]"


def can_happen(wf: WorkflowDefinition, ptype: str, trig: TriggerSpec, when: str | None) -> bool:
    """Can this branch of the trigger ever be taken? A vote with a fixed answer (`refuse`) reaches only the
    outcomes a rule decides by that answer: an outcome is announced at the first moment it is certain, so a
    refusal never adopts an amendment and a consent never rejects one. Every other branch can."""
    if when is None or not when.startswith("outcome:") or trig.decision is None or trig.answer is None:
        return True
    decision = wf.process(ptype).decisions.get(trig.decision)
    if decision is None:
        return True
    outcome = when.split(":", 1)[1]
    return any(rule.outcome == outcome and (rule.when == "mixed" or rule.answer == trig.answer)
               for rule in decision.rules)


def edges(wf: WorkflowDefinition, ptype: str) -> list[Edge]:
    """Every transition of one process type that can happen, in definition order: per trigger, per source state
    (groups such as `@in_force` expanded), its branches and then its own destination. A trigger with branches
    whose own destination is the state it leaves only stays put when no branch applies: that is no edge; nor is
    a branch the trigger can never take (can_happen)."""
    out: list[Edge] = []
    for trig in wf.process(ptype).triggers:
        dests = [(b.dest, b.when) for b in trig.branches if can_happen(wf, ptype, trig, b.when)] + \
            ([(trig.dest, None)] if trig.dest else [])
        for src in expand_sources(wf, trig.source):
            for dest, when in dests:
                if dest == src and trig.branches and dest == trig.dest:
                    continue
                out.append(Edge(src, dest, trig.name, when, not trig.manual, trig.article))
    return out


def state_changes(wf: WorkflowDefinition, ptype: str) -> list[Edge]:
    """The edges that move to another state, one per source, destination and trigger: what a drawing shows."""
    seen: set[tuple[str, str, str]] = set()
    out: list[Edge] = []
    for edge in edges(wf, ptype):
        key = (edge.source, edge.dest, edge.trigger)
        if edge.dest != edge.source and key not in seen:
            seen.add(key)
            out.append(edge)
    return out


def mermaid(wf: WorkflowDefinition, ptype: str | None = None, current: str | None = None) -> str:
    lines = ["stateDiagram-v2"]
    for pname, proc in wf.processes.items():
        if ptype is not None and pname != ptype:
            continue
        indent = "    "
        if ptype is None and pname != wf.root:
            lines.append(f"    state {pname} {{")
            indent = "        "
        prefix = "" if pname == wf.root or ptype is not None else f"{pname}_"
        lines.append(f"{indent}[*] --> {prefix}{proc.initial}")
        for e in edges(wf, pname):
            auto = " (auto)" if e.automatic else ""
            lines.append(f"{indent}{prefix}{e.source} --> {prefix}{e.dest} : {e.label}{auto} ({e.article})")
        for sname, state in proc.states.items():
            if state.final:
                lines.append(f"{indent}{prefix}{sname} --> [*]")
        if ptype is None and pname != wf.root:
            lines.append("    }")
    if current:
        lines.append("    classDef current fill:#ffd54f,stroke:#e65100,stroke-width:3px")
        lines.append(f"    class {current} current")
    return "\n".join(lines)
