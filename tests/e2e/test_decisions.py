"""Amendments (Art. 5.8), terminations and continuation votes (Art. 5.7), disputes (Art. 5.2) and the
extension vote (Art. 5.4), end to end through the CLI on a simulation database: every outcome, the boundaries
of the notice period and the response deadlines, and every refusal the issue names (with its article, and
nothing changed)."""
from __future__ import annotations

import email
import email.policy
import hashlib
import json

from tests.conftest import Cli, active

K = "krachtenbundeling"


def at(c: Cli, when: str) -> Cli:
    """An active agreement with the clock at `when`."""
    active(c)
    c.advance(when)
    return c


def amend(c: Cli, party: str = "ipo", *, ref: str = "IPO/2026/17", on: str | None = None,
          change: str = "Art. 4: the theme Ketens gets a third commitment") -> str:
    res = c.trigger(K, "request_amendment", role="party", party=party, actor=f"namens {party}", ref=ref, on=on,
                    sets=(f"change={change}",))
    assert res.data["created"].startswith(f"{K}/amendment-")
    return res.data["created"]


def notice(c: Cli, party: str = "vng", *, on: str = "2026-01-31", ref: str = "VNG/2026/3") -> str:
    res = c.trigger(K, "give_notice", role="party", party=party, actor=f"namens {party}", ref=ref, on=on)
    assert res.data["created"].startswith(f"{K}/termination-")
    return res.data["created"]


def refused(c: Cli, pid: str, trig: str, code: int, *, article: str | None = None, says: str = "",
            **kw) -> dict:
    """Fire, expect the exit code, and prove that nothing changed: state, history, outbox, deadlines."""
    before = c.snapshot(pid), c.snapshot(K)
    res = c.trigger(pid, trig, expect=code, **kw)
    assert (c.snapshot(pid), c.snapshot(K)) == before
    err = res.data
    assert err["exit_code"] == code
    if article:
        assert article in err.get("article", ""), err
    assert says.lower() in err["message"].lower(), err
    return err


def decision(c: Cli, pid: str, name: str) -> dict:
    return next(d for d in c.show(pid)["decisions"] if d["name"] == name)


def deadline(c: Cli, pid: str, kind: str) -> dict:
    return next(d for d in c.show(pid)["deadlines"] if d["kind"] == kind)


def party(c: Cli, pid: str) -> dict:
    return next(p for p in c.show()["parties"] if p["id"] == pid)


# -- amendments (Art. 5.8) ------------------------------------------------------------------------------------
def test_amendment_adopted_by_all_becomes_a_new_text_version(cli_any):
    c = at(cli_any, "2026-01-12T10:00:00+01:00")
    a = amend(c, on="2026-01-12")
    assert a == f"{K}/amendment-1"
    child = c.show(a)
    assert child["state"] == "open" and child["parent"] == K
    dec = decision(c, a, "amendment")
    assert dec["answers"]["ipo"]["answer"] == "consent" and dec["answers"]["ipo"]["initiator"] is True
    assert dec["answers"]["ipo"]["ref"] == "IPO/2026/17"
    assert dec["pending"] == ["ienw", "uvw", "vng"]
    assert deadline(c, a, "amendment_response")["due"] == "2026-02-23"          # 12 January + 42 days
    # the agreement lists the open child and, for its open decision, who answered and who has not
    entry = next(ch for ch in c.show()["children"] if ch["id"] == a)
    assert entry["state"] == "open" and entry["decisions"][0]["pending"] == ["ienw", "uvw", "vng"]
    assert "consent" in c.run("show", a, "--role", "party", "--party", "ienw").data["allowed_triggers"]
    assert "consent" not in c.run("show", a, "--role", "party", "--party", "ipo").data["allowed_triggers"]

    c.advance("2026-01-22T10:00:00+01:00")
    c.trigger(a, "consent", role="party", party="ienw", ref="IenW/2026/40", on="2026-01-20")
    assert decision(c, a, "amendment")["answers"]["ienw"]["counts_for"] == ["ienw", "ez", "vro"]
    c.trigger(a, "consent", role="party", party="uvw", ref="UvW/2026/8", on="2026-01-21")
    res = c.trigger(a, "consent", role="secretariat", party="vng", ref="VNG/2026/2", on="2026-01-22")
    assert res.data["dest"] == "adopted"

    assert c.show(a)["state"] == "adopted"
    versions = c.show()["text_versions"]
    assert [v["version"] for v in versions] == [1, 2]
    assert versions[0]["note"] == "the text as signed" and versions[0]["adopted_on"] == "2025-03-20"
    assert versions[1] == {**versions[1], "from_version": 1, "amendment": a, "adopted_on": "2026-01-22",
                           "change": "Art. 4: the theme Ketens gets a third commitment", "ref": "IPO/2026/17",
                           "requested_by": "ipo", "requested_on": "2026-01-12"}
    assert deadline(c, a, "amendment_response")["status"] == "met"
    assert next(ch for ch in c.show()["children"] if ch["id"] == a)["state"] == "adopted"
    # one chain: the agreement's history holds the child's records, in recording order
    hist = c.history()
    mine = [(h["process"], h["trigger"], h["party"]) for h in hist if h["process"] == a]
    assert mine == [(a, "request_amendment", "ipo"), (a, "consent", "ienw"), (a, "consent", "uvw"),
                    (a, "consent", "vng")]
    assert [h["seq"] for h in hist] == sorted(h["seq"] for h in hist)
    assert c.run("audit", "verify").data["intact"] is True

    # a second amendment builds on version 2
    b = amend(c, "vng", ref="VNG/2026/9", change="Art. 2.6: the work structure is reviewed yearly")
    for p in ("ienw", "ipo", "uvw"):
        c.trigger(b, "consent", role="party", party=p, ref=f"{p}-b")
    assert c.show()["text_versions"][-1]["version"] == 3 and c.show()["text_versions"][-1]["from_version"] == 2


def test_amendment_rejected_by_one_refusal(cli):
    c = at(cli, "2026-01-12T10:00:00+01:00")
    a = amend(c)
    c.trigger(a, "consent", role="party", party="ienw", ref="IenW/1")
    res = c.trigger(a, "refuse", role="party", party="uvw", ref="UvW/1")
    assert res.data["dest"] == "rejected"
    dec = decision(c, a, "amendment")
    assert dec["outcome"] == "rejected" and dec["answers"]["uvw"]["answer"] == "refuse" and dec["pending"] == []
    assert c.show()["text_versions"] == []
    assert deadline(c, a, "amendment_response")["status"] == "met"
    refused(c, a, "consent", 3, article="Art. 5.8", says="not allowed in state rejected",
            role="party", party="vng", ref="VNG/late")


def test_amendment_withdrawn_by_the_requester_only(cli):
    c = at(cli, "2026-01-12T10:00:00+01:00")
    a = amend(c, "uvw", ref="UvW/2026/1")
    err = refused(c, a, "withdraw", 3, article="Art. 5.8", says="only uvw may withdraw", role="party",
                  party="ipo")
    assert err["error"] == "not_allowed"
    c.trigger(a, "consent", role="party", party="ienw", ref="IenW/2")
    res = c.trigger(a, "withdraw", role="party", party="uvw", ref="UvW/2026/4")
    assert res.data["dest"] == "withdrawn"
    assert deadline(c, a, "amendment_response")["status"] == "cancelled"
    refused(c, a, "consent", 3, article="Art. 5.8", role="party", party="vng", ref="VNG/x")
    refused(c, a, "withdraw", 3, article="Art. 5.8", role="party", party="uvw")


def test_amendment_lapses_the_day_after_the_response_deadline(cli):
    c = at(cli, "2026-01-12T10:00:00+01:00")
    a = amend(c)
    c.trigger(a, "consent", role="party", party="ienw", ref="IenW/3")
    assert deadline(c, a, "amendment_response")["due"] == "2026-02-23"
    c.advance("2026-02-23T23:59:00+01:00")
    assert c.show(a)["state"] == "open"
    c.advance("2026-02-24T00:00:00+01:00")
    assert c.show(a)["state"] == "lapsed"
    assert deadline(c, a, "amendment_response")["status"] == "cancelled"
    lapse = [h for h in c.history() if h["process"] == a][-1]
    assert (lapse["trigger"], lapse["dest"], lapse["effective"], lapse["role"]) == \
        ("lapse", "lapsed", "2026-02-24", "system")
    assert decision(c, a, "amendment")["outcome"] is None
    refused(c, a, "consent", 3, role="party", party="uvw", ref="late")
    assert not [h for h in c.history() if h["process"] == a and h["trigger"] == "deadline_missed"]


def test_amendment_response_days_come_from_config(tmp_path):
    c = Cli(tmp_path, f"sqlite:///{tmp_path / 'c.db'}", "\n[decisions]\namendment_response_days = 10\n")
    at(c, "2026-01-12T10:00:00+01:00")
    a = amend(c)
    assert deadline(c, a, "amendment_response")["due"] == "2026-01-22"
    c.advance("2026-01-23T00:00:00+01:00")
    assert c.show(a)["state"] == "lapsed"


def test_amendment_refusals_change_nothing(cli):
    c = at(cli, "2026-01-12T10:00:00+01:00")
    before = c.snapshot()
    res = c.trigger(K, "request_amendment", role="party", party="ipo", sets=("change=x",), expect=2)
    assert res.data["field"] == "ref"
    res = c.trigger(K, "request_amendment", role="party", party="ipo", ref="IPO/1", sets=("colour=red",), expect=2)
    assert res.data["field"] == "colour"
    c.trigger(K, "request_amendment", role="party", party="ez", ref="EZ/1", sets=("change=x",), expect=3)
    assert c.snapshot() == before
    # INTERFACE.md: the proposed wording is optional; the letter (--ref) is the written request itself
    bare = c.trigger(K, "request_amendment", role="party", party="vng", ref="VNG/brief-1").data["created"]
    assert c.show(bare)["state"] == "open"
    c.trigger(bare, "withdraw", role="party", party="vng")
    before = c.snapshot()
    a = amend(c)
    refused(c, a, "consent", 3, article="Partijen (aanhef)", says="through its representative ienw", role="party",
            party="ez", ref="EZ/2")
    refused(c, a, "consent", 3, article="Art. 5.8", says="answered already", role="party", party="ipo",
            ref="IPO/again")
    c.trigger(a, "consent", role="party", party="ienw", ref="IenW/4")
    refused(c, a, "refuse", 3, article="Art. 5.8", says="answered already", role="party", party="ienw",
            ref="IenW/5")
    refused(c, a, "consent", 2, says="ref", role="party", party="uvw")
    assert refused(c, a, "consent", 2, role="party", party="uvw", ref="U", sets=("answer=yes",))["field"] == "answer"
    refused(c, a, "vote_continuation", 3, role="party", party="uvw", sets=("continue=yes",))
    refused(c, a, "consent", 2, says="unknown party", role="party", party="nobody", ref="x")
    refused(c, a, "consent", 3, role="auditor", ref="x")
    c.trigger(f"{K}/amendment-9", "consent", role="party", party="uvw", ref="x", expect=4)


def test_amendment_with_an_attached_document(cli, tmp_path):
    c = at(cli, "2026-01-12T10:00:00+01:00")
    content = b"Wijziging artikel 4: vertrouwelijke passage 7f3a9c\n" * 100
    doc = tmp_path / "wijzigingsvoorstel.pdf"
    doc.write_bytes(content)
    res = c.trigger(K, "request_amendment", role="party", party="vng", ref="VNG/2026/5",
                    sets=(f"document={doc}",))
    a = res.data["created"]
    described = {"name": "wijzigingsvoorstel.pdf", "sha256": hashlib.sha256(content).hexdigest(),
                 "size": len(content)}
    assert c.show(a)["facts"]["document"] == described
    for p in ("ienw", "ipo", "uvw"):
        c.trigger(a, "consent", role="party", party=p, ref=f"{p}/doc")
    version = c.show()["text_versions"][-1]
    assert version["document"] == described and version["change"] is None
    exported = c.run("audit", "export", "--format", "json").out + json.dumps(c.history())
    assert described["sha256"] in exported and "7f3a9c" not in exported      # identified, never stored
    missing = c.trigger(K, "request_amendment", role="party", party="ipo", ref="IPO/9",
                        sets=(f"document={tmp_path / 'nope.pdf'}",), expect=2)
    assert missing.data["field"] == "document"


# -- terminations (Art. 5.7) ----------------------------------------------------------------------------------
def test_notice_period_boundary_and_withdrawal(cli_any):
    c = at(cli_any, "2026-01-31T10:00:00+01:00")
    t = notice(c, "vng", on="2026-01-31")
    assert t == f"{K}/termination-1"
    nd = deadline(c, t, "notice_period")
    assert (nd["due"], nd["status"]) == ("2026-02-28", "open")
    c.advance("2026-02-28T23:00:00+01:00")
    assert c.show(t)["state"] == "notice_given" and party(c, "vng")["withdrawn_on"] is None
    c.advance("2026-03-01T00:00:00+01:00")
    assert c.show(t)["state"] == "continuation_decision"
    assert party(c, "vng")["withdrawn_on"] == "2026-03-01"
    assert deadline(c, t, "notice_period")["status"] == "met"
    cd = deadline(c, t, "continuation_decision")
    assert (cd["due"], cd["status"]) == ("2026-03-29", "open")             # 1 March + 28 days
    took = [h for h in c.history() if h["process"] == t and h["trigger"] == "take_effect"]
    assert len(took) == 1 and took[0]["effective"] == "2026-03-01"
    assert decision(c, t, "continuation")["pending"] == ["ienw", "ipo", "uvw"]
    assert c.show()["state"] == "active"                                   # the agreement stays in force
    refused(c, t, "retract", 3, article="Art. 5.7", role="party", party="vng")
    assert c.run("audit", "verify").data["intact"] is True


def test_a_representatives_notice_withdraws_the_parties_it_represents(cli):
    c = at(cli, "2026-01-31T10:00:00+01:00")
    refused(c, K, "give_notice", 3, says="through its representative ienw", role="party", party="ez",
            ref="EZ/1")
    t = notice(c, "ienw", ref="IenW/2026/77")
    c.advance("2026-03-01T00:30:00+01:00")
    assert {p["id"]: p["withdrawn_on"] for p in c.show()["parties"]} == {
        "ienw": "2026-03-01", "ez": "2026-03-01", "vro": "2026-03-01", "ipo": None, "uvw": None, "vng": None}
    assert decision(c, t, "continuation")["pending"] == ["ipo", "uvw", "vng"]


def test_retraction_and_a_second_notice(cli):
    c = at(cli, "2026-01-31T10:00:00+01:00")
    t = notice(c, "uvw", ref="UvW/2026/1")
    refused(c, K, "give_notice", 3, article="Art. 5.7", says="open termination already", role="party",
            party="uvw", ref="UvW/2026/2")
    refused(c, t, "retract", 3, article="Art. 5.7", says="only uvw may retract", role="party", party="ipo")
    c.advance("2026-02-20T10:00:00+01:00")
    res = c.trigger(t, "retract", role="party", party="uvw", ref="UvW/2026/9")
    assert res.data["dest"] == "retracted"
    assert deadline(c, t, "notice_period")["status"] == "cancelled"
    c.advance("2026-03-02T10:00:00+01:00")
    assert c.show(t)["state"] == "retracted" and party(c, "uvw")["withdrawn_on"] is None
    # retracted: the party may give notice again, and another party may at the same time
    assert notice(c, "uvw", on="2026-03-02", ref="UvW/2026/12") == f"{K}/termination-2"
    assert notice(c, "ipo", on="2026-03-02", ref="IPO/2026/12") == f"{K}/termination-3"


def continuation(c: Cli, party_: str = "vng") -> str:
    at(c, "2026-01-31T10:00:00+01:00")
    t = notice(c, party_)
    c.advance("2026-03-02T10:00:00+01:00")
    assert c.show(t)["state"] == "continuation_decision"
    return t


def test_continuation_all_continue(cli):
    c = cli
    t = continuation(c)
    refused(c, t, "vote_continuation", 3, article="Art. 5.7", says="withdrew on 2026-03-01", role="party",
            party="vng", sets=("continue=yes",))
    refused(c, t, "vote_continuation", 3, says="through its representative ienw", role="party", party="ez",
            sets=("continue=yes",))
    refused(c, t, "vote_continuation", 2, says="not one of yes, no", role="party", party="ipo",
            sets=("continue=maybe",))
    refused(c, t, "vote_continuation", 2, says="required", role="party", party="ipo")
    c.trigger(t, "vote_continuation", role="party", party="ienw", ref="IenW/9", sets=("continue=yes",))
    refused(c, t, "vote_continuation", 3, article="Art. 5.7", says="answered already", role="party",
            party="ienw", sets=("continue=yes",))
    c.trigger(t, "vote_continuation", role="party", party="ipo", sets=("continue=yes",))
    res = c.trigger(t, "vote_continuation", role="secretariat", party="uvw", sets=("continue=yes",))
    assert res.data["dest"] == "continued"
    assert deadline(c, t, "continuation_decision")["status"] == "met"
    assert c.show()["state"] == "active"
    assert decision(c, t, "continuation")["outcome"] == "continued"


def test_continuation_all_end_ends_the_agreement_early(cli):
    c = cli
    t = continuation(c)
    for p in ("ienw", "ipo"):
        c.trigger(t, "vote_continuation", role="party", party=p, sets=("continue=no",), on="2026-03-02")
    res = c.trigger(t, "vote_continuation", role="party", party="uvw", sets=("continue=no",), on="2026-03-02")
    assert res.data["dest"] == "agreement_ended"
    assert [(f["process"], f["dest"]) for f in res.data["follow_ups"]] == [(K, "ended")]
    root = c.show()
    assert root["state"] == "ended" and root["ends_on"] == "2026-03-02" and root["facts"]["ended_by"] == t
    assert c.show(t)["state"] == "agreement_ended"
    end = [h for h in c.history() if h["process"] == K][-1]
    assert (end["trigger"], end["dest"], end["effective"]) == ("end", "ended", "2026-03-02")
    assert "Art. 5.7" in end["reason"] and "end the agreement early" in end["reason"]
    assert all(d["status"] != "open" for d in root["deadlines"])
    # nothing more can be started on an ended agreement
    refused(c, K, "request_amendment", 3, role="party", party="ipo", ref="IPO/x", sets=("change=x",))
    assert c.run("audit", "verify").data["intact"] is True


def test_mixed_votes_raise_a_dispute(cli):
    c = cli
    t = continuation(c)
    c.trigger(t, "vote_continuation", role="party", party="ienw", sets=("continue=yes",))
    res = c.trigger(t, "vote_continuation", role="party", party="ipo", sets=("continue=no",))
    assert res.data["dest"] == "disputed" and res.data["created"] == f"{K}/dispute-1"
    dec = decision(c, t, "continuation")
    assert dec["outcome"] == "disputed" and dec["pending"] == []           # unanimity is out of reach
    dispute = c.show(f"{K}/dispute-1")
    assert dispute["state"] == "raised" and dispute["facts"]["origin"] == t
    assert {ch["id"]: ch["state"] for ch in c.show()["children"]} == {t: "disputed", f"{K}/dispute-1": "raised"}
    assert c.show()["state"] == "active"                                   # in force meanwhile
    refused(c, t, "vote_continuation", 3, role="party", party="uvw", sets=("continue=yes",))


def test_a_missed_continuation_decision_is_recorded_and_escalated(tmp_path):
    c = Cli(tmp_path, f"sqlite:///{tmp_path / 'c.db'}", "\n[decisions]\ncontinuation_decision_days = 14\n")
    t = continuation(c)
    c.trigger(t, "vote_continuation", role="party", party="ienw", sets=("continue=yes",))
    assert deadline(c, t, "continuation_decision")["due"] == "2026-03-15"
    c.advance("2026-03-16T00:00:00+01:00")
    assert deadline(c, t, "continuation_decision")["status"] == "missed"
    assert c.show(t)["state"] == "continuation_decision"                   # Art. 5.1: recorded, not blocked
    assert [h for h in c.history() if h["process"] == t and h["trigger"] == "deadline_missed"]
    c.advance("2026-04-14T12:00:00+02:00")                                 # 0, 14 and 28 days on
    levels = [h for h in c.history() if h["process"] == t and h["trigger"] == "escalate"]
    assert len(levels) == 3
    ladder = [r for r in c.run("outbox").data if r["process"] == t and r["kind"] == "escalation"]
    by_step = {seq: {r["to"] for r in ladder if r["record_seq"] == seq} for seq in (h["seq"] for h in levels)}
    # the parties that did not vote and the secretariat, then the DO, then the BO; ienw voted
    assert list(by_step.values()) == [{"ipo@example.org", "uvw@example.org", "secretariaat@example.org"},
                                      {"do@example.org"}, {"bo@example.org"}]


# -- disputes (Art. 5.2) --------------------------------------------------------------------------------------
def test_dispute_raised_by_a_party_resolved_in_consultation(cli):
    c = at(cli, "2026-02-02T10:00:00+01:00")
    res = c.trigger(K, "raise_dispute", role="party", party="ipo", ref="IPO/2026/20",
                    sets=("subject=Verdeling van de inzet voor Ketens",))
    d = res.data["created"]
    assert d == f"{K}/dispute-1" and c.show(d)["state"] == "raised"
    refused(c, d, "start_consultation", 3, says="secretariat", role="party", party="ipo")
    c.trigger(d, "start_consultation")
    assert c.show(d)["state"] == "in_consultation"
    c.trigger(d, "resolve", ref="DO 2026-03")
    assert c.show(d)["state"] == "resolved"
    refused(c, d, "escalate", 3, role="secretariat")


def test_dispute_escalated_to_the_bo_queues_an_email_to_the_bo(cli):
    c = at(cli, "2026-02-02T10:00:00+01:00")
    d = c.trigger(K, "raise_dispute", role="party", party="uvw", ref="UvW/2026/30",
                  sets=("subject=Bijdrage in natura aan Kennisdeling",)).data["created"]
    c.trigger(d, "start_consultation")
    before = {r["id"] for r in c.run("outbox").data}
    res = c.trigger(d, "escalate", ref="DO 2026-04: geen overeenstemming")
    assert res.data["dest"] == "escalated"
    new = [r for r in c.run("outbox").data if r["id"] not in before]
    to_bo = [r for r in new if r["to"] == "bo@example.org"]
    assert len(to_bo) == 1 and to_bo[0]["status"] == "pending"
    assert "Bestuurlijk Overleg" in to_bo[0]["subject"]
    c.advance("2026-02-02T11:00:00+01:00")                                 # the dispatcher sends it
    mails = [email.message_from_bytes(m.as_bytes(), policy=email.policy.default) for m in c.messages()]
    mails = [m for m in mails if m["To"].endswith("<bo@example.org>") and d in m.get_body(("plain",)).get_content()]
    assert len(mails) == 1 and mails[0]["Subject"] == to_bo[0]["subject"]
    body = mails[0].get_body(("plain",)).get_content()
    assert "Bijdrage in natura aan Kennisdeling" in body and "Art. 2.1" in body and "DO 2026-04" in body


# -- extension (Art. 5.4): the same mechanism -----------------------------------------------------------------
def test_extension_votes_follow_the_same_rules(cli):
    c = at(cli, "2026-04-03T10:00:00+02:00")
    assert c.show()["state"] == "extension_decision"                       # opened 90 days before 1 July
    t = notice(c, "vng", on="2026-04-03", ref="VNG/2026/40")
    c.advance("2026-05-04T10:00:00+02:00")
    assert party(c, "vng")["withdrawn_on"] == "2026-05-04"
    refused(c, K, "vote_extension", 3, says="withdrew", role="party", party="vng", sets=("extend=yes",
            "new_end=2027-12-31"))
    refused(c, K, "vote_extension", 2, says="not one of yes, no", role="party", party="ipo",
            sets=("extend=perhaps",))
    c.trigger(K, "vote_extension", role="party", party="ienw", ref="IenW/ext",
              sets=("extend=yes", "new_end=2027-12-31"))
    refused(c, K, "vote_extension", 3, says="answered already", role="party", party="ienw",
            sets=("extend=no",))
    assert decision(c, K, "extension")["pending"] == ["ipo", "uvw"]      # vng withdrew: no say
    c.trigger(K, "vote_extension", role="party", party="ipo", sets=("extend=yes",))
    c.trigger(K, "vote_extension", role="party", party="uvw", sets=("extend=yes",))
    root = c.show()
    assert root["state"] == "active" and root["ends_on"] == "2027-12-31"
    assert decision(c, K, "extension")["outcome"] == "extended"
    assert c.show(t)["state"] == "continuation_decision"


def test_a_vote_dated_before_its_decision_opened_is_refused(cli):
    """INTERFACE.md: a --on date before the act it depends on is exit 3 and changes nothing."""
    from tests.conftest import active
    c = active(cli)
    c.advance("2026-04-02T09:00:00+02:00")          # the extension decision opened automatically on 2 April
    assert c.show()["state"] == "extension_decision"
    before = c.snapshot()
    res = c.trigger(K, "vote_extension", role="party", party="ipo", on="2026-03-30", sets=("extend=no",), expect=3)
    assert "extension opened on" in res.err
    assert c.snapshot() == before
    c.trigger(K, "vote_extension", role="party", party="ipo", on="2026-04-02", sets=("extend=no",))
    assert c.show()["state"] == "expiring"
