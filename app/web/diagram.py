"""The state diagram of one process type as SVG, the current state marked. Graphviz `dot` lays it out when it is
installed (Debian's graphviz, through the `graphviz` package); without it a simple layered drawing of our own
keeps the page whole."""
from __future__ import annotations

import html
from collections import defaultdict

from convenant.engine.definitions import WorkflowDefinition
from convenant.engine.diagram import state_changes

from convenant.i18n import localized

CURRENT_FILL, CURRENT_LINE = "#ffd54f", "#e65100"


_CACHE: dict[tuple, str] = {}


def state_svg(wf: WorkflowDefinition, ptype: str, current: str | None, lang: str) -> str:
    key = (wf.name, wf.version, id(wf), ptype, current, lang)
    if key not in _CACHE:
        try:
            _CACHE[key] = _dot_svg(wf, ptype, current, lang)
        except Exception:  # no `dot` here (graphviz.ExecutableNotFound) or it failed: draw it ourselves
            _CACHE[key] = fallback_svg(wf, ptype, current, lang)
    return _CACHE[key]


def _dot_svg(wf: WorkflowDefinition, ptype: str, current: str | None, lang: str) -> str:
    import graphviz

    spec = wf.process(ptype)
    g = graphviz.Digraph(graph_attr={"rankdir": "TB" if len(spec.states) > 5 else "LR", "bgcolor": "transparent", "fontname": "Helvetica",
                                     "nodesep": "0.25", "ranksep": "0.35", "concentrate": "true"},
                         node_attr={"shape": "box", "style": "rounded,filled", "fillcolor": "#ffffff",
                                    "color": "#4a5568", "fontname": "Helvetica", "fontsize": "11"},
                         edge_attr={"fontname": "Helvetica", "fontsize": "9", "color": "#4a5568"})
    g.node("__start", "", shape="circle", width="0.15", style="filled", fillcolor="#2d3748")
    for name, state in spec.states.items():
        label = f"{localized(state.title, lang, name)}\n{state.article}"
        attrs = {"peripheries": "2"} if state.final else {}
        if name == current:
            attrs.update(fillcolor=CURRENT_FILL, color=CURRENT_LINE, penwidth="3", fontsize="12")
        g.node(name, label, tooltip=name, id=f"state-{name}", **attrs)
    g.edge("__start", spec.initial)
    for edge in state_changes(wf, ptype):   # the walk the Mermaid text takes too (engine/diagram.py)
        g.edge(edge.source, edge.dest, label=edge.trigger, style="dashed" if edge.automatic else "solid")
    return g.pipe(format="svg", encoding="utf-8")


def fallback_svg(wf: WorkflowDefinition, ptype: str, current: str | None, lang: str) -> str:
    """Layers by distance from the initial state, left to right; straight arrows labelled with the trigger."""
    spec = wf.process(ptype)
    links = state_changes(wf, ptype)
    rank = {spec.initial: 0}
    frontier = [spec.initial]
    while frontier:
        nxt = []
        for node in frontier:
            for link in links:
                if link.source == node and link.dest not in rank:
                    rank[link.dest] = rank[node] + 1
                    nxt.append(link.dest)
        frontier = nxt
    for name in spec.states:
        rank.setdefault(name, max(rank.values()) + 1)
    columns: dict[int, list[str]] = defaultdict(list)
    for name in spec.states:
        columns[rank[name]].append(name)
    w, h, gap_x, gap_y = 150, 44, 70, 26
    pos = {name: (20 + r * (w + gap_x), 20 + i * (h + gap_y)) for r, names in columns.items()
           for i, name in enumerate(names)}
    width = 40 + len(columns) * (w + gap_x) - gap_x
    height = 40 + max(len(v) for v in columns.values()) * (h + gap_y) - gap_y
    esc = html.escape
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
             'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#4a5568"/></marker></defs>']
    for link in links:
        (x1, y1), (x2, y2) = pos[link.source], pos[link.dest]
        forward = x2 > x1
        sx, ex = (x1 + w, x2) if forward else (x1, x2 + w) if x2 < x1 else (x1 + w / 2, x2 + w / 2)
        sy, ey = (y1 + h / 2, y2 + h / 2) if x1 != x2 else ((y1 + h, y2) if y2 > y1 else (y1, y2 + h))
        dash = ' stroke-dasharray="4 3"' if link.automatic else ""
        parts.append(f'<line x1="{sx}" y1="{sy}" x2="{ex}" y2="{ey}" stroke="#4a5568"{dash} '
                     f'marker-end="url(#arrow)"/>')
        parts.append(f'<text x="{(sx + ex) / 2}" y="{(sy + ey) / 2 - 3}" font-size="9" text-anchor="middle" '
                     f'fill="#2d3748">{esc(link.trigger)}</text>')
    for name, state in spec.states.items():
        x, y = pos[name]
        cur = name == current
        fill, line, stroke = (CURRENT_FILL, CURRENT_LINE, 3) if cur else ("#ffffff", "#4a5568", 1)
        parts.append(f'<g id="state-{esc(name)}"><title>{esc(name)}</title>'
                     f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="8" fill="{fill}" stroke="{line}" '
                     f'stroke-width="{stroke}"/>')
        if state.final:
            parts.append(f'<rect x="{x + 3}" y="{y + 3}" width="{w - 6}" height="{h - 6}" rx="6" fill="none" '
                         f'stroke="{line}"/>')
        weight = ' font-weight="bold"' if cur else ""
        parts.append(f'<text x="{x + w / 2}" y="{y + 19}" font-size="12" text-anchor="middle"{weight}>'
                     f'{esc(localized(state.title, lang, name))}</text>'
                     f'<text x="{x + w / 2}" y="{y + 34}" font-size="10" text-anchor="middle" fill="#4a5568">'
                     f'{esc(state.article)}</text></g>')
    parts.append("</svg>")
    return "\n".join(parts)
