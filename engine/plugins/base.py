"""What a plug-in is: named building blocks and hooks, all optional. Guards and effects take the command's `Act`
(engine/rules.py) and their arguments from the definition, as the generic ones do; the hooks take the agreement
(a root `Process`) and, where it matters, a deadline."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from convenant.engine.model import Deadline, LogEntry, PluginData, Process, Text

if TYPE_CHECKING:
    from convenant.engine.config import Settings

# Blocks take the command's engine.rules.Act (not imported here: rules builds on this module).
Guard = Callable[..., None]                       # (act, article, **args): raise act.refuse(...) or return
Effect = Callable[..., None]                      # (act, **args): change the working copies, collect writes
Condition = Callable[[Any, str], bool]            # (act, the text after "name:"): which branch
Vocabulary = Callable[[Process], "list[str] | None"]   # the words an option accepts on this agreement
Validate = Callable[[dict[str, Any], Process], None]    # values only the agreement's data can judge (exit 2)
Section = Callable[[Process, "list[Deadline]", "Settings"], dict[str, Any]]   # fields of `show`, or a view
Recipients = Callable[[Process, str], "list[dict[str, str]]"]     # "prefix:ARG" -> contacts ([]: secretariat)


@dataclass(frozen=True)
class Topic:
    """How notifications about one of a plug-in's deadlines name what it is about, and how it climbs."""
    label: Text                         # added to the deadline's title: which theme or government
    theme: Text | None = None           # the payload's `theme` (the progress templates name it)
    escalation_template: str | None = None
    first_rung: Text | None = None      # rung 1 goes to the responsible alone, named thus (a working group)


@dataclass(frozen=True)
class FromFormat1:
    """A plug-in's part of a format-1 row (engine/upcast.py): its state, its reference data (both in their
    stored form) and the log entries the row held, or None where the row held nothing of it."""
    state: dict[str, Any]
    reference: dict[str, Any]
    log: list[LogEntry] = field(default_factory=list)


@dataclass(frozen=True)
class DataPart:
    """What a plug-in reads from an agreement's data file: its state and its reference data."""
    state: PluginData
    reference: PluginData


@dataclass(frozen=True)
class Plugin:
    name: str
    guards: Mapping[str, Guard] = field(default_factory=dict)
    effects: Mapping[str, Effect] = field(default_factory=dict)
    conditions: Mapping[str, Condition] = field(default_factory=dict)
    vocabularies: Mapping[str, Vocabulary] = field(default_factory=dict)
    validate: Validate | None = None
    show: Section | None = None
    views: Mapping[str, Section] = field(default_factory=dict)
    holds: Callable[[Process], bool] | None = None      # has this agreement anything of it (for listings)?
    recipients: Mapping[str, Recipients] = field(default_factory=dict)
    topic: Callable[[Process, Deadline], Topic | None] | None = None
    # the ladder of one of its deadlines ran a rung (level 0 first): True when the agreement changed
    escalated: Callable[[Process, Deadline, int], bool] | None = None
    escalation_kinds: frozenset[str] = frozenset()     # the deadline kinds `escalated` follows
    # its part of an agreement: the data file's keys it reads, and the codecs of what it stores
    data_keys: frozenset[str] = frozenset()
    from_data: Callable[[dict[str, Any], Any], DataPart] | None = None    # (the keys' values, the definition)
    load_state: Callable[[dict[str, Any]], PluginData] | None = None
    load_reference: Callable[[dict[str, Any]], PluginData] | None = None
    from_format_1: Callable[[dict[str, Any]], FromFormat1 | None] | None = None
