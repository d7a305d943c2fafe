"""Issue 19, finding 2: a real-clock database whose scheduler was down for 93 days. At restart everything due
during the downtime fires once and in time order - for every deadline kind, including the deadlines that the
catch-up itself opens (a termination taking effect opens its continuation decision) -, reminders are dropped
only where the deadline itself has passed, and no rung of the escalation ladder is postponed or dropped. On
SQLite and PostgreSQL, with an injected clock (no sleeping)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from convenant.app.bootstrap import build
from convenant.engine.agreements import read_data_file
from convenant.engine.clock import local_moment
from convenant.engine.pipeline import TriggerRequest
from convenant.workflows import example_file
from tests.conftest import Cli

KB = "krachtenbundeling"
TZ_TEXT = "+02:00"


class ManualClock:
    """The engine's real-time clock, moved by the test."""

    def __init__(self, moment: str) -> None:
        self.moment = dt.datetime.fromisoformat(moment).astimezone(dt.UTC)

    def now(self, uow=None) -> dt.datetime:
        return self.moment

    def simulated(self, uow=None) -> bool:
        return False

    def move(self, moment: str) -> None:
        self.moment = dt.datetime.fromisoformat(moment).astimezone(dt.UTC)


def fire(app, pid: str, trigger: str, *, party: str | None = None, on: str | None = None, ref: str | None = None,
         data: dict | None = None, role: str = "secretariat"):
    return app.service.fire(TriggerRequest(pid, trigger, actor="Secretariaat CE", role=role, party=party, on=on,
                                           ref=ref, data=data))


def running_agreement(tmp_path: Path, url: str):
    c = Cli(tmp_path, url)
    clock = ManualClock("2025-03-20T12:00:00+01:00")
    c.run("init")
    app = build(str(c.config), clock=clock)
    app.service.create_agreement(KB, read_data_file(example_file(app.service.workflow(KB))))
    fire(app, KB, "open_signing", on="2025-03-01")
    for party in ("ienw", "ipo", "uvw", "vng"):
        fire(app, KB, "sign", party=party, role="party", on="2025-03-20")
    fire(app, KB, "publish", ref="Stcrt. 2025, 11512", on="2025-03-20")
    for moment in ("2025-04-01T09:00:00+02:00", "2025-06-02T10:00:00+02:00"):
        clock.move(moment)
        app.service.run_due()
    fire(app, KB, "request_amendment", party="ipo", role="party", ref="brief 2025-17", on="2025-06-02")
    fire(app, KB, "give_notice", party="vng", role="party", ref="brief 2025-18", on="2025-06-02")
    app.service.run_due()
    return app, clock


def deadlines(app) -> dict[tuple[str, str], object]:
    with app.store.transaction() as tx:
        pids = [KB, f"{KB}/amendment-1", f"{KB}/termination-1"]
        return {(pid, d.kind, d.subject): d for pid in pids for d in tx.deadlines_of(pid)}


def logical_moment(app, record: dict, rows: dict) -> dt.datetime:
    """When the act of a system record fell due, computed from the deadline it names (not from the engine)."""
    tz, settings = app.settings.tz, app.settings
    data = record.get("data") or {}
    if record["trigger"] in ("deadline_missed", "escalate"):
        d = rows[(record["process"], data["deadline"], data.get("subject"))]
        missed = local_moment(d.due + dt.timedelta(days=1), tz)
        if record["trigger"] == "deadline_missed":
            return missed
        base = max(missed, d.created_at)
        return base + dt.timedelta(days=settings.escalation.after_days[data["level"]])
    return local_moment(dt.date.fromisoformat(record["effective"]), tz)


def test_after_93_days_down_everything_due_fires_once_in_time_order(tmp_path, db_url) -> None:
    app, clock = running_agreement(tmp_path, db_url)
    try:
        before = max(r["seq"] for r in app.queries.history(KB))
        down_since = clock.moment                           # the last run before the downtime
        mails_before = {r["key"] for r in app.outbox.list()}
        clock.move("2025-09-03T10:00:00+02:00")            # 93 days later the scheduler comes back
        restart = clock.moment
        app.service.run_due()
        records = [r for r in app.queries.history(KB) if r["seq"] > before]
        rows = deadlines(app)

        # the termination took effect during the downtime and opened its continuation decision: reckoned from the
        # moment it took effect, not from the restart, so its ladder is not postponed
        take_effect = next(r for r in records if r["trigger"] == "take_effect")
        cont = rows[(f"{KB}/termination-1", "continuation_decision", None)]
        assert cont.created_at == local_moment(dt.date.fromisoformat(take_effect["effective"]), app.settings.tz)

        # every rung whose moment lay before the restart fired, exactly once, for every missed deadline
        expected = set()
        for (pid, kind, subject), d in rows.items():
            if d.moment or d.met_on is not None or str(d.status) not in ("open", "missed"):
                continue
            missed = local_moment(d.due + dt.timedelta(days=1), app.settings.tz)
            if missed > restart:
                continue
            base = max(missed, d.created_at)
            expected |= {(pid, kind, subject, level) for level, after in enumerate(app.settings.escalation.after_days)
                         if down_since < base + dt.timedelta(days=after) <= restart}
        rungs = [(r["process"], r["data"]["deadline"], r["data"].get("subject"), r["data"]["level"]) for r in records
                 if r["trigger"] == "escalate"]
        assert len(rungs) == len(set(rungs)) and set(rungs) == expected
        assert {(f"{KB}/termination-1", "continuation_decision", None, level) for level in (0, 1, 2)} <= expected
        assert {kind for _, kind, _, _ in expected} >= {"continuation_decision", "work_structure", "progress_report"}

        # in the time order of the moments they fell due
        moments = [logical_moment(app, r, rows) for r in records if r["actor"] == "convenant"]
        assert moments == sorted(moments)

        # reminders queued at restart only for deadlines that had not passed; the ladder's mails all queued
        new = [r for r in app.outbox.list() if r["key"] not in mails_before]
        for mail in new:
            if mail["kind"] == "reminder":
                d = next(d for d in rows.values() if d.id == mail["deadline_id"])
                assert d.due >= restart.astimezone(app.settings.tz).date(), mail["key"]
        for rung in (r for r in records if r["trigger"] == "escalate"):
            sent_to = sorted(m["to_addr"] for m in new if m["record_seq"] == rung["seq"])
            assert sent_to == sorted(rung["data"]["to"]), rung
        assert all(len(r["data"]["to"]) > 0 for r in records if r["trigger"] == "escalate"
                   and r["data"]["deadline"] in ("continuation_decision", "work_structure"))

        # a second run at the same moment, and one later, add no rung twice
        app.service.run_due()
        clock.move("2025-09-04T10:00:00+02:00")
        app.service.run_due()
        again = [(r["process"], r["data"]["deadline"], r["data"].get("subject"), r["data"]["level"])
                 for r in app.queries.history(KB)
                 if r["seq"] > before and r["trigger"] == "escalate"]
        assert sorted(again) == sorted(rungs)
    finally:
        app.store.engine.dispose()
