"""The unanimous-decision mechanism shared by extension (Art. 5.4), amendment (Art. 5.8) and continuation
(Art. 5.7): one answer per current party, and rules, named by the definition, that say which combination of
answers decides what.

A decision is decided at the first moment its outcome is certain: when every way the parties that have not
answered yet could still answer leads to the same outcome. So 'any no' decides at the first 'no', 'all yes'
only once everyone said yes, and 'mixed' as soon as two different answers make unanimity impossible. Defined
this way the outcome can never change once it is known, whatever the order of the rules."""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import combinations

from convenant.engine.definitions import DecisionSpec, OutcomeRule


def judge(rules: Sequence[OutcomeRule], present: frozenset[str]) -> str | None:
    """The outcome of a complete set of answers, which only depends on which answers occur: the first rule
    that holds, or None when no rule covers this combination."""
    for rule in rules:
        if rule.when == "any" and rule.answer in present:
            return rule.outcome
        if rule.when == "all" and present == {rule.answer}:
            return rule.outcome
        if rule.when == "mixed" and len(present) >= 2:
            return rule.outcome
    return None


def possible_outcomes(spec: DecisionSpec, voters: Iterable[str], answers: Mapping[str, str]) -> set[str | None]:
    """Every outcome the decision can still reach, given who has answered what (None: no rule applies)."""
    voters = list(dict.fromkeys(voters))
    given = frozenset(answers[v] for v in voters if v in answers)
    missing = sum(1 for v in voters if v not in answers)
    if not voters:
        return {None}
    if missing == 0:
        return {judge(spec.rules, given)}
    # the missing answers add a non-empty set of distinct answers, at most one per missing voter
    return {judge(spec.rules, given | frozenset(extra))
            for size in range(1, min(missing, len(spec.answers)) + 1)
            for extra in combinations(spec.answers, size)}


def outcome(spec: DecisionSpec, voters: Iterable[str], answers: Mapping[str, str]) -> str | None:
    """The outcome once it is certain, else None while it is still open. Answers of non-voters are ignored."""
    reachable = possible_outcomes(spec, voters, answers)
    return next(iter(reachable)) if len(reachable) == 1 else None


def uncovered(spec: DecisionSpec) -> list[frozenset[str]]:
    """Combinations of answers no rule decides: a definition must leave none (checked when it is loaded)."""
    return [frozenset(combo) for size in range(1, len(spec.answers) + 1)
            for combo in combinations(spec.answers, size) if judge(spec.rules, frozenset(combo)) is None]
