"""An amendment that sets a reminder scheme, through the command line on SQLite and PostgreSQL:
`trigger ID request_amendment --set reminders=KIND --set days=LIST`; bad input is exit 2 naming the field and
changes nothing; on adoption `show` gives the re-planned next reminder, `explain` says where the scheme comes from
(the amendment and the seq of the record that applied it), then version 2's migration keeps it; `audit verify`
and `audit replay` agree afterwards."""
from __future__ import annotations

from typing import Any

from click.testing import CliRunner

from tests.conftest import KB, Cli, Result, active


def data(res: Result) -> Any:
    assert res.data is not None, res.out + res.err
    return res.data


def human(c: Cli, *args: str) -> str:
    from convenant.app.cli import cli
    res = CliRunner().invoke(cli, ["--config", str(c.config), *args])
    assert res.exit_code == 0, res.stdout + res.stderr
    return res.stdout


def test_an_amended_reminder_scheme_on_the_command_line(cli_any: Cli) -> None:
    c = active(cli_any)
    c.advance("2025-10-01T10:00:00+02:00")
    first = human(c, "explain", KB, "extension_decision")   # the installation's scheme before any amendment
    assert "from config.toml [reminders]" in first or "from built-in default" in first
    before = c.snapshot()
    for sets, field in ((("reminders=nonsense", "days=28"), "reminders"),
                        (("reminders=extension_decision", "days=28,veertien"), "days"),
                        (("days=28",), "reminders")):
        bad = c.trigger(KB, "request_amendment", role="party", party="ipo", ref="IPO/2025/16",
                        sets=("change=herinneringen", *sets), expect=2)
        assert field in bad.out + bad.err
    assert c.snapshot() == before, "a refused request changes nothing"

    amendment = data(c.trigger(KB, "request_amendment", role="party", party="ipo", ref="IPO/2025/16",
                          sets=("change=Art. 5.4: herinneren", "reminders=extension_decision",
                                "days=60,21")))["created"]
    for party in ("ienw", "uvw", "vng"):
        c.trigger(amendment, "consent", role="party", party=party, ref=f"{party}/instemming")
    assert (c.deadline("extension_decision") or {}).get("next_reminder") == "2026-05-02T08:00:00+02:00"
    (applied,) = [r for r in c.history() if r["trigger"] == "apply_amendment"]
    doc = data(c.run("explain", KB, "extension_decision"))
    assert doc["reminders"] == {"days": [60, 21], "source": "amendment", "amendment": amendment,
                                "seq": applied["seq"], "record": f"apply_amendment on {applied['effective']}"}
    text = human(c, "explain", KB, "extension_decision")
    assert (f"reminders: 60, 21 day(s) before the due date, from amendment {amendment} (seq {applied['seq']}"
            in text)

    moved = data(c.run("migrate", KB, "--to", "2"))
    (ext,) = [d for d in moved["deadlines"] if d["after"]["kind"] == "extension_decision"]
    assert ext["reminders_due"] == ["2026-07-03T08:00:00+02:00", "2026-08-11T08:00:00+02:00"]
    text = human(c, "explain", KB, "extension_decision")
    assert f"moved by: seq {moved['seq']}: migrate on" in text
    assert "from amendment" in text
    assert "definition version 2 (Art. 5.4)" in human(c, "explain", KB, "evaluation")
    assert c.run("audit", "verify").code == 0
    replay = data(c.run("audit", "replay"))
    assert replay["equal"] is True, replay["differences"]
