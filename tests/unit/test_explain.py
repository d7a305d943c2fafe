"""`explain`: why each deadline of both shipped definitions is due when it is - the rule, the inputs with the
history record (seq) each comes from, and the calendar steps in words - compared with explanations written by
hand; the same reasoning in Dutch; and the Atw's steps for a deadline that asks for it."""
from __future__ import annotations

import datetime as dt

import pytest

from convenant.engine.definitions import DateExpr
from convenant.engine.errors import NotFound
from convenant.engine.explain import explain
from convenant.engine.queries import Queries
from tests.conftest import KB, on_backends

pytestmark = on_backends("memory")


def why(h, kind: str, pid: str = KB, lang: str = "en", subject: str | None = None) -> dict:
    return explain(Queries(h.reads, h.service), pid, kind, subject=subject, lang=lang)


def seq_of(h, trigger: str, party: str | None = None, pid: str = KB) -> int:
    (rec,) = [r for r in h.history(pid) if r["trigger"] == trigger and r["party"] == party][-1:]
    return rec["seq"]


@pytest.fixture
def main_line(harness):
    """Signed 20 March 2025 (vng last, seq 6), published and active 25 March, a VTH sign-up of a province, an
    amendment requested by IPO on 2 June 2025, and VNG's notice of 31 January 2026, in effect on 1 March."""
    h = harness.active()
    h.fire(KB, "sign_up", sets={"government": "Provincie Utrecht", "layer": "province", "theme": "vth",
                                "commitments": "1,3", "email": "vth@provincie-utrecht.example.org"}, on="2025-04-01")
    h.advance("2025-06-02T10:00:00+02:00")
    h.fire(KB, "request_amendment", role="party", party="ipo", actor="R.F. Douwstra", ref="IPO/2025/7",
           sets={"change": "Art. 3 anders"}, on="2025-06-02")
    h.advance("2026-01-31T10:00:00+01:00")
    h.fire(KB, "give_notice", role="party", party="vng", actor="M. Veeningen", ref="VNG/2026/1", on="2026-01-31")
    h.advance("2026-03-02T10:00:00+01:00")
    return h


def test_every_deadline_kind_of_the_krachtenbundeling(main_line):
    h = main_line
    sign = seq_of(h, "sign", "vng")
    activate = seq_of(h, "activate")
    got = why(h, "publication")
    assert (got["kind"], got["due"], got["article"], got["rule"]) == ("publication", "2025-04-03", "Art. 5.5",
                                                                     "last_signature + 14 days")
    assert got["inputs"] == [
        {"what": "opened_by", "name": "sign", "value": "2025-03-20", "seq": sign, "record": "sign by vng on 2025-03-20"},
        {"what": "fact", "name": "last_signature", "value": "2025-03-20", "seq": sign,
         "record": "sign by vng on 2025-03-20"}]
    assert got["steps"] == [
        "Rule of the definition (Art. 5.5): last_signature + 14 days.",
        f"last signature is 20 March 2025 (seq {sign}: sign by vng on 2025-03-20).",
        "20 March 2025 + 14 days = 3 April 2025.",
        "3 April 2025 is a Thursday; the deadline counts calendar days, so no rest day moves it: due 3 April 2025."]

    assert why(h, "work_structure")["steps"] == [
        "Rule of the definition (Art. 2.6): fixed 2025-05-31.",
        "The definition fixes the date: 31 May 2025.",
        "31 May 2025 is a Saturday; the deadline counts calendar days, so no rest day moves it: due 31 May 2025."]
    assert why(h, "extension_decision")["steps"][1:] == [
        "The definition fixes the date: 1 July 2026.",
        "1 July 2026 is a Wednesday; the deadline counts calendar days, so no rest day moves it: due 1 July 2026."]

    end = why(h, "end")
    assert end["due"] == "2027-01-01" and end["inputs"][1] == {
        "what": "fact", "name": "ends_on", "value": "2027-01-01", "seq": sign, "record": "sign by vng on 2025-03-20"}
    assert end["steps"][1:] == [
        f"ends on is 1 January 2027 (seq {sign}: sign by vng on 2025-03-20).",
        "1 January 2027 is a Friday; the deadline counts calendar days, so no rest day moves it: due 1 January 2027."]

    report = why(h, "progress_report")
    assert {"what": "setting", "name": "progress.report_interval_days", "value": 90, "seq": None,
            "record": None} in report["inputs"]
    opened = report["inputs"][0]
    assert opened["seq"] is not None and opened["seq"] >= activate
    day = dt.date.fromisoformat(opened["value"])
    assert report["due"] == (day + dt.timedelta(days=90)).isoformat()
    assert report["steps"][2].endswith(f"(progress.report_interval_days in config.toml) = "
                                       f"{dt.date.fromisoformat(report['due']).strftime('%-d %B %Y')}.")

    vth = why(h, "vth_target", subject="Provincie Utrecht")
    assert vth["inputs"][0]["record"] == "sign_up on 2025-04-01"
    assert len(vth["steps"]) == 1 and vth["steps"][0].startswith("The act that opened the deadline set its date")


def test_the_children_deadlines(main_line):
    h = main_line
    amendment = f"{KB}/amendment-1"
    got = why(h, "amendment_response", amendment)
    opened = seq_of(h, "request_amendment", "ipo", amendment)
    days = h.settings.param("decisions.amendment_response_days")
    due = dt.date(2025, 6, 2) + dt.timedelta(days=days)
    assert got["due"] == due.isoformat()
    assert got["inputs"][1] == {"what": "fact", "name": "requested_on", "value": "2025-06-02", "seq": opened,
                                "record": "request_amendment by ipo on 2025-06-02"}
    assert got["steps"][1:3] == [
        f"requested on is 2 June 2025 (seq {opened}: request_amendment by ipo on 2025-06-02).",
        f"2 June 2025 + {days} days (decisions.amendment_response_days in config.toml) = "
        f"{due.day} {due.strftime('%B %Y')}."]

    termination = f"{KB}/termination-1"
    notice = why(h, "notice_period", termination)
    given = seq_of(h, "give_notice", "vng", termination)
    assert notice["due"] == "2026-02-28"
    assert notice["steps"] == [
        "Rule of the definition (Art. 5.7): notice_on + 1 calendar month(s).",
        f"notice on is 31 January 2026 (seq {given}: give_notice by vng on 2026-01-31).",
        "31 January 2026 + 1 calendar month(s) = 28 February 2026: that month has no day 31, so the period ends on "
        "its last day (Hoge Raad, ECLI:NL:HR:2017:2225).",
        "28 February 2026 is a Saturday; the deadline counts calendar days, so no rest day moves it: due 28 February "
        "2026."]
    cont = why(h, "continuation_decision", termination)
    took = seq_of(h, "take_effect", None, termination)
    assert cont["inputs"][0] == {"what": "opened_by", "name": "take_effect", "value": "2026-03-01", "seq": took,
                                 "record": "take_effect on 2026-03-01"}
    assert cont["steps"][1] == f"The act that opened the deadline is dated 1 March 2026 (seq {took}: take_effect on " \
                               f"2026-03-01)."
    # the agreement's id finds a child's deadline too
    assert why(h, "notice_period")["process"] == termination


def test_the_stedendriehoek_deadlines(harness):
    from tests.unit.test_issue13_findings import _stedendriehoek_data
    h = harness
    h.service.create_agreement("stedendriehoek", _stedendriehoek_data(), pid="sd")
    h.advance("2026-01-20T10:00:00+01:00")
    h.fire("sd", "appoint_quartermaster", ref="AB-2026-01", sets={"name": "J. de Kwartiermaker"}, on="2026-01-15")
    appointed = seq_of(h, "appoint_quartermaster", None, "sd")
    proposal = why(h, "proposal", "sd")
    assert proposal["inputs"] == [{"what": "opened_by", "name": "appoint_quartermaster", "value": "2026-01-15",
                                   "seq": appointed, "record": "appoint_quartermaster on 2026-01-15"}]
    assert proposal["steps"][1:] == [
        "The definition fixes the date: 31 March 2026.",
        "31 March 2026 is a Tuesday; the deadline counts calendar days, so no rest day moves it: due 31 March 2026."]
    assert why(h, "go_no_go", "sd")["steps"][1:] == [
        "The definition fixes the date: 31 December 2026.",
        "31 December 2026 is a Thursday; the deadline counts calendar days, so no rest day moves it: due 31 "
        "December 2026."]


def test_dutch_and_the_schedule(main_line):
    got = why(main_line, "publication", lang="nl")
    assert got["steps"][2] == "20 maart 2025 + 14 dagen = 3 april 2025."
    assert got["steps"][3].startswith("3 april 2025 is een donderdag")
    assert got["steps"][0] == "Regel van de definitie (Art. 5.5): last_signature + 14 days."
    # when each reminder and escalation step fires, and why (published on 25 March: the later ones never ran)
    assert [(s["kind"], s["at"], s["done"]) for s in got["schedule"]] == [
        ("reminder", "2025-03-20T08:00:00+01:00", True),        # before the deadline existed: skipped
        ("reminder", "2025-03-27T08:00:00+01:00", False),
        ("reminder", "2025-04-02T08:00:00+02:00", False),
        ("missed", "2025-04-04T00:00:00+02:00", False),
        ("escalation", "2025-04-04T00:00:00+02:00", False),
        ("escalation", "2025-04-18T00:00:00+02:00", False),
        ("escalation", "2025-05-02T00:00:00+02:00", False)]
    assert got["schedule"][1]["why"] == "7 dag(en) vóór de vervaldatum"
    assert got["schedule"][5]["why"] == "escalatieniveau 2, 14 dag(en) nadat de termijn is verstreken"
    assert (got["schedule"][5]["level"], got["schedule"][5]["to"]) == (1, "do")
    english = why(main_line, "publication", lang="en")["schedule"]
    assert english[1]["why"] == "7 day(s) before the due date"
    assert english[5]["why"] == "escalation level 2, 14 day(s) after the deadline was missed"


def test_unknown_kind_is_not_found(main_line):
    with pytest.raises(NotFound, match="no deadline 'nothing'"):
        why(main_line, "nothing")


def test_atw_steps_in_words(harness):
    """A deadline under the Atw: Good Friday 2026 + weekend + Easter Monday, each step named."""
    from convenant.engine import explain as ex
    h = harness.signed()
    q = Queries(h.reads, h.service)
    d = [x for x in h.reads.deadlines(statuses=None) if x.kind == "publication"][0]
    procs = {KB: q.process(KB)}
    ctx = ex._Context(wf=h.service.workflow("krachtenbundeling"), spec=h.service.workflow("krachtenbundeling")
                      .process("agreement"), settings=h.settings, proc=procs[KB], root=procs[KB], procs=procs,
                      records=list(h.reads.history(KB)), deadlines=[d], opening=None)
    r = ex.Reasoning()
    expr = DateExpr(date=dt.date(2026, 3, 20), days=14, calendar="algemene_termijnenwet")
    end = ex._calendar(ctx, expr, dt.date(2026, 3, 20), ex._arithmetic(ctx, expr, dt.date(2026, 3, 20), r), r)
    assert end == dt.date(2026, 4, 7)
    assert [s.text("en") for s in r.steps] == [
        "20 March 2026 + 14 days = 3 April 2026.",
        "3 April 2026 is a Friday (Good Friday): under Art. 1(1) Atw the limit runs on to 4 April 2026.",
        "4 April 2026 is a Saturday (Saturday): under Art. 1(1) Atw the limit runs on to 5 April 2026.",
        "5 April 2026 is a Sunday (Easter Sunday): under Art. 1(1) Atw the limit runs on to 6 April 2026.",
        "6 April 2026 is a Monday (Easter Monday): under Art. 1(1) Atw the limit runs on to 7 April 2026.",
        "7 April 2026 is a Tuesday, no rest day under the Algemene termijnenwet: due 7 April 2026."]
