"""Themes, sign-ups and progress through the service layer (Art. 1.1, 1.4, 2, 3.4, 4; INTERFACE.md "Themes and
sign-ups"): governments sign up (a water board only for inkoop and vth, footnote 3), reports keep a theme's
escalation at 0, silence or `stalled` climbs the ladder (working group, DO, BO) and `on_track` ends it at once."""
from __future__ import annotations

from convenant.engine.errors import BadInput, NotAllowed
from tests.conftest import KB, Harness, on_backends

pytestmark = on_backends("memory")

THEMES = ["ruimte", "inkoop", "vth", "mkb", "kennisdeling", "ketens"]


def sign_up(h: Harness, government: str, layer: str, theme: str, **more: str) -> dict:
    return h.fire(KB, "sign_up", sets={"government": government, "layer": layer, "theme": theme, **more})


def report(h: Harness, theme: str, status: str = "on_track", on: str | None = None) -> None:
    h.fire(KB, "report_progress", on=on, sets={"theme": theme, "status": status, "text": "voortgang gemeld"})


def themes(h: Harness) -> dict[str, dict]:
    return {t["id"]: t for t in h.show()["themes"]}


def progress_row(h: Harness, theme: str) -> dict:
    return [d for d in h.show()["deadlines"] if d["kind"] == "progress_report" and d["subject"] == theme][-1]


def test_sign_ups_of_each_layer_and_the_water_boards_footnote(harness):
    h = harness.active()
    sign_up(h, "Provincie Utrecht", "province", "vth", commitments="1,3", email="vth@provincie-utrecht.example.org")
    sign_up(h, "Waterschap Vallei en Veluwe", "water_board", "vth")
    sign_up(h, "Hoogheemraadschap De Stichtse Rijnlanden", "water_board", "inkoop", commitments="1,4")
    sign_up(h, "Gemeente Deventer", "municipality", "mkb", commitments="1,2")

    err = h.refused(NotAllowed, KB, "sign_up", sets={"government": "Waterschap Rijn en IJssel",
                                                     "layer": "water_board", "theme": "mkb"})
    assert "voetnoot 3" in err.article.lower() and "inkoop and vth" in err.message and "Voetnoot 3" in err.message
    assert h.refused(BadInput, KB, "sign_up", sets={"government": "Gemeente Epe", "layer": "municipality",
                                                    "theme": "afval"}).field == "theme"
    assert h.refused(BadInput, KB, "sign_up", sets={"government": "Gemeente Epe", "layer": "municipality",
                                                    "theme": "vth", "commitments": "1,7"}).field == "commitments"
    assert h.refused(BadInput, KB, "sign_up", sets={"government": "Gemeente Epe", "layer": "municipality",
                                                    "theme": "vth", "email": "geen adres"}).field == "email"
    # the order of checks: a bad commitment number (values, 2) is judged before the footnote (guard, 3)
    h.refused(BadInput, KB, "sign_up", sets={"government": "Waterschap Rijn en IJssel", "layer": "water_board",
                                             "theme": "mkb", "commitments": "9"})

    listed = themes(h)
    assert [s["government"] for s in listed["vth"]["sign_ups"]] == ["Provincie Utrecht",
                                                                    "Waterschap Vallei en Veluwe"]
    assert listed["vth"]["sign_ups"][0]["commitments"] == [1, 3]
    assert listed["inkoop"]["sign_ups"][0]["on"] == "2025-04-01"
    assert listed["ruimte"]["sign_ups"] == [] and listed["mkb"]["escalation_level"] == 0
    # a VTH sign-up sets its layer's target
    targets = {d["subject"]: d["due"] for d in h.show()["deadlines"] if d["kind"] == "vth_target"}
    assert targets == {"Provincie Utrecht": "2026-12-31", "Waterschap Vallei en Veluwe": "2028-12-31"}
    h.fire(KB, "withdraw_sign_up", sets={"government": "Provincie Utrecht", "theme": "vth"})
    assert [s["government"] for s in themes(h)["vth"]["sign_ups"]] == ["Waterschap Vallei en Veluwe"]
    assert {d["subject"]: d["status"] for d in h.show()["deadlines"] if d["kind"] == "vth_target"} == {
        "Provincie Utrecht": "cancelled", "Waterschap Vallei en Veluwe": "open"}


def test_silence_climbs_the_ladder_and_a_report_ends_it(harness):
    """Active from 25 March 2025: silence counts from activation, so each theme's first report is due on
    23 June (90 days). mkb reports on 15 April and then falls silent: due 14 July, missed on the 15th (the
    working group - the secretariat, the example names none), the DO 14 days later, the BO 28 days later."""
    h = harness.active()
    rows = [d for d in h.show()["deadlines"] if d["kind"] == "progress_report"]
    assert sorted(d["subject"] for d in rows) == sorted(THEMES) and {d["due"] for d in rows} == {"2025-06-23"}
    h.advance("2025-04-15T10:00:00+02:00")
    for theme in THEMES:
        report(h, theme)
    assert progress_row(h, "mkb")["due"] == "2025-07-14"
    for month in ("05", "06", "07"):
        h.advance(f"2025-{month}-10T10:00:00+02:00")
        for theme in THEMES:
            if theme != "mkb":
                report(h, theme)
    h.advance("2025-07-15T10:00:00+02:00")
    mkb = themes(h)["mkb"]
    assert (mkb["escalation_level"], mkb["overdue"], progress_row(h, "mkb")["status"]) == (1, True, "missed")
    ladder = [r for r in h.outbox() if r["kind"] == "progress_escalation"]
    assert [r["to"] for r in ladder] == ["secretariaat@example.org"]
    assert {t: v["escalation_level"] for t, v in themes(h).items() if t != "mkb"} == dict.fromkeys(
        [t for t in THEMES if t != "mkb"], 0)
    h.advance("2025-07-30T10:00:00+02:00")
    assert themes(h)["mkb"]["escalation_level"] == 2
    h.advance("2025-08-15T10:00:00+02:00")
    assert themes(h)["mkb"]["escalation_level"] == 3
    assert [r["to"] for r in h.outbox() if r["kind"] == "progress_escalation"] == [
        "secretariaat@example.org", "do@example.org", "bo@example.org"]
    rungs = [r for r in h.records("escalate") if "(mkb)" in (r["reason"] or "")]
    assert [r["effective"] for r in rungs] == ["2025-07-15", "2025-07-29", "2025-08-12"]
    assert {r["article"] for r in rungs} == {"Art. 1.1"}

    h.advance("2025-09-15T10:00:00+02:00")
    report(h, "mkb")
    mkb = themes(h)["mkb"]
    assert (mkb["escalation_level"], mkb["status"], mkb["last_report"], mkb["next_report_due"], mkb["overdue"]) == (
        0, "on_track", "2025-09-15", "2025-12-14", False)


def test_stalled_starts_the_ladder_at_the_next_run_and_on_track_stops_it(harness):
    h = harness.active()
    report(h, "ketens", "stalled")
    assert themes(h)["ketens"]["escalation_level"] == 0              # a trigger never runs due work
    h.advance("2025-04-01T09:05:00+02:00")
    assert (themes(h)["ketens"]["escalation_level"], themes(h)["ketens"]["status"]) == (1, "stalled")
    report(h, "ketens", "stalled")                                    # stalled again: no new rung
    h.advance("2025-04-02T09:00:00+02:00")
    assert themes(h)["ketens"]["escalation_level"] == 1
    h.advance("2025-04-15T09:05:00+02:00")
    assert themes(h)["ketens"]["escalation_level"] == 2
    report(h, "ketens")
    assert themes(h)["ketens"]["escalation_level"] == 0
    h.advance("2025-06-01T09:00:00+02:00")
    assert themes(h)["ketens"]["escalation_level"] == 0
    rungs = [r for r in h.records("escalate") if "(ketens)" in (r["reason"] or "")]
    assert len(rungs) == 2


def test_progress_reports_are_kept_and_each_one_is_a_record(harness):
    h = harness.active()
    report(h, "ruimte")
    report(h, "ruimte", "stalled")
    recs = h.records("report_progress")
    assert [(r["data"]["params"]["theme"], r["data"]["params"]["status"]) for r in recs] == [
        ("ruimte", "on_track"), ("ruimte", "stalled")]
    assert themes(h)["ruimte"]["status"] == "stalled"
