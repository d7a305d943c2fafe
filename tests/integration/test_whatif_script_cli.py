"""`convenant whatif --script FILE` and `convenant deadlines --explain` through the command line (issue 16): a
script of acts rehearsed on SQLite and PostgreSQL with the database byte for byte (SQLite) and row for row as it
was and no mail sent; a bad line refused with exit 2 naming the file and its line, before anything runs; the
script's file and a file it names checked by engine/text.py's path policy; each deadline of both shipped
definitions with its explanation, the same as `explain --json`, and a few compared with explanations by hand."""
from __future__ import annotations

from pathlib import Path

from tests.conftest import Cli, active
from tests.integration.test_whatif_cli import fingerprint

UNTIL = "2026-04-01T00:00:00+02:00"
SCRIPT = """# VNG gives notice; IPO and IenW answer the continuation decision
give_notice --party vng --on 2026-01-31 --ref VNG/2026/1

vote_continuation --party ipo --on 2026-03-05 --set continue=yes
   # an indented comment
"""


def state_of(c: Cli, db_url: str, tmp_path: Path) -> tuple:
    db_file = tmp_path / "convenant.db"
    mail = sorted(p.name for p in (c.mail / "new").iterdir()) if (c.mail / "new").exists() else []
    return (db_file.read_bytes() if db_url.startswith("sqlite") else None, fingerprint(db_url), mail)


def test_a_script_is_rehearsed_and_writes_nothing(tmp_path, db_url):
    c = Cli(tmp_path, db_url)
    active(c)
    c.advance("2026-01-15T10:00:00+01:00")
    script = tmp_path / "acts.txt"
    script.write_text(SCRIPT, encoding="utf-8")
    before = state_of(c, db_url, tmp_path)

    out = c.run("whatif", "krachtenbundeling", "--script", str(script), "--until", UNTIL).data
    assert [(a["trigger"], a["party"], a["on"]) for a in out["acts"]] == [
        ("give_notice", "vng", "2026-01-31"), ("vote_continuation", "ipo", "2026-03-05")]
    states = {(s["process"], s["state"], s["at"]) for s in out["states"]}
    assert ("krachtenbundeling/termination-1", "notice_given", "2026-01-31") in states
    assert ("krachtenbundeling/termination-1", "continuation_decision", "2026-03-01") in states
    kinds = {(d["kind"], d["change"]) for d in out["deadlines"]}
    assert ("notice_period", "created") in kinds and ("continuation_decision", "created") in kinds
    assert all({"process", "kind", "due", "status"} <= set(d) for d in out["deadlines"])
    assert out["mails"] and all({"date", "to", "subject"} <= set(m) for m in out["mails"])
    # the difference with the same fork run on without acts: the termination and its mail are the acts' doing
    diff = out["difference"]
    assert ("krachtenbundeling/termination-1", "continuation_decision", "2026-03-01") in {
        (s["process"], s["state"], s["at"]) for s in diff["states"]["added"]}
    assert diff["states"]["removed"] == []
    assert {d["kind"] for d in diff["deadlines"] if d["without"] is None} >= {"notice_period",
                                                                               "continuation_decision"}
    assert len(diff["mails"]["added"]) > 0
    # the same script and the same --act give the same rehearsal; a script and --act together: script first
    same = c.run("whatif", "krachtenbundeling", "--act", "give_notice --party vng --on 2026-01-31 --ref VNG/2026/1",
                 "--act", "vote_continuation --party ipo --on 2026-03-05 --set continue=yes", "--until", UNTIL).data
    assert same["states"] == out["states"] and same["deadlines"] == out["deadlines"]
    assert [m["subject"] for m in same["mails"]] == [m["subject"] for m in out["mails"]]
    both = c.run("whatif", "krachtenbundeling", "--script", str(script), "--act",
                 "vote_continuation --party ienw --on 2026-03-06 --set continue=yes", "--until", UNTIL).data
    assert [a["party"] for a in both["acts"]] == ["vng", "ipo", "ienw"]
    table = c.runner.invoke(__import__("convenant.app.cli", fromlist=["cli"]).cli,
                            ["--config", str(c.config), "whatif", "krachtenbundeling", "--script", str(script),
                             "--until", UNTIL])
    assert table.exit_code == 0 and "against no acts - states:" in table.output
    assert "+     krachtenbundeling/termination-1  continuation_decision" in table.output

    assert state_of(c, db_url, tmp_path) == before
    assert c.show()["state"] == "active" and c.show()["children"] == []


def test_a_bad_script_is_refused_naming_its_line_and_changes_nothing(tmp_path):
    url = f"sqlite:///{tmp_path / 'convenant.db'}"
    c = Cli(tmp_path, url)
    active(c)
    c.advance("2026-01-15T10:00:00+01:00")
    before = state_of(c, url, tmp_path)
    cases = {
        "date.txt": ("give_notice --party vng --on 2026-01-31\n\nvote_continuation --party ipo --on 2026-02-30\n",
                     "date.txt line 3"),
        "option.txt": ("# one\ngive_notice --party vng --when 2026-01-31\n", "option.txt line 2"),
        "trigger.txt": ("give_notice --party vng --on 2026-01-31\nwave_goodbye --party vng --on 2026-02-01\n",
                        "trigger.txt line 2: unknown trigger 'wave_goodbye'"),
        "party.txt": ("give_notice --party nobody --on 2026-01-31\n", "party.txt line 1: unknown party 'nobody'"),
        "set.txt": ("vote_continuation --party ipo --on 2026-03-05 --set continue\n", "set.txt line 1: --set"),
        "quote.txt": ('give_notice --party vng --ref "VNG/1\n', "quote.txt line 1"),
        "empty.txt": ("# nothing but a comment\n\n", "no act in the script"),
        "late.txt": ("give_notice --party vng --on 2026-05-01\n", "late.txt line 1 --on 2026-05-01 is after --until"),
        "control.txt": ("give_notice --party vng\x07 --on 2026-01-31\n", "line 1 contains the control character"),
    }
    for name, (text, said) in cases.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        res = c.run("whatif", "krachtenbundeling", "--script", str(tmp_path / name), "--until", UNTIL, expect=2)
        assert res.data["field"] == "--script", name
        assert said in res.data["message"], (name, res.data["message"])
    (tmp_path / "latin1.txt").write_bytes(b"give_notice --party vng --ref caf\xe9\n")
    res = c.run("whatif", "krachtenbundeling", "--script", str(tmp_path / "latin1.txt"), "--until", UNTIL, expect=2)
    assert "not UTF-8" in res.data["message"] and res.data["field"] == "--script"
    # the file itself: missing, a folder, not a regular file - each bad input naming --script
    for path, said in ((tmp_path / "missing.txt", "does not exist"), (tmp_path, "")):
        res = c.run("whatif", "krachtenbundeling", "--script", str(path), "--until", UNTIL, expect=2)
        assert said in (res.data or {}).get("message", res.err)
    res = c.run("whatif", "krachtenbundeling", "--script", "/dev/null", "--until", UNTIL, expect=2)
    assert "not a regular file" in res.data["message"]
    # a refused act (a valid line the engine refuses in the fork) names its line too: exit 3
    (tmp_path / "refused.txt").write_text("vote_continuation --party ipo --on 2026-01-20 --set continue=yes\n",
                                          encoding="utf-8")
    res = c.run("whatif", "krachtenbundeling", "--script", str(tmp_path / "refused.txt"), "--until", UNTIL,
                expect=(2, 3))
    assert res.data["message"].startswith("refused.txt line 1: ")
    # an unknown process is not found (4) before the script's vocabulary is judged
    (tmp_path / "ok.txt").write_text("give_notice --party vng --on 2026-01-31\n", encoding="utf-8")
    assert c.run("whatif", "nothing", "--script", str(tmp_path / "ok.txt"), "--until", UNTIL, expect=4).code == 4
    assert state_of(c, url, tmp_path) == before


def test_a_document_a_script_names_lies_beside_it(tmp_path):
    """A `--set document=FILE` in a script is a name relative to the script's folder, inside it (the one path
    policy for files that files name); the document is described (name, SHA-256, size), never copied."""
    c = Cli(tmp_path, f"sqlite:///{tmp_path / 'convenant.db'}")
    active(c)
    c.advance("2025-06-02T10:00:00+02:00")
    folder = tmp_path / "scripts"
    folder.mkdir()
    (folder / "voorstel.txt").write_text("Art. 4.2 komt te luiden: ...", encoding="utf-8")
    (tmp_path / "secret.txt").write_text("outside", encoding="utf-8")
    ok = folder / "ok.txt"
    ok.write_text("request_amendment --party ipo --on 2025-06-02 --ref IPO/1 --set document=voorstel.txt\n",
                  encoding="utf-8")
    out = c.run("whatif", "krachtenbundeling", "--script", str(ok), "--until", "2025-06-10T00:00:00+02:00").data
    assert ("krachtenbundeling/amendment-1", "open") in {(s["process"], s["state"]) for s in out["states"]}
    for name, said in (("../secret.txt", "lies outside the folder"), ("/etc/hostname", "must be a name relative"),
                       ("nothing.txt", "does not exist")):
        bad = folder / "bad.txt"
        bad.write_text(f"request_amendment --party ipo --on 2025-06-02 --ref IPO/1 --set document={name}\n",
                       encoding="utf-8")
        res = c.run("whatif", "krachtenbundeling", "--script", str(bad), "--until", "2025-06-10T00:00:00+02:00",
                    expect=2)
        assert "bad.txt line 1: --set document" in res.data["message"] and said in res.data["message"], name


EXPLANATION = {"process", "kind", "subject", "due", "status", "article", "rule", "calendar", "lang", "inputs",
               "steps", "schedule"}


def test_deadlines_explain_for_the_krachtenbundeling(tmp_path):
    c = Cli(tmp_path, f"sqlite:///{tmp_path / 'convenant.db'}")
    active(c)
    rows = c.run("deadlines", "--all", "--explain", "--lang", "en").data
    plain = c.run("deadlines", "--all").data
    assert [{k: v for k, v in r.items() if k != "explanation"} for r in rows] == plain
    assert {r["kind"] for r in rows} >= {"publication", "work_structure", "extension_decision", "end",
                                         "progress_report"}
    for r in rows:
        why = r["explanation"]
        assert EXPLANATION <= set(why) and (why["kind"], why["due"], why["process"]) == (r["kind"], r["due"],
                                                                                         r["process"])
        assert all("seq" in i for i in why["inputs"]) and why["steps"]
        for step in why["schedule"]:
            assert {"at", "kind", "why", "done"} <= set(step)
        if not r["subject"]:      # the same as `explain --json` of that kind
            assert c.run("explain", r["process"], r["kind"], "--lang", "en").data == why
    by_kind = {r["kind"]: r["explanation"] for r in rows if not r["subject"]}
    sign = max(rec["seq"] for rec in c.history() if rec["trigger"] == "sign")
    # by hand: what a secretary would write down
    assert by_kind["publication"]["steps"] == [
        "Rule of the definition (Art. 5.5): last_signature + 14 days.",
        f"last signature is 20 March 2025 (seq {sign}: sign by vng on 2025-03-20).",
        "20 March 2025 + 14 days = 3 April 2025.",
        "3 April 2025 is a Thursday; the deadline counts calendar days, so no rest day moves it: due 3 April 2025."]
    assert by_kind["publication"]["inputs"][1] == {"what": "fact", "name": "last_signature", "value": "2025-03-20",
                                                   "seq": sign, "record": "sign by vng on 2025-03-20"}
    assert by_kind["end"]["steps"][1:] == [
        f"ends on is 1 January 2027 (seq {sign}: sign by vng on 2025-03-20).",
        "1 January 2027 is a Friday; the deadline counts calendar days, so no rest day moves it: due 1 January 2027."]
    assert by_kind["extension_decision"]["steps"] == [
        "Rule of the definition (Art. 5.4): fixed 2026-07-01.",
        "The definition fixes the date: 1 July 2026.",
        "1 July 2026 is a Wednesday; the deadline counts calendar days, so no rest day moves it: due 1 July 2026."]
    # reminders and escalation: when and why each step fires (the shipped [reminders] and [escalation])
    schedule = by_kind["extension_decision"]["schedule"]
    assert [(s["kind"], s["at"], s["why"]) for s in schedule] == [
        ("reminder", "2026-06-01T08:00:00+02:00", "30 day(s) before the due date"),
        ("reminder", "2026-06-17T08:00:00+02:00", "14 day(s) before the due date"),
        ("reminder", "2026-06-24T08:00:00+02:00", "7 day(s) before the due date"),
        ("reminder", "2026-06-30T08:00:00+02:00", "1 day(s) before the due date"),
        ("missed", "2026-07-02T00:00:00+02:00", "00:00 the day after the due date, if the act is not recorded"),
        ("escalation", "2026-07-02T00:00:00+02:00", "escalation level 1, 0 day(s) after the deadline was missed"),
        ("escalation", "2026-07-16T00:00:00+02:00", "escalation level 2, 14 day(s) after the deadline was missed"),
        ("escalation", "2026-07-30T00:00:00+02:00", "escalation level 3, 28 day(s) after the deadline was missed")]
    assert [s.get("to") for s in schedule if s["kind"] == "escalation"] == ["responsible", "do", "bo"]
    # Dutch by default, the same reasoning
    dutch = {r["kind"]: r["explanation"] for r in c.run("deadlines", "--all", "--explain").data if not r["subject"]}
    assert dutch["publication"]["lang"] == "nl"
    assert dutch["publication"]["steps"][2] == "20 maart 2025 + 14 dagen = 3 april 2025."
    assert dutch["extension_decision"]["schedule"][0]["why"] == "30 dag(en) vóór de vervaldatum"
    # the table: each row with its explanation indented under it
    from convenant.app.cli import cli
    table = c.runner.invoke(cli, ["--config", str(c.config), "deadlines", "--explain", "--lang", "en"])
    assert table.exit_code == 0
    lines = table.output.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("krachtenbundeling  extension_decision"))
    assert lines[at + 1] == "    Art. 5.4, rule fixed 2026-07-01"
    assert lines[at + 3] == "    1. Rule of the definition (Art. 5.4): fixed 2026-07-01."


def test_deadlines_explain_for_the_stedendriehoek(tmp_path):
    c = Cli(tmp_path, f"sqlite:///{tmp_path / 'convenant.db'}")
    c.run("init", "--simulation", "--start", "2026-01-09T09:00:00+01:00")
    c.run("agreements", "create", "--example", "stedendriehoek")
    c.advance("2026-01-20T10:00:00+01:00")
    c.trigger("stedendriehoek", "appoint_quartermaster", ref="AB-2026-01", sets=("name=J. de Kwartiermaker",),
              on="2026-01-15")
    rows = c.run("deadlines", "--all", "--explain", "--lang", "en").data
    by_kind = {r["kind"]: r["explanation"] for r in rows}
    assert set(by_kind) == {"proposal", "go_no_go"}
    assert by_kind["proposal"]["steps"] == [
        "Rule of the definition (Advies, kwartiermaker punt 3): fixed 2026-03-31.",
        "The definition fixes the date: 31 March 2026.",
        "31 March 2026 is a Tuesday; the deadline counts calendar days, so no rest day moves it: due 31 March 2026."]
    assert by_kind["go_no_go"]["steps"][1:] == [
        "The definition fixes the date: 31 December 2026.",
        "31 December 2026 is a Thursday; the deadline counts calendar days, so no rest day moves it: due 31 "
        "December 2026."]
    for kind, why in by_kind.items():
        assert EXPLANATION <= set(why)
        assert c.run("explain", "stedendriehoek", kind, "--lang", "en").data == why
        assert why["inputs"] and all("seq" in i for i in why["inputs"])
