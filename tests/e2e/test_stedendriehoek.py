"""The second definition end to end (seeds/004): the Stedendriehoek cooperation runs on the same engine with no
engine code of its own - a quartermaster, a proposal of at most three focus points due 31 March 2026, an annual
plan, an evaluation and a go/no-go that continues, expands or scales down the cooperation."""
from __future__ import annotations

import json

import pytest

from tests.conftest import Cli

SD = "stedendriehoek"
MUNICIPALITIES = {"apeldoorn", "deventer", "zutphen", "brummen", "epe", "heerde", "lochem", "voorst"}


def dl(c: Cli, kind: str) -> dict:
    (found,) = [d for d in c.show(SD)["deadlines"] if d["kind"] == kind]
    return found


def appointed(c: Cli) -> Cli:
    c.run("init", "--simulation", "--start", "2026-01-09T09:00:00+01:00")
    assert c.run("agreements", "create", "--example", SD).data["id"] == SD
    doc = c.show(SD)
    assert doc["workflow"] == SD and doc["state"] == "advised" and doc["deadlines"] == []
    assert {p["id"] for p in doc["parties"]} == MUNICIPALITIES
    assert c.run("agreements", "list").data[0]["workflow"] == SD
    c.advance("2026-01-20T10:00:00+01:00")
    # a municipality cannot appoint; the board's secretariat records it
    c.trigger(SD, "appoint_quartermaster", role="party", party="deventer", ref="AB-2026-01",
              sets=("name=J. de Kwartiermaker",), expect=3)
    c.trigger(SD, "appoint_quartermaster", ref="AB-2026-01", sets=("name=J. de Kwartiermaker",), on="2026-01-15")
    doc = c.show(SD)
    assert doc["state"] == "quartermaster_appointed"
    assert doc["facts"]["quartermaster"] == "J. de Kwartiermaker" and doc["facts"]["appointed_on"] == "2026-01-15"
    assert (dl(c, "proposal")["due"], dl(c, "proposal")["status"]) == ("2026-03-31", "open")
    assert (dl(c, "go_no_go")["due"], dl(c, "go_no_go")["status"]) == ("2026-12-31", "open")
    return c


@pytest.mark.parametrize("decision, final", [("continue", "continued"), ("expand", "expanded"),
                                             ("scale_down", "scaled_down")])
def test_cooperation_from_advice_to_go_no_go(cli, decision, final):
    c = appointed(cli)
    c.advance("2026-03-20T10:00:00+01:00")
    before = c.snapshot(SD)
    four = c.trigger(SD, "submit_proposal", ref="KM-voorstel-1",
                     sets=("focus_points=textiel,bouw,voedsel,kunststof",), expect=2)
    assert json.loads(four.out)["field"] == "focus_points" and "at most 3" in four.err
    c.trigger(SD, "submit_proposal", ref="KM-voorstel-1", sets=("focus_points=textiel,bouw,voedsel",),
              on="2026-01-14", expect=3)                          # before the appointment it depends on
    assert c.snapshot(SD) == before

    c.trigger(SD, "submit_proposal", ref="KM-voorstel-1", sets=("focus_points=textiel, bouw ,voedsel",))
    doc = c.show(SD)
    assert doc["state"] == "proposal_submitted"
    assert doc["facts"]["focus_points"] == ["textiel", "bouw", "voedsel"]
    assert dl(c, "proposal")["status"] == "met"

    c.advance("2026-05-12T10:00:00+02:00")
    c.trigger(SD, "adopt_annual_plan", ref="AB-2026-05 jaarplan")
    c.advance("2026-11-30T10:00:00+01:00")
    c.trigger(SD, "present_evaluation")
    assert c.show(SD)["state"] == "go_no_go"
    assert c.show(SD)["allowed_triggers"] == ["decide_go_no_go"]
    c.trigger(SD, "decide_go_no_go", ref="AB-2026-12", sets=("decision=stop",), expect=2)
    c.trigger(SD, "decide_go_no_go", sets=(f"decision={decision}",), expect=2)       # --ref required
    c.trigger(SD, "decide_go_no_go", ref="AB-2026-12", sets=(f"decision={decision}",), on="2026-12-15",
              expect=2)                                                                # after today
    c.trigger(SD, "decide_go_no_go", ref="AB-2026-12", sets=(f"decision={decision}",), on="2026-11-30")

    doc = c.show(SD)
    assert doc["state"] == final and doc["allowed_triggers"] == []
    assert dl(c, "go_no_go")["status"] == "met"
    history = c.history(SD)
    assert [h["trigger"] for h in history if h["role"] != "system"] == [
        "create", "appoint_quartermaster", "submit_proposal", "adopt_annual_plan", "present_evaluation",
        "decide_go_no_go"]
    assert history[-1]["dest"] == final and history[-1]["article"] == "Advies, kwartiermaker punt 5"
    # the final state awaits nothing more: no reminders for it are planned or sent later
    c.advance("2027-01-31T10:00:00+01:00")
    assert c.show(SD)["state"] == final
    assert c.run("audit", "verify").data["intact"] is True


def test_missed_proposal_deadline_escalates(cli):
    c = appointed(cli)
    c.advance("2026-03-31T23:59:00+02:00")
    assert dl(c, "proposal")["status"] == "open"
    reminders = [o for o in c.run("outbox").data if o["kind"] == "reminder"]
    assert reminders and all(o["to"] == "ab-stedendriehoek@example.org" for o in reminders)
    assert len(reminders) == 3                                         # 14, 7 and 1 days before

    c.advance("2026-04-01T00:30:00+02:00")
    assert dl(c, "proposal")["status"] == "missed"
    assert c.show(SD)["state"] == "quartermaster_appointed"            # a fact to record, not a blocked world
    system = [(h["trigger"], h["effective"]) for h in c.history(SD) if h["role"] == "system"]
    assert system == [("deadline_missed", "2026-04-01"), ("escalate", "2026-04-01")]
    escalation = [o for o in c.run("outbox").data if o["kind"] == "escalation"]
    assert [o["to"] for o in escalation] == ["ab-stedendriehoek@example.org"]
    assert escalation[0]["subject"].startswith("Escalatie naar de verantwoordelijke partij en het secretariaat")
    assert escalation[0]["status"] == "sent"
    assert len(c.messages()) == len([o for o in c.run("outbox").data if o["status"] == "sent"])

    # the proposal arrives late: judged by its legal date, still missed, and the ladder stops
    c.advance("2026-04-10T10:00:00+02:00")
    c.trigger(SD, "submit_proposal", ref="KM-voorstel-1", sets=("focus_points=textiel,bouw",), on="2026-04-09")
    assert dl(c, "proposal")["status"] == "missed" and dl(c, "proposal")["met_on"] == "2026-04-09"
    c.advance("2026-05-15T10:00:00+02:00")                           # past the DO and BO steps
    assert [h["trigger"] for h in c.history(SD) if h["trigger"] == "escalate"] == ["escalate"]
