"""An agreement's timeline as SVG drawn on the server (readable without JavaScript, and in the PDF report): time
runs down a vertical axis; past acts are round points labelled with their record, deadlines are diamonds filled by
their status (met, missed, open, cancelled: each also written in its label, so colour is never the only sign),
the dates of entry into force and of the end are squares, and today is a line across. Labels never overlap: each
mark has a row of its own, in the order of time."""
from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass

from convenant.i18n import deadline_status, format_date, gettext

# fill and outline per deadline status; the contrast of each against white is at least 3:1 (WCAG 1.4.11)
STATUS_COLOURS = {"met": ("#1e6b34", "#1e6b34"), "missed": ("#b3261e", "#b3261e"), "open": ("#ffffff", "#154273"),
                  "cancelled": ("#ffffff", "#64748b")}
INK, MUTED, AXIS, ACT = "#0f172a", "#475569", "#64748b", "#154273"


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
    """The drawing, `width` px wide (labels wrap to fit it); its height follows from the marks. Every mark has a row
    of its own in the order of time, and the space between two rows grows with the time between them (the
    logarithm of the days), so that a busy week stays readable beside a quiet year; today's line lies between the
    last mark before it and the first after it, and each year is named where it begins."""
    import math

    esc = html.escape
    marks = sorted(grouped(marks), key=lambda m: (m.day, m.kind != "fact", m.seq or 0))
    axis_x, label_x, line_h = 66, 90, 16
    top = 44 if width >= 600 else 70           # room for the legend, on more lines when narrow
    chars = max(18, int((width - label_x - 8) / 7.2))

    def gap(a: dt.date, b: dt.date) -> float:
        return min(40.0, 6.0 * math.log2(1 + max(0, (b - a).days)))

    rows: list[tuple[Mark, float, list[str]]] = []
    y = float(top)
    today_y: float | None = None
    previous: Mark | None = None
    for m in marks:
        text = m.label
        if m.kind == "deadline" and m.status:
            text += f" ({deadline_status(m.status, lang)})"
        lines = _wrap(f"{format_date(m.day, lang)}: {text}", chars)
        if previous is not None:
            room = gap(previous.day, m.day)
            if today_y is None and previous.day <= today < m.day:
                today_y = y + room / 2 + 2
                room = max(room, 14.0)
            y += room
        rows.append((m, y, lines))
        y += (len(lines) - 1) * line_h + line_h + 4
        previous = m
    if today_y is None:
        today_y = (top - 12) if not marks or today < marks[0].day else y + 4
        y = max(y, today_y + 12)
    height = int(y + 24)
    heading = title or gettext("Timeline", lang)
    today_label = gettext("Today", lang)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline-svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" role="img" '
             f'aria-labelledby="tl-title-{width}">',
             f'<title id="tl-title-{width}">{esc(heading)}</title>']
    parts.append(f'<line x1="{axis_x}" y1="{top - 10}" x2="{axis_x}" y2="{height - 14}" stroke="{AXIS}" '
                 f'stroke-width="2"/>')
    parts.append(f'<line x1="8" y1="{today_y:.1f}" x2="{width - 8}" y2="{today_y:.1f}" stroke="#8a3b00" '
                 f'stroke-width="1.5" stroke-dasharray="6 4"/>'
                 f'<text x="8" y="{today_y - 4:.1f}" font-size="12" font-weight="bold" fill="#8a3b00">'
                 f'{esc(today_label)}</text>')
    year = None
    for m, ry, lines in rows:
        if m.day.year != year:
            year = m.day.year
            parts.append(f'<text x="{axis_x - 12}" y="{ry + 4:.1f}" font-size="12" font-weight="bold" '
                         f'text-anchor="end" fill="{MUTED}">{year}</text>')
        parts.append(_point(m, axis_x, ry))
        for i, line in enumerate(lines):
            weight = ' font-weight="bold"' if i == 0 and m.kind == "fact" else ""
            parts.append(f'<text x="{label_x}" y="{ry + 4.5 + i * line_h:.1f}" font-size="13" fill="{INK}"{weight}>'
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
