"""The typed agreement and its stored formats (engine/model.py, engine/upcast.py): a process written and read
back is the same; every row and payload says its format; a format-1 row (the previous release's dict) is read
through the upcasters, with its reference data and reports moved out; a newer format is refused, not guessed;
reference data is stored once per content; the working copy of a command shares nothing it may change."""
from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

import pytest

from convenant import workflows
from convenant.engine import rules, upcast
from convenant.engine.agreements import agreement_data, read_data_file
from convenant.engine.model import DeadlineStatus, Process
from convenant.engine.plugins import registry, themes
from convenant.storage.memory import MemoryStore
from convenant.storage.store import SqlStore, decode_process, process_values

WF = workflows.load_all()["krachtenbundeling"]
T0 = dt.datetime(2025, 3, 1, 8, 0, tzinfo=dt.UTC)
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "release-0.1.0.db"


def example(pid: str = "k") -> Process:
    new = agreement_data(WF, read_data_file(workflows.example_file(WF)), registry.library(WF).plugins)
    return new.process(pid, WF, state="draft", created_at=T0, entered_at=T0)


def format_1_rows() -> dict[str, dict]:
    """The rows the previous release wrote (format 1), straight from the fixture database."""
    with sqlite3.connect(FIXTURE) as conn:
        conn.row_factory = sqlite3.Row
        return {r["id"]: dict(r) for r in conn.execute("select * from processes")}


def stored(row: dict) -> dict:
    return {**row, "data": json.loads(row["data"]), "created_at": dt.datetime.fromisoformat(row["created_at"]),
            "next_auto_at": None, "final": bool(row["final"])}


def test_a_process_written_and_read_back_is_the_same():
    p = example()
    values = process_values(p)
    assert values["format"] == upcast.PROCESS_FORMAT == 2
    text = json.dumps(values["data"])                      # what the JSON column holds
    assert "title_nl" not in text and "@example.org" not in text   # reference data lives apart
    row = {"id": p.id, "workflow": p.workflow, "ptype": p.ptype, "state": p.state, "version": 1,
           "parent_id": None, "root_id": p.id, "final": False, "next_auto_at": None,
           "created_at": T0.replace(tzinfo=None), **values, "data": json.loads(text)}
    back, inline = decode_process(row, lambda rid: p.reference)
    assert inline is None and back.reference is p.reference
    assert upcast.process_data(back) == values["data"]
    assert back.parties["ez"].represented_by == "ienw" and back.entered_at == T0
    assert isinstance(back.plugins["themes"], themes.ThemesState)


def test_format_1_rows_read_through_the_upcasters():
    rows = format_1_rows()
    kb = stored(rows["krachtenbundeling"])
    assert "format" not in kb or kb["format"] in (None, 1)
    p, inline = decode_process({**kb, "format": 1}, lambda rid: pytest.fail("a format-1 row names no reference"))
    assert inline is not None and p.reference is not None and p.reference.id == upcast.content_id(inline)
    assert p.parties["vng"].withdrawn_on == dt.date(2026, 3, 1) and p.parties["ienw"].signed_on == dt.date(2025, 3, 20)
    assert [c.email for c in p.reference.contacts["ienw"]] == ["ienw@example.org"]
    assert p.reference.governance["do"].abbr == "DO"
    ref = themes.reference_of(p)
    assert list(ref.themes) == ["ruimte", "inkoop", "vth", "mkb", "kennisdeling", "ketens"]
    assert [len(t.commitments) for t in ref.themes.values()] == [5, 5, 4, 6, 2, 2]
    assert [(t.theme, t.layer, t.due.isoformat()) for t in ref.targets] == [
        ("vth", "province", "2026-12-31"), ("vth", "water_board", "2028-12-31"),
        ("vth", "municipality", "2030-12-31")]
    state = themes.state_of(p)
    assert state.themes["ruimte"].status == themes.ThemeStatus.STALLED and state.themes["ruimte"].escalation_level == 3
    assert [s.government for s in state.themes["inkoop"].sign_ups] == ["Zwolle"]
    assert sorted((e.subject, e.data["status"]) for e in p.new_log) == [("inkoop", "on_track"), ("ruimte", "stalled")]
    assert [c.id for c in p.children][:2] == ["krachtenbundeling/amendment-1", "krachtenbundeling/amendment-2"]
    assert p.children[0].facts["requester"] == "ipo" and p.counters == {"amendment": 2, "dispute": 1,
                                                                           "termination": 1}
    child = stored(rows["krachtenbundeling/amendment-2"])
    c, none = decode_process({**child, "format": 1}, lambda rid: pytest.fail("children have no reference"))
    assert none is None and c.reference is None and c.decisions["amendment"].outcome == "rejected"
    assert c.decisions["amendment"].answers["uvw"].initiator is True


def test_a_newer_format_is_refused_not_guessed():
    with pytest.raises(upcast.FormatError, match="newer release"):
        upcast.upcast_process(upcast.PROCESS_FORMAT + 1, {})
    with pytest.raises(upcast.FormatError, match="outbox payload"):
        upcast.upcast_payload(upcast.PAYLOAD_FORMAT + 1, {})
    with pytest.raises(upcast.FormatError):
        upcast.upcast_reference(upcast.REFERENCE_FORMAT + 1, {})


def test_outbox_payloads_say_their_format():
    assert upcast.payload_format({"template": "reminder"}) == 1           # queued before payloads said it
    assert upcast.upcast_payload(1, {"template": "reminder"}) == {"template": "reminder", "format": 1}
    assert upcast.stamp_payload({"key": "k"})["format"] == upcast.PAYLOAD_FORMAT


def test_the_chain_runs_each_step_in_order(monkeypatch):
    steps = []
    monkeypatch.setattr(upcast, "PAYLOAD_FORMAT", 3)
    monkeypatch.setattr(upcast, "PAYLOAD_STEPS", {1: lambda p: steps.append(1) or {**p, "b": 1},
                                                  2: lambda p: steps.append(2) or {**p, "c": p["b"] + 1}})
    assert upcast.upcast_payload(1, {"a": 0}) == {"a": 0, "b": 1, "c": 2, "format": 3}
    assert steps == [1, 2]
    assert upcast.upcast_payload(2, {"b": 5}) == {"b": 5, "c": 6, "format": 3}


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_reference_data_is_stored_once_per_content(kind, tmp_path):
    store = MemoryStore() if kind == "memory" else SqlStore(f"sqlite:///{tmp_path / 'ref.db'}")
    store.migrate()
    with store.transaction() as tx:
        tx.insert_process(example("a"), T0)
        tx.insert_process(example("b"), T0)
    with store.transaction() as tx:
        a, b = tx.get_process("a"), tx.get_process("b")
    assert a is not None and b is not None and a.reference is not None
    assert a.reference.id == b.reference.id and a.reference is b.reference       # one row, decoded once
    if kind == "sqlite":
        with store.reading() as conn:
            assert conn.exec_driver_sql("select count(*) from reference_data").scalar() == 1
        store.dispose()
    else:
        assert len(store._tables.reference_data) == 1


def test_progress_reports_go_to_the_log_not_the_row(tmp_path):
    store = SqlStore(f"sqlite:///{tmp_path / 'log.db'}")
    store.migrate()
    p = example("a")
    with store.transaction() as tx:
        tx.insert_process(p, T0)
    for day in (1, 2, 3):
        with store.transaction() as tx:
            q = tx.get_process("a")
            assert q is not None
            q.new_log.append(themes.LogEntry(kind=themes.PROGRESS, effective=dt.date(2025, 4, day),
                                             recorded_at=T0, subject="mkb", data={"status": "on_track"}))
            tx.update_process(q, T0)
    with store.transaction() as tx:
        logged = tx.log_of("a", themes.PROGRESS)
        again = tx.get_process("a")
    assert [e.effective.day for e in logged] == [1, 2, 3] and again is not None and again.new_log == []
    with store.reading() as conn:
        size = conn.exec_driver_sql("select length(data) from processes where id = 'a'").scalar()
    assert size == len(json.dumps(process_values(example("a"))["data"]))   # the row did not grow
    store.dispose()


def test_the_working_copy_shares_nothing_it_may_change():
    p = example()
    copy = rules.snapshot(p)
    copy.parties["ipo"].signed_on = dt.date(2025, 3, 20)
    themes.state_of(copy).theme("mkb").escalation_level = 2
    copy.facts["x"] = "y"
    assert p.parties["ipo"].signed_on is None and themes.state_of(p).themes["mkb"].escalation_level == 0
    assert "x" not in p.facts
    assert copy.reference is p.reference            # immutable, shared


def test_statuses_are_enums_that_read_as_their_words():
    assert DeadlineStatus("missed") is DeadlineStatus.MISSED and json.dumps(DeadlineStatus.MET) == '"met"'
    assert DeadlineStatus.OPEN == "open" and themes.ThemeStatus("on_track") is themes.ThemeStatus.ON_TRACK
