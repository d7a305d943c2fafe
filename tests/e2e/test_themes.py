"""Themes, sign-ups and progress through the CLI (Art. 1.1, 1.4, 2, 3.4, 4; INTERFACE.md "Themes and sign-ups").

A simulated year on the virtual clock: governments of each layer sign up, a water board is refused outside its two
themes (footnote 3), working groups report monthly, one theme falls silent and climbs the ladder to the BO and then
recovers, another is reported stalled; the VTH targets remind the governments of the right layer."""
from __future__ import annotations

import email.header
from pathlib import Path

import pytest

from tests.conftest import Cli, active

PID = "krachtenbundeling"
THEMES = ["ruimte", "inkoop", "vth", "mkb", "kennisdeling", "ketens"]
EXAMPLES = Path(__file__).resolve().parents[2] / "workflows" / "examples"


def sign_up(c: Cli, government: str, layer: str, theme: str, *, commitments: str | None = None,
            email_addr: str | None = None, on: str | None = None, expect: int = 0):
    sets = [f"government={government}", f"layer={layer}", f"theme={theme}"]
    sets += [f"commitments={commitments}"] if commitments else []
    sets += [f"email={email_addr}"] if email_addr else []
    return c.trigger(PID, "sign_up", on=on, sets=tuple(sets), expect=expect)


def report(c: Cli, theme: str, status: str = "on_track", on: str | None = None) -> None:
    c.trigger(PID, "report_progress", on=on, sets=(f"theme={theme}", f"status={status}", "text=voortgang gemeld"))


def themes(c: Cli) -> dict[str, dict]:
    return {t["id"]: t for t in c.show()["themes"]}


class Mailbox:
    """The mails delivered since the last look, as (to, subject)."""

    def __init__(self, c: Cli) -> None:
        self.c, self.seen = c, set()

    def new(self, subject_part: str = "") -> list[tuple[str, str]]:
        out = []
        for msg in self.c.messages():
            mid = msg["Message-ID"]
            if mid in self.seen:
                continue
            self.seen.add(mid)
            subject = str(email.header.make_header(email.header.decode_header(msg["Subject"])))
            subject = subject.replace("\r", "").replace("\n", "")      # unfold
            out.append((msg["To"].split("<")[-1].rstrip(">"), subject))
        return sorted((to, s) for to, s in out if subject_part in s)


def progress_row(c: Cli, theme: str) -> dict:
    rows = [d for d in c.show()["deadlines"] if d["kind"] == "progress_report" and d["subject"] == theme]
    return rows[-1]


def test_a_year_of_themes_sign_ups_reports_and_the_ladder(cli_any):
    c = active(cli_any)                 # active from 2025-03-25; entered 2025-03-01; clock 2025-04-01 09:00
    box = Mailbox(c)
    box.new()
    # silence is counted from activation (later than entry): six awaited reports, one per theme
    rows = [d for d in c.show()["deadlines"] if d["kind"] == "progress_report"]
    assert sorted(d["subject"] for d in rows) == sorted(THEMES)
    assert {d["due"] for d in rows} == {"2025-06-23"} and {d["status"] for d in rows} == {"open"}

    # -- sign-ups of each layer (Art. 3.4) ---------------------------------------------------------------
    sign_up(c, "Provincie Utrecht", "province", "vth", commitments="1,3",
            email_addr="vth@provincie-utrecht.example.org")
    sign_up(c, "Provincie Noord-Brabant", "province", "vth")
    sign_up(c, "Provincie Gelderland", "province", "inkoop", commitments="1,2,5")
    sign_up(c, "Waterschap Vallei en Veluwe", "water_board", "vth", email_addr="vth@wvv.example.org")
    sign_up(c, "Hoogheemraadschap De Stichtse Rijnlanden", "water_board", "inkoop", commitments="1,4")
    sign_up(c, "Gemeente Apeldoorn", "municipality", "vth", commitments="1", email_addr="vth@apeldoorn.example.org")
    sign_up(c, "Gemeente Deventer", "municipality", "mkb", commitments="1,2")
    sign_up(c, "Gemeente Zutphen", "municipality", "ketens")

    # refused: a water board outside inkoop and vth (footnote 3) is exit 3 and changes nothing
    before = c.snapshot()
    res = sign_up(c, "Waterschap Rijn en IJssel", "water_board", "mkb", expect=3)
    assert "voetnoot 3" in res.data["article"].lower() and "inkoop and vth" in res.data["message"]
    assert "Voetnoot 3" in res.data["message"]          # the reason in the agreement's words
    # an unknown theme and a commitment the theme does not have are bad input (exit 2)
    assert sign_up(c, "Gemeente Epe", "municipality", "afval", expect=2).data["field"] == "theme"
    assert sign_up(c, "Gemeente Epe", "municipality", "vth", commitments="1,7", expect=2).data["field"] == \
        "commitments"
    assert sign_up(c, "Gemeente Epe", "municipality", "vth", email_addr="geen adres", expect=2).data["field"] == \
        "email"
    # the check order of INTERFACE.md: a bad commitment number (values, 2) is judged before the guard (3)
    assert sign_up(c, "Waterschap Rijn en IJssel", "water_board", "mkb", commitments="9", expect=2)
    assert c.snapshot() == before

    listed = themes(c)
    assert [s["government"] for s in listed["vth"]["sign_ups"]] == [
        "Provincie Utrecht", "Provincie Noord-Brabant", "Waterschap Vallei en Veluwe", "Gemeente Apeldoorn"]
    assert listed["vth"]["sign_ups"][0]["commitments"] == [1, 3]
    assert listed["ruimte"]["sign_ups"] == [] and listed["mkb"]["escalation_level"] == 0
    overview = c.run("progress").data                      # no id: every agreement with themes
    assert [o["agreement"] for o in overview] == [PID] and len(overview[0]["themes"]) == 6
    by_gov = {g["government"]: g for g in c.run("progress", PID).data["governments"]}
    assert by_gov["Provincie Gelderland"]["themes"] == [{"theme": "inkoop", "commitments": [1, 2, 5],
                                                         "on": "2025-04-01"}]
    assert by_gov["Waterschap Vallei en Veluwe"]["vth_target"] == {"due": "2028-12-31", "status": "open"}
    # VTH afspraak 3 is what has a target (issue 13): Apeldoorn chose afspraak 1 only, so it has none
    assert by_gov["Gemeente Apeldoorn"]["vth_target"] is None
    assert by_gov["Provincie Utrecht"]["vth_target"] == {"due": "2026-12-31", "status": "open"}
    assert by_gov["Gemeente Deventer"]["vth_target"] is None

    # -- monthly reports; mkb falls silent after April ------------------------------------------------------
    c.advance("2025-04-15T10:00:00+02:00")
    for theme in THEMES:
        report(c, theme)
    assert progress_row(c, "mkb")["due"] == "2025-07-14"          # 15 April + 90 days
    c.advance("2025-05-15T10:00:00+02:00")
    c.trigger(PID, "record_work_structure", ref="DO-verslag 2025-05")
    for month in ("05", "06"):
        if month != "05":
            c.advance(f"2025-{month}-15T10:00:00+02:00")
        for theme in THEMES:
            if theme != "mkb":
                report(c, theme)
    assert box.new("Voortgang stokt") == []
    c.advance("2025-07-01T09:00:00+02:00")                        # 14 days before: a reminder, no escalation
    assert box.new("Voortgangsrapportage") == [("secretariaat@example.org",
                                                "Herinnering: Voortgangsrapportage - Midden- en "
                                                "Kleinbedrijf uiterlijk 14 juli 2025 - Krachtenbundeling Rijk-Regio "
                                                "Circulaire Economie 2025-2026 (Art. 1.1)")]

    # 15 July: missed, first rung: the working group (no contacts of its own in the example: the secretariat)
    c.advance("2025-07-15T10:00:00+02:00")
    assert themes(c)["mkb"]["escalation_level"] == 1 and themes(c)["mkb"]["overdue"] is True
    assert progress_row(c, "mkb")["status"] == "missed"
    mails = box.new("Voortgang stokt")
    assert [to for to, _ in mails] == ["secretariaat@example.org"]
    assert "thema Midden- en Kleinbedrijf" in mails[0][1] and "werkgroep Midden- en Kleinbedrijf" in mails[0][1]
    for theme in THEMES:
        if theme != "mkb":
            report(c, theme)
            assert themes(c)[theme]["escalation_level"] == 0
    # 29 July: the DO (Art. 2.2); 12 August: the BO (Art. 2.1) - named and addressed from the agreement's data
    c.advance("2025-07-30T10:00:00+02:00")
    assert themes(c)["mkb"]["escalation_level"] == 2
    mails = box.new("Voortgang stokt")
    assert [to for to, _ in mails] == ["do@example.org"] and "Directeurenoverleg CE overheden (DO)" in mails[0][1]
    c.advance("2025-08-15T10:00:00+02:00")
    assert themes(c)["mkb"]["escalation_level"] == 3
    mails = box.new("Voortgang stokt")
    assert [to for to, _ in mails] == ["bo@example.org"] and "Bestuurlijk Overleg CE overheden (BO)" in mails[0][1]
    assert c.run("progress", PID).data["themes"][3]["escalation_level"] == 3
    for theme in THEMES:
        if theme != "mkb":
            report(c, theme)
    ladder = [r for r in c.history() if r["trigger"] == "escalate" and "(mkb)" in (r["reason"] or "")]
    assert [r["effective"] for r in ladder] == ["2025-07-15", "2025-07-29", "2025-08-12"]
    assert all(r["article"] == "Art. 1.1" for r in ladder)

    # 15 September: mkb reports on track: the ladder stops at once, the next report is due in 90 days
    c.advance("2025-09-15T10:00:00+02:00")
    report(c, "mkb")
    mkb = themes(c)["mkb"]
    assert mkb["escalation_level"] == 0 and mkb["status"] == "on_track" and mkb["last_report"] == "2025-09-15"
    assert mkb["next_report_due"] == "2025-12-14" and mkb["overdue"] is False
    for theme in THEMES:
        if theme != "mkb":
            report(c, theme)

    # October on track; November: ketens is reported stalled, which starts the ladder at the next run
    for month in ("10", "11"):
        c.advance(f"2025-{month}-15T10:00:00+01:00")
        for theme in THEMES:
            report(c, theme, "stalled" if (theme, month) == ("ketens", "11") else "on_track")
    assert themes(c)["ketens"]["escalation_level"] == 0            # a trigger never runs due work
    c.advance("2025-11-15T10:05:00+01:00")
    assert themes(c)["ketens"]["escalation_level"] == 1 and themes(c)["ketens"]["status"] == "stalled"
    assert [to for to, s in box.new("Voortgang stokt") if "Ketens" in s] == ["secretariaat@example.org"]
    c.advance("2025-12-01T10:00:00+01:00")                        # 14 days on: the DO
    assert themes(c)["ketens"]["escalation_level"] == 2
    assert [to for to, _ in box.new("Voortgang stokt")] == ["do@example.org"]
    report(c, "ketens")                                            # back on track before the BO rung
    assert themes(c)["ketens"]["escalation_level"] == 0
    c.advance("2025-12-15T10:00:00+01:00")
    assert box.new("Voortgang stokt") == []
    for theme in THEMES:
        report(c, theme)
    assert {t["escalation_level"] for t in themes(c).values()} == {0}

    # the rest of the year on track: nothing escalates any more
    for month in ("2026-01", "2026-02", "2026-03"):
        c.advance(f"{month}-15T10:00:00+01:00")
        for theme in THEMES:
            report(c, theme)
    assert box.new("Voortgang stokt") == [] and box.new("Voortgangsrapportage") == []
    assert {t["escalation_level"] for t in themes(c).values()} == {0}

    # -- the VTH targets: provinces by the end of 2026, each reminded at its own address -------------------
    c.advance("2026-10-02T09:00:00+02:00")                        # 90 days before 31 December 2026
    vth = box.new("Implementatie bouwstenen VTH")
    assert [to for to, _ in vth] == ["secretariaat@example.org", "vth@provincie-utrecht.example.org"]
    assert "Provincie Noord-Brabant" in vth[0][1] and "Provincie Utrecht" in vth[1][1]
    # a withdrawn sign-up cancels its target
    c.trigger(PID, "withdraw_sign_up", sets=("government=Provincie Noord-Brabant", "theme=vth"))
    assert "Provincie Noord-Brabant" not in [s["government"] for s in themes(c)["vth"]["sign_ups"]]
    targets = {d["subject"]: d for d in c.show()["deadlines"] if d["kind"] == "vth_target"}
    assert targets["Provincie Noord-Brabant"]["status"] == "cancelled"
    assert targets["Waterschap Vallei en Veluwe"]["due"] == "2028-12-31"
    assert "Gemeente Apeldoorn" not in targets        # afspraak 1 only: no target
    c.advance("2026-12-01T09:00:00+01:00")                        # 30 days before: Utrecht only
    assert [to for to, _ in box.new("Implementatie bouwstenen VTH")] == ["vth@provincie-utrecht.example.org"]
    assert c.run("audit", "verify").data["intact"] is True


def _themes_with_working_group(tmp_path: Path) -> Path:
    """The example with a working-group contact for MKB (the example itself names none)."""
    text = (EXAMPLES / "krachtenbundeling_themes.toml").read_text(encoding="utf-8")
    text = text.replace('id = "mkb"\n', 'id = "mkb"\ncontacts = [{ name = "Werkgroep MKB", '
                                        'email = "werkgroep-mkb@example.org" }]\n', 1)
    (tmp_path / "themes.toml").write_text(text, encoding="utf-8")
    data = (EXAMPLES / "krachtenbundeling.toml").read_text(encoding="utf-8")
    data = data.replace('themes_file = "krachtenbundeling_themes.toml"', 'themes_file = "themes.toml"')
    (tmp_path / "agreement.toml").write_text(data, encoding="utf-8")
    return tmp_path / "agreement.toml"


def test_stalled_goes_to_the_working_group_at_once_and_on_track_ends_it(cli_any, tmp_path):
    c = cli_any
    c.run("init", "--simulation", "--start", "2026-11-23T09:00:00+01:00")
    data_file = _themes_with_working_group(tmp_path)
    c.run("agreements", "create", "--workflow", "krachtenbundeling", "--file", str(data_file))
    c.trigger(PID, "open_signing")
    for party in ("ienw", "ipo", "uvw", "vng"):       # a running agreement entered late: its past acts
        c.trigger(PID, "sign", role="party", party=party, on="2025-03-20")
    c.trigger(PID, "publish", ref="Stcrt. 2025, 11512", on="2025-03-25")
    report(c, "inkoop", on="2025-06-01")             # reported before entry: silence still counts from entry
    box = Mailbox(c)
    c.advance("2026-11-23T09:05:00+01:00")
    assert c.show()["state"] == "extension_decision"    # activated (2025), then its extension decision opened
    # entered on 23 November 2026, activated back in 2025: silence is counted from entry
    assert {d["due"] for d in c.show()["deadlines"] if d["kind"] == "progress_report"} == {"2027-02-21"}
    box.new()
    c.advance("2026-11-24T10:00:00+01:00")
    report(c, "mkb", "stalled")
    c.advance("2026-11-24T10:01:00+01:00")
    assert themes(c)["mkb"]["escalation_level"] == 1
    assert box.new("Voortgang stokt") == [("werkgroep-mkb@example.org",
                                           "Voortgang stokt: thema Midden- en Kleinbedrijf - besproken in werkgroep "
                                           "Midden- en Kleinbedrijf - Krachtenbundeling Rijk-Regio Circulaire "
                                           "Economie 2025-2026 (Art. 1.1)")]
    report(c, "mkb", "stalled")                      # stalled again: the ladder keeps its pace, no new rung
    c.advance("2026-11-25T10:00:00+01:00")
    assert themes(c)["mkb"]["escalation_level"] == 1 and box.new("Voortgang stokt") == []
    report(c, "mkb", "on_track")
    assert themes(c)["mkb"]["escalation_level"] == 0
    c.advance("2026-12-31T10:00:00+01:00")           # past the DO and BO rungs: nothing climbs
    assert themes(c)["mkb"]["escalation_level"] == 0 and box.new("Voortgang stokt") == []
    escalations = [r for r in c.history() if r["trigger"] == "escalate" and "progress_report" in r["reason"]]
    assert len(escalations) == 1 and "(mkb)" in escalations[0]["reason"]     # one history record per rung


@pytest.mark.parametrize("layer,government,address,when", [
    ("water_board", "Waterschap Vallei en Veluwe", "vth@wvv.example.org", "2028-10-02"),
    ("municipality", "Gemeente Apeldoorn", None, "2030-10-02"),
])
def test_vth_targets_of_later_layers_remind_after_an_extension(cli, layer, government, address, when):
    c = active(cli)
    sign_up(c, government, layer, "vth", email_addr=address)
    sign_up(c, "Provincie Utrecht", "province", "vth", email_addr="vth@provincie-utrecht.example.org")
    c.advance("2026-04-02T09:00:00+02:00")           # the extension decision opens; all vote yes until 2031
    assert c.show()["state"] == "extension_decision"
    for party in ("ienw", "ipo", "uvw", "vng"):
        c.trigger(PID, "vote_extension", role="party", party=party, sets=("extend=yes", "new_end=2031-01-01"))
    assert c.show()["ends_on"] == "2031-01-01"
    box = Mailbox(c)
    c.advance(f"{when}T07:00:00+02:00")
    box.new()
    c.advance(f"{when}T09:00:00+02:00")              # 90 days before the layer's target: this layer only
    assert [to for to, _ in box.new("Implementatie bouwstenen VTH")] == [address or "secretariaat@example.org"]
