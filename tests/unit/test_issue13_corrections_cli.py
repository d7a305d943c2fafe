"""`convenant correct` and `show --as-recorded-on` on SQLite and PostgreSQL: the dry run writes nothing, the
correction is a record of its own beside the one it corrects, exit 3 where a later act would become impossible,
exit 2 naming the field."""
from __future__ import annotations

from tests.conftest import KB, MAIN_SIGNERS, STCRT


def test_correct_a_signature_date_through_the_command_line(cli_any):
    c = cli_any
    c.run("init", "--simulation", "--start", "2025-03-01T09:00:00+01:00")
    c.run("agreements", "create", "--example", KB)
    c.trigger(KB, "open_signing")
    c.advance("2025-03-02T12:00:00+01:00")
    for party in ("ienw", "ipo", "uvw"):
        c.trigger(KB, "sign", role="party", party=party, actor=MAIN_SIGNERS[party], on="2025-03-02")
    c.advance("2025-03-20T12:00:00+01:00")
    c.trigger(KB, "sign", role="party", party="vng", actor=MAIN_SIGNERS["vng"], on="2025-03-02")
    c.advance("2025-03-22T10:00:00+01:00")
    seq = [r["seq"] for r in c.history() if r["trigger"] == "sign" and r["party"] == "vng"][-1]
    base = ["correct", KB, "--seq", str(seq), "--reason", "getekend op 20 maart", "--actor", "Secretariaat CE",
            "--role", "secretariat"]
    before = c.history()
    dry = c.run(*base, "--set", "on=2025-03-20", "--dry-run").data
    assert dry["seq"] is None and dry["corrects"] == seq and c.history() == before
    assert {"what": f"seq {seq}: on", "before": "2025-03-02", "after": "2025-03-20"} in dry["changes"]
    assert c.run(*base, "--set", "on=2025-03-32", expect=2).code == 2
    assert c.run(*base[:-1], "party", "--set", "on=2025-03-20", expect=3).code == 3
    done = c.run(*base, "--set", "on=2025-03-20").data
    assert done["corrects"] == seq and done["changes"] == dry["changes"]
    doc = c.show()
    assert doc["effective_from"] == "2025-03-21"
    assert {d["kind"]: d["due"] for d in doc["deadlines"]}["publication"] == "2025-04-03"
    rows = {r["seq"]: r for r in c.history()}
    assert rows[seq]["corrected_by"] == done["seq"] and rows[done["seq"]]["corrects"] == seq
    then = c.run("show", KB, "--as-recorded-on", "2025-03-19").data
    assert then["state"] == "signing" and then["as_recorded_on"] == "2025-03-19"
    assert c.run("show", KB, "--as-recorded-on", "2025-03-20").data["effective_from"] == "2025-03-03"
    assert c.run("show", KB, "--as-recorded-on", "yesterday", expect=2).code == 2
    c.advance("2025-03-25T10:00:00+01:00")
    c.trigger(KB, "publish", ref=STCRT, on="2025-03-25")
    refused = c.run(*base, "--set", "on=2025-03-26", expect=3)
    assert "publish" in refused.err
    assert c.run("audit", "verify", expect=None).code == 0
