"""The real timeline of DOMAIN.md through the `convenant` command: signatures on 20 March 2025, in force on
21 March, published as Stcrt. 2025, 11512, active, the extension decision and the end on 1 January 2027; the
same agreement entered late (today, 2026-11-23); the history's export formats and the tamper-evident chain.

Every CLI call builds the application afresh, so each step also reloads the process from the database."""
from __future__ import annotations

import csv
import email
import io
import json

import pytest
import sqlalchemy as sa

from tests.conftest import Cli

KB = "krachtenbundeling"
FIELDS = ["seq", "process", "trigger", "source", "dest", "actor", "role", "party", "effective", "recorded_at",
          "article", "ref", "reason", "hash"]
LIFECYCLE_KINDS = ("publication", "work_structure", "extension_decision", "end")
SIGNERS = {"ienw": "C.A. Jansen", "ipo": "R.F. Douwstra", "uvw": "S.E. Mager", "vng": "M. Veeningen"}
STCRT = "Stcrt. 2025, 11512"


def deadlines(c: Cli, pid: str = KB) -> dict[str, dict]:
    return {d["kind"]: d for d in c.show(pid)["deadlines"] if d["kind"] in LIFECYCLE_KINDS}


def records(c: Cli, trigger: str, pid: str = KB) -> list[dict]:
    return [r for r in c.history(pid) if r["trigger"] == trigger]


def db(c: Cli) -> sa.Engine:
    return sa.create_engine(f"sqlite:///{c.root / 'convenant.db'}")


def sign_all(c: Cli, on: str = "2025-03-20") -> None:
    for party, name in SIGNERS.items():
        c.trigger(KB, "sign", role="party", party=party, actor=name, on=on)


def to_active(c: Cli) -> None:
    """The main line of 2025 on a simulation database, checking each legal date on the way."""
    c.run("init", "--simulation", "--start", "2025-03-01T09:00:00+01:00")
    assert c.run("agreements", "create", "--example", KB).data["id"] == KB
    assert c.show()["state"] == "draft"
    c.trigger(KB, "open_signing")
    c.advance("2025-03-20T12:00:00+01:00")

    c.trigger(KB, "sign", role="party", party="ienw", actor="C.A. Jansen", on="2025-03-20")
    parties = {p["id"]: p for p in c.show()["parties"]}
    # IenW's signature counts for EZ and VRO, which it represents
    assert parties["ez"]["signed_on"] == parties["vro"]["signed_on"] == "2025-03-20"
    assert parties["ez"]["represented_by"] == parties["vro"]["represented_by"] == "ienw"
    assert parties["ipo"]["signed_on"] is None
    for party in ("ipo", "uvw"):
        c.trigger(KB, "sign", role="party", party=party, actor=SIGNERS[party], on="2025-03-20")
    assert c.show()["state"] == "signing" and c.show()["effective_from"] is None
    last = c.trigger(KB, "sign", role="party", party="vng", actor="M. Veeningen", on="2025-03-20").data
    assert (last["source"], last["dest"]) == ("signing", "signed")

    doc = c.show()
    # signed on 20 March, in force from the 21st (Art. 5.3): not yet in force on the signing day (issue 13)
    assert doc["state"] == "signed" and doc["in_force"] is False
    assert doc["effective_from"] == "2025-03-21" and doc["ends_on"] == "2027-01-01"
    assert all(p["signed_on"] == "2025-03-20" for p in doc["parties"]) and len(doc["parties"]) == 6
    dl = deadlines(c)
    assert {k: (d["due"], d["status"]) for k, d in dl.items()} == {
        "publication": ("2025-04-03", "open"), "work_structure": ("2025-05-31", "open"),
        "extension_decision": ("2026-07-01", "open"), "end": ("2027-01-01", "open")}
    assert dl["publication"]["article"] == "Art. 5.5"

    # a publication dated before the last signature is refused (3), one dated after today is bad input (2)
    before = c.snapshot()
    early = c.trigger(KB, "publish", ref=STCRT, on="2025-03-19", expect=3)
    assert "last signature" in early.err and "Art. 5.5" in early.err
    future = c.trigger(KB, "publish", ref=STCRT, on="2025-03-21", expect=2)
    assert json.loads(future.out)["field"] == "on"
    assert c.snapshot() == before

    c.advance("2025-03-25T10:00:00+01:00")
    c.trigger(KB, "publish", role="party", party="ienw", actor="C.A. Jansen", ref=STCRT, on="2025-03-25")
    doc = c.show()
    assert doc["state"] == "published" and doc["publication_ref"] == STCRT and doc["published_on"] == "2025-03-25"
    assert deadlines(c)["publication"]["status"] == "met"

    # activation is automatic: in force since 21 March and published on 25 March, so at 00:00 on the 25th;
    # a trigger never runs due work, the next run does, with the publication's legal date
    c.advance("2025-03-25T10:00:01+01:00")
    assert c.show()["state"] == "active"
    (act,) = records(c, "activate")
    assert (act["effective"], act["role"], act["source"], act["dest"]) == ("2025-03-25", "system", "published",
                                                                          "active")

    c.advance("2025-05-20T10:00:00+02:00")
    c.trigger(KB, "record_work_structure", ref="Verslag BO 20 mei 2025", on="2025-05-20")
    assert deadlines(c)["work_structure"]["status"] == "met"

    # the extension decision opens by itself 90 days before 1 July 2026
    c.advance("2026-04-01T23:59:59+02:00")
    assert c.show()["state"] == "active"
    c.advance("2026-04-02T00:00:00+02:00")
    assert c.show()["state"] == "extension_decision"
    (opened,) = records(c, "open_extension_decision")
    assert (opened["effective"], opened["role"], opened["article"]) == ("2026-04-02", "system", "Art. 5.4")
    assert opened["recorded_at"] == "2026-04-02T00:00:00+02:00"


def test_main_line_with_one_no_vote_ends_on_1_january_2027(cli):
    c = cli
    to_active(c)
    c.advance("2026-04-10T10:00:00+02:00")
    c.trigger(KB, "vote_extension", role="party", party="ienw", actor="C.A. Jansen",
              sets=("extend=yes", "new_end=2027-07-01"), on="2026-04-09")
    assert c.show()["state"] == "extension_decision"
    # one 'no' decides at once
    c.trigger(KB, "vote_extension", role="party", party="uvw", actor="S.E. Mager", sets=("extend=no",))
    doc = c.show()
    assert doc["state"] == "expiring" and doc["ends_on"] == "2027-01-01"
    assert deadlines(c)["extension_decision"]["status"] == "met"
    assert "vote_extension" not in doc["allowed_triggers"]

    c.advance("2026-12-31T23:59:00+01:00")
    assert c.show()["state"] == "expiring"
    assert deadlines(c)["end"]["status"] == "open"
    c.advance("2027-01-01T00:00:00+01:00")
    doc = c.show()
    assert doc["state"] == "ended" and doc["in_force"] is False
    assert deadlines(c)["end"]["status"] == "met"
    (end,) = records(c, "end")
    assert (end["effective"], end["source"], end["dest"], end["article"]) == ("2027-01-01", "expiring", "ended",
                                                                             "Art. 5.3")
    assert end["recorded_at"] == "2027-01-01T00:00:00+01:00"
    assert c.run("audit", "verify").data["intact"] is True


def test_all_yes_votes_move_the_end(cli):
    c = cli
    to_active(c)
    c.advance("2026-05-01T10:00:00+02:00")
    before = c.snapshot()
    missing = c.trigger(KB, "vote_extension", role="party", party="ienw", sets=("extend=yes",), expect=2)
    assert json.loads(missing.out)["field"] == "new_end" and "new_end" in missing.err
    bad = c.trigger(KB, "vote_extension", role="party", party="ienw", sets=("extend=yes", "new_end=2027-02-30"),
                    expect=2)
    assert json.loads(bad.out)["field"] == "new_end"
    assert c.snapshot() == before

    c.trigger(KB, "vote_extension", role="party", party="ienw", sets=("extend=yes", "new_end=2027-07-01"))
    before = c.snapshot()
    other = c.trigger(KB, "vote_extension", role="party", party="ipo", sets=("extend=yes", "new_end=2027-12-31"),
                      expect=3)
    assert "2027-07-01" in other.err and "Art. 5.4" in other.err
    assert c.snapshot() == before
    c.trigger(KB, "vote_extension", role="party", party="ipo", sets=("extend=yes", "new_end=2027-07-01"))
    c.trigger(KB, "vote_extension", role="party", party="uvw", sets=("extend=yes",))
    assert c.show()["state"] == "extension_decision"
    c.trigger(KB, "vote_extension", role="secretariat", party="vng", sets=("extend=yes",))

    doc = c.show()
    assert doc["state"] == "active" and doc["ends_on"] == "2027-07-01"
    dl = deadlines(c)
    assert dl["end"]["due"] == "2027-07-01" and dl["end"]["status"] == "open"
    assert dl["extension_decision"]["status"] == "met"

    # the decided extension does not open again from 'active', and 1 January 2027 is no longer the end
    c.advance("2026-12-31T23:59:00+01:00")
    assert c.show()["state"] == "active"
    c.advance("2027-01-01T00:30:00+01:00")
    assert c.show()["state"] == "active"
    assert len(records(c, "open_extension_decision")) == 1
    c.advance("2027-06-30T23:59:00+02:00")
    assert c.show()["state"] == "active"
    c.advance("2027-07-01T00:00:00+02:00")
    assert c.show()["state"] == "ended"
    (end,) = records(c, "end")
    assert end["effective"] == "2027-07-01" and deadlines(c)["end"]["status"] == "met"


# -- entering a running agreement today ----------------------------------------------------------------------
TODAY = "2026-11-23T10:00:00+01:00"


@pytest.fixture(params=["simulation", "real"])
def late(request, cli):
    """A database whose clock says 2026-11-23: a simulation, or the real clock (frozen by freezegun)."""
    if request.param == "simulation":
        cli.run("init", "--simulation", "--start", TODAY)
        yield cli, lambda to: cli.advance(to)
        return
    from freezegun import freeze_time

    with freeze_time(TODAY) as frozen:
        cli.run("init")
        assert cli.run("clock").data["simulated"] is False

        def run_at(to: str) -> None:
            frozen.move_to(to)
            cli.run("scheduler", "--once")
        yield cli, run_at


def outbox_rows(c: Cli) -> list[dict]:
    with db(c).connect() as conn:
        rows = conn.execute(sa.text("select kind, to_addr, status, payload from outbox order by id")).mappings()
        return [{**r, "payload": json.loads(r["payload"]) if isinstance(r["payload"], str) else r["payload"]}
                for r in rows]


def test_late_entry_of_a_running_agreement(late):
    c, run_at = late
    c.run("agreements", "create", "--example", KB)
    assert c.show()["entered_at"].startswith("2026-11-23")
    c.trigger(KB, "open_signing", on="2025-03-01")
    sign_all(c)
    # the legal date may not lie after today; the acts before it are entered one by one
    c.trigger(KB, "publish", ref=STCRT, on="2026-11-24", expect=2)
    c.trigger(KB, "publish", ref=STCRT, on="2025-03-19", expect=3)
    c.trigger(KB, "publish", ref=STCRT, on="2025-03-25")
    c.trigger(KB, "record_work_structure", ref="Verslag BO 20 mei 2025", on="2025-05-20")
    # entering is not judging: nothing ran yet, nothing is queued, the state is what was entered
    assert c.show()["state"] == "published"
    assert c.run("outbox").data == [] and c.messages() == []
    dl = deadlines(c)
    assert dl["publication"]["status"] == "met" and dl["work_structure"]["status"] == "met"
    assert dl["extension_decision"]["status"] == "open"

    run_at("2026-11-23T10:05:00+01:00")
    doc = c.show()
    # activation with the publication's legal date, then the extension decision that opened on 2 April 2026
    (act,) = records(c, "activate")
    assert act["effective"] == "2025-03-25" and act["recorded_at"].startswith("2026-11-23T10:0")
    (opened,) = records(c, "open_extension_decision")
    assert opened["effective"] == "2026-04-02"
    assert doc["state"] == "extension_decision"
    dl = deadlines(c)
    assert dl["publication"]["status"] == "met" and dl["work_structure"]["status"] == "met"
    assert dl["extension_decision"]["status"] == "missed" and dl["end"]["status"] == "open"

    # the missed decision escalates once (level 0), not once per step of the ladder that lay in the past
    ext = [r for r in c.history() if r["trigger"] in ("escalate", "deadline_missed")
           and r["reason"] and r["reason"].startswith("extension_decision")]
    assert [r["trigger"] for r in ext] == ["deadline_missed", "escalate"], ext
    rows = [r for r in outbox_rows(c) if r["payload"].get("deadlines")
            and r["payload"]["deadlines"][0]["kind"] in LIFECYCLE_KINDS]
    assert rows and all(r["kind"] == "escalation" for r in rows), [(r["kind"], r["to_addr"]) for r in rows]
    assert all(r["payload"]["level"] == 1 for r in rows)   # the first rung, as people count it
    assert {r["payload"]["deadlines"][0]["kind"] for r in rows} == {"extension_decision"}
    assert "secretariaat@example.org" in {r["to_addr"] for r in rows}
    assert len({r["to_addr"] for r in rows}) == len(rows)          # one message per recipient
    # no reminder for any moment before entry, in the outbox or in the mail
    assert not [r for r in outbox_rows(c) if r["kind"] == "reminder"]
    mail = [email.message_from_bytes(m.as_bytes()) for m in c.messages()]
    assert mail and len(mail) == len([r for r in outbox_rows(c) if r["status"] == "sent"])
    subjects = [str(email.header.make_header(email.header.decode_header(m["Subject"]))) for m in mail]
    assert not [s for s in subjects if "herinnering" in s.lower()], subjects
    assert not [s for s in subjects if "niveau 0" in s], subjects     # level 0 has a name
    assert [s for s in subjects if s.startswith("Escalatie naar de verantwoordelijke partij en het secretariaat")]

    # a second run the same day adds nothing
    n_records, n_rows = len(c.history()), len(outbox_rows(c))
    run_at("2026-11-23T10:10:00+01:00")
    assert (len(c.history()), len(outbox_rows(c))) == (n_records, n_rows)

    # the votes of last spring entered now: the deadline is judged by their legal date, and the ladder stops
    c.trigger(KB, "vote_extension", role="party", party="ienw", sets=("extend=no",), on="2026-06-10")
    assert c.show()["state"] == "expiring"
    assert deadlines(c)["extension_decision"]["status"] == "met"
    run_at("2026-12-08T10:00:00+01:00")            # past the DO step (entry + 14 days)
    ext_after = [r for r in c.history() if r["trigger"] == "escalate" and r["reason"]
                 and r["reason"].startswith("extension_decision")]
    assert len(ext_after) == 1
    # the reminder of the end (30 days before 1 January 2027, on 2 December) lay after entry: it is sent
    reminders = [r for r in outbox_rows(c) if r["kind"] == "reminder"]
    assert {r["payload"]["deadlines"][0]["kind"] for r in reminders} >= {"end"}
    run_at("2027-01-01T00:00:00+01:00")
    assert c.show()["state"] == "ended"
    assert c.run("audit", "verify").data["intact"] is True


# -- history and audit ---------------------------------------------------------------------------------------
def test_history_and_export_formats(cli, tmp_path):
    c = cli
    c.run("init", "--simulation", "--start", "2025-03-01T09:00:00+01:00")
    c.run("agreements", "create", "--example", KB)
    c.trigger(KB, "open_signing")
    c.advance("2025-03-20T12:00:00+01:00")
    sign_all(c)
    c.run("trigger", KB, "publish", "--actor", "Secretariaat CE", "--role", "secretariat", "--ref", STCRT,
          "--on", "2025-03-20", "--reason", "gepubliceerd; zie \"Staatscourant\" – één regel")
    rows = c.history()
    assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1))
    for r in rows:
        assert set(FIELDS) <= set(r)
    pub = rows[-1]
    assert (pub["trigger"], pub["source"], pub["dest"], pub["ref"], pub["effective"], pub["article"]) == \
        ("publish", "signed", "published", STCRT, "2025-03-20", "Art. 5.5")
    assert pub["recorded_at"] == "2025-03-20T12:00:00+01:00" and len(pub["hash"]) == 64
    sign_rec = [r for r in rows if r["trigger"] == "sign"][0]
    assert (sign_rec["role"], sign_rec["party"], sign_rec["actor"]) == ("party", "ienw", "C.A. Jansen")

    def parse(text: str) -> list[dict]:
        reader = csv.reader(io.StringIO(text))
        header = next(reader)
        assert header == FIELDS
        return [dict(zip(header, line, strict=True)) for line in reader]

    expected = [{k: "" if r[k] is None else str(r[k]) for k in FIELDS} for r in rows]
    assert parse(c.run("history", KB, "--format", "csv").out) == expected
    assert parse(c.run("audit", "export", "--format", "csv").out) == expected
    out = tmp_path / "export.csv"
    c.run("audit", "export", "--format", "csv", "--out", str(out))
    assert parse(out.read_bytes().decode("utf-8")) == expected
    exported = c.run("audit", "export", "--format", "json").data["records"]     # the log (convenant-verify's format)
    assert [{k: e[k] for k in FIELDS} for e in exported] == [{k: r[k] for k in FIELDS} for r in rows]


def tampered_chain(c: Cli, *sql: str) -> dict:
    assert c.run("audit", "verify").data["intact"] is True
    engine = db(c)
    with engine.begin() as conn:
        for statement in sql:
            conn.execute(sa.text(statement))
    engine.dispose()
    res = c.run("audit", "verify", expect=3)
    assert "broken at record" in res.err
    return json.loads(res.out)


@pytest.fixture
def chained(cli) -> Cli:
    cli.run("init", "--simulation", "--start", "2025-03-01T09:00:00+01:00")
    cli.run("agreements", "create", "--example", KB)
    cli.trigger(KB, "open_signing")
    cli.advance("2025-03-20T12:00:00+01:00")
    sign_all(cli)          # records 1..6
    cli.run("audit", "checkpoint")      # every record in the log: its leaves say which record went missing
    return cli


def test_audit_verify_finds_an_edited_record(chained):
    result = tampered_chain(chained, "update records set reason = 'nooit getekend' where seq = 4")
    assert result["intact"] is False and result["first_bad"] == 4
    res = chained.run("audit", "verify", expect=3)
    assert "record 4" in res.err


def test_audit_verify_finds_an_edited_date(chained):
    result = tampered_chain(chained, "update records set effective = '2025-03-19' where seq = 3")
    assert result["first_bad"] == 3


def test_audit_verify_finds_a_deleted_record(chained):
    result = tampered_chain(chained, "delete from records where seq = 3")
    assert result["first_bad"] == 3


def test_audit_verify_finds_a_deleted_tail(chained):
    result = tampered_chain(chained, "delete from records where seq >= 5")
    assert result["first_bad"] == 5


def test_audit_verify_finds_reordered_records(chained):
    result = tampered_chain(chained, "update records set seq = -1 where seq = 3",
                            "update records set seq = 3 where seq = 4", "update records set seq = 4 where seq = -1")
    assert result["first_bad"] == 3


def test_audit_verify_finds_a_rehashed_record(chained):
    """Recomputing the edited record's own hash does not help: the next record's link breaks."""
    from convenant.storage.store import hashed_fields, record_hash

    engine = db(chained)
    with engine.begin() as conn:
        row = dict(conn.execute(sa.text("select * from records where seq = 4")).mappings().one())
        row["actor"] = "iemand anders"
        new_hash = record_hash(hashed_fields(row), row["prev_hash"])
        conn.execute(sa.text("update records set actor = :a, hash = :h where seq = 4"), {"a": row["actor"],
                                                                                        "h": new_hash})
    engine.dispose()
    res = chained.run("audit", "verify", expect=3)
    # the next record's link breaks too (seq 5), but the log's leaf already names the rehashed record itself
    assert json.loads(res.out)["first_bad"] == 4


# -- the diagram --------------------------------------------------------------------------------------------
def test_mermaid_diagram_has_every_state(cli):
    out = cli.run("workflows", "show", KB, "--diagram", "mermaid").data["diagram"]
    assert out.startswith("stateDiagram-v2")
    from convenant import workflows
    wf = workflows.load_all()[KB]
    tokens = set(out.replace(":", " ").replace("{", " ").replace("}", " ").split())
    for pname, proc in wf.processes.items():
        prefix = "" if pname == wf.root else f"{pname}_"
        for state in proc.states:
            assert prefix + state in tokens, f"{prefix}{state} missing"
        for trig in proc.triggers:
            if trig.dest or trig.branches:
                assert trig.name in tokens, trig.name
    # without --json the text itself is printed
    from click.testing import CliRunner

    from convenant.app.cli import cli as command
    res = CliRunner().invoke(command, ["--config", str(cli.config), "workflows", "show", "stedendriehoek",
                                       "--diagram", "mermaid"])
    assert res.exit_code == 0 and res.stdout.startswith("stateDiagram-v2")
    for state in workflows.load_all()["stedendriehoek"].process("cooperation").states:
        assert state in res.stdout
