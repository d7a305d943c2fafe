"""Workflow definitions as data: the shipped ones load, malformed ones are refused with the file and the field,
and the engine builds one `transitions` machine per process type that holds no process after a command."""
from __future__ import annotations

import gc
import tracemalloc
from pathlib import Path

import pytest

from convenant import workflows
from convenant.engine.errors import BadInput
from convenant.engine.loading import load_definition
from convenant.engine.machine import Machines, ProcessMachine, expand_sources

# A small definition of our own, so that each test breaks exactly one thing in it.
TINY = '''
name = "tiny"
version = 1
article = "Art. 1"
root = "deal"
title = { nl = "Klein", en = "Tiny" }

[groups]
live = ["open", "review"]

[processes.deal]
article = "Art. 1"
initial = "open"
title = { nl = "Afspraak", en = "Deal" }

[processes.deal.states.open]
article = "Art. 1.1"
on_enter = [{ do = "set_fact", args = { name = "opened", value = "$on" } }]
[processes.deal.states.review]
article = "Art. 1.2"
[processes.deal.states.closed]
article = "Art. 1.3"
final = true
[processes.deal.states.dropped]
article = "Art. 1.3"
final = true

[[processes.deal.triggers]]
name = "submit"
article = "Art. 1.2"
source = ["open"]
dest = "review"
roles = ["secretariat"]
meets = ["close_by"]
guards = [{ check = "on_before", article = "Art. 1.2", args = { date = { deadline = "close_by", days = 1 } } }]
effects = [{ do = "set_fact", args = { name = "submitted_on", value = "$on" } }]

[[processes.deal.triggers]]
name = "decide"
article = "Art. 1.3"
source = ["@live"]
roles = ["secretariat"]
branches = [{ when = "param:choice=close", dest = "closed" }, { when = "param:choice=drop", dest = "dropped" }]
[processes.deal.triggers.params.choice]
type = "option"
options = ["close", "drop"]
required = true

[[processes.deal.triggers]]
name = "expire"
article = "Art. 1.4"
source = ["open"]
dest = "dropped"
manual = false
automatic = { at = [{ deadline = "close_by", days = 1 }] }

[[processes.deal.deadlines]]
kind = "close_by"
article = "Art. 1.4"
title = { nl = "Sluiten", en = "Close" }
due = { fact = "opened", days = "$decisions.amendment_response_days", calendar = "algemene_termijnenwet" }
met_by = ["submit"]
'''


def write(tmp_path: Path, text: str, name: str = "tiny.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def broken(tmp_path: Path, old: str, new: str) -> BadInput:
    assert TINY.count(old) == 1, old
    path = write(tmp_path, TINY.replace(old, new))
    with pytest.raises(BadInput) as info:
        load_definition(path)
    err = info.value
    assert str(path) in err.message, err.message          # the message names the file
    assert err.exit_code == 2
    return err


# -- what loads ---------------------------------------------------------------------------------------
def test_shipped_definitions_load():
    defs = workflows.load_all()
    assert {"krachtenbundeling", "stedendriehoek"} <= set(defs)
    kb = defs["krachtenbundeling"]
    assert set(kb.processes) == {"agreement", "amendment", "termination", "dispute"}
    assert set(kb.process("agreement").states) == {"draft", "signing", "signed", "published", "active",
                                                   "extension_decision", "expiring", "ended"}
    assert set(kb.process("agreement").deadline_map) >= {"publication", "work_structure", "extension_decision",
                                                         "end"}
    for wf in defs.values():
        assert workflows.example_file(wf) is not None and workflows.example_file(wf).exists()
        for proc in wf.processes.values():     # every state, trigger, deadline and guard names its article
            assert all(s.article.strip() for s in proc.states.values())
            assert all(t.article.strip() for t in proc.triggers)
            assert all(d.article.strip() for d in proc.deadlines)
            assert all(g.article.strip() for t in proc.triggers for g in t.guards)


def test_tiny_definition_loads(tmp_path):
    wf = load_definition(write(tmp_path, TINY))
    assert wf.name == "tiny" and wf.source_file == str(tmp_path / "tiny.toml")
    assert wf.process("deal").deadline_map["close_by"].due.calendar == "algemene_termijnenwet"


def test_workflows_show_lists_the_calendar_of_every_deadline(tmp_path):
    from convenant.app.cli import describe_workflow
    tiny = describe_workflow(load_definition(write(tmp_path, TINY)))
    (close_by,) = [line for line in tiny.splitlines() if line.strip().startswith("deadline close_by")]
    assert "(algemene_termijnenwet)" in close_by and "calendar_days" not in close_by
    kb = describe_workflow(workflows.load_all()["krachtenbundeling"])
    deadlines = [line for line in kb.splitlines() if line.strip().startswith("deadline ")]
    assert deadlines and all("(calendar_days)" in line for line in deadlines)


# -- what is refused, naming the file and the field -----------------------------------------------------
@pytest.mark.parametrize("old, new, field, words", [
    ('source = ["open"]\ndest = "review"', 'source = ["opne"]\ndest = "review"',
     "processes.deal.triggers[0](submit).source", "unknown state 'opne'"),
    ('dest = "review"', 'dest = "reviewed"', "processes.deal.triggers[0](submit).dest", "unknown state 'reviewed'"),
    ('{ when = "param:choice=drop", dest = "dropped" }', '{ when = "param:choice=drop", dest = "gone" }',
     "processes.deal.triggers[1](decide).dest", "unknown state 'gone'"),
    ('live = ["open", "review"]', 'live = ["open", "reveiw"]', "processes.deal.triggers[1](decide).source",
     "unknown state 'reveiw'"),
    ('source = ["@live"]', 'source = ["@alive"]', "processes.deal.triggers[1](decide).source",
     "unknown state group"),
    ('initial = "open"', 'initial = "start"', "processes.deal.initial", "unknown state 'start'"),
    ('name = "expire"\narticle = "Art. 1.4"\n', 'name = "expire"\n',
     "processes.deal.triggers.2.article", "Field required"),
    ('[processes.deal.states.review]\narticle = "Art. 1.2"', '[processes.deal.states.review]\narticle = " "',
     "processes.deal.states.review.article", "names its article"),
    ('kind = "close_by"\narticle = "Art. 1.4"', 'kind = "close_by"\narticle = ""',
     "processes.deal.deadlines[0].article", "names its article"),
    ('{ do = "set_fact", args = { name = "submitted_on"', '{ do = "set_facts", args = { name = "submitted_on"',
     "processes.deal.triggers[0](submit).effects[0].do", "unknown effect 'set_facts'"),
    ('on_enter = [{ do = "set_fact"', 'on_enter = [{ do = "explode"',
     "processes.deal.states.open.on_enter[0].do", "unknown effect 'explode'"),
    ('args = { name = "submitted_on", value = "$on" }', 'args = { name = "submitted_on" }',
     "processes.deal.triggers[0](submit).effects[0].args", "value"),
    ('check = "on_before"', 'check = "on_time"', "processes.deal.triggers[0](submit).guards[0].check",
     "unknown guard 'on_time'"),
    ('args = { date = { deadline = "close_by", days = 1 } } }', 'args = {} }',
     "processes.deal.triggers[0](submit).guards[0].args", "date"),
    ('guards = [{ check = "on_before", article = "Art. 1.2",', 'guards = [{ check = "on_before",',
     "processes.deal.triggers.0.guards.0.article", "Field required"),
    ('when = "param:choice=close"', 'when = "moon_is_full"', "processes.deal.triggers[1](decide).branches[0].when",
     "unknown condition 'moon_is_full'"),
    ('when = "param:choice=close"', 'when = "param:choise=close"',
     "processes.deal.triggers[1](decide).branches[0].when", "names no parameter"),
    ('when = "param:choice=close"', 'when = "param:choice=shut"',
     "processes.deal.triggers[1](decide).branches[0].when", "'shut' is not one of"),
    ('when = "param:choice=close"', 'when = "outcome:adopted"',
     "processes.deal.triggers[1](decide).branches[0].when", "outcome"),
    ('meets = ["close_by"]', 'meets = ["close_by", "finish_by"]', "processes.deal.triggers[0](submit).meets",
     "unknown deadline 'finish_by'"),
    ('met_by = ["submit"]', 'met_by = ["sumbit"]', "processes.deal.deadlines[0].met_by", "unknown trigger 'sumbit'"),
    ('automatic = { at = [{ deadline = "close_by"', 'automatic = { at = [{ deadline = "clos_by"',
     "processes.deal.triggers[2](expire).automatic.at[0].deadline", "unknown deadline 'clos_by'"),
    ('calendar = "algemene_termijnenwet"', 'calendar = "working_days"', "processes.deal.deadlines.0.due.calendar",
     "algemene_termijnenwet"),
    ('days = "$decisions.amendment_response_days"', 'days = "42 days"', "processes.deal.deadlines.0.due.days",
     "$section.key"),
    ('days = "$decisions.amendment_response_days"', 'days = "$decisions.amendment_reply_days"',
     "processes.deal.deadlines[0].due.days", "no key 'decisions.amendment_reply_days'"),
    ('due = { fact = "opened",', 'due = { fact = "opened", date = 2026-01-01,', "processes.deal.deadlines.0.due",
     "exactly one of"),
    ('root = "deal"', 'root = "contract"', "root", "no process 'contract'"),
    ('[processes.deal.states.closed]\narticle = "Art. 1.3"\nfinal = true',
     '[processes.deal.states.closed]\narticle = "Art. 1.3"', None, None),
    ('name = "tiny"', 'name = "Tiny Deal"', "name", "lower case"),
    ('meets = ["close_by"]', 'meets = ["close_by"]\nnot_after = [{ on = true }]',
     "processes.deal.triggers.0.not_after", "Extra inputs"),                  # a key the engine does not act on
    ('roles = ["secretariat"]\nmeets', 'roles = ["chair"]\nmeets', "processes.deal.triggers.0.roles.0", "secretariat"),
    ('[processes.deal.triggers.params.choice]\ntype = "option"',
     '[processes.deal.triggers.params.choice]\ntype = "option"\ncolour = "red"',
     "processes.deal.triggers.1.params.choice.colour", "Extra inputs"),
])
def test_malformed_definition_names_file_and_field(tmp_path, old, new, field, words):
    if field is None:                      # dropping the only other final state still leaves 'dropped'
        load_definition(write(tmp_path, TINY.replace(old, new)))
        return
    err = broken(tmp_path, old, new)
    assert err.field == field, err.message
    assert field in err.message and words in err.message, err.message


def test_no_final_state_is_refused(tmp_path):
    text = TINY.replace('article = "Art. 1.3"\nfinal = true', 'article = "Art. 1.3"')
    path = write(tmp_path, text)
    with pytest.raises(BadInput, match="no final state") as info:
        load_definition(path)
    assert info.value.field == "processes.deal.states" and str(path) in info.value.message


def test_bad_toml_names_the_file(tmp_path):
    path = write(tmp_path, TINY.replace('name = "tiny"', 'name = "tiny'))
    with pytest.raises(BadInput, match="not valid TOML") as info:
        load_definition(path)
    assert str(path) in info.value.message and info.value.field == str(path)
    assert "line 2" in info.value.message                  # and where in it


def test_unreadable_file(tmp_path):
    with pytest.raises(BadInput, match="cannot be read") as info:
        load_definition(tmp_path / "missing.toml")
    assert "missing.toml" in info.value.message


def test_a_broken_definition_among_the_shipped_ones_is_bad_input(tmp_path):
    write(tmp_path, TINY.replace('dest = "review"', 'dest = "nowhere"'))
    with pytest.raises(BadInput, match="tiny.toml"):
        workflows.load_all([tmp_path])


# -- machines --------------------------------------------------------------------------------------------
def test_one_machine_per_process_type_without_auto_transitions():
    kb = workflows.load_all()["krachtenbundeling"]
    machines = Machines()
    built = {ptype: machines.get(kb, ptype) for ptype in kb.processes}
    for ptype, pm in built.items():
        assert machines.get(kb, ptype) is pm                   # built once, then reused
        spec = kb.process(ptype)
        assert set(pm.machine.events) == {t.name for t in spec.triggers}
        for state in spec.states:
            triggers = pm.machine.get_triggers(state)
            assert not [t for t in triggers if t.startswith("to_")], triggers
            expected = {t.name for t in spec.triggers if state in expand_sources(kb, t.source)}
            assert set(triggers) == expected
        assert pm.machine.models == [pm.model]                # one model per machine, never a process


def test_branches_and_internal_transitions():
    kb = workflows.load_all()["krachtenbundeling"]
    pm = ProcessMachine(kb, "agreement")
    assert pm.fire("signing", "sign", lambda cond: False) == "signing"
    assert pm.fire("signing", "sign", lambda cond: cond == "all_signed") == "signed"
    assert pm.fire("active", "record_work_structure", lambda cond: True) == "active"
    assert pm.fire("extension_decision", "vote_extension", lambda cond: False) == "extension_decision"
    assert pm.fire("extension_decision", "vote_extension",
                   lambda cond: cond == "outcome:not_extended") == "expiring"
    assert pm.fire("extension_decision", "vote_extension", lambda cond: "outcome:extended" in cond) == "active"
    with pytest.raises(ValueError):
        pm.fire("draft", "publish", lambda cond: True)
    assert pm.machine.models == [pm.model]                     # also after a refusal
    assert pm.model.test is None                               # no command's context kept alive


def test_one_model_per_machine_and_memory_does_not_grow():
    kb = workflows.load_all()["krachtenbundeling"]
    pm = Machines().get(kb, "agreement")

    def burst(n: int) -> None:
        for i in range(n):
            pm.fire("signing", "sign", lambda cond, i=i: i % 2 == 0)
            pm.fire("active", "open_extension_decision", lambda cond: False)

    burst(50)                                                  # warm caches
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    burst(1000)
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert pm.machine.models == [pm.model]
    assert grown < 64 * 1024, f"memory grew by {grown} bytes over 2,000 fires"


def test_the_shared_model_serves_several_threads():
    """The web server fires from several threads through one machine: each fire sees its own state and test."""
    from concurrent.futures import ThreadPoolExecutor

    pm = Machines().get(workflows.load_all()["krachtenbundeling"], "agreement")

    def one(i: int) -> str:
        if i % 2:
            return pm.fire("extension_decision", "vote_extension", lambda cond: "outcome:extended" in cond)
        return pm.fire("signing", "sign", lambda cond: cond == "all_signed")

    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(one, range(2000)))
    assert got == ["active" if i % 2 else "signed" for i in range(2000)]


def test_service_fires_through_one_cached_machine(tmp_path):
    from tests.conftest import build_app

    app = build_app(f"sqlite:///{tmp_path / 'm.db'}", tmp_path, simulation="2025-03-01T09:00:00+01:00")
    raw = workflows.example_file(app.workflows["krachtenbundeling"])
    from convenant.engine.agreements import read_data_file
    app.service.create_agreement("krachtenbundeling", read_data_file(raw))
    app.service.fire("krachtenbundeling", "open_signing", actor="s", role="secretariat")
    pm = app.service.machines.get(app.workflows["krachtenbundeling"], "agreement")
    for party in ("ienw", "ipo"):
        app.service.fire("krachtenbundeling", "sign", actor="s", role="party", party=party)
    assert app.service.machines.get(app.workflows["krachtenbundeling"], "agreement") is pm
    assert pm.machine.models == [pm.model]
    app.store.dispose()
