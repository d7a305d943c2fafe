"""An agreement's timeline as SVG drawn on the server (readable without JavaScript, and in the PDF report): time
runs down a vertical axis; past acts are round points labelled with their record, deadlines are diamonds filled by
their status (met, missed, open, cancelled: each also written in its label, so colour is never the only sign),
the dates of entry into force and of the end are squares, and today is a line across. Labels never overlap: each
is placed at its date or just under the label before it, with a leader line to its point."""
from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass

from babel.dates import format_date as babel_date

from convenant.i18n import deadline_status, format_date, gettext

# fill and outline per deadline status; the contrast of each against white is at least 3:1 (WCAG 1.4.11)
STATUS_COLOURS = {"met": ("#1e6b34", "#1e6b34"), "missed": ("#b3261e", "#b3261e"), "open": ("#ffffff", "#154273"),
                  "cancelled": ("#ffffff", "#64748b")}
INK, MUTED, AXIS, ACT = "#0f172a", "#475569", "#64748b", "#154273"
_CLDR = {"nl": "nl_NL", "en": "en_GB"}


@dataclass(frozen=True)
class Mark:
    day: dt.date
    kind: str                  # "act", "deadline" or "fact"
    label: str
    status: str | None = None  # a deadline's status
    seq: int | None = None     # an act's record


def grouped(marks: list[Mark]) -> list[Mark]:
    """Acts of one day with the same title drawn once: 'Ondertekening vastleggen (4×)'."""
    out: list[Mark] = []
    counts: dict[tuple, int] = {}
    first: dict[tuple, int] = {}
    for m in sorted(marks, key=lambda m: (m.day, m.kind != "fact", m.seq or 0)):
        key = (m.day, m.kind, m.label, m.status)
        if m.kind == "act" and key in first:
            counts[key] += 1
            continue
        first[key] = len(out)
        counts[key] = 1
        out.append(m)
    return [Mark(m.day, m.kind, f"{m.label} ({counts[(m.day, m.kind, m.label, m.status)]}×)", m.status, m.seq)
            if counts[(m.day, m.kind, m.label, m.status)] > 1 else m for m in out]


def _wrap(text: str, width: int, max_lines: int = 2) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][: max(1, width - 1)] + "…"
    return lines


def timeline_svg(marks: list[Mark], today: dt.date, lang: str, *, width: int = 760, title: str = "") -> str:
    """The drawing, `width` px wide (labels wrap to fit it); its height follows from the marks."""
    esc = html.escape
    marks = grouped(marks)
    days = [m.day for m in marks] + [today]
    start, end = min(days), max(days)
    start = start.replace(day=1)
    span = max((end - start).days, 30)
    axis_x, label_x, line_h = 96, 124, 16
    top = 44 if width >= 600 else 70           # room for the legend, on more lines when narrow
    chars = max(18, int((width - label_x - 8) / 7.2))
    base_h = max(360, min(1400, span))          # about a pixel a day, within bounds

    def y_of(day: dt.date) -> float:
        return top + (day - start).days / span * base_h

    # place the labels: at their date, or below the previous one
    placed: list[tuple[Mark, float, float, list[str]]] = []
    cursor = top - 6.0
    for m in sorted(marks, key=lambda m: (m.day, m.kind != "fact", m.seq or 0)):
        text = m.label
        if m.kind == "deadline" and m.status:
            text += f" ({deadline_status(m.status, lang)})"
        lines = _wrap(f"{format_date(m.day, lang)}: {text}", chars)
        y = y_of(m.day)
        ly = max(y, cursor + line_h)
        placed.append((m, y, ly, lines))
        cursor = ly + (len(lines) - 1) * line_h + 6
    height = int(max(top + base_h, cursor) + 30)
    heading = title or gettext("Timeline", lang)
    today_label = gettext("Today", lang)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline-svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" role="img" '
             f'aria-labelledby="tl-title-{width}">',
             f'<title id="tl-title-{width}">{esc(heading)}</title>']
    # month ticks (every month, or every quarter when the span is long)
    step = 1 if span <= 400 else 3
    day = start
    while day <= end + dt.timedelta(days=31):
        y = y_of(day)
        if y > top + base_h + 1:
            break
        if (day.month - 1) % step == 0:
            parts.append(f'<line x1="{axis_x - 6}" y1="{y:.1f}" x2="{axis_x}" y2="{y:.1f}" stroke="{AXIS}"/>'
                         f'<text x="{axis_x - 10}" y="{y + 4:.1f}" font-size="12" text-anchor="end" fill="{MUTED}">'
                         f'{esc(babel_date(day, "MMM yyyy", locale=_CLDR.get(lang, "nl_NL")))}</text>')
        day = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    parts.append(f'<line x1="{axis_x}" y1="{top - 10}" x2="{axis_x}" y2="{top + base_h + 6:.1f}" stroke="{AXIS}" '
                 f'stroke-width="2"/>')
    # today
    ty = y_of(today)
    parts.append(f'<line x1="8" y1="{ty:.1f}" x2="{width - 8}" y2="{ty:.1f}" stroke="#8a3b00" stroke-width="1.5" '
                 f'stroke-dasharray="6 4"/>'
                 f'<text x="8" y="{ty - 5:.1f}" font-size="12" font-weight="bold" fill="#8a3b00">'
                 f'{esc(today_label)}</text>')
    for m, y, ly, lines in placed:
        parts.append(f'<path d="M{axis_x + 7},{y:.1f} L{label_x - 6},{ly - 4:.1f}" stroke="#cbd5e1" fill="none"/>')
        parts.append(_point(m, axis_x, y))
        for i, line in enumerate(lines):
            weight = ' font-weight="bold"' if i == 0 and m.kind == "fact" else ""
            parts.append(f'<text x="{label_x}" y="{ly + i * line_h:.1f}" font-size="13" fill="{INK}"{weight}>'
                         f'{esc(line)}</text>')
    for i, part in enumerate(_wrap(legend(lang), max(20, int((width - 16) / 6.5)), max_lines=3)):
        parts.append(f'<text x="8" y="{16 + i * 14}" font-size="12" fill="{MUTED}">{esc(part)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def legend(lang: str) -> str:
    return gettext("● act   ◆ deadline (filled: met or missed)   ■ in force / end", lang)


def _point(m: Mark, x: float, y: float) -> str:
    if m.kind == "act":
        return f'<circle cx="{x}" cy="{y:.1f}" r="5" fill="{ACT}" stroke="#ffffff" stroke-width="1.5"/>'
    if m.kind == "fact":
        return f'<rect x="{x - 6}" y="{y - 6:.1f}" width="12" height="12" fill="{INK}"/>'
    fill, line = STATUS_COLOURS.get(m.status or "open", STATUS_COLOURS["open"])
    return (f'<path d="M{x},{y - 8:.1f} L{x + 8},{y:.1f} L{x},{y + 8:.1f} L{x - 8},{y:.1f} Z" fill="{fill}" '
            f'stroke="{line}" stroke-width="2"/>')
