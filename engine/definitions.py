"""Workflow definitions as data: pydantic models of a definition file, loaded and validated once.

A definition names, for every state, trigger, deadline, decision and guard, the article it comes from. The engine
gives the building blocks (guards, effects, conditions in `engine.rules`); a definition composes them. A new
agreement is a new definition file, not new engine code."""
from __future__ import annotations

import datetime as dt
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from convenant.engine.dates import CalendarRule

ROLES = ("secretariat", "party", "auditor", "administrator")   # administrator: accounts and tokens only
# Text of a definition, in both languages: `title = { nl = "...", en = "..." }` in the TOML. This is THE way a
# definition carries language (the code's own words are gettext msgids instead); read it with
# convenant.i18n.localized(text, lang), which falls back to Dutch. See README.md, section Translation.
Text = dict[str, str]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DateExpr(Strict):
    """A date derived from what is known: a fact of the process, another deadline, a fixed date, or the act's
    own legal date; plus days or calendar months; then the calendar rule (calendar days or the Atw)."""
    fact: str | None = None
    deadline: str | None = None
    date: dt.date | None = None
    on: bool = False
    days: int | str = 0            # an int, or "$section.key" / "-$section.key" taken from config.toml
    months: int = 0
    calendar: CalendarRule = "calendar_days"   # a Literal, so that an error names the field 'calendar'

    @field_validator("days")
    @classmethod
    def _days(cls, value: int | str) -> int | str:
        if isinstance(value, str) and not value.lstrip("-").startswith("$"):
            raise ValueError("days must be a number or a '$section.key' of config.toml")
        return value

    @model_validator(mode="after")
    def _one_base(self) -> DateExpr:
        bases = [self.fact is not None, self.deadline is not None, self.date is not None, self.on]
        if sum(bases) != 1:
            raise ValueError("a date needs exactly one of 'fact', 'deadline', 'date' or 'on'")
        return self

    @property
    def config_key(self) -> str | None:
        """The dotted config.toml key that 'days' names, if it names one."""
        return self.days.lstrip("-")[1:] if isinstance(self.days, str) else None

    def describe(self) -> str:
        base = (f"fixed {self.date.isoformat()}" if self.date else f"deadline {self.deadline}" if self.deadline
                else f"{self.fact}" if self.fact else "date of the act")
        parts = [base]
        if self.months:
            parts.append(f"{'+' if self.months > 0 else '-'} {abs(self.months)} calendar month(s)")
        if isinstance(self.days, str):
            sign = "-" if self.days.startswith("-") else "+"
            parts.append(f"{sign} {self.days.lstrip('-')} days")
        elif self.days:
            parts.append(f"{'+' if self.days > 0 else '-'} {abs(self.days)} days")
        if self.calendar != "calendar_days":
            parts.append(f"({self.calendar})")
        return " ".join(parts)


class ParamSpec(Strict):
    # "document": an attached file, recorded by name, SHA-256 and size only (the CLI reads the file)
    type: Literal["text", "date", "option", "list", "int", "document"] = "text"
    options: list[str] | None = None
    vocabulary: str | None = None       # words a plug-in of the definition knows (themes: themes, layers, commitments)
    required: bool = False
    required_if: dict[str, str] | None = None
    required_unless: list[str] | None = None     # required unless one of these other values is given
    max_items: int | None = None
    max_length: int = 2000
    label: Text = Field(default_factory=dict)

    @model_validator(mode="after")
    def _options(self) -> ParamSpec:
        if self.type == "option" and not self.options and not self.vocabulary:
            raise ValueError("an option parameter needs 'options' or a 'vocabulary'")
        return self


class Call(Strict):
    """A named building block of engine.rules with its arguments."""
    do: str
    args: dict[str, Any] = Field(default_factory=dict)


class GuardCall(Strict):
    check: str
    article: str
    args: dict[str, Any] = Field(default_factory=dict)


class Branch(Strict):
    when: str                      # a condition of engine.rules, e.g. "all_signed", "outcome:adopted"
    dest: str
    effects: list[Call] = Field(default_factory=list)


class Automatic(Strict):
    """Fires at 00:00 local time of the latest of these dates, once the trigger is allowed in the state."""
    at: list[DateExpr]


class TriggerSpec(Strict):
    name: str
    article: str
    title: Text = Field(default_factory=dict)
    source: list[str]
    dest: str | None = None        # None: the state stays (an internal transition)
    branches: list[Branch] = Field(default_factory=list)
    roles: list[Literal["secretariat", "party"]] = Field(default_factory=list)
    parties: list[str] | None = None          # only these parties (or the secretariat) may fire it
    party: Literal["none", "optional", "required"] = "none"   # must the act name the party it is for?
    own: str | None = None                    # a fact naming the only party that may fire it (e.g. requester)
    ref_required: bool = False
    params: dict[str, ParamSpec] = Field(default_factory=dict)
    guards: list[GuardCall] = Field(default_factory=list)
    effects: list[Call] = Field(default_factory=list)
    decision: str | None = None
    answer: str | None = None      # a vote trigger with a fixed answer (consent, refuse)
    meets: list[str] = Field(default_factory=list)
    automatic: Automatic | None = None
    manual: bool = True
    not_before: list[str] = Field(default_factory=list)   # facts the act's date may not precede
    follow_up: bool = False        # fired by the engine as part of another act (closing at the end, judging again)

    @model_validator(mode="after")
    def _someone(self) -> TriggerSpec:
        if self.manual and not self.roles:
            raise ValueError(f"trigger {self.name!r}: a manual trigger needs 'roles'")
        if not self.manual and self.automatic is None and not self.follow_up:
            raise ValueError(f"trigger {self.name!r}: neither manual nor automatic")
        return self


class StateSpec(Strict):
    article: str
    title: Text = Field(default_factory=dict)
    in_force: bool = False
    final: bool = False
    on_enter: list[Call] = Field(default_factory=list)


class DeadlineSpec(Strict):
    kind: str
    article: str
    title: Text
    due: DateExpr
    moment: bool = False            # a moment, not an awaited act: met when its transition fires
    met_by: list[str] = Field(default_factory=list)
    responsible: list[str] = Field(default_factory=lambda: ["parties"])
    expected: Text = Field(default_factory=dict)


class OutcomeRule(Strict):
    when: Literal["any", "all", "mixed"]
    answer: str | None = None
    outcome: str


class DecisionSpec(Strict):
    """A decision that needs every current party: who votes, the answers, which combination decides what."""
    article: str
    param: str                          # the --set key that carries the answer
    answers: list[str]
    rules: list[OutcomeRule]
    deadline: str | None = None         # the deadline kind met once the outcome is known
    initiator: str | None = None        # a fact naming the party whose request counts as its answer
    initiator_answer: str | None = None
    carry: list[str] = Field(default_factory=list)   # params the first vote sets and later votes may only repeat
    carry_with: str | None = None       # the answer that carries them

    @model_validator(mode="after")
    def _answers(self) -> DecisionSpec:
        for rule in self.rules:
            if rule.answer is not None and rule.answer not in self.answers:
                raise ValueError(f"rule names answer {rule.answer!r}, not one of {self.answers}")
        return self


class ProcessSpec(Strict):
    title: Text
    article: str
    initial: str
    id_prefix: str | None = None     # children: "{root}/{id_prefix}-{n}"
    states: dict[str, StateSpec]
    triggers: list[TriggerSpec]
    deadlines: list[DeadlineSpec] = Field(default_factory=list)
    decisions: dict[str, DecisionSpec] = Field(default_factory=dict)
    on_create: list[Call] = Field(default_factory=list)

    @cached_property
    def trigger_map(self) -> dict[str, TriggerSpec]:
        return {t.name: t for t in self.triggers}

    @cached_property
    def deadline_map(self) -> dict[str, DeadlineSpec]:
        return {d.kind: d for d in self.deadlines}


class ProcessMapping(Strict):
    """Where one process type's states and deadline kinds go when a process moves between two versions: a name
    not listed stays itself (it must exist in the target); `cancel` lists deadline kinds that have no place in
    the target and are cancelled, `add` the kinds the target opens on the way where their date can be computed,
    in the states of `add_in` (state names or "@group" of the target; all non-final states when empty)."""
    states: dict[str, str] = Field(default_factory=dict)
    deadlines: dict[str, str] = Field(default_factory=dict)
    cancel: list[str] = Field(default_factory=list)
    add: list[str] = Field(default_factory=list)
    add_in: list[str] = Field(default_factory=list)


class MigrationSpec(Strict):
    """How a running process moves from version `from` of its definition to the version whose file holds this
    table (`convenant migrate`, engine/migrate.py)."""
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    from_version: int = Field(alias="from")
    article: str
    title: Text = Field(default_factory=dict)
    processes: dict[str, ProcessMapping] = Field(default_factory=dict)

    def mapping(self, ptype: str) -> ProcessMapping:
        return self.processes.get(ptype) or ProcessMapping()


class WorkflowRef(str):
    """A workflow's name as a process names it, carrying the version of the definition the process runs under
    (the row's `definition_version`). It is the name wherever a string is wanted; `Service.workflow` reads the
    version to give the definition of that version."""
    version: int | None

    def __new__(cls, name: str, version: int | None = None) -> WorkflowRef:
        ref = super().__new__(cls, name)
        ref.version = version
        return ref

    def __reduce__(self) -> tuple[Any, ...]:
        return (WorkflowRef, (str(self), self.version))


def version_of(workflow: str) -> int | None:
    """The definition version a process's workflow name carries (None: the one new processes get)."""
    return getattr(workflow, "version", None)


class ReminderScheme(Strict):
    """A definition's own reminders for one deadline kind: days before the due date (`[reminders]
    extension_decision = { days = [28, 14, 7], article = "Art. 5.4" }`). It overrides config.toml's [reminders] for
    agreements under this version; an adopted amendment's scheme overrides it (engine/deadlines.py scheme())."""
    days: list[int] = Field(max_length=50)
    article: str

    @field_validator("days")
    @classmethod
    def _days(cls, value: list[int]) -> list[int]:
        if any(d < 0 or d > 36_600 for d in value):
            raise ValueError("reminder days are whole numbers of days before the due date, 0 to 36600")
        return sorted(set(value), reverse=True)


class WorkflowDefinition(Strict):
    name: str
    version: int
    # this version's own reminder schemes per deadline kind (days before due), over config.toml's [reminders]
    reminders: dict[str, ReminderScheme] = Field(default_factory=dict)
    # how a process of another version moves to this one (`convenant migrate`); more versions of the same
    # definition live beside its file in versions/NAME.vN.toml (engine/loading.py)
    migrations: list[MigrationSpec] = Field(default_factory=list)
    title: Text
    article: str
    root: str
    processes: dict[str, ProcessSpec]
    example: str | None = None
    groups: dict[str, list[str]] = Field(default_factory=dict)   # state groups usable as a source: "@in_force"
    plugins: list[str] = Field(default_factory=list)   # the plug-ins whose blocks it names (engine/plugins/)
    # Where the agreement says who represents whom (a represented party acting directly is refused citing it).
    parties_article: str = "Partijen (aanhef)"
    source_file: str | None = None
    _versions: dict[int, WorkflowDefinition] = PrivateAttr(default_factory=dict)
    _main: int | None = PrivateAttr(default=None)      # the version new agreements are made under

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.replace("_", "").isalnum() or value != value.lower():
            raise ValueError("a workflow name is lower case letters, digits and underscores")
        return value

    @cached_property
    def vocabulary(self) -> set[str]:
        return {t.name for p in self.processes.values() for t in p.triggers}

    def process(self, ptype: str) -> ProcessSpec:
        return self.processes[ptype]

    # -- versions ------------------------------------------------------------------------------------------
    @property
    def ref(self) -> WorkflowRef:
        """The name a process of this version carries."""
        return WorkflowRef(self.name, self.version)

    @property
    def versions(self) -> dict[int, WorkflowDefinition]:
        """Every version of this definition known beside it, this one included, by number."""
        return {self.version: self, **self._versions}

    def at_version(self, version: int | None) -> WorkflowDefinition | None:
        if version is None or version == self.version:
            return self
        return self._versions.get(version)

    def attach_versions(self, others: dict[int, WorkflowDefinition]) -> None:
        """Make the other versions of this definition known to it (and to each other): done once at loading."""
        every = {self.version: self, **others}
        for wf in every.values():
            wf._versions = {n: v for n, v in every.items() if n != wf.version}
            wf._main = self.version

    @property
    def main(self) -> WorkflowDefinition:
        """The version new agreements are made under (the definition file itself)."""
        return self.versions.get(self._main or self.version, self)

    def migration_from(self, version: int) -> MigrationSpec | None:
        return next((m for m in self.migrations if m.from_version == version), None)
