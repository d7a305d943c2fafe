"""When a deadline's reminders and escalation steps fall: a pure plan computed from its due date, the moment
it was entered and the settings. The database stores only the index of the next step and its moment."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from convenant.engine.clock import local_moment
from convenant.engine.config import Settings
from convenant.engine.dates import previous_working_day


@dataclass(frozen=True)
class Step:
    index: int
    kind: str                   # "reminder", "missed", "escalation"
    moment: dt.datetime         # UTC
    offset_days: int | None = None
    level: int | None = None


def plan(kind: str, due: dt.date, created_at: dt.datetime, settings: Settings, *, moment: bool = False
         ) -> list[Step]:
    """Reminders at the configured offsets (at reminder_time local, optionally pulled to the previous working
    day), then - for awaited acts - 'missed' at 00:00 the day after the due date, then the escalation ladder.

    A deadline already missed when it was entered starts its ladder at entry."""
    tz = settings.tz
    steps: list[Step] = []
    for offset in settings.reminder_offsets(kind):
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
