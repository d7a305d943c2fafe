"""Reminders, missed deadlines and the escalation ladder, run by the service's `advance_clock` (a simulation's
virtual clock) and `run_due` (the scheduler on a real-clock database, its time injected): each at its exact
moment, each message once (idempotency keys), the mail sent by the dispatcher from the outbox."""
from __future__ import annotations

import pytest

from convenant.engine.errors import BadInput, NotAllowed
from tests.conftest import KB, MAIN_SIGNERS, STCRT, on_backends

pytestmark = on_backends("memory")


def by_kind(rows: list[dict], kind: str, deadline: str) -> list[dict]:
    return [r for r in rows if r["kind"] == kind and r["payload"]["deadlines"][0]["kind"] == deadline]


def test_publication_reminders_at_eight_missed_and_the_ladder(harness):
    """Signed 20 March 2025 at 12:00; publication due 3 April: reminders 7 and 1 days before at 08:00 (the one 14
    days before lay before the deadline existed), missed at 00:00 on 4 April, then the responsible party and the
    secretariat, 14 days later the DO, 28 days later the BO."""
    h = harness.signed()            # the mail is sent as the clock moves (send=True), dated by the clock
    assert h.deadline("publication")["next_reminder"] == "2025-03-27T08:00:00+01:00"
    h.advance("2025-03-27T07:59:59+01:00", send=True)
    assert by_kind(h.outbox(), "reminder", "publication") == []
    h.advance("2025-03-27T08:00:00+01:00", send=True)
    first = by_kind(h.outbox(), "reminder", "publication")
    assert sorted(r["to"] for r in first) == ["ienw@example.org", "secretariaat@example.org"]
    assert all(r["status"] == "sent" and r["attempts"] == 1 for r in first)
    assert h.deadline("publication")["next_reminder"] == "2025-04-02T08:00:00+02:00"
    h.advance("2025-04-02T08:00:00+02:00", send=True)
    assert len(by_kind(h.outbox(), "reminder", "publication")) == 4
    assert [r["payload"]["days_left"] for r in by_kind(h.outbox(), "reminder", "publication")] == [7, 7, 1, 1]

    h.advance("2025-04-03T23:59:59+02:00", send=True)
    assert h.deadline("publication")["status"] == "open"
    h.advance("2025-04-04T00:00:00+02:00", send=True)
    assert h.deadline("publication")["status"] == "missed"
    (missed,) = [r for r in h.records("deadline_missed") if r["reason"].startswith("publication")]
    assert (missed["effective"], missed["recorded_at"], missed["article"]) == ("2025-04-04",
                                                                            "2025-04-04T00:00:00+02:00", "Art. 5.5")
    assert h.show()["state"] == "signed"                      # recorded, not blocked
    level1 = by_kind(h.outbox(), "escalation", "publication")
    assert sorted(r["to"] for r in level1) == ["ienw@example.org", "secretariaat@example.org"]
    assert {r["payload"]["level"] for r in level1} == {1}

    h.advance("2025-04-17T23:59:00+02:00", send=True)
    assert len(by_kind(h.outbox(), "escalation", "publication")) == 2
    h.advance("2025-04-18T00:00:00+02:00", send=True)
    assert [r["to"] for r in by_kind(h.outbox(), "escalation", "publication")[2:]] == ["do@example.org"]
    h.advance("2025-05-02T00:00:00+02:00", send=True)
    assert [r["to"] for r in by_kind(h.outbox(), "escalation", "publication")[3:]] == ["bo@example.org"]
    ladder = [r for r in h.records("escalate") if r["reason"].startswith("publication")]
    assert [r["effective"] for r in ladder] == ["2025-04-04", "2025-04-18", "2025-05-02"]
    # each queued message names the record that caused it; the mail went out with the engine's clock
    assert [r["record_seq"] for r in by_kind(h.outbox(), "escalation", "publication")] == [
        ladder[0]["seq"], ladder[0]["seq"], ladder[1]["seq"], ladder[2]["seq"]]
    dates = [m["Date"] for m in h.sent.messages if "bo@example.org" in m["To"]]
    assert dates and dates[-1].endswith("+0200") and "2 May 2025 00:00:00" in dates[-1]

    # nothing more falls due from this deadline, however far the clock goes
    count = len(by_kind(h.outbox(), "escalation", "publication"))
    h.advance("2025-09-01T12:00:00+02:00", send=True)
    assert len(by_kind(h.outbox(), "escalation", "publication")) == count
    assert h.verify()["intact"] is True


def test_an_act_on_time_stops_the_reminders(harness):
    h = harness.signed()
    h.advance("2025-03-28T09:00:00+01:00")
    h.fire(KB, "publish", ref=STCRT, on="2025-03-28")
    sent = len(by_kind(h.outbox(), "reminder", "publication"))
    assert sent == 2
    h.advance("2025-05-10T09:00:00+02:00")
    assert h.deadline("publication")["status"] == "met"
    assert len(by_kind(h.outbox(), "reminder", "publication")) == sent
    assert by_kind(h.outbox(), "escalation", "publication") == []


def test_the_scheduler_on_a_real_clock_runs_what_is_due_once(make_harness):
    """A real-clock database: the service's time is the injected clock's, a trigger runs no due work, and the
    scheduler's `run_due` at a moment runs what falls due by then - twice at the same moment adds nothing."""
    h = make_harness(simulation=None, real="2025-03-20T12:00:00+01:00")
    assert h.service.clock_info() == (False, h.real.now())
    h.create()
    h.fire(KB, "open_signing", on="2025-03-01")
    for party, name in MAIN_SIGNERS.items():
        h.fire(KB, "sign", role="party", party=party, actor=name, on="2025-03-20")
    with pytest.raises(NotAllowed):      # the real clock is not moved by hand
        h.service.advance_clock(h.real.now())
    h.run_due("2025-03-27T08:00:00+01:00")
    queued = by_kind(h.outbox(), "reminder", "publication")
    assert sorted(r["to"] for r in queued) == ["ienw@example.org", "secretariaat@example.org"]
    records = len(h.history())
    h.run_due("2025-03-27T08:00:00+01:00")
    assert by_kind(h.outbox(), "reminder", "publication") == queued and len(h.history()) == records
    # the publication enters late: the next run activates with its legal date and judges the deadline by it
    h.real.set(h.real.now().replace(day=28))
    h.fire(KB, "publish", ref=STCRT, on="2025-03-28")
    assert h.show()["state"] == "published"
    h.run_due("2025-03-28T12:00:01+01:00", send=True)
    (act,) = h.records("activate")
    assert (act["effective"], act["recorded_at"], h.show()["state"]) == ("2025-03-28", "2025-03-28T12:00:01+01:00",
                                                                       "active")
    assert h.deadline("publication")["status"] == "met"
    assert {r["status"] for r in h.outbox()} == {"sent"}


def test_the_clock_never_goes_back(harness):
    h = harness
    h.create()
    h.advance("2025-03-10T09:00:00+01:00")
    with pytest.raises(BadInput) as info:
        h.advance("2025-03-09T09:00:00+01:00")
    assert info.value.field == "to"
    assert h.service.now().isoformat() == "2025-03-10T08:00:00+00:00"


def test_a_deadline_missed_before_entry_starts_its_ladder_at_entry(make_harness):
    """Entered on 10 April 2025, signed (back) on 20 March: the publication deadline of 3 April was missed before
    it was entered. The first rung goes out once at the next run; the DO 14 and the BO 28 days after entry."""
    h = make_harness(simulation="2025-04-10T10:00:00+02:00")
    h.create()
    h.fire(KB, "open_signing", on="2025-03-01")
    for party in MAIN_SIGNERS:
        h.fire(KB, "sign", role="party", party=party, on="2025-03-20")
    h.advance("2025-04-10T10:00:01+02:00")
    assert h.deadline("publication")["status"] == "missed"
    assert [r["to"] for r in by_kind(h.outbox(), "escalation", "publication")] == ["ienw@example.org",
                                                                                  "secretariaat@example.org"]
    assert by_kind(h.outbox(), "reminder", "publication") == []
    h.advance("2025-04-24T10:00:00+02:00")
    assert [r["to"] for r in by_kind(h.outbox(), "escalation", "publication")][2:] == ["do@example.org"]
    h.advance("2025-05-08T10:00:00+02:00")
    assert [r["to"] for r in by_kind(h.outbox(), "escalation", "publication")][3:] == ["bo@example.org"]


def test_reminder_offsets_and_ladder_come_from_the_settings(make_harness):
    h = make_harness(extra={"reminders": {"publication": [2]}, "escalation": {"after_days": [0, 3]},
                            "scheduler": {"reminder_time": "07:30"}})
    h.signed()
    assert h.deadline("publication")["next_reminder"] == "2025-04-01T07:30:00+02:00"
    h.advance("2025-04-07T12:00:00+02:00")
    assert len(by_kind(h.outbox(), "reminder", "publication")) == 2
    assert [r["to"] for r in by_kind(h.outbox(), "escalation", "publication")][2:] == ["do@example.org"]
    ladder = [r["effective"] for r in h.records("escalate") if r["reason"].startswith("publication")]
    assert ladder == ["2025-04-04", "2025-04-07"]


def test_a_scheduler_back_after_downtime_catches_up_in_time_order(make_harness):
    """Down from 20 March to 10 May 2025 on a real clock, claiming two items per batch: one run does the missed
    publication and all three rungs of its ladder, in the order they fell due, and nothing of it twice."""
    h = make_harness(simulation=None, real="2025-03-20T12:00:00+01:00", extra={"scheduler": {"batch_size": 2}})
    h.create()
    h.fire(KB, "open_signing", on="2025-03-01")
    for party in MAIN_SIGNERS:
        h.fire(KB, "sign", role="party", party=party, on="2025-03-20")
    ran = h.run_due("2025-05-10T12:00:00+02:00")
    assert ran >= 4
    steps = [(r["trigger"], r["data"].get("level")) for r in h.history()
             if r["role"] == "system" and (r["reason"] or "").startswith("publication")]
    assert steps == [("deadline_missed", None), ("escalate", 0), ("escalate", 1), ("escalate", 2)]
    assert {r["recorded_at"] for r in h.history() if r["role"] == "system"} == {"2025-05-10T12:00:00+02:00"}
    assert by_kind(h.outbox(), "reminder", "publication") == []          # reminders of a past due day: none
    assert [r["to"] for r in by_kind(h.outbox(), "escalation", "publication")] == [
        "ienw@example.org", "secretariaat@example.org", "do@example.org", "bo@example.org"]
    records = len(h.history())
    assert h.run_due("2025-05-10T12:00:00+02:00") == 0 and len(h.history()) == records
