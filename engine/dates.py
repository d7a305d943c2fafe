"""Pure date rules of Dutch agreements: days, calendar months and the Algemene termijnenwet (Atw).

All legal dates are calendar dates in Europe/Amsterdam; these functions know nothing of time zones or clocks."""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from dateutil.relativedelta import relativedelta

CalendarRule = Literal["calendar_days", "algemene_termijnenwet"]
CALENDAR_RULES: tuple[str, ...] = ("calendar_days", "algemene_termijnenwet")


def add_days(day: dt.date, days: int) -> dt.date:
    """'Within N days after X' ends at the end of X + N (inclusive)."""
    return day + dt.timedelta(days=days)


def add_months(day: dt.date, months: int) -> dt.date:
    """A period of N months ends on the day with the same number N months later, or on that month's last day
    where it has no such day (HR 2017:2225): 31 January + 1 month = 28 (or 29) February."""
    return day + relativedelta(months=months)


def _nl(**kw: Any) -> Any:
    """The holidays package's Dutch calendar with the Atw's categories. Imported here, not at the top: it costs
    about 30 ms to import, and most commands (show, history, the CLI's start) never count a working day."""
    import holidays
    return holidays.NL(categories=(holidays.PUBLIC, holidays.OPTIONAL), **kw)


@lru_cache(maxsize=64)
def _atw_holidays(year: int) -> frozenset[dt.date]:
    # The NL calendar lists Liberation Day as public only in lustrum years but every year as 'optional';
    # the Atw (Art. 3) counts 5 May every year, and the optional category adds nothing else that the Atw lacks.
    days = _nl(years=year)
    return frozenset(days.keys())


def is_atw_rest_day(day: dt.date, extra: Iterable[dt.date] = ()) -> bool:
    """Saturday, Sunday, a holiday of Atw Art. 3, or a day equated to one by decree (from configuration)."""
    return day.weekday() >= 5 or day in _atw_holidays(day.year) or day in set(extra)


@dataclass(frozen=True)
class Shift:
    """One step of the Atw's reasoning about a limit's end: `day` is a rest day (`why`: "saturday", "sunday",
    "holiday" with its `name`, or "decree"), or the end moves to `to` under `article`; `note` marks a limit the Atw
    leaves alone ("backwards", Art. 1(2); "longer", Art. 4)."""
    day: dt.date
    why: str
    article: str
    to: dt.date | None = None
    name: str | None = None


def rest_day_reason(day: dt.date, extra: Iterable[dt.date] = ()) -> tuple[str, str | None] | None:
    """Why `day` is not a working day under the Atw: ("saturday" | "sunday" | "holiday" | "decree", holiday name
    or None), or None for a working day. The holiday name is the library's English one."""
    if day in _atw_holidays(day.year):          # a holiday on a weekend is named as the holiday
        return "holiday", _holiday_names(day.year).get(day)
    if day.weekday() == 5:
        return "saturday", None
    if day.weekday() == 6:
        return "sunday", None
    if day in set(extra):
        return "decree", None
    return None


@lru_cache(maxsize=64)
def _holiday_names(year: int) -> dict[dt.date, str]:
    days = _nl(years=year, language="en_US")
    return dict(days.items())


def holiday_name(day: dt.date, lang: str) -> str | None:
    """The holiday's name in Dutch ('nl') or English, as the holidays package words it."""
    days = _nl(years=day.year, language="nl" if lang == "nl" else "en_US")
    return days.get(day)


def atw_end(due: dt.date, start: dt.date | None, extra_rest_days: Iterable[dt.date] = (), *,
            backwards: bool = False) -> tuple[dt.date, list[Shift]]:
    """The end of a limit under the Algemene termijnenwet, with the reasoning:

    - Art. 1(1): a limit ending on a Saturday, Sunday or holiday (Art. 3, and days equated by decree) runs on to
      the next day that is none of these;
    - Art. 1(2): not for a limit counted backwards from a date;
    - Art. 2: a limit of at least three days is extended so that it contains at least two days that are not
      Saturdays, Sundays or holidays;
    - Art. 4: not for limits longer than three months."""
    if backwards:
        return due, [Shift(due, "backwards", "Art. 1(2) Atw")]
    if start is not None and due > add_months(start, 3):
        return due, [Shift(due, "longer", "Art. 4 Atw")]
    extra = frozenset(extra_rest_days)
    length = None if start is None else (due - start).days      # the limit as set, before any shift
    shifts: list[Shift] = []
    reason = rest_day_reason(due, extra)
    while reason is not None:
        nxt = due + dt.timedelta(days=1)
        shifts.append(Shift(due, reason[0], "Art. 1(1) Atw", to=nxt, name=reason[1]))
        due, reason = nxt, rest_day_reason(nxt, extra)
    if start is not None and length is not None and length >= 3:
        while _working_days(start, due, extra) < 2:
            nxt = due + dt.timedelta(days=1)
            while rest_day_reason(nxt, extra) is not None:
                nxt += dt.timedelta(days=1)
            shifts.append(Shift(due, "two_days", "Art. 2 Atw", to=nxt))
            due = nxt
    return due, shifts


def _working_days(start: dt.date, end: dt.date, extra: frozenset[dt.date]) -> int:
    """Days after `start` up to and including `end` that are no rest day."""
    return sum(1 for n in range(1, (end - start).days + 1)
               if rest_day_reason(start + dt.timedelta(days=n), extra) is None)


def apply_calendar(due: dt.date, rule: str, *, start: dt.date | None = None,
                   extra_rest_days: Iterable[dt.date] = (), backwards: bool = False) -> dt.date:
    """Move the end of a limit as the calendar rule says (`atw_end` gives the Atw's reasoning)."""
    if rule == "calendar_days":
        return due
    if rule != "algemene_termijnenwet":
        raise ValueError(f"unknown calendar rule {rule!r}")
    return atw_end(due, start, extra_rest_days, backwards=backwards)[0]


def previous_working_day(day: dt.date, extra_rest_days: Iterable[dt.date] = ()) -> dt.date:
    """Used to pull a reminder that falls on a weekend or holiday forward to the working day before it."""
    extra = frozenset(extra_rest_days)
    while is_atw_rest_day(day, extra):
        day -= dt.timedelta(days=1)
    return day


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_date(text: str, field: str = "date") -> dt.date:
    """Strict ISO 8601 calendar date; raises ValueError naming the field for '2025-02-30' or 'tomorrow'."""
    try:
        # only the calendar form: Python also reads week dates ('2025-W12-4') of the same length
        if not isinstance(text, str) or not _ISO_DATE.fullmatch(text):
            raise ValueError
        return dt.date.fromisoformat(text)
    except (TypeError, ValueError):
        raise ValueError(f"{field}: {text!r} is not a valid date (YYYY-MM-DD)") from None
