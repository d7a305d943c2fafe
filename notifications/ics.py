"""iCalendar (RFC 5545) documents of deadlines: the `.ics` attached to an email and the agenda feed of the web
pages are both built here, so a calendar that sees one deadline from both gets the same event - the same UID
(engine.deadlines.calendar_uid), an all-day event on the due date - and replaces it instead of doubling it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import icalendar

__all__ = ["PRODID", "DeadlineEvent", "deadline_calendar"]

PRODID = "-//convenant//deadlines//NL"
# Calendar clients show a cancelled VEVENT struck through; every other status is a fixed legal date.
_STATUS = {"cancelled": "CANCELLED"}


@dataclass(frozen=True)
class DeadlineEvent:
    """One deadline as a calendar shows it; summary and description are already in the reader's language."""

    uid: str
    due: date
    summary: str
    description: str
    status: str = "open"            # the deadline's status: open, met, missed, cancelled
    sequence: int = 0               # a later message about the same deadline raises it, so it replaces the earlier
    categories: tuple[str, ...] = ()


def deadline_calendar(events: Iterable[DeadlineEvent], *, now: datetime, name: str | None = None) -> bytes:
    """A published calendar with one all-day VEVENT per deadline (`DTSTART;VALUE=DATE` is the due date). `now` is
    the engine's clock and becomes each DTSTAMP; `name` is the title a subscribed calendar shows (a feed's).

    Bytes with CRLF line endings, as RFC 5545 requires: an email attaches them as they are."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    stamp = now.astimezone(UTC)
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    if name:
        cal.add("x-wr-calname", name)
    for item in events:
        event = icalendar.Event()
        event.add("uid", item.uid)
        event.add("dtstamp", stamp)
        event.add("dtstart", item.due)
        event.add("dtend", item.due + timedelta(days=1))
        event.add("summary", item.summary)
        event.add("description", item.description)
        event.add("sequence", item.sequence)
        event.add("transp", "TRANSPARENT")      # a deadline is a date to meet, not time the reader is busy
        event.add("status", _STATUS.get(item.status, "CONFIRMED"))
        categories = [c for c in item.categories if c]
        if categories:
            event.add("categories", categories)
        cal.add_component(event)
    return cal.to_ical()
