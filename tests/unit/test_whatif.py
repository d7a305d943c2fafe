"""`whatif`: a fork of the live agreement, the hypothetical acts at their dates, the clock run forward; the report
of states, deadlines and mails, and the difference with the same fork run without the acts. The real store is
left exactly as it was and nothing is sent."""
from __future__ import annotations

import datetime as dt

import pytest

from convenant.engine.errors import BadInput, NotAllowed, NotFound
from convenant.engine.whatif import Fork, parse_act, whatif
from tests.conftest import KB, moment, on_backends

pytestmark = on_backends("memory")


def fork() -> Fork:
    from convenant.storage.memory import MemoryReadModels, MemoryStore
    store = MemoryStore()
    return Fork(store=store, outbox=store.outbox, reads=MemoryReadModels(store), load=store.load)


@pytest.fixture
def live(harness):
    """The real timeline: active since 25 March 2025, work structure recorded, clock at 15 January 2026."""
    h = harness.active()
    h.fire(KB, "record_work_structure", ref="DO 2025-05-20", on="2025-04-01")
    h.advance("2026-01-15T10:00:00+01:00")
    return h


def rehearse(h, acts: list[str], until: str) -> dict:
    before = h.snapshot()
    sent = len(h.sent.messages)
    out = whatif(h.service, KB, [parse_act(a) for a in acts], moment(until), fork,
                 pending=h.reads.outbox("pending", KB))
    assert h.snapshot() == before            # the real store: every process, record, deadline, message, the clock
    assert len(h.sent.messages) == sent      # and nothing sent
    return out


def test_vngs_notice_gives_withdrawal_on_1_march_and_a_continuation_decision(live):
    out = rehearse(live, ["give_notice --party vng --on 2026-01-31 --ref VNG/2026/1"], "2026-04-01T00:00:00+02:00")
    term = f"{KB}/termination-1"
    assert out["acts"] == [{"trigger": "give_notice", "party": "vng", "on": "2026-01-31", "process": KB,
                            "state": "active"}]
    states = [(s["process"], s["state"], s["at"]) for s in out["states"]]
    assert (term, "notice_given", "2026-01-31") in states
    assert (term, "continuation_decision", "2026-03-01") in states     # the withdrawal takes effect on 1 March
    deadlines = {(d["process"], d["kind"]): d for d in out["deadlines"]}
    notice = deadlines[(term, "notice_period")]
    assert (notice["due"], notice["status"], notice["change"]) == ("2026-02-28", "met", "created")
    cont = deadlines[(term, "continuation_decision")]
    days = live.settings.param("decisions.continuation_decision_days")
    assert cont["due"] == (dt.date(2026, 3, 1) + dt.timedelta(days=days)).isoformat()
    assert cont["change"] == "created"
    # the reminders of the continuation decision go to the remaining parties, not to VNG
    reminders = [m for m in out["mails"] if m["process"] == term and m["date"] > "2026-03-01"]
    assert reminders and "vng@example.org" not in {m["to"] for m in reminders}
    assert {"ienw@example.org", "ipo@example.org", "uvw@example.org"} <= {m["to"] for m in reminders}
    assert all(m["date"] <= out["until"] for m in out["mails"])
    # against the fork without the notice: the termination is what differs
    diff = out["difference"]
    assert {(s["process"], s["state"]) for s in diff["states"]["added"]} >= {(term, "notice_given"),
                                                                             (term, "continuation_decision")}
    assert diff["states"]["removed"] == []
    assert {(d["process"], d["kind"]) for d in diff["deadlines"]} >= {(term, "notice_period"),
                                                                     (term, "continuation_decision")}
    assert diff["mails"]["added"] and diff["mails"]["removed"] == []


def test_an_extension_voted_on_10_june_moves_end_and_cancels_nothing_else(live):
    acts = [f"vote_extension --party {p} --on 2026-06-10 --set extend=yes --set new_end=2028-01-01 --ref R/{p}"
            for p in ("ienw", "ipo", "uvw", "vng")]
    out = rehearse(live, acts, "2026-06-30T00:00:00+02:00")
    assert [a["state"] for a in out["acts"]][-1] != "extension_decision"
    end = [d for d in out["deadlines"] if d["kind"] == "end"]
    assert end == [{"process": KB, "kind": "end", "subject": None, "due": "2028-01-01", "status": "open",
                    "change": "moved", "due_before": "2027-01-01", "status_before": "open"}]
    assert [d for d in out["deadlines"] if d["change"] == "cancelled"] == []
    (ext,) = [d for d in out["deadlines"] if d["kind"] == "extension_decision"]
    assert (ext["status"], ext["change"]) == ("met", "met")
    moved = {(d["kind"], d["with"]["due"] if d["with"] else None) for d in out["difference"]["deadlines"]}
    assert ("end", "2028-01-01") in moved
    assert not any(d["with"] and d["with"]["status"] == "cancelled" for d in out["difference"]["deadlines"])


def test_no_acts_runs_the_fork_forward(live):
    out = rehearse(live, [], "2026-04-03T00:00:00+02:00")
    assert out["acts"] == [] and out["difference"] == {"states": {"added": [], "removed": []},
                                                       "mails": {"added": [], "removed": []}, "deadlines": []}
    assert [(s["process"], s["state"]) for s in out["states"]] == [(KB, "extension_decision")]  # 2 April 2026
    assert out["mails"]       # the extension decision's confirmation and reminders would go out


def test_bad_acts_and_dates_are_refused(live):
    with pytest.raises(BadInput) as err:
        parse_act("--party vng give_notice")
    assert err.value.field == "act"
    with pytest.raises(BadInput, match="KEY=VALUE"):
        parse_act("vote_extension --set extend")
    with pytest.raises(BadInput, match="not a valid date"):
        parse_act("give_notice --party vng --on 2026-02-30")
    with pytest.raises(BadInput) as err:
        rehearse(live, [], "2025-01-01T00:00:00+01:00")
    assert err.value.field == "until"
    with pytest.raises(BadInput) as err:
        rehearse(live, ["give_notice --party vng --on 2026-05-01"], "2026-04-01T00:00:00+02:00")
    assert err.value.field == "act"
    with pytest.raises(NotAllowed):        # a refusal in the fork is the same refusal
        rehearse(live, ["sign --party vng --on 2026-01-20"], "2026-02-01T00:00:00+01:00")
    with pytest.raises(NotFound):
        whatif(live.service, "nothing", [], moment("2026-02-01T00:00:00+01:00"), fork)
    assert all(r["trigger"] != "sign" for r in live.reads.refusals(10))   # the fork's refusal stays in the fork
