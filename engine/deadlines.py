"""When a deadline's reminders and escalation steps fall: a pure plan computed from its due date, the moment
it was entered and the settings. The database stores only the index of the next step and its moment."""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from convenant.engine.clock import local_moment
from convenant.engine.config import Settings
from convenant.engine.dates import previous_working_day

if TYPE_CHECKING:
    from convenant.engine.definitions import WorkflowDefinition
    from convenant.engine.model import Deadline

# The agreement's fact that keeps the reminder schemes adopted amendments set: {kind: {"days": [...],
# "amendment": child id}} (engine/rules.py apply_amendment), so corrections and `audit replay` reproduce them.
AMENDED_REMINDERS = "amended_reminders"


@dataclass(frozen=True)
class Scheme:
    """The reminder offsets of one deadline kind for one agreement, and where they come from. Precedence: the
    agreement's own scheme set by an adopted amendment > the scheme of the definition version the agreement runs
    under > config.toml's [reminders] (the installation's default) > the built-in default (engine/config.py)."""
    offsets: tuple[int, ...]
    source: str                       # "amendment", "definition", "config", "default"
    amendment: str | None = None      # the amendment's id (source "amendment")
    version: int | None = None        # the definition version (source "definition")
    article: str | None = None        # the definition's article for its scheme

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"days": list(self.offsets), "source": self.source}
        for key in ("amendment", "version", "article"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


def scheme(kind: str, settings: Settings, wf: WorkflowDefinition | None = None,
           facts: Mapping[str, Any] | None = None) -> Scheme:
    """The reminder scheme of deadline `kind` for an agreement under definition version `wf` with facts `facts`
    (the agreement's, the root process's)."""
    amended = (facts or {}).get(AMENDED_REMINDERS) or {}
    if kind in amended:
        got = amended[kind]
        return Scheme(tuple(sorted(set(got["days"]), reverse=True)), "amendment", amendment=got.get("amendment"))
    if wf is not None and kind in wf.reminders:
        own = wf.reminders[kind]
        return Scheme(tuple(own.days), "definition", version=wf.version, article=own.article)
    source = "config" if kind in settings.reminders else "default"
    return Scheme(tuple(settings.reminder_offsets(kind)), source)


def plan_of(d: Deadline, settings: Settings, wf: WorkflowDefinition | None, facts: Mapping[str, Any] | None
            ) -> list[Step]:
    """The plan of a stored deadline under its agreement's scheme."""
    return plan(d.kind, d.due, d.created_at, settings, moment=d.moment,
                offsets=scheme(d.kind, settings, wf, facts).offsets)


def carry_step(before: list[Step], after: list[Step], step: int, now: dt.datetime) -> int:
    """Where a deadline that was at `step` of plan `before` goes in plan `after` (its reminder scheme changed):
    while reminders are still ahead, to the new scheme's first reminder not yet past (or the step after the
    reminders); once in the ladder, to the same place in it (the number of reminders before it changed)."""
    old = step_at(before, step)
    if old is None:
        return len(after)
    if old.kind == "reminder":
        return first_step(after, now)
    count = sum(1 for s in before if s.kind == "reminder")
    return step - count + sum(1 for s in after if s.kind == "reminder")


@dataclass(frozen=True)
class Step:
    index: int
    kind: str                   # "reminder", "missed", "escalation"
    moment: dt.datetime         # UTC
    offset_days: int | None = None
    level: int | None = None


def plan(kind: str, due: dt.date, created_at: dt.datetime, settings: Settings, *, moment: bool = False,
         offsets: Sequence[int] | None = None) -> list[Step]:
    """Reminders at `offsets` (the agreement's scheme, see scheme(); else config.toml's for the kind) (at reminder_time local, optionally pulled to the previous working
    day), then - for awaited acts - 'missed' at 00:00 the day after the due date, then the escalation ladder.

    A deadline already missed when it was entered starts its ladder at entry."""
    tz = settings.tz
    steps: list[Step] = []
    for offset in (settings.reminder_offsets(kind) if offsets is None else offsets):
        day = due - dt.timedelta(days=offset)
        if settings.scheduler.reminders_on_working_days:
            day = previous_working_day(day, settings.calendar.extra_rest_days)
        steps.append(Step(0, "reminder", local_moment(day, tz, settings.reminder_time), offset_days=offset))
    steps.sort(key=lambda s: s.moment)
    if not moment:
        missed_at = local_moment(due + dt.timedelta(days=1), tz)
        steps.append(Step(0, "missed", missed_at))
        base = max(missed_at, created_at)
        for level, after in enumerate(settings.escalation.after_days):
            steps.append(Step(0, "escalation", base + dt.timedelta(days=after), level=level))
    return [Step(i, s.kind, s.moment, s.offset_days, s.level) for i, s in enumerate(steps)]


def calendar_uid(process_id: str, kind: str, deadline_id: int | None) -> str:
    """The iCalendar UID of one deadline. Every invitation of it carries this one - the confirmation that opened
    it, its reminders and escalations, the agenda feed - so a calendar replaces the event instead of doubling it."""
    if deadline_id is None:
        raise ValueError(f"deadline {kind!r} of {process_id!r} has no calendar UID before it is stored")
    return f"{process_id}/{kind}/{deadline_id}@convenant"


def first_step(steps: list[Step], entered: dt.datetime) -> int:
    """Reminders whose moment lay before entry are never sent; the rest of the plan is kept."""
    for step in steps:
        if step.kind != "reminder" or step.moment >= entered:
            return step.index
    return len(steps)


def step_at(steps: list[Step], index: int) -> Step | None:
    return steps[index] if 0 <= index < len(steps) else None


def next_reminder(steps: list[Step], index: int) -> Step | None:
    for step in steps[max(index, 0):]:
        if step.kind == "reminder":
            return step
    return None
