"""The clock: nothing in convenant asks the system for the time except SystemClock below. Three implementations
of the one port (engine/ports.py `Clock`): the system clock, the virtual clock a simulation database keeps (in
its meta table, moved only by `clock advance`), and a fixed clock for tests."""
from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from convenant.engine.ports import Clock, MetaStore, Store

UTC = dt.UTC

MODE = "clock_mode"          # meta keys of the virtual clock
NOW = "clock_now"


def monotonic() -> float:
    """Seconds on the system's monotonic clock: for how long something waited (a pooled database connection's idle
    time), never for what time it is; that is the clocks' below."""
    return time.monotonic()


class SystemClock:
    """The real time."""

    def now(self, uow: MetaStore | None = None) -> dt.datetime:
        return dt.datetime.now(UTC)

    def simulated(self, uow: MetaStore | None = None) -> bool:
        return False


class FixedClock:
    """A clock that stands still until moved: for tests that need a real-clock database at a known time."""

    def __init__(self, at: dt.datetime) -> None:
        self._at = as_utc(at)

    def now(self, uow: MetaStore | None = None) -> dt.datetime:
        return self._at

    def simulated(self, uow: MetaStore | None = None) -> bool:
        return False

    def set(self, at: dt.datetime) -> None:
        self._at = as_utc(at)


class DatabaseClock:
    """The time as the database says: a simulation database (meta `clock_mode` = simulation) runs on the
    virtual time in meta `clock_now`; any other database on `real` (the system clock unless a test injects
    another). Read in the command's own unit of work where there is one, so a command sees one time."""

    def __init__(self, store: Store, real: Clock | None = None) -> None:
        self.store = store
        self.real: Clock = real or SystemClock()

    def _read(self, uow: MetaStore | None) -> tuple[bool, dt.datetime]:
        if uow is None:
            with self.store.transaction() as tx:
                return self._read(tx)
        if uow.meta(MODE) == "simulation":
            return True, dt.datetime.fromisoformat(uow.meta(NOW) or "")
        return False, self.real.now()

    def now(self, uow: MetaStore | None = None) -> dt.datetime:
        return self._read(uow)[1]

    def simulated(self, uow: MetaStore | None = None) -> bool:
        return self._read(uow)[0]

    @staticmethod
    def mode(uow: MetaStore) -> str | None:
        return uow.meta(MODE)

    @staticmethod
    def virtual_now(uow: MetaStore) -> dt.datetime | None:
        value = uow.meta(NOW)
        return dt.datetime.fromisoformat(value) if value else None

    @staticmethod
    def run_real(uow: MetaStore) -> None:
        uow.set_meta(MODE, "real")

    @staticmethod
    def run_simulated(uow: MetaStore, at: dt.datetime) -> None:
        """Start (or restart) the virtual clock at `at`."""
        uow.set_meta(MODE, "simulation")
        uow.set_meta(NOW, as_utc(at).isoformat())

    @staticmethod
    def move(uow: MetaStore, to: dt.datetime) -> None:
        uow.set_meta(NOW, as_utc(to).isoformat())


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
