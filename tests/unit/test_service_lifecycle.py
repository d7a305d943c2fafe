"""The Krachtenbundeling's main line through the service layer: created in `draft`, signing, signed (in force from
21 March 2025), published, active, the extension decision, expiring and ended on 1 January 2027, each legal date
exact; IenW signs for EZ and VRO; the history chains every act.

Behaviour tests: on the memory store here, on SQLite and PostgreSQL in tests/integration/test_behaviour_backends.py."""
from __future__ import annotations

from tests.conftest import KB, MAIN_SIGNERS, STCRT, Harness, on_backends

pytestmark = on_backends("memory")

LIFECYCLE = ("publication", "work_structure", "extension_decision", "end")


def lifecycle(h: Harness, pid: str = KB) -> dict[str, tuple[str, str]]:
    return {d["kind"]: (d["due"], d["status"]) for d in h.show(pid)["deadlines"] if d["kind"] in LIFECYCLE}


def test_create_the_example_in_draft(harness):
    h = harness
    created = h.create()
    assert created == {"id": KB, "workflow": KB, "state": "draft", "seq": 1}
    doc = h.show()
    assert (doc["state"], doc["effective_from"], doc["ends_on"]) == ("draft", None, None)
    assert [p["id"] for p in doc["parties"]] == ["ienw", "ez", "vro", "ipo", "uvw", "vng"]
    assert {p["id"]: p["represented_by"] for p in doc["parties"]} == {
        "ienw": None, "ez": "ienw", "vro": "ienw", "ipo": None, "uvw": None, "vng": None}
    assert [t["id"] for t in doc["themes"]] == ["ruimte", "inkoop", "vth", "mkb", "kennisdeling", "ketens"]
    assert doc["entered_at"] == "2025-03-01T09:00:00+01:00"
    assert doc["allowed_triggers"] and "open_signing" in doc["allowed_triggers"]
    (rec,) = h.history()
    assert (rec["seq"], rec["trigger"], rec["source"], rec["dest"], rec["effective"]) == (1, "create", None,
                                                                                       "draft", "2025-03-01")
    # a second agreement under another id is a process of its own
    assert h.create(pid="krachtenbundeling-b")["seq"] == 2
    assert [r.id for r in h.reads.roots()] == [KB, "krachtenbundeling-b"]


def test_main_line_draft_to_ended_with_exact_dates(harness):
    h = harness
    h.create()
    h.fire(KB, "open_signing")
    assert h.show()["state"] == "signing"
    h.advance("2025-03-20T12:00:00+01:00")

    # IenW's signature counts for EZ and VRO, which it represents
    h.fire(KB, "sign", role="party", party="ienw", actor=MAIN_SIGNERS["ienw"], on="2025-03-20")
    parties = {p["id"]: p for p in h.show()["parties"]}
    assert parties["ez"]["signed_on"] == parties["vro"]["signed_on"] == parties["ienw"]["signed_on"] == "2025-03-20"
    assert parties["ipo"]["signed_on"] is None
    for party in ("ipo", "uvw"):
        assert h.fire(KB, "sign", role="party", party=party, on="2025-03-20")["dest"] == "signing"
    assert h.show()["effective_from"] is None
    last = h.fire(KB, "sign", role="party", party="vng", actor=MAIN_SIGNERS["vng"], on="2025-03-20")
    assert (last["source"], last["dest"]) == ("signing", "signed")

    doc = h.show()
    # in force from effective_from, the day after the last signature (Art. 5.3), not on the signing day
    assert (doc["state"], doc["in_force"], doc["effective_from"], doc["ends_on"]) == ("signed", False, "2025-03-21",
                                                                                    "2027-01-01")
    assert all(p["signed_on"] == "2025-03-20" for p in doc["parties"]) and len(doc["parties"]) == 6
    assert lifecycle(h) == {"publication": ("2025-04-03", "open"), "work_structure": ("2025-05-31", "open"),
                            "extension_decision": ("2026-07-01", "open"), "end": ("2027-01-01", "open")}
    assert h.deadline("publication")["article"] == "Art. 5.5"

    h.advance("2025-03-25T10:00:00+01:00")
    pub = h.fire(KB, "publish", role="party", party="ienw", actor=MAIN_SIGNERS["ienw"], ref=STCRT, on="2025-03-25")
    assert (pub["source"], pub["dest"]) == ("signed", "published")
    doc = h.show()
    assert (doc["published_on"], doc["publication_ref"]) == ("2025-03-25", STCRT)
    assert h.deadline("publication")["status"] == "met"
    # a trigger never runs due work: activation waits for the next run
    assert h.records("activate") == []
    h.advance("2025-03-25T10:00:01+01:00")
    assert h.show()["state"] == "active"
    (act,) = h.records("activate")
    assert (act["effective"], act["role"], act["source"], act["dest"], act["recorded_at"]) == (
        "2025-03-25", "system", "published", "active", "2025-03-25T10:00:00+01:00")

    h.advance("2025-05-20T10:00:00+02:00")
    h.fire(KB, "record_work_structure", ref="Verslag BO 20 mei 2025", on="2025-05-20")
    assert lifecycle(h)["work_structure"] == ("2025-05-31", "met")

    # the extension decision opens by itself 90 days before 1 July 2026, at 00:00 Amsterdam time
    h.advance("2026-04-01T23:59:59+02:00")
    assert h.show()["state"] == "active"
    h.advance("2026-04-02T00:00:00+02:00")
    assert h.show()["state"] == "extension_decision"
    (opened,) = h.records("open_extension_decision")
    assert (opened["effective"], opened["role"], opened["article"], opened["recorded_at"]) == (
        "2026-04-02", "system", "Art. 5.4", "2026-04-02T00:00:00+02:00")

    h.advance("2026-04-10T10:00:00+02:00")
    h.fire(KB, "vote_extension", role="party", party="ienw", sets={"extend": "yes", "new_end": "2027-07-01"},
           on="2026-04-09")
    assert h.show()["state"] == "extension_decision"
    h.fire(KB, "vote_extension", role="party", party="uvw", sets={"extend": "no"})      # one 'no' decides
    doc = h.show()
    assert (doc["state"], doc["ends_on"]) == ("expiring", "2027-01-01")
    assert lifecycle(h)["extension_decision"] == ("2026-07-01", "met")
    assert "vote_extension" not in doc["allowed_triggers"]

    h.advance("2026-12-31T23:59:00+01:00")
    assert h.show()["state"] == "expiring" and lifecycle(h)["end"] == ("2027-01-01", "open")
    h.advance("2027-01-01T00:00:00+01:00")
    doc = h.show()
    assert (doc["state"], doc["in_force"]) == ("ended", False)
    assert lifecycle(h)["end"] == ("2027-01-01", "met")
    (end,) = h.records("end")
    assert (end["effective"], end["source"], end["dest"], end["article"], end["recorded_at"]) == (
        "2027-01-01", "expiring", "ended", "Art. 5.3", "2027-01-01T00:00:00+01:00")
    assert doc["allowed_triggers"] == []

    # the whole story, in recording order, one chain
    hist = h.history()
    assert [r["seq"] for r in hist] == list(range(1, len(hist) + 1))
    acts = [(r["trigger"], r["dest"]) for r in hist if r["role"] != "system" or r["trigger"] in ("activate", "end")]
    assert acts[:8] == [("create", "draft"), ("open_signing", "signing"), ("sign", "signing"), ("sign", "signing"),
                        ("sign", "signing"), ("sign", "signed"), ("publish", "published"), ("activate", "active")]
    assert acts[-1] == ("end", "ended")
    assert h.verify() == {"intact": True, "records": len(hist), "head": hist[-1]["hash"]}


def test_all_yes_votes_move_the_end(harness):
    h = harness.active()
    h.advance("2026-05-01T10:00:00+02:00")
    assert h.show()["state"] == "extension_decision"
    h.fire(KB, "vote_extension", role="party", party="ienw", sets={"extend": "yes", "new_end": "2027-07-01"})
    h.fire(KB, "vote_extension", role="party", party="ipo", sets={"extend": "yes", "new_end": "2027-07-01"})
    h.fire(KB, "vote_extension", role="party", party="uvw", sets={"extend": "yes"})
    assert h.show()["state"] == "extension_decision"
    h.fire(KB, "vote_extension", role="secretariat", party="vng", sets={"extend": "yes"})   # on VNG's behalf
    doc = h.show()
    assert (doc["state"], doc["ends_on"]) == ("active", "2027-07-01")
    assert lifecycle(h)["end"] == ("2027-07-01", "open")
    assert lifecycle(h)["extension_decision"] == ("2026-07-01", "met")
    assert h.decision(KB, "extension")["outcome"] == "extended"
    # the decided extension does not open again, and 1 January 2027 is no longer the end
    h.advance("2027-01-01T00:30:00+01:00")
    assert h.show()["state"] == "active" and len(h.records("open_extension_decision")) == 1
    h.advance("2027-06-30T23:59:00+02:00")
    assert h.show()["state"] == "active"
    h.advance("2027-07-01T00:00:00+02:00")
    assert h.show()["state"] == "ended"
    (end,) = h.records("end")
    assert end["effective"] == "2027-07-01" and lifecycle(h)["end"] == ("2027-07-01", "met")


def test_a_late_publication_activates_with_its_own_legal_date(harness):
    """In force from 21 March but published only on 10 April (the publication deadline of 3 April was missed):
    activation fires at the next run, with the publication's legal date."""
    h = harness.signed()
    h.advance("2025-04-04T10:00:00+02:00")
    assert h.deadline("publication")["status"] == "missed"
    assert [r["trigger"] for r in h.history() if r["role"] == "system"][:2] == ["deadline_missed", "escalate"]
    h.advance("2025-04-10T10:00:00+02:00")
    h.fire(KB, "publish", ref=STCRT, on="2025-04-10")
    assert h.deadline("publication")["status"] == "missed"           # late: judged by the legal date
    assert h.show()["state"] == "published"
    h.advance("2025-04-10T10:00:01+02:00")
    (act,) = h.records("activate")
    assert (act["effective"], h.show()["state"]) == ("2025-04-10", "active")


def test_end_fires_at_ends_on_even_when_never_published(harness):
    """`end` fires at ends_on from every state in force (signed onwards), published or not."""
    h = harness.signed()
    h.advance("2027-01-01T00:00:00+01:00")
    assert h.show()["state"] == "ended"
    (end,) = h.records("end")
    # the extension decision opened from `signed` on 2 April 2026 (Art. 5.4 binds unpublished), and nobody voted
    assert (end["source"], end["effective"]) == ("extension_decision", "2027-01-01")
    assert h.records("open_extension_decision")[0]["source"] == "signed"
    assert h.records("activate") == []
    assert h.verify()["intact"] is True


def test_a_running_agreement_entered_late(make_harness):
    """Entered on 23 November 2026: its past acts are entered one by one, nothing is judged until the next run,
    which activates it with the publication's date and opens (and misses) the extension decision."""
    h = make_harness(simulation="2026-11-23T10:00:00+01:00")
    h.create()
    h.fire(KB, "open_signing", on="2025-03-01")
    for party in MAIN_SIGNERS:
        h.fire(KB, "sign", role="party", party=party, on="2025-03-20")
    h.fire(KB, "publish", ref=STCRT, on="2025-03-25")
    h.fire(KB, "record_work_structure", ref="Verslag BO 20 mei 2025", on="2025-05-20")
    assert h.show()["state"] == "published" and h.outbox() == [] or all(
        r["kind"] == "confirmation" for r in h.outbox())
    assert lifecycle(h)["extension_decision"] == ("2026-07-01", "open")

    h.advance("2026-11-23T10:05:00+01:00", send=True)
    (act,) = h.records("activate")
    (opened,) = h.records("open_extension_decision")
    assert (act["effective"], opened["effective"]) == ("2025-03-25", "2026-04-02")
    assert act["recorded_at"] == "2026-11-23T10:00:00+01:00"
    assert h.show()["state"] == "extension_decision"
    assert lifecycle(h) == {"publication": ("2025-04-03", "met"), "work_structure": ("2025-05-31", "met"),
                            "extension_decision": ("2026-07-01", "missed"), "end": ("2027-01-01", "open")}
    # the missed decision escalates once at entry (the first rung), not once per rung that lay in the past
    ext = [r["trigger"] for r in h.history() if r["trigger"] in ("escalate", "deadline_missed")
           and (r["reason"] or "").startswith("extension_decision")]
    assert ext == ["deadline_missed", "escalate"]
    ladder = [r for r in h.outbox() if r["kind"] == "escalation"]
    assert ladder and {r["payload"]["level"] for r in ladder} == {1}
    assert "secretariaat@example.org" in {r["to"] for r in ladder}
    assert not [r for r in h.outbox() if r["kind"] == "reminder"]     # no reminder for a moment before entry
    assert {r["status"] for r in h.outbox()} == {"sent"} and len(h.sent.messages) == len(h.outbox())

    # a second run the same day adds nothing
    counts = len(h.history()), len(h.outbox())
    h.advance("2026-11-23T10:10:00+01:00")
    assert (len(h.history()), len(h.outbox())) == counts

    # last spring's vote entered now: judged by its legal date; the ladder stops
    h.fire(KB, "vote_extension", role="party", party="ienw", sets={"extend": "no"}, on="2026-06-10")
    assert h.show()["state"] == "expiring" and lifecycle(h)["extension_decision"] == ("2026-07-01", "met")
    h.advance("2026-12-08T10:00:00+01:00")
    assert len([r for r in h.records("escalate") if r["reason"].startswith("extension_decision")]) == 1
    reminders = [r for r in h.outbox() if r["kind"] == "reminder"]
    assert "end" in {r["payload"]["deadlines"][0]["kind"] for r in reminders}      # 2 December: after entry
    h.advance("2027-01-01T00:00:00+01:00")
    assert h.show()["state"] == "ended" and h.verify()["intact"] is True
