"""Reminders, the escalation ladder and late entry, driven through the CLI on a simulation database (the virtual
clock runs the same code as the real-clock scheduler: Service.run_due / advance_clock)."""
from __future__ import annotations

import datetime as dt
from email.utils import getaddresses

from convenant.app.bootstrap import build
from tests.conftest import Cli, active, signed

KB = "krachtenbundeling"
PARTIES = ("ienw", "ipo", "uvw", "vng")
UTC = dt.UTC


def outbox(c: Cli) -> list[dict]:
    """Outbox rows with their idempotency keys (the CLI's `outbox` leaves keys out)."""
    app = build(str(c.config))
    try:
        return app.outbox.list()
    finally:
        app.store.dispose()


def sent(c: Cli, kind: str, deadline: str, step: str | None = None, process: str = KB) -> list[tuple]:
    """(step, recipient, queued at, UTC) of the reminder/escalation rows of one deadline, in queue order."""
    out = []
    for r in outbox(c):
        proc, dl, st, to = r["key"].split("|")
        if r["kind"] == kind and proc == process and dl.split("#")[0] == deadline and (step is None or st == step):
            out.append((st, to, r["created_at"].replace(tzinfo=UTC)))
    return out


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(UTC)


def recipients(c: Cli, subject_has: str) -> set[str]:
    return {addr for m in c.messages() if subject_has in str(m["Subject"])
            for _, addr in getaddresses([m["To"]])}


def deadline_row(c: Cli, kind: str, *flags: str) -> dict:
    return next(d for d in c.run("deadlines", *flags).data if d["kind"] == kind and d["process"] == KB)


def test_reminders_at_each_offset_and_none_once_met(cli: Cli) -> None:
    cli.run("init", "--simulation", "--start", "2025-03-01T09:00:00+01:00")
    cli.run("agreements", "create", "--example", KB)
    cli.trigger(KB, "open_signing")
    cli.advance("2025-03-20T07:00:00+01:00")     # signed before the 14-day reminder's 08:00
    for party in PARTIES:
        cli.trigger(KB, "sign", role="party", party=party, on="2025-03-20")
    row = deadline_row(cli, "publication")
    assert row["due"] == "2025-04-03"
    assert row["next_reminder"] == row["next_step_at"] == "2025-03-20T08:00:00+01:00"

    cli.advance("2025-03-27T09:00:00+01:00")
    assert sent(cli, "reminder", "publication") == [
        ("r14", "ienw@example.org", at("2025-03-20T08:00:00+01:00")),
        ("r14", "secretariaat@example.org", at("2025-03-20T08:00:00+01:00")),
        ("r7", "ienw@example.org", at("2025-03-27T08:00:00+01:00")),
        ("r7", "secretariaat@example.org", at("2025-03-27T08:00:00+01:00")),
    ]
    row = deadline_row(cli, "publication")
    assert row["next_reminder"] == "2025-04-02T08:00:00+02:00"
    # the mail itself: to IenW and the secretariat, one message each, with the deadline as an .ics
    assert recipients(cli, "") >= {"ienw@example.org", "secretariaat@example.org"}
    reminder_mails = [m for m in cli.messages() if "ienw@example.org" in m["To"] and any(
        p.get_filename() and p.get_filename().endswith(".ics") for p in m.walk())]
    assert reminder_mails

    cli.advance("2025-03-28T09:00:00+01:00")
    cli.trigger(KB, "publish", ref="Stcrt. 2025, 11512", on="2025-03-28")
    assert deadline_row(cli, "publication", "--all")["status"] == "met"
    assert deadline_row(cli, "publication", "--all")["next_reminder"] is None
    assert deadline_row(cli, "publication", "--all")["next_step_at"] is None
    cli.advance("2025-05-03T00:00:00+02:00")
    assert [s for s, _, _ in sent(cli, "reminder", "publication")] == ["r14", "r14", "r7", "r7"]
    assert sent(cli, "escalation", "publication") == []
    assert not [h for h in cli.history() if h["trigger"] in ("deadline_missed", "escalate")
                and h["data"].get("deadline") == "publication"]


def test_escalation_ladder_over_weeks_stops_when_met(cli: Cli) -> None:
    signed(cli)                                               # signed 20 March 2025, publication due 3 April
    cli.run("agreements", "create", "--example", KB, "--id", "kb2")
    cli.trigger("kb2", "open_signing")
    for party in PARTIES:
        cli.trigger("kb2", "sign", role="party", party=party, on="2025-03-20")

    cli.advance("2025-04-03T23:59:00+02:00")
    assert sent(cli, "escalation", "publication") == []
    cli.advance("2025-04-04T00:00:00+02:00")                  # missed at 00:00 the day after, escalated at once
    first = at("2025-04-04T00:00:00+02:00")
    assert sent(cli, "escalation", "publication") == [("e0", "ienw@example.org", first),
                                                      ("e0", "secretariaat@example.org", first)]
    cli.advance("2025-04-17T23:00:00+02:00")
    assert len(sent(cli, "escalation", "publication")) == 2
    cli.advance("2025-04-18T00:00:00+02:00")                  # the DO 14 days later
    assert sent(cli, "escalation", "publication", "e1") == [("e1", "do@example.org", at("2025-04-18T00:00:00+02:00"))]

    cli.trigger("kb2", "publish", ref="Stcrt. 2025, 20000", on="2025-04-18")   # kb2 published late: ladder stops
    cli.advance("2025-06-01T00:00:00+02:00")                  # the BO 28 days after the first step
    assert sent(cli, "escalation", "publication", "e2") == [("e2", "bo@example.org", at("2025-05-02T00:00:00+02:00"))]
    assert [s for s, _, _ in sent(cli, "escalation", "publication", process="kb2")] == ["e0", "e0", "e1"]

    steps = [(h["trigger"], h["data"].get("level"), h["effective"]) for h in cli.history()
             if h["trigger"] in ("deadline_missed", "escalate") and h["data"].get("deadline") == "publication"]
    assert steps == [("deadline_missed", None, "2025-04-04"), ("escalate", 0, "2025-04-04"),
                     ("escalate", 1, "2025-04-18"), ("escalate", 2, "2025-05-02")]
    escalations = [h for h in cli.history() if h["trigger"] == "escalate" and h["data"]["deadline"] == "publication"]
    assert [h["data"]["to"] for h in escalations] == [["ienw@example.org", "secretariaat@example.org"],
                                                      ["do@example.org"], ["bo@example.org"]]
    assert all(h["article"] == "Art. 5.5" and h["actor"] == "convenant" for h in escalations)
    kb2 = [h["data"]["level"] for h in cli.history("kb2") if h["trigger"] == "escalate"
           and h["data"]["deadline"] == "publication"]
    assert kb2 == [0, 1]
    assert recipients(cli, "") >= {"do@example.org", "bo@example.org"}


def test_vote_reminders_go_to_parties_that_have_not_voted(cli: Cli) -> None:
    active(cli)
    cli.advance("2026-05-15T12:00:00+02:00")                 # the extension decision opened on 2 April 2026
    assert cli.show()["state"] == "extension_decision"
    cli.trigger(KB, "vote_extension", role="party", party="ipo", on="2026-05-15",
                sets=("extend=yes", "new_end=2028-01-01"))
    cli.advance("2026-06-01T09:00:00+02:00")
    # ez and vro have not voted either, but they act through ienw: one message to ienw
    assert {to for _, to, _ in sent(cli, "reminder", "extension_decision", "r30")} == {
        "ienw@example.org", "uvw@example.org", "vng@example.org"}
    cli.trigger(KB, "vote_extension", role="party", party="ienw", on="2026-06-01",
                sets=("extend=yes", "new_end=2028-01-01"))
    cli.advance("2026-06-17T09:00:00+02:00")
    assert {to for _, to, _ in sent(cli, "reminder", "extension_decision", "r14")} == {
        "uvw@example.org", "vng@example.org"}
    assert deadline_row(cli, "extension_decision")["next_reminder"] == "2026-06-24T08:00:00+02:00"


def test_amendment_reminders_go_to_those_that_have_not_answered(cli: Cli) -> None:
    active(cli)
    cli.advance("2025-05-01T10:00:00+02:00")
    res = cli.trigger(KB, "request_amendment", role="party", party="vng", on="2025-05-01", ref="VNG 2025/17",
                      sets=("change=Art. 4.2 anders",))
    child = res.data["created"]
    due = cli.deadline("amendment_response", child)["due"]
    assert due == "2025-06-12"                                # 42 days
    cli.advance("2025-05-29T09:00:00+02:00")
    assert {to for _, to, _ in sent(cli, "reminder", "amendment_response", "r14", process=child)} == {
        "ienw@example.org", "ipo@example.org", "uvw@example.org"}   # the requester consented by asking
    cli.trigger(child, "consent", role="party", party="ipo", on="2025-05-29", ref="IPO 2025/3")
    cli.advance("2025-06-05T09:00:00+02:00")
    assert {to for _, to, _ in sent(cli, "reminder", "amendment_response", "r7", process=child)} == {
        "ienw@example.org", "uvw@example.org"}


def test_late_entry_sends_no_past_reminders_and_escalates_once(cli: Cli) -> None:
    entered = "2026-11-23T10:00:00+01:00"
    cli.run("init", "--simulation", "--start", entered)
    cli.run("agreements", "create", "--example", KB)
    cli.trigger(KB, "open_signing", on="2025-03-01")
    for party in PARTIES:
        cli.trigger(KB, "sign", role="party", party=party, on="2025-03-20")
    cli.trigger(KB, "publish", ref="Stcrt. 2025, 11512", on="2025-03-25")   # the work structure was never recorded
    assert [r for r in outbox(cli) if r["kind"] in ("reminder", "escalation")] == []   # triggers never run due work

    cli.advance("2026-11-23T10:05:00+01:00")                 # the next run
    assert cli.show()["state"] == "extension_decision"       # activated, then opened, with their legal dates
    acts = {h["trigger"]: h["effective"] for h in cli.history() if h["actor"] == "convenant"}
    assert acts["activate"] == "2025-03-25"
    reminders = [r for r in outbox(cli) if r["kind"] == "reminder"]
    assert reminders == []                                   # every reminder moment lay before entry

    def ladder() -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for h in cli.history():
            if h["trigger"] == "escalate" and h["data"]["deadline"] in ("work_structure", "extension_decision"):
                out.setdefault(h["data"]["deadline"], []).append(h["data"]["level"])
        return out

    assert ladder() == {"work_structure": [0], "extension_decision": [0]}   # once, not once per missed step
    cli.advance("2026-12-02T09:00:00+01:00")                 # the end's 30-day reminder lies after entry: sent
    assert {s for s, _, _ in sent(cli, "reminder", "end")} == {"r30"}
    cli.advance("2026-12-07T10:05:00+01:00")                 # 14 days after entry: the DO
    assert ladder() == {"work_structure": [0, 1], "extension_decision": [0, 1]}
    cli.advance("2026-12-21T10:05:00+01:00")                 # 28 days after entry: the BO
    assert ladder() == {"work_structure": [0, 1, 2], "extension_decision": [0, 1, 2]}
    assert sent(cli, "escalation", "work_structure", "e1") == [
        ("e1", "do@example.org", at("2026-12-07T10:00:00+01:00"))]


def test_reminders_on_working_days_use_the_atw_calendar(tmp_path) -> None:
    c = Cli(tmp_path, f"sqlite:///{tmp_path / 'c.db'}", "\n[scheduler]\nreminders_on_working_days = true\n")
    signed(c)
    c.trigger(KB, "publish", ref="Stcrt. 2025, 11512", on="2025-03-20")
    # work_structure is due Saturday 31 May 2025: 14 and 7 days before are Saturdays, 1 day before a Friday
    assert deadline_row(c, "work_structure")["next_reminder"] == "2025-05-16T08:00:00+02:00"
    c.advance("2025-05-31T12:00:00+02:00")
    assert [(s, when) for s, to, when in sent(c, "reminder", "work_structure") if to == "secretariaat@example.org"] == [
        ("r14", at("2025-05-16T08:00:00+02:00")), ("r7", at("2025-05-23T08:00:00+02:00")),
        ("r1", at("2025-05-30T08:00:00+02:00"))]


def test_empty_list_sends_no_reminders_and_a_missing_kind_the_defaults(tmp_path) -> None:
    c = Cli(tmp_path, f"sqlite:///{tmp_path / 'c.db'}", "\n[reminders]\npublication = []\n")
    signed(c)
    c.advance("2025-04-03T12:00:00+02:00")
    assert sent(c, "reminder", "publication") == []
    assert deadline_row(c, "publication")["next_reminder"] is None
    assert deadline_row(c, "publication")["next_step_at"] == "2025-04-04T00:00:00+02:00"   # the ladder still runs
    c.trigger(KB, "publish", ref="Stcrt. 2025, 11512", on="2025-04-03")
    c.advance("2025-05-31T12:00:00+02:00")
    assert sorted({s for s, _, _ in sent(c, "reminder", "work_structure")}) == ["r1", "r14", "r7"]


def test_deadlines_lists_the_next_reminder(cli: Cli) -> None:
    signed(cli)
    rows = cli.run("deadlines").data
    assert {k for row in rows for k in row} >= {"process", "kind", "due", "status", "next_reminder", "next_step_at"}
    by_kind = {r["kind"]: r for r in rows}
    assert by_kind["publication"]["next_reminder"] == "2025-03-27T08:00:00+01:00"   # 14 days before lay before entry
    assert by_kind["work_structure"]["next_reminder"] == "2025-05-17T08:00:00+02:00"
    assert by_kind["end"]["next_reminder"] == "2026-12-02T08:00:00+01:00"
    from convenant.app.cli import cli as command
    human = cli.runner.invoke(command, ["--config", str(cli.config), "deadlines"]).stdout
    assert "next_reminder" in human and "2025-03-27T08:00:00+01:00" in human


def test_configuration_errors_name_the_key_exit_2_and_change_nothing(cli: Cli) -> None:
    signed(cli)
    good = cli.config.read_text()
    before = cli.snapshot()
    for extra, key in (('[scheduler]\nreminder_time = "25:00"\n', "scheduler.reminder_time"),
                       ("[escalation]\nafter_days = [14, 0]\n", "escalation.after_days"),
                       ("[reminders]\npublication = [-1]\n", "reminders.publication"),
                       ("[reminders]\npublicatie = [7]\n", "reminders.publicatie")):
        cli.config.write_text(good + "\n" + extra)
        for args in (("scheduler", "--once"), ("clock", "advance", "--to", "2025-06-01T00:00:00+02:00"),
                     ("trigger", KB, "publish", "--actor", "x", "--role", "secretariat", "--ref", "S 1")):
            res = cli.run(*args, expect=2)
            assert key in res.err, (args, res.err)
            assert res.data["field"] == key and res.data["exit_code"] == 2
    cli.config.write_text(good)
    assert cli.snapshot() == before
