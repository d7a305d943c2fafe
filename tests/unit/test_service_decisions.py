"""Decisions through the service layer: the extension vote (Art. 5.4), amendments consented or refused by every
party (Art. 5.8), a notice that takes effect and opens the continuation vote (Art. 5.7), and disputes (Art. 5.2),
with their response deadlines and the dates each one falls on."""
from __future__ import annotations

import pytest

from convenant.engine.errors import BadInput, NotAllowed
from tests.conftest import KB, Harness, on_backends

pytestmark = on_backends("memory")


def at(h: Harness, when: str) -> Harness:
    h.active()
    h.advance(when)
    return h


def amend(h: Harness, party: str = "ipo", *, ref: str = "IPO/2026/17", on: str | None = None,
          change: str | None = "Art. 4: the theme Ketens gets a third commitment") -> str:
    sets = {"change": change} if change else None
    created = h.fire(KB, "request_amendment", role="party", party=party, ref=ref, on=on, sets=sets)["created"]
    assert created.startswith(f"{KB}/amendment-")
    return created


def notice(h: Harness, party: str = "vng", *, on: str = "2026-01-31", ref: str = "VNG/2026/3") -> str:
    created = h.fire(KB, "give_notice", role="party", party=party, ref=ref, on=on)["created"]
    assert created.startswith(f"{KB}/termination-")
    return created


# -- the extension vote (Art. 5.4) ----------------------------------------------------------------------------
def test_extension_votes_one_date_for_every_yes(harness):
    h = at(harness, "2026-05-01T10:00:00+02:00")
    assert h.refused(BadInput, KB, "vote_extension", role="party", party="ienw", sets={"extend": "yes"}
                     ).field == "new_end"
    assert h.refused(BadInput, KB, "vote_extension", role="party", party="ienw",
                     sets={"extend": "yes", "new_end": "2027-02-30"}).field == "new_end"
    h.fire(KB, "vote_extension", role="party", party="ienw", sets={"extend": "yes", "new_end": "2027-07-01"})
    err = h.refused(NotAllowed, KB, "vote_extension", role="party", party="ipo",
                    sets={"extend": "yes", "new_end": "2027-12-31"})
    assert "2027-07-01" in err.message and err.article == "Art. 5.4"
    dec = h.decision(KB, "extension")
    assert dec["pending"] == ["ipo", "uvw", "vng"] and dec["answers"]["ienw"]["counts_for"] == ["ienw", "ez", "vro"]
    assert "vote_extension" not in h.show(role="party", party="ienw")["allowed_triggers"]
    assert "vote_extension" in h.show(role="party", party="ipo")["allowed_triggers"]


def test_a_vote_dated_before_its_decision_opened_is_refused(harness):
    h = harness.active()
    h.advance("2026-04-02T09:00:00+02:00")
    assert h.show()["state"] == "extension_decision"
    err = h.refused(NotAllowed, KB, "vote_extension", role="party", party="ipo", on="2026-03-30",
                    sets={"extend": "no"})
    assert "extension opened on" in err.message
    h.fire(KB, "vote_extension", role="party", party="ipo", on="2026-04-02", sets={"extend": "no"})
    assert h.show()["state"] == "expiring"


def test_a_missed_extension_decision_changes_no_state_but_escalates(harness):
    h = harness.active()
    h.advance("2026-07-02T00:00:00+02:00")
    doc = h.show()
    assert doc["state"] == "extension_decision" and h.deadline("extension_decision")["status"] == "missed"
    escalated = [r for r in h.outbox() if r["kind"] == "escalation"
                 and r["payload"]["deadlines"][0]["kind"] == "extension_decision"]
    # the pending voters (every party: nobody voted) and the secretariat
    assert {r["to"] for r in escalated} == {"ienw@example.org", "ipo@example.org", "uvw@example.org",
                                            "vng@example.org", "secretariaat@example.org"}


# -- amendments (Art. 5.8) ------------------------------------------------------------------------------------
def test_an_amendment_consented_by_all_becomes_a_new_text_version(harness):
    h = at(harness, "2026-01-12T10:00:00+01:00")
    a = amend(h, on="2026-01-12")
    assert a == f"{KB}/amendment-1"
    child = h.show(a)
    assert (child["state"], child["parent"]) == ("open", KB)
    dec = h.decision(a, "amendment")
    assert dec["answers"]["ipo"]["answer"] == "consent" and dec["answers"]["ipo"]["initiator"] is True
    assert dec["pending"] == ["ienw", "uvw", "vng"]
    assert h.deadline("amendment_response", a)["due"] == "2026-02-23"            # 12 January + 42 days
    assert [(c["id"], c["state"]) for c in h.show()["children"]] == [(a, "open")]

    h.advance("2026-01-22T10:00:00+01:00")
    h.fire(a, "consent", role="party", party="ienw", ref="IenW/2026/40", on="2026-01-20")
    h.fire(a, "consent", role="party", party="uvw", ref="UvW/2026/8", on="2026-01-21")
    assert h.fire(a, "consent", role="secretariat", party="vng", ref="VNG/2026/2", on="2026-01-22")["dest"] == \
        "adopted"
    assert h.show(a)["state"] == "adopted" and h.deadline("amendment_response", a)["status"] == "met"
    versions = h.show()["text_versions"]
    assert [v["version"] for v in versions] == [1, 2]
    assert (versions[0]["note"], versions[0]["adopted_on"]) == ("the text as signed", "2025-03-20")
    assert {k: versions[1][k] for k in ("from_version", "amendment", "adopted_on", "change", "ref", "requested_by",
                                        "requested_on")} == {
        "from_version": 1, "amendment": a, "adopted_on": "2026-01-22", "requested_by": "ipo", "ref": "IPO/2026/17",
        "change": "Art. 4: the theme Ketens gets a third commitment", "requested_on": "2026-01-12"}
    # one chain: the agreement's history holds the child's records
    mine = [(r["trigger"], r["party"]) for r in h.history() if r["process"] == a]
    assert mine == [("request_amendment", "ipo"), ("consent", "ienw"), ("consent", "uvw"), ("consent", "vng")]
    # a second amendment, without a wording, builds on version 2
    b = amend(h, "vng", ref="VNG/2026/9", change=None)
    for p in ("ienw", "ipo", "uvw"):
        h.fire(b, "consent", role="party", party=p, ref=f"{p}-b")
    assert (h.show()["text_versions"][-1]["version"], h.show()["text_versions"][-1]["from_version"]) == (3, 2)
    assert h.verify()["intact"] is True


def test_one_refusal_rejects_an_amendment(harness):
    h = at(harness, "2026-01-12T10:00:00+01:00")
    a = amend(h)
    h.fire(a, "consent", role="party", party="ienw", ref="IenW/1")
    assert h.fire(a, "refuse", role="party", party="uvw", ref="UvW/1")["dest"] == "rejected"
    dec = h.decision(a, "amendment")
    assert (dec["outcome"], dec["answers"]["uvw"]["answer"], dec["pending"]) == ("rejected", "refuse", [])
    assert h.show()["text_versions"] == [] and h.deadline("amendment_response", a)["status"] == "met"
    assert "not allowed in state rejected" in h.refused(NotAllowed, a, "consent", role="party", party="vng",
                                                        ref="VNG/late").message


def test_only_the_requester_withdraws_an_amendment(harness):
    h = at(harness, "2026-01-12T10:00:00+01:00")
    a = amend(h, "uvw", ref="UvW/2026/1")
    assert "only uvw may withdraw" in h.refused(NotAllowed, a, "withdraw", role="party", party="ipo").message
    assert h.fire(a, "withdraw", role="party", party="uvw", ref="UvW/2026/4")["dest"] == "withdrawn"
    assert h.deadline("amendment_response", a)["status"] == "cancelled"


def test_an_amendment_lapses_the_day_after_its_response_deadline(harness):
    h = at(harness, "2026-01-12T10:00:00+01:00")
    a = amend(h)
    h.advance("2026-02-23T23:59:00+01:00")
    assert h.show(a)["state"] == "open"
    h.advance("2026-02-24T00:00:00+01:00")
    assert h.show(a)["state"] == "lapsed" and h.deadline("amendment_response", a)["status"] == "cancelled"
    lapse = [r for r in h.history() if r["process"] == a][-1]
    assert (lapse["trigger"], lapse["dest"], lapse["effective"], lapse["role"]) == ("lapse", "lapsed", "2026-02-24",
                                                                                 "system")
    assert not [r for r in h.history() if r["process"] == a and r["trigger"] == "deadline_missed"]


def test_the_response_days_come_from_the_settings(make_harness):
    h = at(make_harness(extra={"decisions": {"amendment_response_days": 10}}), "2026-01-12T10:00:00+01:00")
    a = amend(h)
    assert h.deadline("amendment_response", a)["due"] == "2026-01-22"


# -- notice and continuation (Art. 5.7) -----------------------------------------------------------------------
def test_a_notice_takes_effect_the_day_after_the_notice_period(harness):
    h = at(harness, "2026-01-31T10:00:00+01:00")
    t = notice(h, "vng")
    assert t == f"{KB}/termination-1"
    assert (h.deadline("notice_period", t)["due"], h.deadline("notice_period", t)["status"]) == ("2026-02-28",
                                                                                                "open")
    assert "open termination already" in h.refused(NotAllowed, KB, "give_notice", role="party", party="vng",
                                                   ref="VNG/2").message
    h.advance("2026-02-28T23:00:00+01:00")
    assert h.show(t)["state"] == "notice_given" and h.party("vng")["withdrawn_on"] is None
    h.advance("2026-03-01T00:00:00+01:00")
    assert h.show(t)["state"] == "continuation_decision"
    assert h.party("vng")["withdrawn_on"] == "2026-03-01"
    assert h.deadline("notice_period", t)["status"] == "met"
    assert (h.deadline("continuation_decision", t)["due"], h.show()["state"]) == ("2026-03-29", "active")
    (took,) = [r for r in h.history() if r["process"] == t and r["trigger"] == "take_effect"]
    assert took["effective"] == "2026-03-01"
    assert h.decision(t, "continuation")["pending"] == ["ienw", "ipo", "uvw"]
    h.refused(NotAllowed, t, "retract", role="party", party="vng")              # too late: it took effect


def test_a_representatives_notice_withdraws_those_it_represents(harness):
    h = at(harness, "2026-01-31T10:00:00+01:00")
    t = notice(h, "ienw", ref="IenW/2026/77")
    h.advance("2026-03-01T00:30:00+01:00")
    assert {p["id"]: p["withdrawn_on"] for p in h.show()["parties"]} == {
        "ienw": "2026-03-01", "ez": "2026-03-01", "vro": "2026-03-01", "ipo": None, "uvw": None, "vng": None}
    assert h.decision(t, "continuation")["pending"] == ["ipo", "uvw", "vng"]


def test_a_retracted_notice_withdraws_nobody(harness):
    h = at(harness, "2026-01-31T10:00:00+01:00")
    t = notice(h, "uvw", ref="UvW/2026/1")
    assert "only uvw may retract" in h.refused(NotAllowed, t, "retract", role="party", party="ipo").message
    h.advance("2026-02-20T10:00:00+01:00")
    assert h.fire(t, "retract", role="party", party="uvw", ref="UvW/2026/9")["dest"] == "retracted"
    assert h.deadline("notice_period", t)["status"] == "cancelled"
    h.advance("2026-03-02T10:00:00+01:00")
    assert h.show(t)["state"] == "retracted" and h.party("uvw")["withdrawn_on"] is None
    assert notice(h, "uvw", on="2026-03-02", ref="UvW/2026/12") == f"{KB}/termination-2"


def continuation(h: Harness) -> str:
    at(h, "2026-01-31T10:00:00+01:00")
    t = notice(h, "vng")
    h.advance("2026-03-02T10:00:00+01:00")
    assert h.show(t)["state"] == "continuation_decision"
    return t


def test_every_remaining_party_continues(harness):
    h = harness
    t = continuation(h)
    assert "withdrew on 2026-03-01" in h.refused(NotAllowed, t, "vote_continuation", role="party", party="vng",
                                                 sets={"continue": "yes"}).message
    assert h.refused(BadInput, t, "vote_continuation", role="party", party="ipo", sets={"continue": "maybe"}
                     ).field == "continue"
    h.fire(t, "vote_continuation", role="party", party="ienw", ref="IenW/9", sets={"continue": "yes"})
    h.fire(t, "vote_continuation", role="party", party="ipo", sets={"continue": "yes"})
    assert h.fire(t, "vote_continuation", role="secretariat", party="uvw", sets={"continue": "yes"})["dest"] == \
        "continued"
    assert h.deadline("continuation_decision", t)["status"] == "met"
    assert (h.show()["state"], h.decision(t, "continuation")["outcome"]) == ("active", "continued")


def test_every_remaining_party_ending_ends_the_agreement_early(harness):
    h = harness
    t = continuation(h)
    for p in ("ienw", "ipo"):
        h.fire(t, "vote_continuation", role="party", party=p, sets={"continue": "no"}, on="2026-03-02")
    res = h.fire(t, "vote_continuation", role="party", party="uvw", sets={"continue": "no"}, on="2026-03-02")
    assert res["dest"] == "agreement_ended"
    assert [(f["process"], f["dest"]) for f in res["follow_ups"]] == [(KB, "ended")]
    root = h.show()
    assert (root["state"], root["ends_on"], root["facts"]["ended_by"]) == ("ended", "2026-03-02", t)
    end = [r for r in h.history() if r["process"] == KB][-1]
    assert (end["trigger"], end["dest"], end["effective"]) == ("end", "ended", "2026-03-02")
    assert all(d["status"] != "open" for d in root["deadlines"])
    h.refused(NotAllowed, KB, "request_amendment", role="party", party="ipo", ref="IPO/x", sets={"change": "x"})


def test_mixed_votes_raise_a_dispute(harness):
    h = harness
    t = continuation(h)
    h.fire(t, "vote_continuation", role="party", party="ienw", sets={"continue": "yes"})
    res = h.fire(t, "vote_continuation", role="party", party="ipo", sets={"continue": "no"})
    assert (res["dest"], res["created"]) == ("disputed", f"{KB}/dispute-1")
    assert h.decision(t, "continuation")["outcome"] == "disputed"
    dispute = h.show(f"{KB}/dispute-1")
    assert (dispute["state"], dispute["facts"]["origin"]) == ("raised", t)
    assert {c["id"]: c["state"] for c in h.show()["children"]} == {t: "disputed", f"{KB}/dispute-1": "raised"}


def test_a_missed_continuation_decision_climbs_the_ladder(make_harness):
    h = make_harness(extra={"decisions": {"continuation_decision_days": 14}})
    t = continuation(h)
    h.fire(t, "vote_continuation", role="party", party="ienw", sets={"continue": "yes"})
    assert h.deadline("continuation_decision", t)["due"] == "2026-03-15"
    h.advance("2026-03-16T00:00:00+01:00")
    assert h.deadline("continuation_decision", t)["status"] == "missed"
    assert h.show(t)["state"] == "continuation_decision"
    h.advance("2026-04-14T12:00:00+02:00")
    levels = [r for r in h.history() if r["process"] == t and r["trigger"] == "escalate"]
    assert len(levels) == 3
    ladder = [r for r in h.outbox() if r["process"] == t and r["kind"] == "escalation"]
    by_step = [{r["to"] for r in ladder if r["record_seq"] == rec["seq"]} for rec in levels]
    # the parties that did not vote and the secretariat, then the DO, then the BO
    assert by_step == [{"ipo@example.org", "uvw@example.org", "secretariaat@example.org"}, {"do@example.org"},
                       {"bo@example.org"}]


# -- disputes (Art. 5.2) --------------------------------------------------------------------------------------
def test_a_dispute_resolved_in_consultation(harness):
    h = at(harness, "2026-02-02T10:00:00+01:00")
    d = h.fire(KB, "raise_dispute", role="party", party="ipo", ref="IPO/2026/20",
               sets={"subject": "Verdeling van de inzet voor Ketens"})["created"]
    assert d == f"{KB}/dispute-1" and h.show(d)["state"] == "raised"
    assert "secretariat" in h.refused(NotAllowed, d, "start_consultation", role="party", party="ipo").message
    h.fire(d, "start_consultation")
    h.fire(d, "resolve", ref="DO 2026-03")
    assert h.show(d)["state"] == "resolved"
    h.refused(NotAllowed, d, "escalate")


def test_a_dispute_escalated_to_the_bo_mails_the_bo(harness):
    h = at(harness, "2026-02-02T10:00:00+01:00")
    d = h.fire(KB, "raise_dispute", role="party", party="uvw", ref="UvW/2026/30",
               sets={"subject": "Bijdrage in natura aan Kennisdeling"})["created"]
    h.fire(d, "start_consultation")
    before = {r["id"] for r in h.outbox()}
    assert h.fire(d, "escalate", ref="DO 2026-04: geen overeenstemming")["dest"] == "escalated"
    to_bo = [r for r in h.outbox() if r["id"] not in before and r["to"] == "bo@example.org"]
    assert len(to_bo) == 1 and to_bo[0]["status"] == "pending" and "Bestuurlijk Overleg" in to_bo[0]["subject"]
    h.advance("2026-02-02T11:00:00+01:00", send=True)            # the dispatcher sends it
    (mail,) = [m for m in h.sent.messages if m["To"].endswith("<bo@example.org>")
               and d in m.get_body(("plain",)).get_content()]
    body = mail.get_body(("plain",)).get_content()
    assert "Bijdrage in natura aan Kennisdeling" in body and "Art. 2.1" in body and "DO 2026-04" in body


@pytest.mark.parametrize("role, party", [("party", "ipo"), ("secretariat", "ipo")])
def test_a_party_or_the_secretariat_for_it_raises_a_dispute(harness, role, party):
    h = at(harness, "2026-02-02T10:00:00+01:00")
    res = h.fire(KB, "raise_dispute", role=role, party=party, ref="IPO/1", sets={"subject": "x"})
    assert h.show(res["created"])["state"] == "raised"
    (rec,) = [r for r in h.history() if r["process"] == res["created"]]
    assert (rec["role"], rec["party"]) == (role, party)
