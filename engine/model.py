"""The things the engine works on: processes (an agreement and its children), deadlines, transition records and
notifications, as typed objects.

A process is read from its stored form once per command (engine/upcast.py turns any stored format into these
objects) and written back once; in between the engine reads and changes attributes, never string keys. The
agreement's static reference data (contacts, governance bodies, the plug-ins' texts such as the themes'
commitments) is a separate, immutable `Reference`, stored once under the hash of its content and shared by every
agreement made from the same data. Plain dataclasses without slots: a command copies the agreement it works on
with one pickle round trip (`engine.rules.snapshot`), which is fastest on instance dicts."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol


class DeadlineStatus(StrEnum):
    """A deadline is awaited (`open`), met by the act it waits for, `missed` once its day passed without it (the
    ladder climbs), or `cancelled` when the act can no longer happen."""
    OPEN = "open"
    MET = "met"
    MISSED = "missed"
    CANCELLED = "cancelled"


AWAITED = (DeadlineStatus.OPEN, DeadlineStatus.MISSED)


class Language(StrEnum):
    NL = "nl"
    EN = "en"


Text = dict[str, str]          # a text in both languages: {"nl": ..., "en": ...}


def iso(day: dt.date | dt.datetime | None) -> str | None:
    return None if day is None else day.isoformat()


def date_of(text: str | None) -> dt.date | None:
    return None if text is None else dt.date.fromisoformat(text)


def as_date(value: Any) -> dt.date | None:
    """A value that reads as an ISO date (YYYY-MM-DD), as a date; anything else None."""
    if isinstance(value, str) and len(value) == 10 and value[4] == "-" and value[7] == "-":
        return dt.date.fromisoformat(value)
    return None


class Facts(dict[str, Any]):
    """The facts a definition names (effective_from, ends_on, notifier, ...): JSON values, dates as ISO text,
    because the definition, not the engine, decides what each one is."""

    def value(self, name: str) -> Any:
        """The fact, a date where it reads as one."""
        got = self.get(name)
        day = as_date(got)
        return got if day is None else day

    def date(self, name: str) -> dt.date | None:
        return as_date(self.get(name))


# -- parts of an agreement -----------------------------------------------------------------------------------
@dataclass
class Contact:
    name: str
    email: str
    language: Language = Language.NL

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "email": self.email, "language": str(self.language)}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Contact:
        return cls(name=raw["name"], email=raw["email"], language=Language(raw.get("language") or "nl"))


@dataclass
class Party:
    """A party to the agreement as the acts concern it: who it is, who signs for it, when it signed and left."""
    name: str
    represented_by: str | None = None
    group: str | None = None
    layer: str | None = None
    reservation: str | None = None
    themes: list[str] | None = None
    language: Language = Language.NL
    signed_on: dt.date | None = None
    withdrawn_on: dt.date | None = None
    # its own bodies' steps before it signs (Art. 3.2, seed 001): each step, body, on, ref. Written only when
    # recorded, so that a row without any reads and hashes as before (no new format needed)
    mandate: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name, "represented_by": self.represented_by, "group": self.group, "layer": self.layer,
            "reservation": self.reservation, "themes": self.themes, "language": str(self.language),
            "signed_on": iso(self.signed_on), "withdrawn_on": iso(self.withdrawn_on)}
        if self.mandate:
            out["mandate"] = [dict(m) for m in self.mandate]
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Party:
        return cls(name=raw["name"], represented_by=raw.get("represented_by"), group=raw.get("group"),
                   layer=raw.get("layer"), reservation=raw.get("reservation"), themes=raw.get("themes"),
                   language=Language(raw.get("language") or "nl"), signed_on=date_of(raw.get("signed_on")),
                   withdrawn_on=date_of(raw.get("withdrawn_on")),
                   mandate=[dict(m) for m in raw.get("mandate") or []])

    @property
    def has_mandate(self) -> bool:
        """A decision of its own bodies is recorded (advice alone is not a mandate)."""
        return any(m.get("step") == "decision" for m in self.mandate)


@dataclass
class Vote:
    """One party's answer in a decision (a representative's counts for those it represents)."""
    answer: str
    on: dt.date
    actor: str
    ref: str | None = None
    role: str | None = None            # None for the initiator's answer, given by its request
    initiator: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"answer": self.answer, "on": self.on.isoformat(), "ref": self.ref,
                               "actor": self.actor}
        if self.role is not None:
            out["role"] = self.role
        if self.initiator:
            out["initiator"] = True
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Vote:
        return cls(answer=raw["answer"], on=dt.date.fromisoformat(raw["on"]), actor=raw["actor"],
                   ref=raw.get("ref"), role=raw.get("role"), initiator=bool(raw.get("initiator")))


@dataclass
class Decision:
    """A decision that needs every current party (engine/decisions.py judges its outcome)."""
    opened_on: dt.date
    answers: dict[str, Vote] = field(default_factory=dict)
    outcome: str | None = None
    carried: dict[str, Any] = field(default_factory=dict)   # values the first vote set (new_end)
    decided_on: dt.date | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"opened_on": self.opened_on.isoformat(),
                "answers": {p: v.to_dict() for p, v in self.answers.items()}, "outcome": self.outcome,
                "carried": dict(self.carried), "decided_on": iso(self.decided_on)}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Decision:
        return cls(opened_on=dt.date.fromisoformat(raw["opened_on"]),
                   answers={p: Vote.from_dict(v) for p, v in (raw.get("answers") or {}).items()},
                   outcome=raw.get("outcome"), carried=dict(raw.get("carried") or {}),
                   decided_on=date_of(raw.get("decided_on")))


@dataclass
class TextVersion:
    """A version of the agreement's text (Art. 5.8): 1 is the text as signed, each adopted amendment adds one."""
    version: int
    adopted_on: dt.date | None
    from_version: int | None = None
    change: str | None = None
    document: dict[str, Any] | None = None       # name, sha256, size (engine/documents.py)
    amendment: str | None = None
    requested_by: str | None = None
    requested_on: dt.date | None = None
    ref: str | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "from_version": self.from_version, "change": self.change,
                "document": self.document, "amendment": self.amendment, "requested_by": self.requested_by,
                "requested_on": iso(self.requested_on), "adopted_on": iso(self.adopted_on), "ref": self.ref,
                "note": self.note}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TextVersion:
        return cls(version=raw["version"], adopted_on=date_of(raw.get("adopted_on")),
                   from_version=raw.get("from_version"), change=raw.get("change"), document=raw.get("document"),
                   amendment=raw.get("amendment"), requested_by=raw.get("requested_by"),
                   requested_on=date_of(raw.get("requested_on")), ref=raw.get("ref"), note=raw.get("note"))


@dataclass
class ChildRef:
    """What the agreement keeps of a child process (amendment, termination, dispute): enough for its guards
    (who has an open notice?) without reading the children."""
    id: str
    ptype: str
    final: bool = False
    state: str | None = None           # known once it is final
    facts: dict[str, str] = field(default_factory=dict)   # its short text facts at opening (notifier, requester)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "ptype": self.ptype, "final": self.final, "state": self.state,
                "facts": dict(self.facts)}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ChildRef:
        return cls(id=raw["id"], ptype=raw["ptype"], final=bool(raw.get("final")), state=raw.get("state"),
                   facts=dict(raw.get("facts") or {}))


@dataclass
class Body:
    """A governance body (the secretariat, the DO, the BO, Art. 2): how the ladder's emails name and reach it."""
    name: str
    title: Text
    article: str | None = None
    abbr: str | None = None
    contacts: list[Contact] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": dict(self.title), "article": self.article, "abbr": self.abbr,
                "contacts": [c.to_dict() for c in self.contacts]}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Body:
        return cls(name=raw["name"], title=dict(raw.get("title") or {"nl": raw["name"], "en": raw["name"]}),
                   article=raw.get("article"), abbr=raw.get("abbr"),
                   contacts=[Contact.from_dict(c) for c in raw.get("contacts") or []])


class PluginData(Protocol):
    """A plug-in's typed part of an agreement (its state in the row, or its reference data)."""

    def to_dict(self) -> dict[str, Any]: ...
    def copy(self) -> PluginData: ...


@dataclass
class Reference:
    """An agreement's static reference data: never changed by an act, stored once per distinct content (`id` is
    the SHA-256 of its canonical JSON, engine/upcast.py) and shared by every agreement that has the same."""
    contacts: dict[str, list[Contact]] = field(default_factory=dict)     # per party
    governance: dict[str, Body] = field(default_factory=dict)
    plugins: dict[str, PluginData] = field(default_factory=dict)        # per plug-in (themes: texts, targets)
    id: str = ""


@dataclass
class LogEntry:
    """An entry of a process's log (its own table, not the row): a progress report, for instance. The history
    records the act as well; the log is the plug-in's own account of it, read by subject."""
    kind: str
    effective: dt.date
    recorded_at: dt.datetime
    subject: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Process:
    """An agreement (a root process) or one of its children. The attributes under "the agreement" are empty on
    children; `plugins` holds the typed state of each plug-in the agreement uses (engine/plugins/)."""
    id: str
    workflow: str
    ptype: str
    state: str
    created_at: dt.datetime
    version: int = 0
    parent_id: str | None = None
    root_id: str | None = None
    next_auto_at: dt.datetime | None = None
    final: bool = False
    facts: Facts = field(default_factory=Facts)
    decisions: dict[str, Decision] = field(default_factory=dict)
    # the agreement
    title: str | None = None
    entered_at: dt.datetime | None = None
    parties: dict[str, Party] = field(default_factory=dict)
    children: list[ChildRef] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)
    text_versions: list[TextVersion] = field(default_factory=list)
    plugins: dict[str, PluginData] = field(default_factory=dict)
    reference: Reference | None = None
    # entries this command adds to the process's log: written with the row (storage), never read back into it
    new_log: list[LogEntry] = field(default_factory=list)

    @property
    def is_root(self) -> bool:
        return self.root_id in (None, self.id)

    def copy(self) -> Process:
        """A working copy a command may change freely, so that a refused act leaves this one as it was: every
        part copied through its own codec (about twice as fast as a pickle round trip of the dataclasses); the
        reference data is immutable and shared."""
        return Process(
            id=self.id, workflow=self.workflow, ptype=self.ptype, state=self.state, created_at=self.created_at,
            version=self.version, parent_id=self.parent_id, root_id=self.root_id, next_auto_at=self.next_auto_at,
            final=self.final, facts=Facts(self.facts),
            decisions={n: Decision.from_dict(d.to_dict()) for n, d in self.decisions.items()},
            title=self.title, entered_at=self.entered_at,
            parties={pid: Party.from_dict(p.to_dict()) for pid, p in self.parties.items()},
            children=[ChildRef.from_dict(c.to_dict()) for c in self.children], counters=dict(self.counters),
            text_versions=[TextVersion.from_dict(v.to_dict()) for v in self.text_versions],
            plugins={name: state.copy() for name, state in self.plugins.items()}, reference=self.reference,
            new_log=list(self.new_log))


@dataclass
class Deadline:
    process_id: str
    root_id: str
    kind: str
    due: dt.date
    article: str
    rule: str
    created_at: dt.datetime
    status: DeadlineStatus = DeadlineStatus.OPEN
    moment: bool = False
    responsible: list[str] = field(default_factory=list)
    met_on: dt.date | None = None
    missed_at: dt.datetime | None = None
    step: int = 0                      # index of the next step of its plan
    next_at: dt.datetime | None = None
    id: int | None = None
    subject: str | None = None         # a deadline on one government or theme (VTH targets)

    @property
    def awaited(self) -> bool:
        """Still waiting for its act: open, or missed with the ladder running."""
        return self.met_on is None and self.status in AWAITED


@dataclass
class Record:
    process: str
    root: str
    trigger: str
    source: str | None
    dest: str | None
    actor: str
    role: str
    party: str | None
    effective: str
    recorded_at: str
    article: str
    ref: str | None = None
    reason: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    seq: int | None = None
    prev_hash: str | None = None
    hash: str | None = None
    corrects: int | None = None        # the seq of the record this one corrects (engine/corrections.py)


@dataclass
class Notification:
    key: str                            # idempotency key: process, deadline, step, recipient
    process_id: str
    root_id: str
    to_addr: str
    to_name: str
    subject: str
    payload: dict[str, Any]
    deadline_id: int | None = None
    kind: str = "reminder"
