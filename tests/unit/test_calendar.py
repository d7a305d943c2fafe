"""The calendar side of a deadline, built in one place each: its UID (engine.deadlines.calendar_uid) and the
iCalendar document that carries it (notifications.ics), shared by the emails' attachments and the agenda feed."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import icalendar
import pytest

from convenant.engine.deadlines import calendar_uid
from convenant.notifications.ics import PRODID, DeadlineEvent, deadline_calendar

NOW = dt.datetime(2025, 3, 20, 12, 0, tzinfo=ZoneInfo("Europe/Amsterdam"))


def event(**over) -> DeadlineEvent:
    fields = {"uid": calendar_uid("krachtenbundeling", "publication", 7), "due": dt.date(2025, 4, 3),
              "summary": "Publicatie in de Staatscourant", "description": "Art. 5.5", **over}
    return DeadlineEvent(**fields)


def test_the_uid_names_the_process_the_kind_and_the_deadline():
    assert calendar_uid("krachtenbundeling/amendment-1", "amendment_response", 12) == \
        "krachtenbundeling/amendment-1/amendment_response/12@convenant"


def test_two_deadlines_of_one_kind_get_two_uids_and_one_deadline_always_the_same():
    # a VTH target per government is one kind with many deadlines: each its own event
    assert calendar_uid("sd", "vth_target", 1) != calendar_uid("sd", "vth_target", 2)
    assert calendar_uid("sd", "vth_target", 1) == calendar_uid("sd", "vth_target", 1)


def test_a_deadline_not_stored_yet_has_no_uid():
    with pytest.raises(ValueError, match="publication"):
        calendar_uid("krachtenbundeling", "publication", None)


def test_one_all_day_event_per_deadline_on_its_due_date():
    raw = deadline_calendar([event(), event(uid="b@convenant", due=dt.date(2025, 5, 31), sequence=2)], now=NOW)
    cal = icalendar.Calendar.from_ical(raw)
    assert cal["PRODID"] == PRODID and cal["VERSION"] == "2.0" and cal["METHOD"] == "PUBLISH"
    first, second = cal.walk("VEVENT")
    assert b"DTSTART;VALUE=DATE:20250403\r\n" in raw and b"DTEND;VALUE=DATE:20250404\r\n" in raw
    assert str(first["UID"]) == "krachtenbundeling/publication/7@convenant"
    assert str(first["SUMMARY"]) == "Publicatie in de Staatscourant" and first["SEQUENCE"] == 0
    assert second.decoded("dtstart") == dt.date(2025, 5, 31) and second["SEQUENCE"] == 2
    # DTSTAMP is the engine's clock, in UTC
    assert first.decoded("dtstamp") == dt.datetime(2025, 3, 20, 11, 0, tzinfo=dt.UTC)
    assert str(first["TRANSP"]) == "TRANSPARENT"


def test_a_cancelled_deadline_is_a_cancelled_event_and_the_rest_stand():
    cal = icalendar.Calendar.from_ical(deadline_calendar(
        [event(status="cancelled"), event(status="missed"), event(status="met")], now=NOW))
    assert [str(e["STATUS"]) for e in cal.walk("VEVENT")] == ["CANCELLED", "CONFIRMED", "CONFIRMED"]


def test_a_feed_has_a_name_and_categories_an_attachment_need_not():
    feed = icalendar.Calendar.from_ical(deadline_calendar([event(categories=("Art. 5.5", ""))], now=NOW,
                                                          name="Termijnen: IPO"))
    assert str(feed["X-WR-CALNAME"]) == "Termijnen: IPO"
    assert feed.walk("VEVENT")[0]["CATEGORIES"].cats == ["Art. 5.5"]   # an empty article is no category
    mail = icalendar.Calendar.from_ical(deadline_calendar([event()], now=NOW))
    assert "X-WR-CALNAME" not in mail and "CATEGORIES" not in mail.walk("VEVENT")[0]


def test_an_empty_calendar_is_still_a_calendar():
    cal = icalendar.Calendar.from_ical(deadline_calendar([], now=NOW, name="Termijnen: VNG"))
    assert cal.walk("VEVENT") == [] and str(cal["X-WR-CALNAME"]) == "Termijnen: VNG"


def test_now_must_say_its_offset():
    with pytest.raises(ValueError, match="timezone-aware"):
        deadline_calendar([event()], now=dt.datetime(2025, 3, 20, 12, 0))
