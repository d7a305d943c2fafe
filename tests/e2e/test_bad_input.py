"""Bad input of every kind INTERFACE.md lists, through the `convenant` command: the exit code, a message that
names the field (the JSON `field`, or the text on stderr), and nothing changed - no state, no record, nothing
queued. Also the order of the checks: parse (2), find (4), vocabulary (2), authorise (3), values (2), state (3)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import Cli, active

KB = "krachtenbundeling"
AMENDMENT = "krachtenbundeling/amendment-1"


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """Built once: the agreement active since 25 March 2025 (clock 1 April 2025) with an amendment that IPO
    requested open. Each test works on its own copy of the database."""
    root = tmp_path_factory.mktemp("template")
    c = Cli(root, f"sqlite:///{root / 'convenant.db'}")
    active(c)
    created = c.trigger(KB, "request_amendment", role="party", party="ipo", ref="IPO-2025-031",
                        sets=("change=Art. 4: thema Ketens uitbreiden",)).data["created"]
    assert created == AMENDMENT
    return root


@pytest.fixture
def c(template, tmp_path) -> Cli:
    for name in ("convenant.db", "convenant.db-wal", "convenant.db-shm"):
        if (template / name).exists():
            shutil.copy(template / name, tmp_path / name)
    return Cli(tmp_path, f"sqlite:///{tmp_path / 'convenant.db'}")


def tables(c: Cli) -> dict[str, list]:
    """Every row the engine writes (the refusal log apart): processes, records, deadlines, outbox, clock."""
    engine = sa.create_engine(f"sqlite:///{c.root / 'convenant.db'}")
    with engine.connect() as conn:
        out = {name: [tuple(r) for r in conn.execute(sa.text(f"select * from {name} order by 1"))]
               for name in ("processes", "records", "chain_head", "deadlines", "outbox", "meta", "tokens")}
    engine.dispose()
    return out


def state_of(c: Cli) -> tuple:
    return c.snapshot(), tables(c), sorted(m.as_bytes() for m in c.messages())


def refused(c: Cli, args: list[str], code: int, field: str | None = None, words: tuple[str, ...] = ()) -> dict:
    """Run a command that must be refused, and prove it changed nothing."""
    before = state_of(c)
    res = c.run(*args, expect=code)
    doc = json.loads(res.out.splitlines()[0]) if res.out.strip().startswith("{") else {}
    if field is not None:
        assert doc.get("field") == field or f"[{field}]" in res.err, (doc, res.err)
    for word in words:
        assert word in res.err or word in doc.get("message", ""), (word, res.err)
    if doc:
        assert doc["exit_code"] == code
    assert state_of(c) == before
    return doc


def trig(trigger: str, *extra: str, pid: str = KB, role: str = "secretariat", party: str | None = None) -> list[str]:
    args = ["trigger", pid, trigger, "--actor", "Secretariaat CE", "--role", role]
    if party:
        args += ["--party", party]
    return args + list(extra)


# -- dates ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("date", ["2025-02-30", "20-03-2025", "tomorrow", "2025-13-01", "2025-W14-2", ""])
def test_unparseable_or_impossible_on_date(c, date):
    refused(c, trig("record_work_structure", "--ref", "x", "--on", date), 2, "on")


def test_on_after_today_is_bad_input(c):
    doc = refused(c, trig("record_work_structure", "--ref", "x", "--on", "2025-04-02"), 2, "on", ("2025-04-01",))
    assert "after today" in doc["message"]


def test_impossible_date_in_a_value(c):
    c.advance("2026-04-02T09:00:00+02:00")
    refused(c, trig("vote_extension", "--set", "extend=yes", "--set", "new_end=2027-02-29", party="ienw"), 2,
            "new_end")
    refused(c, ["trigger", AMENDMENT, "consent", "--actor", "x", "--role", "party", "--party", "vng", "--ref", "r",
                "--on", "2025-02-29"], 2, "on")


# -- names outside the vocabulary -----------------------------------------------------------------------------
def test_unknown_trigger(c):
    refused(c, trig("terminate_now"), 2, "trigger", ("terminate_now",))


def test_unknown_party(c):
    refused(c, trig("raise_dispute", party="gelderland"), 2, "party", ("gelderland",))


def test_unknown_role(c):
    refused(c, trig("record_work_structure", "--ref", "x", role="minister"), 2, "role", ("minister",))


def test_unknown_process(c):
    refused(c, trig("record_work_structure", "--ref", "x", pid="krachtenbundeling-2"), 4, None,
            ("krachtenbundeling-2",))
    refused(c, ["show", "krachtenbundeling/amendment-9"], 4)
    refused(c, ["history", "nope"], 4)


def test_unknown_option_value(c):
    c.advance("2026-04-02T09:00:00+02:00")          # the extension decision is open now
    refused(c, trig("vote_extension", "--set", "extend=maybe", party="ipo"), 2, "extend", ("maybe",))
    refused(c, trig("vote_extension", "--set", "extend=yes", "--set", "until=2027-01-01", party="ipo"), 2, "until")
    refused(c, trig("vote_extension", "--set", "extend", party="ipo"), 2, "set")


def test_unknown_theme(c):
    refused(c, trig("report_progress", "--set", "theme=ruimtevaart", "--set", "status=on_track"), 2, "theme",
            ("ruimtevaart",))
    refused(c, trig("report_progress", "--set", "theme=ruimte", "--set", "status=great"), 2, "status")
    refused(c, trig("sign_up", "--set", "government=Gemeente Zwolle", "--set", "layer=county",
                    "--set", "theme=ruimte"), 2, "layer")


def test_unknown_command_line_option(c):
    res = c.run("trigger", KB, "record_work_structure", "--actor", "x", "--role", "secretariat", "--colour", "red",
                expect=2)
    assert "--colour" in res.err


def test_missing_required_values(c):
    refused(c, trig("record_work_structure"), 2, "ref")
    refused(c, trig("report_progress", "--set", "theme=ruimte"), 2, "status")
    refused(c, trig("raise_dispute"), 2, "party")
    refused(c, ["trigger", KB, "raise_dispute", "--actor", " ", "--role", "party", "--party", "ipo"], 2, "actor")
    refused(c, trig("raise_dispute", role="party"), 2, "party")


# -- who may act ----------------------------------------------------------------------------------------------
def test_represented_party_acting_directly_names_its_representative(c):
    doc = refused(c, trig("raise_dispute", role="party", party="ez"), 3, None, ("ienw",))
    assert doc["error"] == "not_allowed"
    refused(c, ["trigger", AMENDMENT, "consent", "--actor", "x", "--role", "party", "--party", "vro", "--ref", "r"],
            3, None, ("ienw",))


def test_party_acting_for_another(c):
    # only the requesting party (IPO) may withdraw its amendment request, and only IenW records a publication
    refused(c, trig("publish", "--ref", "Stcrt. 2025, 1", role="party", party="vng"), 3, None, ("ienw",))
    refused(c, ["trigger", AMENDMENT, "withdraw", "--actor", "VNG", "--role", "party", "--party", "vng"], 3,
            None, ("ipo",))
    # VNG cannot consent twice, nor for IPO, whose request counts as its consent
    refused(c, ["trigger", AMENDMENT, "consent", "--actor", "IPO", "--role", "party", "--party", "ipo",
                "--ref", "r"], 3, None, ("answered already",))


def test_a_party_may_not_do_what_only_another_may(c):
    doc = refused(c, trig("record_work_structure", "--ref", "x", role="party", party="vng"), 3, None,
                  ("secretariat",))
    assert doc["article"] == "Art. 2.6"


@pytest.mark.parametrize("args", [
    trig("record_work_structure", "--ref", "x", role="auditor"),
    trig("raise_dispute", role="auditor", party="ipo"),
    trig("end", role="auditor"),
    ["trigger", AMENDMENT, "consent", "--actor", "Accountant", "--role", "auditor", "--ref", "r"],
])
def test_auditor_fires_nothing(c, args):
    doc = refused(c, args, 3, None, ("auditor",))
    assert doc["error"] == "not_allowed"


@pytest.mark.parametrize("trigger", ["activate", "end"])
def test_automatic_triggers_cannot_be_fired_by_hand(c, trigger):
    doc = refused(c, trig(trigger), 3, None, ("automatically",))
    assert doc["article"] == "Art. 5.3"


def test_wrong_state(c):
    doc = refused(c, trig("open_signing"), 3, None, ("active",))
    assert doc["state"] == "active" and doc["article"] == "Art. 5.3"
    refused(c, trig("publish", "--ref", "Stcrt. 2025, 1"), 3, None, ("active",))
    refused(c, trig("sign", party="ipo"), 3)
    refused(c, trig("vote_extension", "--set", "extend=yes", "--set", "new_end=2027-06-01", party="ipo"), 3)


def test_on_before_the_act_it_depends_on(c):
    refused(c, trig("record_work_structure", "--ref", "x", "--on", "2025-03-19"), 3, None, ("last signature",))
    refused(c, ["trigger", AMENDMENT, "consent", "--actor", "x", "--role", "party", "--party", "vng", "--ref", "r",
                "--on", "2025-03-31"], 3, None, ("requested on",))


# -- the order of the checks ----------------------------------------------------------------------------------
@pytest.mark.parametrize("args, code, field", [
    (trig("nope", "--on", "2025-02-30", pid="ghost"), 2, "on"),              # parsing before finding
    (trig("nope", role="minister", pid="ghost"), 2, "role"),
    (trig("nope", pid="ghost"), 4, None),                                    # finding before the vocabulary
    (trig("nope", role="auditor"), 2, "trigger"),                            # vocabulary before authorising
    (trig("raise_dispute", role="auditor", party="gelderland"), 2, "party"),
    (trig("report_progress", "--set", "theme=x", "--set", "status=on_track", role="auditor"), 2, "theme"),
    (trig("raise_dispute", "--on", "2030-01-01", role="party", party="ez"), 3, None),   # authorising before values
    (trig("raise_dispute", "--on", "2030-01-01", role="auditor", party="ipo"), 3, None),
    (trig("open_signing", "--on", "2030-01-01"), 2, "on"),                   # values before state
    (trig("activate", "--on", "2030-01-01"), 2, "on"),
    (trig("publish", "--on", "2030-01-01"), 2, "on"),
    (trig("publish"), 2, "ref"),                                             # a missing value before the state
])
def test_order_of_checks(c, args, code, field):
    refused(c, args, code, field)


# -- configuration, data files, workflows ---------------------------------------------------------------------
@pytest.mark.parametrize("extra, field, words", [
    ('[escalation]\nafter_days = "x"\n', "escalation.after_days", ("escalation.after_days",)),
    ("[escalation]\nafter_days = [14, 0]\n", "escalation.after_days", ("ascending",)),
    ('[clock]\ntimezone = "Europe/Amstelveen"\n', "clock.timezone", ("Europe/Amstelveen",)),
    ('[scheduler]\nreminder_time = "8 uur"\n', "scheduler.reminder_time", ("8 uur",)),
    ('[reminders]\npublication = [-1]\n', "reminders.publication", ()),
    ('[web]\nport = 70000\n', "web.port", ()),
    ('[decisions]\namendment_response_dayz = 40\n', "decisions.amendment_response_dayz", ()),
    ("[escalation\nafter_days = [0]\n", None, ("not valid TOML", "config.toml")),
])
def test_invalid_config(c, extra, field, words):
    good = c.config.read_text()
    before = state_of(c)
    c.config.write_text(good + extra)
    for args in (["show", KB], trig("record_work_structure", "--ref", "x"), ["clock", "advance", "--to",
                                                                             "2025-06-01T00:00:00+02:00"]):
        res = c.run(*args, expect=2)
        doc = json.loads(res.out.splitlines()[0])
        if field:
            assert doc["field"] == field, doc
            assert field in res.err
        for word in words:
            assert word in res.err
    c.config.write_text(good)
    assert state_of(c) == before


def test_invalid_smtp_settings(c):
    good = c.config.read_text()
    before = state_of(c)
    c.config.write_text(good.replace('transport = "maildir"', 'transport = "smtp"\nhost = "localhost"\ntls = "maybe"'))
    res = c.run("show", KB, expect=2)
    assert json.loads(res.out)["field"] == "mail.tls" and "mail.tls" in res.err
    c.config.write_text(good)
    assert state_of(c) == before


def test_missing_config_file(c, tmp_path):
    res = c.runner.invoke(__import__("convenant.app.cli", fromlist=["cli"]).cli,
                          ["--config", str(tmp_path / "nope.toml"), "--json", "show", KB])
    assert res.exit_code == 2 and "nope.toml" in res.stderr


@pytest.mark.parametrize("text, field", [
    ('id = "x"\n[[parties]]\nid = "a"\n', "parties.0.name"),
    ('id = "x"\nparties = []\n', "parties"),
    ('id = "x"\ncolour = "red"\n[[parties]]\nid = "a"\nname = "A"\n', "colour"),
    ('id = "x"\n[[parties]]\nid = "a"\nname = "A"\ncontacts = [{ name = "A", email = "not an address" }]\n',
     "parties.0.contacts.0.email"),
    ('id = "x"\n[[parties]]\nid = "a"\nname = "A"\ncontacts = [{ name = "A", email = "A <a@example.org>" }]\n',
     "parties.0.contacts.0.email"),
    ('id = "x"\n[[parties]]\nid = "a"\nname = "A"\n[governance.do]\nname = "DO"\nemail = "do@example"\n',
     "governance.do.email"),
    ('id = "x"\n[[parties]]\nid = "a"\nname = "A"\nrepresented_by = "b"\n', "parties"),
    ('id = "x/y"\n[[parties]]\nid = "a"\nname = "A"\n', "id"),
    ('id = "x"\n[[parties\n', "--file"),
])
def test_invalid_agreement_data_file(c, tmp_path, text, field):
    data = tmp_path / "agreement.toml"
    data.write_text(text)
    refused(c, ["agreements", "create", "--workflow", KB, "--file", str(data)], 2, field)


def test_data_file_of_another_workflow_or_none(c, tmp_path):
    refused(c, ["agreements", "create", "--workflow", KB, "--file", str(tmp_path / "missing.toml")], 2, "--file")
    data = tmp_path / "sd.toml"
    data.write_text('id = "x"\nworkflow = "stedendriehoek"\n[[parties]]\nid = "a"\nname = "A"\n')
    refused(c, ["agreements", "create", "--workflow", KB, "--file", str(data)], 2, "workflow")


def test_unknown_workflow(c, tmp_path):
    data = tmp_path / "a.toml"
    data.write_text('id = "x"\n[[parties]]\nid = "a"\nname = "A"\n')
    refused(c, ["agreements", "create", "--workflow", "krachtbundeling", "--file", str(data)], 2, "workflow",
            ("krachtbundeling",))
    refused(c, ["agreements", "create", "--example", "krachtbundeling"], 2, "workflow")
    refused(c, ["workflows", "show", "krachtbundeling"], 2, "NAME")
    refused(c, ["workflows", "show", "krachtbundeling", "--diagram", "mermaid"], 2, "NAME")


def test_existing_agreement_id_is_refused(c):
    refused(c, ["agreements", "create", "--example", KB], 3, None, (KB,))


def test_refusals_are_logged_apart_from_the_chain(c):
    refused(c, trig("open_signing"), 3)
    engine = sa.create_engine(f"sqlite:///{c.root / 'convenant.db'}")
    with engine.connect() as conn:
        rows = conn.execute(sa.text("select trigger, code, article from refusals")).all()
    engine.dispose()
    assert ("open_signing", 3, "Art. 5.3") in [tuple(r) for r in rows]
    assert c.run("audit", "verify").data["intact"] is True


def test_refused_attempts_are_logged_apart_from_the_chain(cli):
    """Issue 2: a refusal is kept (who tried what, why) without touching the history chain."""
    from tests.conftest import signed
    c = signed(cli)
    before = c.history()
    c.trigger("krachtenbundeling", "publish", role="party", party="vng", actor="iemand van VNG",
              ref="Stcrt. 2025, 11512", expect=3)
    assert c.history() == before
    rows = c.run("audit", "refusals").data
    assert rows[0]["trigger"] == "publish" and rows[0]["party"] == "vng" and rows[0]["code"] == 3
    assert rows[0]["actor"] == "iemand van VNG" and "ienw" in rows[0]["message"]
    assert c.run("audit", "verify").data["intact"] is True
