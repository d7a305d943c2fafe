"""Amendments that take effect (Art. 5.8): a structured change on the request - a new end date (Art. 5.3), a
government acceding (with its representative, if any), a party leaving - applied to the running agreement on
adoption, in the same transaction, as a recorded migration; every derived deadline follows; an acceded party votes."""
from __future__ import annotations

from convenant.engine.errors import BadInput, NotAllowed
from tests.conftest import KB, Harness, on_backends

pytestmark = on_backends("memory")


def adopt(h: Harness, sets: dict[str, str], *, by: str = "ipo") -> str:
    amendment = h.fire(KB, "request_amendment", role="party", party=by, ref=f"{by}/wijziging", sets=sets)["created"]
    for party in ("ienw", "ipo", "uvw", "vng"):
        if party != by:
            h.fire(amendment, "consent", role="party", party=party, ref=f"{party}/instemming")
    assert h.show(amendment)["state"] == "adopted"
    return amendment


def test_a_new_end_date_takes_effect_and_the_end_follows(harness):
    h = harness.active()
    h.advance("2026-09-01T10:00:00+02:00")
    amendment = adopt(h, {"change": "Art. 5.3: eindigt op 1 januari 2028", "new_ends_on": "2028-01-01"})
    doc = h.show()
    assert doc["ends_on"] == "2028-01-01"
    (end,) = [d for d in doc["deadlines"] if d["kind"] == "end"]
    assert (end["due"], end["status"]) == ("2028-01-01", "open")
    (migration,) = h.records("apply_amendment")
    assert migration["data"]["migration"] == {"amendment": amendment, "before": {"ends_on": "2027-01-01"},
                                              "after": {"ends_on": "2028-01-01"}}
    assert migration["effective"] == "2026-09-01" and migration["article"] == "Art. 5.8"
    h.advance("2027-01-02T10:00:00+01:00")
    assert h.show()["state"] != "ended"
    h.advance("2028-01-01T00:30:00+01:00")
    assert h.show()["state"] == "ended"
    assert h.verify()["intact"] is True


def test_an_acceded_government_votes_in_the_next_decision(harness):
    h = harness.active()
    h.advance("2025-10-01T10:00:00+02:00")
    adopt(h, {"change": "Toetreding Provincie Zuid-Holland", "accede": "pzh", "accede_name": "Provincie Zuid-Holland",
              "accede_group": "Decentraal"})
    pzh = h.party("pzh")
    assert (pzh["name"], pzh["group"], pzh["signed_on"], pzh["withdrawn_on"]) == (
        "Provincie Zuid-Holland", "Decentraal", "2025-10-01", None)
    second = h.fire(KB, "request_amendment", role="party", party="ipo", ref="IPO/2025/80")["created"]
    for party in ("ienw", "uvw", "vng"):
        h.fire(second, "consent", role="party", party=party, ref=f"{party}/2")
    assert h.decision(second, "amendment")["pending"] == ["pzh"]
    assert h.show(second)["state"] == "open"
    h.fire(second, "consent", role="party", party="pzh", ref="PZH/2025/1")
    assert h.show(second)["state"] == "adopted"


def test_accession_with_a_representative(harness):
    h = harness.active()
    adopt(h, {"accede": "bzk", "accede_name": "Minister van BZK", "accede_represented_by": "ienw"})
    assert h.party("bzk")["represented_by"] == "ienw"
    amendment = h.fire(KB, "request_amendment", role="party", party="ipo", ref="IPO/3")["created"]
    err = h.refused(NotAllowed, amendment, "consent", role="party", party="bzk", ref="BZK/1")
    assert "ienw" in err.message


def test_a_party_leaves_by_amendment_and_its_open_decision_completes(harness):
    h = harness.active()
    h.advance("2025-10-01T10:00:00+02:00")
    other = h.fire(KB, "request_amendment", role="party", party="ienw", ref="IenW/9")["created"]
    for party in ("ipo", "uvw"):
        h.fire(other, "consent", role="party", party=party, ref=f"{party}/9")
    adopt(h, {"change": "VNG treedt uit", "leave": "vng"}, by="ipo")
    assert h.party("vng")["withdrawn_on"] == "2025-10-01"
    assert h.show(other)["state"] == "adopted"          # vng was the last one it waited for


def test_a_structured_change_that_makes_no_sense_is_refused(harness):
    h = harness.active()
    assert h.refused(NotAllowed, KB, "request_amendment", role="party", party="ipo", ref="x",
                     sets={"accede": "vng", "accede_name": "VNG"}).article == "Art. 5.8"
    assert h.refused(BadInput, KB, "request_amendment", role="party", party="ipo", ref="x",
                     sets={"leave": "nobody"}).field == "leave"
    assert h.refused(BadInput, KB, "request_amendment", role="party", party="ipo", ref="x",
                     sets={"accede": "pzh"}).field == "accede_name"
    err = h.refused(NotAllowed, KB, "request_amendment", role="party", party="ipo", ref="x",
                    sets={"new_ends_on": "2026-06-01"})
    assert "2027-01-01" in err.message
