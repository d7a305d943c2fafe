"""Issue 13's nine findings, each reproduced on a simulation database (the service layer over the memory store,
on a virtual clock) and shown fixed: Art. 5.4's new end, the extension decision from `signed` on, decisions judged
again when voters change, the end that ends everything, the last party's withdrawal, VTH afspraak 3, `in_force`,
escalation rungs without recipients, and footnote 3 read whole."""
from __future__ import annotations

from convenant.engine.errors import NotAllowed
from tests.conftest import KB, STCRT, Harness, on_backends

pytestmark = on_backends("memory")

YES = {"extend": "yes", "new_end": "2028-01-01"}


def children(h: Harness) -> dict[str, str]:
    return {c["id"]: c["state"] for c in h.show()["children"]}


def kinds(h: Harness, pid: str = KB) -> dict[str, tuple[str, str]]:
    return {d["kind"]: (d["due"], d["status"]) for d in h.show(pid)["deadlines"] if d["subject"] is None}


# -- 3. Art. 5.4: new_end after the current end and after the vote ----------------------------------------------
def test_new_end_must_lie_after_the_current_end_and_the_vote(harness):
    h = harness.active()
    h.advance("2026-06-15T10:00:00+02:00")
    assert h.show()["state"] == "extension_decision"
    for early in ("2026-05-01", "2026-12-31", "2027-01-01"):
        err = h.refused(NotAllowed, KB, "vote_extension", role="party", party="ienw", on="2026-06-15",
                        sets={"extend": "yes", "new_end": early})
        assert err.article == "Art. 5.4" and early in err.message
    for party in ("ienw", "ipo", "uvw", "vng"):
        h.fire(KB, "vote_extension", role="party", party=party, on="2026-06-15", sets=YES)
    doc = h.show()
    assert (doc["state"], doc["ends_on"]) == ("active", "2028-01-01")
    assert kinds(h)["end"] == ("2028-01-01", "open")


# -- 4. the extension decision from `signed` on --------------------------------------------------------------
def test_extension_decision_opens_and_is_voted_while_publication_is_pending(harness):
    h = harness.signed()
    h.advance("2026-04-02T09:00:00+02:00")            # 90 days before 1 July 2026, never published
    assert h.show()["state"] == "extension_decision"
    (opened,) = h.records("open_extension_decision")
    assert opened["source"] == "signed"
    for party in ("ienw", "ipo", "uvw"):
        h.fire(KB, "vote_extension", role="party", party=party, sets=YES)
    # a late publication during the decision is recorded without leaving it
    pub = h.fire(KB, "publish", ref=STCRT, on="2026-04-02")
    assert (pub["source"], pub["dest"]) == ("extension_decision", "extension_decision")
    assert h.show()["published_on"] == "2026-04-02"
    last = h.fire(KB, "vote_extension", role="party", party="vng", sets=YES)
    assert last["dest"] == "published"                 # activation follows at the next run
    assert kinds(h)["extension_decision"] == ("2026-07-01", "met")
    h.advance("2026-04-03T09:00:00+02:00")
    assert (h.show()["state"], h.show()["ends_on"]) == ("active", "2028-01-01")


def test_extension_while_never_published_returns_to_signed(harness):
    h = harness.signed()
    h.advance("2026-04-02T09:00:00+02:00")
    for party in ("ienw", "ipo", "uvw", "vng"):
        h.fire(KB, "vote_extension", role="party", party=party, sets=YES)
    assert (h.show()["state"], h.show()["ends_on"]) == ("signed", "2028-01-01")


# -- 5. a withdrawal completes a decision ---------------------------------------------------------------------
def test_a_withdrawal_completes_the_amendment_of_the_others(harness):
    h = harness.active()
    h.advance("2026-02-10T10:00:00+01:00")
    h.fire(KB, "give_notice", role="party", party="vng", ref="VNG/2026/3", on="2026-01-31")
    amendment = h.fire(KB, "request_amendment", role="party", party="ipo", ref="IPO/2026/17",
                       sets={"change": "Art. 4"})["created"]
    for party in ("ienw", "uvw"):
        h.fire(amendment, "consent", role="party", party=party, ref=f"{party}/1")
    assert h.show(amendment)["state"] == "open"
    h.advance("2026-03-01T01:00:00+01:00")             # VNG's withdrawal takes effect on 1 March 2026
    assert h.party("vng")["withdrawn_on"] == "2026-03-01"
    assert h.show(amendment)["state"] == "adopted"
    (judged,) = h.records("voters_changed", amendment)
    assert (judged["source"], judged["dest"], judged["effective"]) == ("open", "adopted", "2026-03-01")
    assert "vng withdrew" in judged["reason"]
    assert kinds(h, amendment)["amendment_response"] == ("2026-03-24", "met")
    assert [v["version"] for v in h.show()["text_versions"]] == [1, 2]


def test_a_withdrawal_completes_the_extension_decision(harness):
    h = harness.active()
    h.advance("2026-04-05T10:00:00+02:00")
    h.fire(KB, "give_notice", role="party", party="vng", ref="VNG/2026/9", on="2026-04-05")
    for party in ("ienw", "ipo", "uvw"):
        h.fire(KB, "vote_extension", role="party", party=party, sets=YES)
    assert h.show()["state"] == "extension_decision"
    h.advance("2026-05-06T01:00:00+02:00")             # notice of 5 April runs to 5 May; effect on 6 May
    doc = h.show()
    assert (doc["state"], doc["ends_on"]) == ("active", "2028-01-01")
    assert kinds(h)["extension_decision"] == ("2026-07-01", "met")


# -- 6. the end ends everything -------------------------------------------------------------------------------
def test_the_end_closes_every_open_child_and_cancels_what_it_awaited(harness):
    h = harness.active()
    h.advance("2026-12-15T10:00:00+01:00")
    amendment = h.fire(KB, "request_amendment", role="party", party="ipo", ref="IPO/2026/40")["created"]
    termination = h.fire(KB, "give_notice", role="party", party="vng", ref="VNG/2026/12")["created"]
    dispute = h.fire(KB, "raise_dispute", role="party", party="uvw", sets={"subject": "MKB"})["created"]
    h.fire(KB, "sign_up", sets={"government": "Provincie Fryslân", "layer": "province", "theme": "vth"})
    h.advance("2027-01-01T00:30:00+01:00")
    assert h.show()["state"] == "ended"
    assert children(h) == {amendment: "lapsed", termination: "agreement_ended", dispute: "closed"}
    for pid in (amendment, termination, dispute):
        (closed,) = h.records("close", pid)
        assert closed["effective"] == "2027-01-01" and "the agreement ended on 2027-01-01" in closed["reason"]
        assert all(d["status"] != "open" for d in h.show(pid)["deadlines"])
    # nothing is awaited any more: open deadlines are cancelled, missed ones keep their fact but stop climbing
    assert all(d["status"] != "open" and d["next_step_at"] is None for d in h.show()["deadlines"])
    (target,) = [d for d in h.show()["deadlines"] if d["kind"] == "vth_target"]
    assert target["status"] == "cancelled"
    seen = len(h.history())
    mails = len(h.outbox())
    h.advance("2027-06-01T10:00:00+02:00")             # no take_effect, lapse, reminder or escalation after it
    assert len(h.history()) == seen and len(h.outbox()) == mails
    assert h.verify()["intact"]


# -- 7. the last party's withdrawal ends the agreement ---------------------------------------------------------
def test_every_party_gives_notice_and_the_agreement_ends(harness):
    h = harness.active()
    h.advance("2026-01-31T10:00:00+01:00")
    for party in ("ienw", "ipo", "uvw", "vng"):
        h.fire(KB, "give_notice", role="party", party=party, ref=f"{party}/opzegging")
    h.advance("2026-03-01T01:00:00+01:00")
    doc = h.show()
    assert (doc["state"], doc["ends_on"]) == ("ended", "2026-03-01")
    assert all(c["final"] for c in doc["children"])
    (end,) = h.records("end")
    assert "no parties remain" in end["reason"]
    h.advance("2026-09-01T10:00:00+02:00")
    assert h.records("open_extension_decision") == []
    assert [r for r in h.history() if r["trigger"] == "escalate" and r["effective"] > "2026-03-01"] == []


# -- 8. VTH afspraak 3 ---------------------------------------------------------------------------------------
def test_vth_targets_open_for_afspraak_3_and_are_met_by_implementation(harness):
    h = harness.active()
    h.advance("2025-06-01T10:00:00+02:00")
    h.fire(KB, "sign_up", sets={"government": "Provincie Utrecht", "layer": "province", "theme": "vth",
                                "commitments": "1"})
    h.fire(KB, "sign_up", sets={"government": "Provincie Fryslân", "layer": "province", "theme": "vth",
                                "commitments": "1,3"})
    targets = {d["subject"]: (d["due"], d["status"]) for d in h.show()["deadlines"] if d["kind"] == "vth_target"}
    assert targets == {"Provincie Fryslân": ("2026-12-31", "open")}
    h.advance("2026-06-01T10:00:00+02:00")
    h.fire(KB, "record_vth_implementation", ref="PS Fryslân 2026/88", on="2026-05-28",
           sets={"government": "Provincie Fryslân"})
    (target,) = [d for d in h.show()["deadlines"] if d["kind"] == "vth_target"]
    assert (target["status"], target["met_on"]) == ("met", "2026-05-28")
    for party in ("ienw", "ipo", "uvw", "vng"):
        h.fire(KB, "vote_extension", role="party", party=party, sets=YES)
    h.advance("2027-03-01T10:00:00+01:00")             # after the extension the target is not escalated
    assert [r for r in h.history() if r["trigger"] in ("escalate", "deadline_missed")
            and r["data"].get("deadline") == "vth_target"] == []


# -- 9. in_force only from effective_from ---------------------------------------------------------------------
def test_in_force_only_from_the_day_after_the_last_signature(harness):
    h = harness.signed()
    doc = h.show()
    assert (doc["state"], doc["effective_from"], doc["in_force"]) == ("signed", "2025-03-21", False)
    h.advance("2025-03-21T00:00:00+01:00")
    assert h.show()["in_force"] is True


def test_an_escalation_rung_without_recipients_says_why(make_harness):
    h = make_harness(extra={"escalation": {"after_days": [0, 14, 28]}})
    h.service.create_agreement("stedendriehoek", _stedendriehoek_data(), pid="sd")
    h.advance("2026-01-20T10:00:00+01:00")
    h.fire("sd", "appoint_quartermaster", ref="AB-2026-01", sets={"name": "J. de Kwartiermaker"}, on="2026-01-15")
    h.advance("2026-06-01T10:00:00+02:00")           # the proposal of Q1 2026 never came: every rung ran
    escalations = [r for r in h.history("sd") if r["trigger"] == "escalate"]
    assert escalations
    for rec in escalations:
        assert rec["data"]["to"] or "no e-mail address is known" in rec["data"]["no_recipients"]
    assert any(not rec["data"]["to"] for rec in escalations)       # the DO and BO have no address here


def _stedendriehoek_data() -> dict:
    from convenant.engine.agreements import read_data_file
    from convenant.workflows import example_file
    from tests.conftest import _workflows
    path = example_file(_workflows()["stedendriehoek"])
    assert path is not None
    return read_data_file(path)


# -- footnote 3, read whole -----------------------------------------------------------------------------------
def test_a_water_boards_kennisdeling_sign_up_is_an_in_kind_contribution(harness):
    h = harness.active()
    h.fire(KB, "sign_up", sets={"government": "Wetterskip Fryslân", "layer": "water_board",
                                "theme": "kennisdeling"})
    (theme,) = [t for t in h.show()["themes"] if t["id"] == "kennisdeling"]
    (entry,) = theme["sign_ups"]
    assert "voetnoot 3" in entry["in_kind"]
    (rec,) = h.records("sign_up")
    assert "in-kind" in rec["data"]["in_kind"]
    err = h.refused(NotAllowed, KB, "sign_up", sets={"government": "Wetterskip Fryslân", "layer": "water_board",
                                                      "theme": "ruimte"})
    assert err.article == "Art. 3.2, voetnoot 3"
