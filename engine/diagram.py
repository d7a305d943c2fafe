"""State diagrams of a definition (Mermaid stateDiagram-v2), each transition labelled with its article."""
from __future__ import annotations

from convenant.engine.definitions import WorkflowDefinition
from convenant.engine.machine import expand_sources


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
        for trig in proc.triggers:
            dests = [(b.dest, f"{trig.name} [{b.when}]") for b in trig.branches]
            if trig.dest:
                dests.append((trig.dest, trig.name))
            for src in expand_sources(wf, trig.source):
                for dest, label in dests:
                    if dest == src and trig.branches and dest == trig.dest:
                        continue
                    auto = " (auto)" if trig.automatic and not trig.manual else ""
                    lines.append(f"{indent}{prefix}{src} --> {prefix}{dest} : {label}{auto} ({trig.article})")
        for sname, state in proc.states.items():
            if state.final:
                lines.append(f"{indent}{prefix}{sname} --> [*]")
        if ptype is None and pname != wf.root:
            lines.append("    }")
    if current:
        lines.append("    classDef current fill:#ffd54f,stroke:#e65100,stroke-width:3px")
        lines.append(f"    class {current} current")
    return "\n".join(lines)
