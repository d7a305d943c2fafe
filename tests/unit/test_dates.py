"""Date arithmetic of engine/dates.py: calendar months (HR 2017:2225), 'within two weeks', the Algemene
termijnenwet (Atw) around Easter, King's Day and 5 May, days equated by decree, and the three-month limit."""
from __future__ import annotations

import calendar
import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convenant.engine.config import settings_from_dict
from convenant.engine.dates import (
    add_days,
    add_months,
    apply_calendar,
    is_atw_rest_day,
    parse_date,
    previous_working_day,
)
from convenant.engine.definitions import DateExpr
from convenant.engine.rules import resolve_date

D = dt.date
ATW = "algemene_termijnenwet"
DECREE = (D(2026, 1, 2), D(2026, 5, 15), D(2027, 5, 7))


# -- calendar months --------------------------------------------------------------------------------------
@pytest.mark.parametrize("start, months, end", [
    (D(2025, 1, 31), 1, D(2025, 2, 28)),
    (D(2026, 1, 31), 1, D(2026, 2, 28)),      # the notice of DOMAIN.md: runs until the end of 28 February
    (D(2028, 1, 31), 1, D(2028, 2, 29)),      # leap year
    (D(2024, 1, 30), 1, D(2024, 2, 29)),
    (D(2025, 3, 31), 1, D(2025, 4, 30)),      # a 31st into a 30-day month
    (D(2025, 5, 31), 1, D(2025, 6, 30)),
    (D(2025, 4, 30), 1, D(2025, 5, 30)),      # a 30th into a 31-day month stays the 30th
    (D(2025, 8, 31), 3, D(2025, 11, 30)),
    (D(2025, 12, 31), 2, D(2026, 2, 28)),     # across a year end
    (D(2025, 2, 28), 1, D(2025, 3, 28)),      # the end of February is not 'the last day' carried on
    (D(2028, 2, 29), 12, D(2029, 2, 28)),
    (D(2025, 3, 15), 0, D(2025, 3, 15)),
])
def test_add_months_ends_on_same_day_number_or_month_end(start, months, end):
    assert add_months(start, months) == end


def test_notice_on_31_january_takes_effect_on_1_march():
    period_end = add_months(D(2026, 1, 31), 1)
    assert period_end == D(2026, 2, 28)
    assert add_days(period_end, 1) == D(2026, 3, 1)


@pytest.mark.parametrize("start, end", [
    (D(2025, 3, 20), D(2025, 4, 3)),          # the real publication deadline (Art. 5.5)
    (D(2025, 12, 25), D(2026, 1, 8)),
    (D(2028, 2, 20), D(2028, 3, 5)),          # across a leap day
])
def test_within_two_weeks_is_plus_fourteen_inclusive(start, end):
    assert add_days(start, 14) == end


def test_within_two_weeks_keeps_a_weekend_end_under_calendar_days():
    # 2025-04-05 is a Saturday: calendar days (the default of every Krachtenbundeling deadline) do not move it
    due = add_days(D(2025, 3, 22), 14)
    assert due == D(2025, 4, 5) and due.weekday() == 5
    assert apply_calendar(due, "calendar_days", start=D(2025, 3, 22)) == due


# -- the Algemene termijnenwet --------------------------------------------------------------------------
@pytest.mark.parametrize("due, moved", [
    (D(2025, 4, 18), D(2025, 4, 22)),   # Good Friday 2025 -> Sat, Sun (Easter), Easter Monday -> Tuesday
    (D(2025, 4, 19), D(2025, 4, 22)),
    (D(2025, 4, 21), D(2025, 4, 22)),   # Easter Monday 2025
    (D(2026, 4, 3), D(2026, 4, 7)),     # Good Friday 2026
    (D(2026, 4, 6), D(2026, 4, 7)),     # Easter Monday 2026
    (D(2026, 4, 27), D(2026, 4, 28)),   # King's Day 2026 is a Monday
    (D(2025, 4, 26), D(2025, 4, 28)),   # King's Day 2025 was held on Saturday 26 April (27th a Sunday)
    (D(2026, 5, 5), D(2026, 5, 6)),     # 5 May 2026 (not a lustrum year) is a Tuesday
    (D(2026, 5, 14), D(2026, 5, 18)),   # Ascension Day, then the decree day 15 May, then the weekend
    (D(2026, 5, 25), D(2026, 5, 26)),   # Whit Monday
    (D(2025, 12, 25), D(2025, 12, 29)), # Christmas, Boxing Day, weekend
    (D(2026, 1, 1), D(2026, 1, 5)),     # New Year's Day, the decree day 2 January, weekend
    (D(2026, 1, 2), D(2026, 1, 5)),     # the decree day alone
    (D(2026, 4, 8), D(2026, 4, 8)),     # an ordinary Wednesday stays
    (D(2038, 4, 23), D(2038, 4, 28)),   # Good Friday, weekend, Easter Monday 26 April, King's Day Tuesday 27
])
def test_atw_runs_on_to_the_next_working_day(due, moved):
    assert apply_calendar(due, ATW, start=due - dt.timedelta(days=14), extra_rest_days=DECREE) == moved


def test_kings_day_is_the_celebrated_day_not_the_birthday():
    assert is_atw_rest_day(D(2026, 4, 27))          # Monday 27 April 2026
    assert is_atw_rest_day(D(2025, 4, 26))          # Saturday (a weekend day anyway)
    assert not is_atw_rest_day(D(2025, 4, 28))      # Monday after: an ordinary day
    assert not is_atw_rest_day(D(2026, 4, 28))
    # 2025: the 27th is a Sunday; nothing makes the following Monday a holiday
    assert apply_calendar(D(2025, 4, 25), ATW, start=D(2025, 4, 1)) == D(2025, 4, 25)


@pytest.mark.parametrize("year", range(2024, 2036))
def test_liberation_day_counts_every_year(year):
    """The holidays package lists 5 May as public only in lustrum years; the Atw counts it every year."""
    assert is_atw_rest_day(D(year, 5, 5))
    moved = apply_calendar(D(year, 5, 5), ATW, start=D(year, 4, 20))
    assert moved > D(year, 5, 5) and not is_atw_rest_day(moved)


def test_decree_days_come_from_configuration():
    for day in (D(2026, 1, 2), D(2026, 5, 15)):
        assert day.weekday() == 4                                    # both Fridays
        assert not is_atw_rest_day(day)                              # no library knows them
        assert is_atw_rest_day(day, DECREE)
        assert apply_calendar(day, ATW, start=day - dt.timedelta(days=10)) == day
        assert apply_calendar(day, ATW, start=day - dt.timedelta(days=10), extra_rest_days=DECREE) \
            == day + dt.timedelta(days=3)


def test_decree_days_of_settings_reach_a_definition_date():
    """A deadline with calendar = algemene_termijnenwet uses [calendar] extra_rest_days of config.toml."""
    expr = DateExpr(fact="start", days=14, calendar=ATW)

    def due(settings, start: dt.date) -> dt.date | None:
        return resolve_date(expr, settings, fact=lambda _: start, deadline=lambda _: None, on=None)

    shipped = settings_from_dict({})
    assert D(2026, 5, 15) in shipped.calendar.extra_rest_days
    assert due(shipped, D(2026, 5, 1)) == D(2026, 5, 18)          # 15 May 2026 (Friday, decree) -> Monday
    none = settings_from_dict({"calendar": {"extra_rest_days": []}})
    assert due(none, D(2026, 5, 1)) == D(2026, 5, 15)
    other = settings_from_dict({"calendar": {"extra_rest_days": [D(2026, 5, 18)]}})
    assert due(other, D(2026, 5, 2)) == D(2026, 5, 19)            # a Saturday, then a configured Monday
    assert resolve_date(DateExpr(fact="start", days=14), shipped, fact=lambda _: D(2026, 5, 1),
                        deadline=lambda _: None, on=None) == D(2026, 5, 15)   # calendar days: unmoved


def test_limits_longer_than_three_months_are_excluded():
    saturday = D(2025, 4, 5)
    # exactly three months: the Atw applies
    assert apply_calendar(saturday, ATW, start=D(2025, 1, 5)) == D(2025, 4, 7)
    # three months and a day: excluded (Atw Art. 4)
    assert apply_calendar(saturday, ATW, start=D(2025, 1, 4)) == saturday
    assert apply_calendar(D(2026, 12, 26), ATW, start=D(2026, 1, 1)) == D(2026, 12, 26)
    # through a definition's date expression: six months from a start is not moved
    expr = DateExpr(fact="start", months=6, calendar=ATW)
    assert resolve_date(expr, settings_from_dict({}), fact=lambda _: D(2025, 10, 5), deadline=lambda _: None,
                        on=None) == D(2026, 4, 5)            # a Sunday, left alone


def test_unknown_calendar_rule_is_an_error():
    with pytest.raises(ValueError, match="unknown calendar rule"):
        apply_calendar(D(2025, 1, 1), "working_days")


def test_previous_working_day_pulls_back():
    assert previous_working_day(D(2026, 4, 6)) == D(2026, 4, 2)      # Easter Monday -> Thursday before Good Friday
    assert previous_working_day(D(2026, 1, 4), DECREE) == D(2025, 12, 31)
    assert previous_working_day(D(2026, 4, 8)) == D(2026, 4, 8)


# -- parsing ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["2025-02-30", "20-03-2025", "tomorrow", "2025-3-20", "2025-W12-4", "",
                                  "2025-03-20T10:00", "20250320", "2025-13-01", "2025-00-10", " 2025-03-20"])
def test_parse_date_refuses_and_names_the_field(text):
    with pytest.raises(ValueError, match=r"^on: "):
        parse_date(text, "on")


def test_parse_date_reads_the_calendar_form():
    assert parse_date("2028-02-29", "on") == D(2028, 2, 29)
    with pytest.raises(ValueError, match="new_end"):
        parse_date("2027-02-29", "new_end")


# -- properties -------------------------------------------------------------------------------------------
dates = st.dates(min_value=D(1900, 1, 1), max_value=D(2400, 12, 31))


@settings(max_examples=500, deadline=None)
@given(day=dates, months=st.integers(min_value=-120, max_value=120))
def test_add_months_never_overflows_and_lands_in_the_target_month(day, months):
    result = add_months(day, months)
    index = day.year * 12 + day.month - 1 + months
    assert (result.year, result.month) == (index // 12, index % 12 + 1)
    last = calendar.monthrange(result.year, result.month)[1]
    assert result.day == min(day.day, last)


@settings(max_examples=300, deadline=None)
@given(day=st.dates(min_value=D(2000, 1, 1), max_value=D(2099, 12, 31)),
       extra=st.lists(st.dates(min_value=D(2000, 1, 1), max_value=D(2099, 12, 31)), max_size=5))
def test_atw_result_is_never_a_rest_day_nor_earlier(day, extra):
    result = apply_calendar(day, ATW, start=day, extra_rest_days=extra)
    assert result >= day
    assert not is_atw_rest_day(result, extra)
    # Easter with King's Day on the Tuesday after (2038) is the longest run: five days, plus configured ones
    assert (result - day).days <= 5 + len(extra)
    # every day skipped was a rest day
    skipped = day
    while skipped < result:
        assert is_atw_rest_day(skipped, extra)
        skipped += dt.timedelta(days=1)


@settings(max_examples=200, deadline=None)
@given(day=st.dates(min_value=D(2000, 1, 1), max_value=D(2099, 12, 31)))
def test_calendar_days_never_move(day):
    assert apply_calendar(day, "calendar_days", start=day) == day
