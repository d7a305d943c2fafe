"""Issue 19, finding 2, for every deadline kind of INTERFACE.md: a real-clock SQLite database whose scheduler is
down while the deadline falls due (and its reminders, and the rungs of its escalation ladder). At restart, with the
injected clock (nothing sleeps): everything that fell due during the downtime fires once, in the time order of the
moments it fell due; no rung of any ladder is dropped or postponed; reminders are dropped only where their deadline
has passed; a second run adds nothing. A moment (`end`, `notice_period`) fires its transition with its own legal
date; an awaited deadline is missed and climbs its whole ladder."""
from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from convenant.app.bootstrap import build
from convenant.engine.agreements import read_data_file
from convenant.engine.clock import local_moment
from convenant.workflows import example_file
from tests.conftest import Cli
from tests.integration.test_downtime import KB, ManualClock, fire, logical_moment


@dataclass
class Scenario:
    kind: str
    process: str                      # the process whose deadline of this kind is watched
    before: Callable[[Any, ManualClock], None]
    restart: str                      # when the scheduler comes back
    moment_trigger: str | None = None  # for a moment: the transition it fires
    lapse_trigger: str | None = None   # for a deadline whose process lapses at its end: the lapse (cancels it)


def run_at(app, clock: ManualClock, *moments: str) -> None:
    for moment in moments:
        clock.move(moment)
        app.service.run_due()


def published(app, clock: ManualClock) -> None:
    fire(app, KB, "publish", ref="Stcrt. 2025, 11512", on="2025-03-20")
    run_at(app, clock, "2025-04-01T09:00:00+02:00")


def signed_only(app, clock: ManualClock) -> None:
    run_at(app, clock, "2025-03-20T13:00:00+01:00")


def with_work_structure(app, clock: ManualClock) -> None:
    published(app, clock)
    run_at(app, clock, "2025-05-20T10:00:00+02:00")
    fire(app, KB, "record_work_structure", ref="werkstructuur 2025", on="2025-05-20")


def amendment(app, clock: ManualClock) -> None:
    with_work_structure(app, clock)
    run_at(app, clock, "2025-06-02T10:00:00+02:00")
    fire(app, KB, "request_amendment", party="ipo", role="party", ref="brief 2025-17", on="2025-06-02")
    app.service.run_due()


def notice(app, clock: ManualClock) -> None:
    with_work_structure(app, clock)
    run_at(app, clock, "2025-06-02T10:00:00+02:00")
    fire(app, KB, "give_notice", party="vng", role="party", ref="brief 2025-18", on="2025-06-02")
    app.service.run_due()


def to_2026(app, clock: ManualClock) -> None:
    with_work_structure(app, clock)
    run_at(app, clock, "2025-10-01T10:00:00+02:00", "2026-03-01T10:00:00+01:00")


def to_december_2026(app, clock: ManualClock) -> None:
    to_2026(app, clock)
    run_at(app, clock, "2026-08-01T10:00:00+02:00", "2026-12-01T10:00:00+01:00")


SCENARIOS = [
    Scenario("publication", KB, signed_only, "2025-05-10T10:00:00+02:00"),
    Scenario("work_structure", KB, published, "2025-07-10T10:00:00+02:00"),
    Scenario("extension_decision", KB, to_2026, "2026-08-15T10:00:00+02:00"),
    Scenario("end", KB, to_december_2026, "2027-01-20T10:00:00+01:00", moment_trigger="end"),
    Scenario("amendment_response", f"{KB}/amendment-1", amendment, "2025-09-03T10:00:00+02:00",
             lapse_trigger="lapse"),
    Scenario("notice_period", f"{KB}/termination-1", notice, "2025-07-20T10:00:00+02:00",
             moment_trigger="take_effect"),
    Scenario("continuation_decision", f"{KB}/termination-1", notice, "2025-09-03T10:00:00+02:00"),
]


def test_every_kind_of_interface_md_is_covered() -> None:
    kinds = {"publication", "work_structure", "extension_decision", "end", "amendment_response", "notice_period",
             "continuation_decision"}
    assert {s.kind for s in SCENARIOS} == kinds


def started(root: Path, scenario: Scenario):
    root.mkdir(parents=True, exist_ok=True)
    c = Cli(root, f"sqlite:///{root / 'c.db'}")
    clock = ManualClock("2025-03-20T12:00:00+01:00")
    c.run("init")
    app = build(str(c.config), clock=clock)
    example = example_file(app.service.workflow(KB))
    assert example is not None
    app.service.create_agreement(KB, read_data_file(example))
    fire(app, KB, "open_signing", on="2025-03-01")
    for party in ("ienw", "ipo", "uvw", "vng"):
        fire(app, KB, "sign", party=party, role="party", on="2025-03-20")
    scenario.before(app, clock)
    return app, clock


def engine_acts(app, after_seq: int, until: dt.datetime) -> Counter[tuple[str, ...]]:
    """What the engine did by itself since `after_seq`, as what and for which legal date (not when it was run).
    A rung of the ladder is dated the day its mail goes out (engine/service.py: the DO is told that day), so a
    caught-up rung carries the restart's date where a running scheduler's carries the rung's own: rungs are
    compared by deadline and level, and their time order is checked apart (logical_moment)."""
    rows = all_deadlines(app)
    return Counter((r["process"], r["trigger"], "" if r["trigger"] == "escalate" else r["effective"],
                    str((r.get("data") or {}).get("deadline")),
                    str((r.get("data") or {}).get("subject")), str((r.get("data") or {}).get("level")))
                   for r in app.queries.history(KB) if r["seq"] > after_seq and r["actor"] == "convenant"
                   and logical_moment(app, r, rows) <= until)


def all_deadlines(app) -> dict[tuple[str, str, str | None], Any]:
    pids = {KB} | {r["process"] for r in app.queries.history(KB)}
    with app.store.transaction() as tx:
        return {(pid, d.kind, d.subject): d for pid in sorted(pids) for d in tx.deadlines_of(pid)}


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.kind for s in SCENARIOS])
def test_a_downtime_across_a_deadline_of_each_kind_is_caught_up_once_in_time_order(tmp_path: Path,
                                                                                  scenario: Scenario) -> None:
    app, clock = started(tmp_path / "down", scenario)
    twin, twin_clock = started(tmp_path / "running", scenario)
    try:
        tz, ladder = app.settings.tz, app.settings.escalation.after_days
        down_since = clock.moment
        before = max(r["seq"] for r in app.queries.history(KB))
        mails_before = {r["key"] for r in app.outbox.list()}
        watched_before = all_deadlines(app)
        (mine,) = [d for (pid, kind, _), d in watched_before.items()
                   if pid == scenario.process and kind == scenario.kind] or [None]
        if scenario.kind != "continuation_decision":   # that one is opened by the catch-up itself
            assert mine is not None and mine.status == "open", f"{scenario.kind} is open when the scheduler stops"
            assert local_moment(mine.due, tz) > down_since

        clock.move(scenario.restart)
        restart = clock.moment
        app.service.run_due()
        records = [r for r in app.queries.history(KB) if r["seq"] > before]
        rows = all_deadlines(app)
        watched = rows[(scenario.process, scenario.kind, None)]

        # every rung whose moment lay in the downtime fired, exactly once, for every missed deadline of any kind
        expected = set()
        for (pid, kind, subject), d in rows.items():
            if d.moment or d.met_on is not None or str(d.status) not in ("open", "missed"):
                continue
            missed = local_moment(d.due + dt.timedelta(days=1), tz)
            if missed > restart:
                continue
            base = max(missed, d.created_at)
            expected |= {(pid, kind, subject, level) for level, after in enumerate(ladder)
                         if down_since < base + dt.timedelta(days=after) <= restart}
        rungs = [(r["process"], r["data"]["deadline"], r["data"].get("subject"), r["data"]["level"])
                 for r in records if r["trigger"] == "escalate"]
        assert len(rungs) == len(set(rungs)), Counter(rungs).most_common(3)
        assert set(rungs) == expected, (set(rungs) ^ expected)

        if scenario.lapse_trigger is not None:
            # INTERFACE.md: a lapsed amendment's response deadline is cancelled, not missed; the lapse fires once,
            # on the day after the response period
            (lapsed,) = [r for r in records if r["trigger"] == scenario.lapse_trigger
                         and r["process"] == scenario.process]
            assert str(watched.status) == "cancelled"
            assert lapsed["effective"] == (watched.due + dt.timedelta(days=1)).isoformat()
        elif scenario.moment_trigger is None:
            # the awaited act never came: missed at the day after its due date, and the whole ladder climbed
            assert str(watched.status) == "missed", watched
            assert {(scenario.process, scenario.kind, None, level) for level in range(len(ladder))} <= set(rungs)
            (missed_record,) = [r for r in records if r["trigger"] == "deadline_missed"
                                and r["process"] == scenario.process and r["data"]["deadline"] == scenario.kind]
            assert missed_record["effective"] == (watched.due + dt.timedelta(days=1)).isoformat()
        else:
            # a moment: its transition fired once, with the legal date of the moment, and met the deadline
            (fired,) = [r for r in records if r["trigger"] == scenario.moment_trigger
                        and r["process"] == scenario.process]
            assert str(watched.status) == "met"
            assert fired["effective"] in (watched.due.isoformat(),
                                          (watched.due + dt.timedelta(days=1)).isoformat())
            assert local_moment(dt.date.fromisoformat(fired["effective"]), tz) <= restart

        # nothing the engine did at restart twice, and all of it in the time order of the moments it fell due
        done = [(r["process"], r["trigger"], r["effective"], str((r.get("data") or {}).get("deadline")),
                        str((r.get("data") or {}).get("subject")), str((r.get("data") or {}).get("level")))
                       for r in records if r["actor"] == "convenant"]
        assert len(done) == len(set(done)), Counter(done).most_common(3)
        moments = [logical_moment(app, r, rows) for r in records if r["actor"] == "convenant"]
        assert moments == sorted(moments)
        assert all(down_since < m <= restart for m in moments)

        # reminders queued at restart only for deadlines that had not passed; every rung's mail queued
        new = [r for r in app.outbox.list() if r["key"] not in mails_before]
        for mail in new:
            if mail["kind"] == "reminder":
                d = next(d for d in rows.values() if d.id == mail["deadline_id"])
                assert d.due >= restart.astimezone(tz).date(), mail["key"]
        for rung in (r for r in records if r["trigger"] == "escalate"):
            sent_to = sorted(m["to_addr"] for m in new if m["record_seq"] == rung["seq"])
            assert sent_to == sorted(rung["data"]["to"]) and sent_to, rung

        # the same as a scheduler that never stopped (run every day of the downtime) did by itself, act for act,
        # each with the same legal date
        twin_before = max(r["seq"] for r in twin.queries.history(KB))
        day = down_since
        while day < restart:
            day = min(day + dt.timedelta(days=1), restart)
            twin_clock.move(day.isoformat())
            twin.service.run_due()
        assert engine_acts(app, before, restart) == engine_acts(twin, twin_before, restart)

        # a second run at the same moment, and one a day later, fire nothing that fell due in the downtime again
        app.service.run_due()
        clock.move((restart + dt.timedelta(days=1)).isoformat())
        app.service.run_due()
        later = [r for r in app.queries.history(KB) if r["seq"] > before]
        again = [(r["process"], r["data"]["deadline"], r["data"].get("subject"), r["data"]["level"])
                 for r in later if r["trigger"] == "escalate" and logical_moment(app, r, rows) <= restart]
        assert sorted(again) == sorted(rungs)
        assert [r for r in later if r["actor"] == "convenant" and r["seq"] not in {x["seq"] for x in records}
                and logical_moment(app, r, all_deadlines(app)) <= restart] == []
    finally:
        app.store.engine.dispose()
        twin.store.engine.dispose()
