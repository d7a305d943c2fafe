"""The clock seam: nothing in convenant asks the system for the time except through a Clock."""
from __future__ import annotations

import datetime as dt
from typing import Protocol
from zoneinfo import ZoneInfo

UTC = dt.UTC


class Clock(Protocol):
    simulated: bool

    def now(self) -> dt.datetime:
        """An aware datetime in UTC."""


class SystemClock:
    simulated = False

    def now(self) -> dt.datetime:
        return dt.datetime.now(UTC)


class FixedClock:
    """A clock that stands still until moved; the virtual clock of a simulation database is one of these,
    loaded from and saved to the database by the store."""
    simulated = True

    def __init__(self, at: dt.datetime) -> None:
        self._at = as_utc(at)

    def now(self) -> dt.datetime:
        return self._at

    def set(self, at: dt.datetime) -> None:
        self._at = as_utc(at)


def as_utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise ValueError("a time needs its UTC offset")
    return value.astimezone(UTC)


def local_date(moment: dt.datetime, tz: ZoneInfo) -> dt.date:
    return moment.astimezone(tz).date()


def local_moment(day: dt.date, tz: ZoneInfo, at: dt.time = dt.time(0, 0)) -> dt.datetime:
    """The UTC instant of a local wall-clock time on a calendar day (00:00 unless told)."""
    return dt.datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def iso_moment(moment: dt.datetime, tz: ZoneInfo) -> str:
    """Times are shown in local time with their offset, to the second."""
    return moment.astimezone(tz).replace(microsecond=0).isoformat()
