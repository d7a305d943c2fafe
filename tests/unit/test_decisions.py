"""The unanimous-decision mechanism (engine/decisions.py, engine/rules.cast_vote) under property tests: for any
voters and any order of answers, the outcome is one the definition's rules allow, 'all' outcomes need every
voter, an 'any' answer decides at once, and a decided outcome never changes."""
from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convenant import workflows
from convenant.engine import rules
from convenant.engine.agreements import agreement_data, read_data_file
from convenant.engine.config import settings_from_dict
from convenant.engine.decisions import judge, outcome, possible_outcomes, uncovered
from convenant.engine.definitions import DecisionSpec, OutcomeRule
from convenant.engine.errors import BadInput, NotAllowed
from convenant.engine.loading import parse_definition
from convenant.engine.model import Facts, Process
from convenant.engine.plugins import registry

WF = workflows.load_all()["krachtenbundeling"]
SPECS = {
    "extension": WF.process("agreement").decisions["extension"],
    "amendment": WF.process("amendment").decisions["amendment"],
    "continuation": WF.process("termination").decisions["continuation"],
}
POOL = ["ienw", "ipo", "uvw", "vng", "p5", "p6", "p7"]


def brute_force(spec: DecisionSpec, voters: list[str], answers: dict[str, str]) -> set[str | None]:
    """Every outcome over every way the missing voters could still answer (the definition of 'certain')."""
    missing = [v for v in voters if v not in answers]
    outs = set()
    for combo in itertools.product(spec.answers, repeat=len(missing)):
        full = {**{v: answers[v] for v in voters if v in answers}, **dict(zip(missing, combo, strict=True))}
        outs.add(judge(spec.rules, frozenset(full.values())) if voters else None)
    return outs


@st.composite
def decision_runs(draw, spec_names=tuple(SPECS)):
    name = draw(st.sampled_from(spec_names))
    spec = SPECS[name]
    voters = draw(st.lists(st.sampled_from(POOL), min_size=1, max_size=6, unique=True))
    # answers in some order, with repeats and answers of non-voters mixed in (both must change nothing)
    attempts = draw(st.lists(st.tuples(st.sampled_from(POOL), st.sampled_from(spec.answers)), max_size=14))
    return name, spec, voters, attempts


def replay(voters: list[str], attempts: list[tuple[str, str]]) -> list[dict[str, str]]:
    """The answers after each accepted attempt: one per voter, the first one counts (cast_vote refuses more)."""
    answers: dict[str, str] = {}
    states = [dict(answers)]
    for party, answer in attempts:
        if party in voters and party not in answers:
            answers[party] = answer
            states.append(dict(answers))
    return states


@settings(max_examples=400, deadline=None)
@given(decision_runs())
def test_outcome_is_allowed_certain_and_final(run):
    name, spec, voters, attempts = run
    decided: str | None = None
    for answers in replay(voters, attempts):
        got = outcome(spec, voters, answers)
        reachable = brute_force(spec, voters, answers)
        # decided exactly when every way to finish leads to one outcome, and then it is that outcome
        assert (got is not None) == (len(reachable) == 1 and None not in reachable)
        if got is not None:
            assert reachable == {got}
            assert got in {r.outcome for r in spec.rules}
        # once decided, it never changes
        if decided is not None:
            assert got == decided
        decided = decided or got
        complete = all(v in answers for v in voters)
        if complete:
            assert got is not None, "the definition's rules cover every complete combination"
        given_answers = {answers[v] for v in voters if v in answers}
        # unanimity: an outcome only an 'all X' rule gives needs every voter to have answered X
        for rule in spec.rules:
            only_by_all = rule.when == "all" and all(r.when == "all" for r in spec.rules if r.outcome == rule.outcome)
            if got == rule.outcome and only_by_all:
                assert complete and given_answers == {rule.answer}
        # an 'any X' rule that comes first wins as soon as one X is there
        first = spec.rules[0]
        if first.when == "any" and first.answer in given_answers:
            assert got == first.outcome


@settings(max_examples=300, deadline=None)
@given(decision_runs(("continuation",)))
def test_continuation_mixed_is_disputed_at_once_and_unanimity_decides_otherwise(run):
    _, spec, voters, attempts = run
    for answers in replay(voters, attempts):
        given_answers = {answers[v] for v in voters if v in answers}
        got = outcome(spec, voters, answers)
        if len(given_answers) == 2:
            assert got == "disputed"
        elif all(v in answers for v in voters):
            assert got == {"yes": "continued", "no": "ended"}[given_answers.pop()]
        else:
            assert got is None


@st.composite
def random_specs(draw):
    answers = draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=2, max_size=3, unique=True))
    rule = st.one_of(
        st.builds(lambda a, o: OutcomeRule(when="any", answer=a, outcome=o), st.sampled_from(answers),
                  st.sampled_from(["x", "y", "z"])),
        st.builds(lambda a, o: OutcomeRule(when="all", answer=a, outcome=o), st.sampled_from(answers),
                  st.sampled_from(["x", "y", "z"])),
        st.builds(lambda o: OutcomeRule(when="mixed", outcome=o), st.sampled_from(["x", "y", "z"])))
    rules_ = draw(st.lists(rule, min_size=1, max_size=4))
    return DecisionSpec(article="Art. test", param="v", answers=answers, rules=rules_)


@settings(max_examples=400, deadline=None)
@given(random_specs(), st.lists(st.sampled_from(POOL[:5]), min_size=1, max_size=5, unique=True),
       st.data())
def test_any_rule_order_never_changes_a_decided_outcome(spec, voters, data):
    """Whatever rules a definition lists, and in whatever order, an outcome is only announced once certain."""
    attempts = data.draw(st.lists(st.tuples(st.sampled_from(voters), st.sampled_from(spec.answers)), max_size=8))
    decided = None
    for answers in replay(voters, attempts):
        got = outcome(spec, voters, answers)
        assert possible_outcomes(spec, voters, answers) == brute_force(spec, voters, answers)
        if decided is not None:
            assert got == decided
        decided = decided or got


def test_no_voters_decide_nothing_and_strangers_do_not_count():
    spec = SPECS["amendment"]
    assert outcome(spec, [], {}) is None
    assert outcome(spec, ["ipo", "vng"], {"ipo": "consent", "stranger": "refuse"}) is None
    assert outcome(spec, ["ipo", "vng"], {"ipo": "consent", "vng": "consent"}) == "adopted"
    assert outcome(spec, ["ipo", "vng"], {"vng": "refuse"}) == "rejected"


def test_a_definition_whose_rules_leave_a_combination_open_is_refused():
    spec = DecisionSpec(article="Art. x", param="v", answers=["yes", "no"],
                        rules=[OutcomeRule(when="all", answer="yes", outcome="ok")])
    assert {frozenset({"no"}), frozenset({"yes", "no"})} == set(uncovered(spec))
    raw = {"name": "tiny", "version": 1, "title": {"nl": "t"}, "article": "Art. 1", "root": "main",
           "processes": {"main": {"title": {"nl": "m"}, "article": "Art. 1", "initial": "open",
                                  "states": {"open": {"article": "Art. 1"}, "done": {"article": "Art. 1", "final": True}},
                                  "triggers": [{"name": "vote", "article": "Art. 1", "source": ["open"],
                                                "roles": ["party"], "decision": "d",
                                                "params": {"v": {"type": "option", "options": ["yes", "no"]}}}],
                                  "decisions": {"d": spec.model_dump()}}}}
    with pytest.raises(BadInput) as err:
        parse_definition(raw, "tiny.toml")
    assert "processes.main.decisions.d.rules" in err.value.message and "no rule decides" in err.value.message


def test_shipped_decisions_cover_every_combination():
    for wf in workflows.load_all().values():
        for proc in wf.processes.values():
            for dec in proc.decisions.values():
                assert uncovered(dec) == []


# -- cast_vote: the same properties through the engine's rule, with real parties ---------------------------
EXAMPLE = agreement_data(WF, read_data_file(workflows.example_file(WF)), registry.library(WF).plugins)
SETTINGS = settings_from_dict({}, base_dir=Path("."))
PARTIES = list(EXAMPLE.parties)          # ienw, ez, vro (represented by ienw), ipo, uvw, vng
DAY = dt.date(2026, 2, 2)


def _act(root: Process, proc: Process, ptype: str, trigger: str, party: str, params: dict) -> rules.Act:
    spec = WF.process(ptype)
    return rules.Act(wf=WF, spec=spec, trigger=spec.trigger_map[trigger], process=proc, root=root,
                     actor="test", role="party", party=party, on=DAY, ref=f"ref-{party}", reason=None,
                     params=params, settings=SETTINGS, now=dt.datetime(2026, 2, 2, 9, tzinfo=dt.UTC),
                     deadlines=[])


@settings(max_examples=200, deadline=None)
@given(requester=st.sampled_from(["ienw", "ipo", "uvw", "vng"]),
       withdrawn=st.sets(st.sampled_from(["ipo", "uvw", "vng"]), max_size=2),
       attempts=st.lists(st.tuples(st.sampled_from(PARTIES), st.sampled_from(["consent", "refuse"])), max_size=12))
def test_cast_vote_counts_each_current_party_once(requester, withdrawn, attempts):
    """Represented, withdrawn and repeated answers are refused; the rest count once; the outcome is final."""
    root = EXAMPLE.process("k", WF, state="active", created_at=dt.datetime(2025, 3, 1, tzinfo=dt.UTC),
                           entered_at=dt.datetime(2025, 3, 1, tzinfo=dt.UTC))
    root = rules.snapshot(root)          # its own parties: the example's stay as they are
    for party in root.parties.values():
        party.signed_on = dt.date(2025, 3, 20)
    for pid in withdrawn - {requester}:
        root.parties[pid].withdrawn_on = dt.date(2026, 1, 1)
    child = Process(id="k/amendment-1", workflow=WF.name, ptype="amendment", state="open",
                    facts=Facts({"requester": requester, "ref": "req"}), created_at=root.created_at,
                    parent_id="k", root_id="k")
    rules.effect_open_decision(_act(root, child, "amendment", "consent", requester, {}), name="amendment")
    voters = rules.voters(root, DAY)
    decided = None
    for party, answer in attempts:
        state = child.decisions["amendment"]
        before = {k: v.to_dict() for k, v in state.answers.items()}
        represented = root.parties[party].represented_by
        if represented:   # the service refuses these before any rule runs (authorisation)
            continue
        act = _act(root, child, "amendment", answer, party, {})
        expect_refusal = decided is not None or party not in voters or party in before
        if expect_refusal:
            with pytest.raises(NotAllowed) as err:
                rules.cast_vote(act, "amendment", answer)
            assert err.value.article == "Art. 5.8"
            assert {k: v.to_dict() for k, v in state.answers.items()} == before
            continue
        rules.cast_vote(act, "amendment", answer)
        assert state.answers[party].answer == answer and state.answers[party].ref == f"ref-{party}"
        if state.outcome is not None:
            decided = decided or state.outcome
            assert state.outcome == decided
    final = child.decisions["amendment"]
    assert set(final.answers) <= set(voters) and requester in final.answers
    assert final.answers[requester].answer == "consent"
    given_answers = {a.answer for a in final.answers.values()}
    if final.outcome == "adopted":
        assert set(final.answers) == set(voters) and given_answers == {"consent"}
    elif final.outcome == "rejected":
        assert "refuse" in given_answers
    else:
        assert "refuse" not in given_answers and set(final.answers) < set(voters)
