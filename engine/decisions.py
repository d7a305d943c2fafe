"""The unanimous-decision mechanism shared by extension (Art. 5.4), amendment (Art. 5.8) and continuation
(Art. 5.7): one answer per current party, and rules that say which combination decides what."""
from __future__ import annotations

from typing import Iterable, Mapping

from engine.definitions import DecisionSpec


def outcome(spec: DecisionSpec, voters: Iterable[str], answers: Mapping[str, str]) -> str | None:
    """The first rule that the answers already decide, or None while the outcome is open.

    'any X' is decided by one X; 'all X' once every voter answered X; 'mixed' once two different answers exist,
    since no later answer can make them unanimous."""
    voters = list(voters)
    given = [answers[v] for v in voters if v in answers]
    complete = len(given) == len(voters) and voters
    for rule in spec.rules:
        if rule.when == "any" and rule.answer in given:
            return rule.outcome
        if rule.when == "all" and complete and all(a == rule.answer for a in given):
            return rule.outcome
        if rule.when == "mixed" and len(set(given)) >= 2:
            return rule.outcome
    return None


def pending(voters: Iterable[str], answers: Mapping[str, str]) -> list[str]:
    return [v for v in voters if v not in answers]
