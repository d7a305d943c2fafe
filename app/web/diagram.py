"""The state diagram of one process type as SVG, the current state marked, every state and transition named in the
page's language (the definition's titles). Only transitions that can happen are drawn (engine.diagram
state_changes, which leaves out a branch a trigger can never take). Graphviz `dot` lays it out when it is installed
(Debian's graphviz, through the `graphviz` package); without it a drawing of our own keeps the page whole and
legible: the states in a column from the initial one down, each transition an arc beside them carrying a number,
and the numbered transitions written out below (no label can overlap another). Graphviz numbers its edges the same
way; the page lists the numbered transitions in words beside either drawing."""
from __future__ import annotations

import html
from collections import defaultdict
from dataclasses import dataclass

from convenant.engine.definitions import WorkflowDefinition
from convenant.engine.diagram import Edge, state_changes
from convenant.i18n import gettext, localized

CURRENT_FILL, CURRENT_LINE = "#ffd54f", "#8a3b00"
INK, LINE, MUTED = "#0f172a", "#334155", "#475569"
FONT = "Helvetica, Arial, sans-serif"

_CACHE: dict[tuple, str] = {}


@dataclass(frozen=True)
class Transition:
    """One drawn transition, in words: its number in the drawing, the trigger's title, from and to."""
    number: int
    trigger: str
    title: str
    source: str
    source_title: str
    dest: str
    dest_title: str
    automatic: bool
    article: str


def transitions(wf: WorkflowDefinition, ptype: str, lang: str) -> list[Transition]:
    """The transitions the diagram draws, numbered as the drawing numbers them (also the page's text version)."""
    spec = wf.process(ptype)
    out = []
    for i, edge in enumerate(_ordered(wf, ptype), start=1):
        tspec = spec.trigger_map.get(edge.trigger)
        out.append(Transition(i, edge.trigger, localized(tspec.title if tspec else None, lang, edge.trigger),
                              edge.source, localized(spec.states[edge.source].title, lang, edge.source),
                              edge.dest, localized(spec.states[edge.dest].title, lang, edge.dest),
                              edge.automatic, edge.article))
    return out


def state_svg(wf: WorkflowDefinition, ptype: str, current: str | None, lang: str) -> str:
    key = (wf.name, wf.version, id(wf), ptype, current, lang)
    if key not in _CACHE:
        try:
            _CACHE[key] = _dot_svg(wf, ptype, current, lang)
        except Exception:  # no `dot` here (graphviz.ExecutableNotFound) or it failed: draw it ourselves
            _CACHE[key] = fallback_svg(wf, ptype, current, lang)
    return _CACHE[key]


def _ranks(wf: WorkflowDefinition, ptype: str) -> dict[str, int]:
    """Each state's distance from the initial state (unreachable ones last)."""
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
    last = max(rank.values()) + 1
    for name in spec.states:
        rank.setdefault(name, last)
    return rank


def _order(wf: WorkflowDefinition, ptype: str) -> list[str]:
    """The states top to bottom: by rank, final states after the others of their rank, then definition order."""
    spec = wf.process(ptype)
    rank = _ranks(wf, ptype)
    names = list(spec.states)
    return sorted(names, key=lambda n: (spec.states[n].final, rank[n], names.index(n)))


def _ordered(wf: WorkflowDefinition, ptype: str) -> list[Edge]:
    """The edges in reading order: by where they leave from, top to bottom."""
    pos = {name: i for i, name in enumerate(_order(wf, ptype))}
    return sorted(state_changes(wf, ptype), key=lambda e: (pos[e.source], pos[e.dest]))


def _dot_svg(wf: WorkflowDefinition, ptype: str, current: str | None, lang: str) -> str:
    import graphviz

    spec = wf.process(ptype)
    g = graphviz.Digraph(graph_attr={"rankdir": "TB", "bgcolor": "transparent", "fontname": "Helvetica",
                                     "nodesep": "0.35", "ranksep": "0.45", "pad": "0.1"},
                         node_attr={"shape": "box", "style": "rounded,filled", "fillcolor": "#ffffff",
                                    "color": LINE, "fontcolor": INK, "fontname": "Helvetica", "fontsize": "13",
                                    "margin": "0.15,0.06"},
                         edge_attr={"fontname": "Helvetica", "fontsize": "11", "color": LINE, "fontcolor": INK})
    g.node("__start", "", shape="circle", width="0.18", style="filled", fillcolor=INK, tooltip=" ")
    for name, state in spec.states.items():
        label = f"{localized(state.title, lang, name)}\n{state.article}"
        attrs = {"peripheries": "2"} if state.final else {}
        if name == current:
            attrs.update(fillcolor=CURRENT_FILL, color=CURRENT_LINE, penwidth="3")
        g.node(name, label, tooltip=name, id=f"state-{name}", **attrs)
    g.edge("__start", spec.initial)
    for t in transitions(wf, ptype, lang):
        g.edge(t.source, t.dest, label=f" {t.number} ", fontsize="12", style="dashed" if t.automatic else "solid",
               tooltip=f"{t.number}. {t.title}")
    return g.pipe(format="svg", encoding="utf-8")


def _wrap(text: str, width: int) -> str:
    """Line breaks at spaces so that no line is much longer than `width` characters."""
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "\n".join(lines)


def fallback_svg(wf: WorkflowDefinition, ptype: str, current: str | None, lang: str) -> str:
    """States in a column, arcs beside them: forward transitions on the right, those that go back up on the left,
    each arc carrying its number in a circle, nested by length so that no two cross at their numbers; the
    numbered transitions written out under the drawing. Text is 13-14 px at the drawing's own size."""
    spec = wf.process(ptype)
    order = _order(wf, ptype)
    moves = transitions(wf, ptype, lang)
    box_w, box_h, gap = 250, 46, 22
    lane = 26                                   # horizontal room per nesting level of arcs
    right = [t for t in moves if order.index(t.dest) > order.index(t.source)]
    left = [t for t in moves if order.index(t.dest) < order.index(t.source)]

    def levels(arcs: list[Transition]) -> dict[int, int]:
        """A nesting level per arc: short arcs close to the boxes, longer ones further out, never two arcs that
        overlap in height on one level."""
        taken: dict[int, list[tuple[int, int]]] = defaultdict(list)
        out = {}
        for t in sorted(arcs, key=lambda a: (abs(order.index(a.dest) - order.index(a.source)), a.number)):
            lo, hi = sorted((order.index(t.source), order.index(t.dest)))
            level = 0
            while any(not (hi < a or lo > b) for a, b in taken[level]):
                level += 1
            taken[level].append((lo, hi))
            out[t.number] = level
        return out

    right_level, left_level = levels(right), levels(left)
    left_room = (max(left_level.values()) + 1) * lane + 16 if left_level else 16
    right_room = (max(right_level.values()) + 1) * lane + 16 if right_level else 16
    x0 = left_room
    width = left_room + box_w + right_room
    ys = {name: 20 + i * (box_h + gap) for i, name in enumerate(order)}
    drawing_h = 20 + len(order) * (box_h + gap)
    legend = [_legend_line(t, lang) for t in moves]
    line_h = 20
    legend_lines = [(t, part) for t, text in zip(moves, legend, strict=True) for part in _wrap(text, 52).split("\n")]
    width = max(width, 16 + 52 * 7 + 16)
    height = drawing_h + 24 + len(legend_lines) * line_h + 10
    esc = html.escape
    heading = gettext("State diagram", lang)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="{FONT}" role="img">',
             f'<title>{esc(heading)}: {esc(localized(spec.title, lang, ptype))}</title>',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" '
             f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{LINE}"/></marker></defs>']
    for t in moves:
        src, dst = ys[t.source] + box_h / 2, ys[t.dest] + box_h / 2
        on_right = t in right
        level = (right_level if on_right else left_level)[t.number]
        edge_x = x0 + box_w if on_right else x0
        out_x = edge_x + (lane * (level + 1) if on_right else -lane * (level + 1))
        dash = ' stroke-dasharray="5 4"' if t.automatic else ""
        parts.append(f'<path d="M{edge_x},{src - 6} H{out_x} V{dst + 6} H{edge_x + (2 if on_right else -2)}" '
                     f'fill="none" stroke="{LINE}" stroke-width="1.5"{dash} marker-end="url(#arrow)"/>')
        mid = (src + dst) / 2
        parts.append(f'<circle cx="{out_x}" cy="{mid}" r="10" fill="#ffffff" stroke="{LINE}"/>'
                     f'<text x="{out_x}" y="{mid + 4.5}" font-size="12" font-weight="bold" text-anchor="middle" '
                     f'fill="{INK}">{t.number}</text>')
    first = ys[spec.initial]
    parts.append(f'<circle cx="{x0 + box_w / 2}" cy="{first - 12}" r="5" fill="{INK}"/>')
    for name in order:
        state = spec.states[name]
        x, y = x0, ys[name]
        cur = name == current
        fill, line, stroke = (CURRENT_FILL, CURRENT_LINE, 3) if cur else ("#ffffff", LINE, 1.2)
        parts.append(f'<g id="state-{esc(name)}"><title>{esc(name)}</title>'
                     f'<rect x="{x}" y="{y}" width="{box_w}" height="{box_h}" rx="8" fill="{fill}" stroke="{line}" '
                     f'stroke-width="{stroke}"/>')
        if state.final:
            parts.append(f'<rect x="{x + 3.5}" y="{y + 3.5}" width="{box_w - 7}" height="{box_h - 7}" rx="6" '
                         f'fill="none" stroke="{line}"/>')
        weight = ' font-weight="bold"' if cur else ""
        title = localized(state.title, lang, name)
        size = 14 if len(title) <= 30 else 12
        parts.append(f'<text x="{x + box_w / 2}" y="{y + 20}" font-size="{size}" text-anchor="middle" '
                     f'fill="{INK}"{weight}>{esc(title)}</text>'
                     f'<text x="{x + box_w / 2}" y="{y + 37}" font-size="12" text-anchor="middle" fill="{MUTED}">'
                     f'{esc(state.article)}</text></g>')
    y = drawing_h + 16
    for _t, text in legend_lines:
        y += line_h
        parts.append(f'<text x="16" y="{y}" font-size="13" fill="{INK}">{esc(text)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def _legend_line(t: Transition, lang: str) -> str:
    auto = " (" + gettext("automatic", lang) + ")" if t.automatic else ""
    return f"{t.number}. {t.title}{auto}: {t.source_title} → {t.dest_title}"
