"""The Algemene termijnenwet of engine/dates.py against an independent, deliberately simple reference written here
(its own Easter computus, its own holiday list, its own month arithmetic), by hypothesis; and the known cases."""
from __future__ import annotations

import calendar
import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convenant.engine.dates import apply_calendar, atw_end, is_atw_rest_day

D = dt.date
ONE = dt.timedelta(days=1)
DECREE = (D(2026, 1, 2), D(2026, 5, 15), D(2027, 5, 7))


# -- the reference ------------------------------------------------------------------------------------------
def easter(year: int) -> dt.date:
    """The anonymous Gregorian computus (Meeus/Jones/Butcher)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l_) // 451
    month = (h + l_ - 7 * m + 114) // 31
    day = (h + l_ - 7 * m + 114) % 31 + 1
    return D(year, month, day)


def holidays_of(year: int) -> set[dt.date]:
    """Atw Art. 3(1): New Year's Day, Good Friday, Easter (Monday), Ascension Day, Whit (Monday), King's Day (27
    April, the 26th when the 27th is a Sunday), Liberation Day (5 May, every year), Christmas and Boxing Day."""
    e = easter(year)
    kings = D(year, 4, 27) if D(year, 4, 27).weekday() != 6 else D(year, 4, 26)
    return {D(year, 1, 1), e - 2 * ONE, e, e + ONE, e + 39 * ONE, e + 49 * ONE, e + 50 * ONE, kings,
            D(year, 5, 5), D(year, 12, 25), D(year, 12, 26)}


def rest(day: dt.date, extra: tuple[dt.date, ...]) -> bool:
    return day.weekday() in (5, 6) or day in holidays_of(day.year) or day in extra


def plus_months(day: dt.date, n: int) -> dt.date:
    month0 = day.month - 1 + n
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return D(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def reference(end: dt.date, start: dt.date, extra: tuple[dt.date, ...] = (), backwards: bool = False) -> dt.date:
    if backwards or end > plus_months(start, 3):           # Art. 1(2), Art. 4
        return end
    length = (end - start).days
    while rest(end, extra):                                  # Art. 1(1)
        end += ONE
    if length >= 3:                                          # Art. 2
        while sum(not rest(start + n * ONE, extra) for n in range(1, (end - start).days + 1)) < 2:
            end += ONE
            while rest(end, extra):
                end += ONE
    return end


# -- the properties -----------------------------------------------------------------------------------------
days = st.dates(min_value=D(2014, 1, 1), max_value=D(2099, 12, 31))


@settings(max_examples=600, deadline=None)
@given(day=days)
def test_rest_days_agree_with_the_reference(day):
    assert is_atw_rest_day(day) == rest(day, ())
    assert is_atw_rest_day(day, DECREE) == rest(day, DECREE)


@settings(max_examples=600, deadline=None)
@given(start=days, length=st.integers(min_value=0, max_value=120),
       extra=st.lists(st.dates(min_value=D(2014, 1, 1), max_value=D(2099, 12, 31)), max_size=4))
def test_art_1_2_and_4_agree_with_the_reference(start, length, extra):
    end = start + length * ONE
    assert apply_calendar(end, "algemene_termijnenwet", start=start, extra_rest_days=extra) == \
        reference(end, start, tuple(extra))


@settings(max_examples=300, deadline=None)
@given(start=days, length=st.integers(min_value=0, max_value=60))
def test_art_1_2_a_limit_counted_backwards_is_not_moved(start, length):
    end = start - length * ONE
    assert apply_calendar(end, "algemene_termijnenwet", start=start, backwards=True) == end


@settings(max_examples=300, deadline=None)
@given(start=days, length=st.integers(min_value=3, max_value=90))
def test_art_2_at_least_two_working_days(start, length):
    end = apply_calendar(start + length * ONE, "algemene_termijnenwet", start=start, extra_rest_days=DECREE)
    if end <= plus_months(start, 3):
        assert sum(not rest(start + n * ONE, DECREE) for n in range(1, (end - start).days + 1)) >= 2
        assert not rest(end, DECREE)


# -- the known cases ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("end, start, moved, named", [
    (D(2026, 4, 3), D(2026, 3, 20), D(2026, 4, 7), ["Good Friday", None, "Easter Sunday", "Easter Monday"]),   # Easter 2026
    (D(2026, 5, 25), D(2026, 5, 11), D(2026, 5, 26), ["Whit Monday"]),                            # Whitsun 2026
    (D(2026, 5, 23), D(2026, 5, 9), D(2026, 5, 26), [None, "Pentecost", "Whit Monday"]),
    (D(2025, 4, 26), D(2025, 4, 12), D(2025, 4, 28), ["King's Day", None]),   # 27 April 2025 a Sunday: the 26th
    (D(2026, 5, 5), D(2026, 4, 21), D(2026, 5, 6), ["Liberation Day"]),       # 2026: no lustrum, still a holiday
    (D(2026, 1, 2), D(2025, 12, 19), D(2026, 1, 5), [None, None, None]),      # a decree day, then the weekend
    (D(2026, 5, 14), D(2026, 4, 30), D(2026, 5, 18), ["Ascension Day", None, None, None]),  # with 15 May by decree
])
def test_known_cases(end, start, moved, named):
    got, shifts = atw_end(end, start, DECREE)
    assert got == moved == reference(end, start, DECREE)
    assert [s.article for s in shifts] == ["Art. 1(1) Atw"] * len(named)
    names = [s.name if s.why == "holiday" else None for s in shifts]
    assert [n for n in names] == [_english(n) for n in named]


def _english(name: str | None) -> str | None:
    # the holidays package's English names
    return {"Whit Monday": "Pentecost Monday"}.get(name, name) if name else None


def test_kings_day_on_a_sunday_moves_to_saturday_and_the_monday_is_ordinary():
    assert easter(2025) == D(2025, 4, 20) and easter(2026) == D(2026, 4, 5)
    assert not is_atw_rest_day(D(2025, 4, 27) + ONE)      # Monday 28 April 2025
    assert is_atw_rest_day(D(2025, 4, 26))


def test_decree_days_and_art_2():
    assert atw_end(D(2026, 1, 2), D(2025, 12, 19), DECREE)[1][0].why == "decree"
    # a three-day limit from Wednesday 24 December 2025 ends Saturday 27th: on to Monday 29th, which gives it one
    # working day only; Art. 2 runs it on to Tuesday 30 December
    got, shifts = atw_end(D(2025, 12, 27), D(2025, 12, 24), DECREE)
    assert got == D(2025, 12, 30) and shifts[-1].article == "Art. 2 Atw"
    assert atw_end(D(2026, 7, 4), D(2026, 1, 4))[1][0].article == "Art. 4 Atw"
