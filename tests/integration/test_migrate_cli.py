"""`convenant migrate` through the command line on SQLite and PostgreSQL: the dry run writes nothing and shows the
diff, the real one is one chained record and the rows name the new definition version (migration 0004's column),
a refused mapping is exit 3 naming what has no place, a bad VERSION exit 2 naming `to`; `audit verify` and `audit
replay` agree afterwards. `workflows show` lists the versions."""
from __future__ import annotations

import sqlalchemy as sa

from tests.conftest import KB, active


def versions_in_rows(url: str) -> dict[str, int]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT id, definition_version FROM processes ORDER BY id")).all()
    finally:
        engine.dispose()
    return {r[0]: r[1] for r in rows}


def test_migrate_dry_run_then_real_and_back(cli_any, db_url):
    c = active(cli_any)
    shown = c.run("workflows", "show", KB).data["versions"]
    assert [(v["version"], v["current"], v["migrates_from"]) for v in shown] == [(1, True, [2]), (2, False, [1])]
    second = c.run("workflows", "show", KB, "--version", "2").data
    assert second["version"] == 2 and "winding_down" in second["processes"]["agreement"]["states"]
    assert [v["current"] for v in second["versions"]] == [True, False]
    assert c.run("workflows", "show", KB, "--version", "3", expect=2).code == 2
    c.advance("2025-10-01T10:00:00+02:00")
    amendment = c.trigger(KB, "request_amendment", role="party", party="ipo", ref="IPO/2025/9").data["created"]
    assert versions_in_rows(db_url) == {KB: 1, amendment: 1}
    before = (c.history(), c.show(), c.show(amendment))

    dry = c.run("migrate", KB, "--to", "2", "--dry-run").data
    assert (dry["from"], dry["to"], dry["seq"], dry["dry_run"]) == (1, 2, None, True)
    assert (c.history(), c.show(), c.show(amendment)) == before, "a dry run writes nothing"
    moved = {d["after"]["kind"]: (d["change"], d["before"] and d["before"]["due"], d["after"]["due"])
             for d in dry["deadlines"]}
    assert moved == {"extension_decision": ("moved", "2026-07-01", "2026-09-01"),
                     "evaluation": ("added", None, "2026-07-01")}
    human = c.runner.invoke(__import__("convenant.app.cli", fromlist=["cli"]).cli,
                            ["--config", str(c.config), "migrate", KB, "--to", "2", "--dry-run"])
    assert human.exit_code == 0 and "extension_decision  moved" in human.stdout and "dry run" in human.stdout

    bad = c.run("migrate", KB, "--to", "two", expect=2)
    assert "[to]" in bad.err or "'to'" in bad.out + bad.err
    assert c.run("migrate", KB, "--to", "5", expect=2).code == 2
    assert c.run("migrate", "nobody", "--to", "2", expect=4).code == 4

    done = c.run("migrate", KB, "--to", "2", "--reason", "versie 2").data
    assert done["seq"] is not None and done["deadlines"] == dry["deadlines"]
    assert versions_in_rows(db_url) == {KB: 2, amendment: 2}
    records = [r for r in c.history() if r["trigger"] == "migrate"]
    assert [(r["seq"], r["article"], r["reason"]) for r in records] == [(done["seq"], "Art. 5.8", "versie 2")]
    deadlines = {d["kind"]: (d["due"], d["status"]) for d in c.show()["deadlines"]}
    assert deadlines["extension_decision"] == ("2026-09-01", "open") and deadlines["evaluation"] == (
        "2026-07-01", "open")

    refused = c.run("migrate", KB, "--to", "1", expect=3)
    assert "evaluation" in refused.out + refused.err
    assert versions_in_rows(db_url) == {KB: 2, amendment: 2}
    c.trigger(KB, "record_evaluation", ref="Evaluatie 2025")
    back = c.run("migrate", KB, "--to", "1").data
    assert back["deadlines"][0]["after"] == {"kind": "extension_decision", "due": "2026-07-01", "status": "open"}
    assert versions_in_rows(db_url) == {KB: 1, amendment: 1}
    assert c.run("audit", "verify").code == 0
    replay = c.run("audit", "replay").data
    assert replay["equal"] is True, replay["differences"]
