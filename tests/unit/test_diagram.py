"""The one walk over a definition's transitions (engine.diagram.edges) behind both state diagrams: the Mermaid text
of `workflows show --diagram mermaid` and the drawing of the web pages (state_changes)."""
from __future__ import annotations

import pytest

from convenant import workflows
from convenant.engine.definitions import WorkflowDefinition
from convenant.engine.diagram import Edge, edges, mermaid, state_changes


def trigger(name: str, source: list[str], **more) -> dict:
    return {"name": name, "article": "Art. 1", "source": source, "roles": ["secretariat"], **more}


# Each trigger shows one way a transition can look.
SMALL = WorkflowDefinition.model_validate({
    "name": "small", "version": 1, "article": "Art. 1", "root": "deal", "title": {"nl": "Klein", "en": "Small"},
    "groups": {"live": ["open", "review"]},
    "processes": {"deal": {
        "article": "Art. 1", "initial": "open", "title": {"nl": "Afspraak", "en": "Deal"},
        "states": {"open": {"article": "Art. 1.1"}, "review": {"article": "Art. 1.2"},
                   "closed": {"article": "Art. 1.3", "final": True}},
        "triggers": [
            trigger("submit", ["open"], dest="review"),
            # stays in review unless the condition holds: the staying is no edge
            trigger("approve", ["review"], dest="review", branches=[{"when": "all_agreed", "dest": "closed"}]),
            trigger("note", ["@live"]),                               # internal: records, moves nowhere
            trigger("remind", ["open"], dest="open"),                 # a real self-transition
            {"name": "expire", "article": "Art. 1.4", "source": ["@live"], "dest": "closed", "manual": False,
             "automatic": {"at": [{"fact": "ends_on"}]}},
        ]}}})


def test_one_edge_per_source_and_destination_in_definition_order():
    assert edges(SMALL, "deal") == [
        Edge("open", "review", "submit", None, False, "Art. 1"),
        Edge("review", "closed", "approve", "all_agreed", False, "Art. 1"),
        Edge("open", "open", "remind", None, False, "Art. 1"),
        Edge("open", "closed", "expire", None, True, "Art. 1.4"),      # a group is each of its states
        Edge("review", "closed", "expire", None, True, "Art. 1.4"),
    ]


def test_a_branch_is_labelled_with_its_condition():
    assert [e.label for e in edges(SMALL, "deal")][:2] == ["submit", "approve [all_agreed]"]


def test_a_drawing_shows_only_moves_to_another_state_each_once():
    changes = state_changes(SMALL, "deal")
    assert [(e.source, e.dest, e.trigger) for e in changes] == [
        ("open", "review", "submit"), ("review", "closed", "approve"), ("open", "closed", "expire"),
        ("review", "closed", "expire")]


def test_the_mermaid_text_has_a_line_per_edge_with_its_article():
    text = mermaid(SMALL)
    assert text.splitlines()[:2] == ["stateDiagram-v2", "    [*] --> open"]
    assert "    review --> closed : approve [all_agreed] (Art. 1)" in text
    assert "    open --> open : remind (Art. 1)" in text
    assert "    review --> closed : expire (auto) (Art. 1.4)" in text
    assert "    closed --> [*]" in text and "review --> review" not in text


@pytest.mark.parametrize("name", ["krachtenbundeling", "stedendriehoek"])
def test_the_mermaid_text_and_the_drawing_walk_the_same_transitions(name):
    wf = workflows.load_all()[name]
    for ptype in wf.processes:
        text = mermaid(wf, ptype)
        drawn = state_changes(wf, ptype)
        assert drawn, ptype
        for e in drawn:
            assert f"{e.source} --> {e.dest} : {e.trigger}" in text
        assert {(e.source, e.dest) for e in edges(wf, ptype) if e.source != e.dest} == \
            {(e.source, e.dest) for e in drawn}
