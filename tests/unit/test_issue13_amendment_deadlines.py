"""An amendment that moves a deadline (Art. 5.8): `request_amendment --set deadline=KIND --set due=DATE`; on adoption
the agreement's deadline is set to that date in the same transaction, recorded as the amendment's migration (what
it was, what it becomes, under which amendment), and what is reckoned from it follows. Hand-computed: the
extension decision opens by itself 90 days before its deadline, so 2026-04-02 for 1 July 2026 and 2026-07-03 for
1 October 2026; its first reminder is 30 days before ([reminders] extension_decision = [30, 14, 7, 1])."""
from __future__ import annotations

import pytest

from convenant.engine.errors import BadInput, NotAllowed
from tests.conftest import KB, Harness, on_backends

pytestmark = on_backends("memory")


def adopt(h: Harness, sets: dict[str, str]) -> str:
    amendment = h.fire(KB, "request_amendment", role="party", party="ipo", ref="IPO/2025/12", sets=sets)["created"]
    for party in ("ienw", "uvw", "vng"):
        h.fire(amendment, "consent", role="party", party=party, ref=f"{party}/instemming")
    assert h.show(amendment)["state"] == "adopted"
    return amendment


def test_an_amendment_moves_the_extension_deadline_and_its_opening_follows(harness):
    h = harness.active()
    h.advance("2025-10-01T10:00:00+02:00")
    amendment = adopt(h, {"change": "Art. 5.4: besluit uiterlijk 1 oktober 2026", "deadline": "extension_decision",
                          "due": "2026-10-01"})
    ext = h.deadline("extension_decision")
    assert (ext["due"], ext["status"]) == ("2026-10-01", "open")
    assert ext["next_reminder"] == "2026-09-01T08:00:00+02:00"
    (applied,) = h.records("apply_amendment")
    assert applied["data"]["migration"] == {
        "amendment": amendment,
        "before": {"deadlines": [{"kind": "extension_decision", "due": "2026-07-01", "status": "open"}]},
        "after": {"deadlines": [{"kind": "extension_decision", "due": "2026-10-01", "status": "open"}]}}
    assert h.show()["facts"]["amended_deadlines"] == {"extension_decision": "2026-10-01"}
    h.advance("2026-07-02T10:00:00+02:00")
    assert h.show()["state"] == "active", "under the old date it would have opened on 2026-04-02"
    h.advance("2026-07-03T00:30:00+02:00")
    assert h.show()["state"] == "extension_decision"
    assert h.verify()["intact"] is True


def test_a_missed_deadline_moved_forward_is_awaited_again(harness):
    h = harness.active()
    h.advance("2025-06-10T10:00:00+02:00")
    assert h.deadline("work_structure")["status"] == "missed"
    adopt(h, {"deadline": "work_structure", "due": "2025-09-01"})
    ws = h.deadline("work_structure")
    assert (ws["due"], ws["status"]) == ("2025-09-01", "open")
    h.fire(KB, "record_work_structure", ref="Verslag BO 1 juli 2025")
    assert h.deadline("work_structure")["status"] == "met"


@pytest.mark.parametrize(("sets", "field"), [
    ({"deadline": "end", "due": "2027-06-01"}, "deadline"),
    ({"deadline": "lunch", "due": "2026-06-01"}, "deadline"),
    ({"deadline": "progress_report", "due": "2026-06-01"}, "deadline"),
    ({"deadline": "extension_decision"}, "due"),
    ({"due": "2026-06-01"}, "deadline"),
    ({"deadline": "extension_decision", "due": "2026-13-01"}, "due"),
])
def test_a_deadline_change_that_names_no_movable_deadline_is_bad_input(harness, sets, field):
    h = harness.active()
    error = h.refused(BadInput, KB, "request_amendment", role="party", party="ipo", ref="IPO/1", sets=sets)
    assert error.field == field


def test_a_deadline_moved_into_the_past_or_one_already_met_is_refused(harness):
    h = harness.active()
    h.advance("2025-10-01T10:00:00+02:00")
    past = h.refused(NotAllowed, KB, "request_amendment", role="party", party="ipo", ref="IPO/2",
                     sets={"deadline": "extension_decision", "due": "2025-09-01"})
    assert past.article == "Art. 5.8"
    met = h.refused(NotAllowed, KB, "request_amendment", role="party", party="ipo", ref="IPO/3",
                    sets={"deadline": "publication", "due": "2025-12-01"})
    assert "no longer awaited" in str(met)


def test_under_version_2_the_deadlines_reckoned_from_the_end_follow_a_new_end(harness):
    """Version 2 reckons the extension decision and the evaluation from the end: a new end moves both, except
    one an earlier amendment set to a date of its own."""
    h = harness.active()
    h.service.migrate(KB, 2)
    h.advance("2025-10-01T10:00:00+02:00")
    adopt(h, {"deadline": "evaluation", "due": "2026-08-15"})
    adopt(h, {"change": "Art. 5.3: eindigt op 1 januari 2028", "new_ends_on": "2028-01-01"})
    got = {d["kind"]: d["due"] for d in h.show()["deadlines"] if d["kind"] != "progress_report"}
    assert got["end"] == "2028-01-01"
    assert got["extension_decision"] == "2027-09-01"     # four calendar months before the new end
    assert got["evaluation"] == "2026-08-15"             # where the first amendment put it
