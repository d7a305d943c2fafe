"""Refused commands, through the service layer: each refusal is exactly one error class of INTERFACE.md's exit
codes (BadInput 2, NotAllowed 3, NotFound 4, Conflict 5), comes from the first check that fails in the order
parse - find - vocabulary - authorise - values - state and guards, names its field or article, and changes
nothing: no state, no record, no deadline, nothing queued (`Harness.refused` compares everything before and
after, and checks that the refusal was logged apart from the history)."""
from __future__ import annotations

import pytest

from convenant.engine.errors import BadInput, Conflict, NotAllowed, NotFound
from tests.conftest import KB, STCRT, Harness, on_backends

pytestmark = on_backends("memory")

AMENDMENT = f"{KB}/amendment-1"


@pytest.fixture
def running(harness) -> Harness:
    """Active since 25 March 2025 (clock 1 April 2025), with an amendment requested by IPO open."""
    h = harness.active()
    created = h.fire(KB, "request_amendment", role="party", party="ipo", ref="IPO-2025-031",
                     sets={"change": "Art. 4: thema Ketens uitbreiden"})["created"]
    assert created == AMENDMENT
    return h


# -- the order of the checks: the first failure decides -------------------------------------------------------
# Each case is refused and changes nothing, so all of them run one after the other on one agreement.
ORDER = [
    ("ghost", "nope", {"on": "2025-02-30"}, BadInput, "on"),                          # parsing before finding
    ("ghost", "nope", {"role": "minister"}, BadInput, "role"),
    ("ghost", "nope", {"role": "party"}, BadInput, "party"),                          # --role party needs --party
    ("ghost", "nope", {"actor": " "}, BadInput, "actor"),
    ("ghost", "nope", {}, NotFound, None),                                            # finding before vocabulary
    (KB, "nope", {"role": "auditor"}, BadInput, "trigger"),                           # vocabulary before authorising
    (KB, "raise_dispute", {"role": "auditor", "party": "gelderland"}, BadInput, "party"),
    (KB, "report_progress", {"role": "auditor", "sets": {"theme": "x", "status": "on_track"}}, BadInput, "theme"),
    (KB, "vote_extension", {"role": "auditor", "party": "ipo", "sets": {"extend": "maybe"}}, BadInput, "extend"),
    (KB, "raise_dispute", {"on": "2030-01-01", "role": "party", "party": "ez"}, NotAllowed, None),  # authorising
    (KB, "raise_dispute", {"on": "2030-01-01", "role": "auditor", "party": "ipo"}, NotAllowed, None),  # before values
    (KB, "record_work_structure", {"on": "2030-01-01", "role": "party", "party": "vng", "ref": "x"}, NotAllowed,
     None),
    (KB, "open_signing", {"on": "2030-01-01"}, BadInput, "on"),                       # values before state
    (KB, "activate", {"on": "2030-01-01"}, BadInput, "on"),
    (KB, "publish", {"on": "2030-01-01"}, BadInput, "on"),
    (KB, "publish", {}, BadInput, "ref"),                                              # a missing value first
    (KB, "open_signing", {}, NotAllowed, None),                                        # then the state
]
CODES = {BadInput: 2, NotAllowed: 3, NotFound: 4, Conflict: 5}


def each_refused(h: Harness, cases: list[tuple[str, str, dict, type[Exception], str | None]]) -> None:
    for pid, trigger, kw, error, field in cases:
        try:
            err = h.refused(error, pid, trigger, **kw)
            assert (err.exit_code, err.field) == (CODES[error], field)
        except BaseException as exc:
            exc.add_note(f"the case: {pid} {trigger} {kw} -> {error.__name__} {field}")
            raise


def test_order_of_checks(running):
    each_refused(running, ORDER)


# -- bad input (2) --------------------------------------------------------------------------------------------
def test_unparseable_or_impossible_on_date(running):
    dates = ["2025-02-30", "20-03-2025", "tomorrow", "2025-13-01", "2025-W14-2", ""]
    each_refused(running, [(KB, "record_work_structure", {"ref": "x", "on": d}, BadInput, "on") for d in dates])


def test_on_after_today_on_the_engines_clock(running):
    err = running.refused(BadInput, KB, "record_work_structure", ref="x", on="2025-04-02")
    assert err.field == "on" and "after today" in err.message and "2025-04-01" in err.message
    running.fire(KB, "record_work_structure", ref="x", on="2025-04-01")        # today itself is fine


def test_names_outside_the_vocabulary(running):
    h = running
    assert "terminate_now" in h.refused(BadInput, KB, "terminate_now").message
    assert h.refused(BadInput, KB, "raise_dispute", role="party", party="gelderland").field == "party"
    assert h.refused(BadInput, KB, "report_progress", sets={"theme": "ruimtevaart", "status": "on_track"}
                     ).field == "theme"
    assert h.refused(BadInput, KB, "report_progress", sets={"theme": "ruimte", "status": "great"}).field == "status"
    assert h.refused(BadInput, KB, "report_progress", sets={"theme": "ruimte"}).field == "status"
    assert h.refused(BadInput, KB, "sign_up", sets={"government": "Gemeente Zwolle", "layer": "county",
                                                    "theme": "ruimte"}).field == "layer"
    assert h.refused(BadInput, KB, "record_work_structure", ref="x", sets={"colour": "red"}).field == "colour"
    assert h.refused(BadInput, AMENDMENT, "consent", role="party", party="uvw", ref="U",
                     sets={"answer": "yes"}).field == "answer"


def test_missing_required_values(running):
    h = running
    assert h.refused(BadInput, KB, "record_work_structure").field == "ref"
    assert h.refused(BadInput, KB, "raise_dispute").field == "party"
    assert h.refused(BadInput, AMENDMENT, "consent", role="party", party="uvw").field == "ref"
    assert h.refused(BadInput, KB, "request_amendment", role="party", party="ipo", sets={"change": "x"}
                     ).field == "ref"
    assert h.refused(BadInput, KB, "record_work_structure", ref="x" * 2001).field == "ref"


# -- not found (4) --------------------------------------------------------------------------------------------
def test_unknown_process(running):
    assert "krachtenbundeling-2" in running.refused(NotFound, "krachtenbundeling-2", "record_work_structure",
                                                    ref="x").message
    running.refused(NotFound, f"{KB}/amendment-9", "consent", role="party", party="uvw", ref="x")
    with pytest.raises(NotFound):
        running.show(f"{KB}/amendment-9")


# -- not allowed (3): who may act ------------------------------------------------------------------------------
def test_a_represented_party_acts_through_its_representative(running):
    h = running
    err = h.refused(NotAllowed, KB, "raise_dispute", role="party", party="ez")
    assert "ienw" in err.message and err.http_status == 403
    err = h.refused(NotAllowed, AMENDMENT, "consent", role="party", party="vro", ref="r")
    assert "representative ienw" in err.message and err.article.startswith("Partijen (aanhef)")


def test_a_party_may_not_do_what_only_another_may(running):
    h = running
    assert "ienw" in h.refused(NotAllowed, KB, "publish", ref="Stcrt. 2025, 1", role="party", party="vng").message
    assert "ipo" in h.refused(NotAllowed, AMENDMENT, "withdraw", role="party", party="vng").message
    err = h.refused(NotAllowed, KB, "record_work_structure", ref="x", role="party", party="vng")
    assert "secretariat" in err.message and err.article == "Art. 2.6" and err.http_status == 403


def test_an_auditor_fires_nothing(running):
    for pid, trigger, kw in [(KB, "record_work_structure", {"ref": "x"}), (KB, "raise_dispute", {"party": "ipo"}),
                             (KB, "end", {}), (AMENDMENT, "consent", {"ref": "r"})]:
        err = running.refused(NotAllowed, pid, trigger, role="auditor", actor="Accountant", **kw)
        assert "auditor" in err.message and err.kind == "not_allowed", trigger


# -- not allowed (3): state and guards ------------------------------------------------------------------------
def test_automatic_triggers_cannot_be_fired_by_hand(running):
    for trigger in ("activate", "end"):
        err = running.refused(NotAllowed, KB, trigger)
        assert "automatically" in err.message and err.article == "Art. 5.3", trigger


def test_wrong_state(running):
    h = running
    err = h.refused(NotAllowed, KB, "open_signing")
    assert (err.state, err.article, err.http_status) == ("active", "Art. 5.3", 409)
    h.refused(NotAllowed, KB, "publish", ref=STCRT)
    h.refused(NotAllowed, KB, "sign", party="ipo")
    h.refused(NotAllowed, KB, "vote_extension", party="ipo", sets={"extend": "yes", "new_end": "2027-06-01"})
    h.refused(NotAllowed, AMENDMENT, "vote_continuation", role="party", party="uvw", sets={"continue": "yes"})


def test_an_on_date_before_the_act_it_depends_on(running):
    h = running
    assert "last signature" in h.refused(NotAllowed, KB, "record_work_structure", ref="x", on="2025-03-19").message
    assert "requested on" in h.refused(NotAllowed, AMENDMENT, "consent", role="party", party="vng", ref="r",
                                       on="2025-03-31").message


def test_a_second_answer_is_refused(running):
    h = running
    assert "answered already" in h.refused(NotAllowed, AMENDMENT, "consent", role="party", party="ipo",
                                           ref="again").message
    h.fire(AMENDMENT, "consent", role="party", party="ienw", ref="IenW/4")
    assert "answered already" in h.refused(NotAllowed, AMENDMENT, "refuse", role="party", party="ienw",
                                           ref="IenW/5").message


def test_an_existing_agreement_id_is_refused(running):
    before = running.snapshot()
    with pytest.raises(NotAllowed):
        running.create()
    assert running.snapshot() == before


# -- conflict (5) ---------------------------------------------------------------------------------------------
def test_a_stale_version_is_a_conflict_and_changes_nothing(running):
    h = running
    version = h.show()["version"]
    h.fire(KB, "record_work_structure", ref="x", expected_version=version)
    err = h.refused(Conflict, KB, "report_progress", sets={"theme": "ruimte", "status": "on_track"},
                    expected_version=version)
    assert err.exit_code == 5 and err.http_status == 409
    h.fire(KB, "report_progress", sets={"theme": "ruimte", "status": "on_track"}, expected_version=version + 1)


def test_a_refusal_is_logged_apart_and_the_chain_stays_intact(running):
    h = running
    before = h.history()
    h.refused(NotAllowed, KB, "publish", role="party", party="vng", actor="iemand van VNG", ref=STCRT)
    (row, *_) = h.reads.refusals()
    assert (row["trigger"], row["party"], row["code"], row["actor"]) == ("publish", "vng", 3, "iemand van VNG")
    assert "ienw" in row["message"]
    assert h.history() == before and h.verify()["intact"] is True
