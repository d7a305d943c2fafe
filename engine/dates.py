"""Pure date rules of Dutch agreements: days, calendar months and the Algemene termijnenwet (Atw).

All legal dates are calendar dates in Europe/Amsterdam; these functions know nothing of time zones or clocks."""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Literal

import holidays
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


@lru_cache(maxsize=64)
def _atw_holidays(year: int) -> frozenset[dt.date]:
    # The NL calendar lists Liberation Day as public only in lustrum years but every year as 'optional';
    # the Atw (Art. 3) counts 5 May every year, and the optional category adds nothing else that the Atw lacks.
    days = holidays.NL(years=year, categories=(holidays.PUBLIC, holidays.OPTIONAL))
    return frozenset(days.keys())


def is_atw_rest_day(day: dt.date, extra: Iterable[dt.date] = ()) -> bool:
    """Saturday, Sunday, a holiday of Atw Art. 3, or a day equated to one by decree (from configuration)."""
    return day.weekday() >= 5 or day in _atw_holidays(day.year) or day in set(extra)


def apply_calendar(due: dt.date, rule: str, *, start: dt.date | None = None,
                   extra_rest_days: Iterable[dt.date] = ()) -> dt.date:
    """Move the end of a limit as the calendar rule says. Under the Atw a limit ending on a rest day runs on to
    the next day that is none; limits longer than three months are excluded (Atw Art. 4)."""
    if rule == "calendar_days":
        return due
    if rule != "algemene_termijnenwet":
        raise ValueError(f"unknown calendar rule {rule!r}")
    if start is not None and due > add_months(start, 3):
        return due
    extra = frozenset(extra_rest_days)
    while is_atw_rest_day(due, extra):
        due += dt.timedelta(days=1)
    return due


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
