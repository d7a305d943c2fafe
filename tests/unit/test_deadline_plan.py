"""The pure reminder/escalation plan of one deadline (engine/deadlines.py) and the settings it reads."""
from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path

import pytest

from convenant import workflows
from convenant.app.bootstrap import config_from_dict
from convenant.engine.config import DEFAULT_REMINDERS, Settings, check_reminder_kinds, settings_from_dict
from convenant.engine.deadlines import first_step, next_reminder, plan
from convenant.engine.errors import BadInput

AMS = dt.timezone(dt.timedelta(hours=1))
AMS_SUMMER = dt.timezone(dt.timedelta(hours=2))
ROOT = Path(__file__).resolve().parents[2]


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC)


def settings(**sections: dict) -> Settings:
    return settings_from_dict(dict(sections))


def test_publication_plan_reminders_then_missed_then_ladder() -> None:
    steps = plan("publication", dt.date(2025, 4, 3), at("2025-03-20T07:00:00+01:00"), settings())
    assert [(s.kind, s.moment, s.offset_days, s.level) for s in steps] == [
        ("reminder", at("2025-03-20T08:00:00+01:00"), 14, None),
        ("reminder", at("2025-03-27T08:00:00+01:00"), 7, None),
        ("reminder", at("2025-04-02T08:00:00+02:00"), 1, None),   # summer time from 30 March
        ("missed", at("2025-04-04T00:00:00+02:00"), None, None),
        ("escalation", at("2025-04-04T00:00:00+02:00"), None, 0),
        ("escalation", at("2025-04-18T00:00:00+02:00"), None, 1),
        ("escalation", at("2025-05-02T00:00:00+02:00"), None, 2),
    ]
    assert [s.index for s in steps] == list(range(7))


def test_moment_deadlines_have_no_ladder() -> None:
    steps = plan("end", dt.date(2027, 1, 1), at("2025-03-20T12:00:00+01:00"), settings(), moment=True)
    assert [(s.kind, s.moment) for s in steps] == [("reminder", at("2026-12-02T08:00:00+01:00"))]


def test_reminder_time_and_escalation_intervals_come_from_the_settings() -> None:
    s = settings(scheduler={"reminder_time": "13:30"}, escalation={"after_days": [1, 2]},
                 reminders={"publication": [3]})
    steps = plan("publication", dt.date(2025, 4, 3), at("2025-03-01T00:00:00+01:00"), s)
    assert [(s.kind, s.moment) for s in steps] == [
        ("reminder", at("2025-03-31T13:30:00+02:00")),
        ("missed", at("2025-04-04T00:00:00+02:00")),
        ("escalation", at("2025-04-05T00:00:00+02:00")),
        ("escalation", at("2025-04-06T00:00:00+02:00")),
    ]


def test_late_entry_skips_past_reminders_and_starts_the_ladder_at_entry() -> None:
    entered = at("2026-11-23T10:00:00+01:00")
    steps = plan("publication", dt.date(2025, 4, 3), entered, settings())
    start = first_step(steps, entered)
    rest = steps[start:]
    assert rest[0].kind == "missed"          # judged at the next run, once
    assert [(s.kind, s.level, s.moment) for s in rest[1:]] == [
        ("escalation", 0, entered),
        ("escalation", 1, entered + dt.timedelta(days=14)),
        ("escalation", 2, entered + dt.timedelta(days=28)),
    ]
    assert next_reminder(steps, start) is None


def test_entry_between_reminders_keeps_the_later_ones() -> None:
    entered = at("2025-03-20T12:00:00+01:00")   # after the 14-day reminder's 08:00
    steps = plan("publication", dt.date(2025, 4, 3), entered, settings())
    start = first_step(steps, entered)
    assert steps[start].offset_days == 7
    assert next_reminder(steps, start).moment == at("2025-03-27T08:00:00+01:00")


@pytest.mark.parametrize("due, offset, expected", [
    (dt.date(2025, 5, 31), 14, dt.date(2025, 5, 16)),   # Saturday 17 May -> Friday 16 May
    (dt.date(2025, 5, 31), 7, dt.date(2025, 5, 23)),    # Saturday 24 May -> Friday
    (dt.date(2026, 5, 16), 1, dt.date(2026, 5, 13)),    # 15 May 2026 (decree) and Ascension Day 14 May -> 13 May
    (dt.date(2026, 5, 6), 1, dt.date(2026, 5, 4)),      # 5 May counts every year under the Atw (Art. 3)
    (dt.date(2026, 4, 28), 1, dt.date(2026, 4, 24)),    # King's Day (Monday 27 April) and the weekend before
    (dt.date(2025, 4, 3), 7, dt.date(2025, 3, 27)),     # a Thursday stays where it is
])
def test_reminders_on_working_days_move_to_the_previous_working_day(due, offset, expected) -> None:
    s = settings(reminders={"publication": [offset]}, scheduler={"reminders_on_working_days": True})
    steps = plan("publication", due, at("2025-01-01T00:00:00+01:00"), s)
    assert steps[0].kind == "reminder"
    assert steps[0].moment.astimezone(s.tz).date() == expected
    assert steps[0].moment.astimezone(s.tz).time() == dt.time(8, 0)
    unmoved = plan("publication", due, at("2025-01-01T00:00:00+01:00"), settings(reminders={"publication": [offset]}))
    assert unmoved[0].moment.astimezone(s.tz).date() == due - dt.timedelta(days=offset)


def test_missing_kind_gets_the_shipped_defaults_and_an_empty_list_none() -> None:
    s = settings(reminders={"publication": []})
    assert s.reminder_offsets("publication") == []
    assert [x.kind for x in plan("publication", dt.date(2025, 4, 3), at("2025-03-01T00:00:00+01:00"), s)
            ][:1] == ["missed"]
    assert s.reminder_offsets("work_structure") == [14, 7, 1]
    assert s.reminder_offsets("extension_decision") == [30, 14, 7, 1]


def test_default_reminders_equal_the_shipped_config() -> None:
    shipped = tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))["reminders"]
    assert shipped == DEFAULT_REMINDERS
    kinds = {d.kind for wf in workflows.load_all().values() for p in wf.processes.values() for d in p.deadlines}
    assert kinds <= set(DEFAULT_REMINDERS)   # every deadline kind has a shipped default


@pytest.mark.parametrize("raw, key, words", [
    ({"scheduler": {"reminder_time": "25:00"}}, "scheduler.reminder_time", "'25:00' is not a time of day"),
    ({"escalation": {"after_days": [14, 0]}}, "escalation.after_days", "ascending"),
    ({"escalation": {"after_days": [0, -14]}}, "escalation.after_days", "item 2: -14"),
    ({"reminders": {"publication": [-1]}}, "reminders.publication", "item 1: -1"),
    ({"reminders": {"publication": 7}}, "reminders.publication", "list"),
    ({"scheduler": {"interval_seconds": 0}}, "scheduler.interval_seconds", "greater than"),
    ({"scheduler": {"reminders_on_working_days": "ja"}}, "scheduler.reminders_on_working_days", "boolean"),
    ({"scheduler": {"reminder_hour": 8}}, "scheduler.reminder_hour", "did you mean 'reminder_time'"),
    ({"databse": {"url": "sqlite:///x.db"}}, "databse", "did you mean 'database'"),
])
def test_configuration_errors_name_the_key(raw, key, words) -> None:
    with pytest.raises(BadInput) as err:
        config_from_dict(raw)   # the whole config.toml (app/bootstrap.py)
    assert err.value.field == key
    assert key in str(err.value) and words in str(err.value)


def test_an_unknown_reminder_kind_is_named() -> None:
    with pytest.raises(BadInput) as err:
        check_reminder_kinds(settings(reminders={"publicatie": [7]}), {"publication", "end"})
    assert err.value.field == "reminders.publicatie"
    check_reminder_kinds(settings(reminders={"publication": [7]}), {"publication", "end"})
