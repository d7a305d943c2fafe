"""The themes plug-in: themes, sign-ups of decentral governments, progress reports and implementation targets
(the Krachtenbundeling's Art. 1.1, 1.4, 3.4 and 4). A definition that names it (`plugins = ["themes"]`) may use
its blocks; what the themes are, their commitments, working groups and targets is the agreement's data.

- Reference data (immutable, shared): per theme its title, article, numbered commitments and working-group
  contacts; the targets (theme, layer, due date, source, deadline kind), e.g. the VTH targets per layer.
- State (in the agreement's row): per theme its status, last report, escalation level and sign-ups; the contact
  a government gave when it signed up.
- Log (its own table): every progress report.

Progress silence and the targets are ordinary deadline rows with a `subject` (the theme, the government), so the
one scheduler reminds, marks them missed and climbs the escalation ladder like any other deadline."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from convenant.engine.agreements import Contact as ContactIn
from convenant.engine.contacts import email_address
from convenant.engine.errors import BadInput
from convenant.engine.model import (
    Contact,
    Deadline,
    DeadlineStatus,
    LogEntry,
    Process,
    Text,
    date_of,
    iso,
)
from convenant.engine.plugins.base import DataPart, FromFormat1, Plugin, Topic
from convenant.i18n import LANGS, gettext, localized

if TYPE_CHECKING:
    from convenant.engine.config import Settings
    from convenant.engine.definitions import WorkflowDefinition
    from convenant.engine.rules import Act

NAME = "themes"
PROGRESS = "progress_report"          # the deadline kind of an awaited progress report (one per theme)
VTH_TARGET = "vth_target"             # the deadline kind of the data file's `vth_targets`
LAYERS = ["province", "water_board", "municipality"]


class ThemeStatus(StrEnum):
    ON_TRACK = "on_track"
    STALLED = "stalled"


# -- reference data ----------------------------------------------------------------------------------------
@dataclass
class Commitment:
    n: int
    title_nl: str
    title_en: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "title_nl": self.title_nl, "title_en": self.title_en}


@dataclass
class ThemeInfo:
    title: Text
    article: str = "Art. 4"
    commitments: list[Commitment] = field(default_factory=list)
    contacts: list[Contact] = field(default_factory=list)       # the theme's working group
    layers: list[str] | None = None     # who may sign up (a theme added by amendment names them); None: the definition's rule

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"title": dict(self.title), "article": self.article,
                               "commitments": [c.to_dict() for c in self.commitments],
                               "contacts": [c.to_dict() for c in self.contacts]}
        if self.layers is not None:
            out["layers"] = list(self.layers)
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ThemeInfo:
        layers = raw.get("layers")
        return cls(title=dict(raw["title"]), article=raw.get("article") or "Art. 4",
                   commitments=[Commitment(n=c["n"], title_nl=c["title_nl"], title_en=c.get("title_en"))
                                for c in raw.get("commitments") or []],
                   contacts=[Contact.from_dict(c) for c in raw.get("contacts") or []],
                   layers=None if layers is None else list(layers))


@dataclass
class Target:
    """A government of `layer` that signs up for `theme` is awaited to reach the target by `due`."""
    theme: str
    layer: str
    due: dt.date
    deadline: str = VTH_TARGET
    source: str | None = None
    commitment: int | None = None      # the afspraak it belongs to: only a sign-up that chose it is awaited

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"theme": self.theme, "layer": self.layer, "due": self.due.isoformat(), "deadline": self.deadline,
                               "source": self.source}
        if self.commitment is not None:
            out["commitment"] = self.commitment
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Target:
        return cls(theme=raw["theme"], layer=raw["layer"], due=dt.date.fromisoformat(str(raw["due"])),
                   deadline=raw.get("deadline") or VTH_TARGET, source=raw.get("source"),
                   commitment=raw.get("commitment"))

    def applies_to(self, commitments: list[int]) -> bool:
        """A sign-up that names its commitments is awaited only for the target of one it chose; one that names
        none signed up for the whole theme."""
        return self.commitment is None or not commitments or self.commitment in commitments


@dataclass
class ThemesReference:
    themes: dict[str, ThemeInfo] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"themes": {tid: t.to_dict() for tid, t in self.themes.items()},
                "targets": [t.to_dict() for t in self.targets]}

    def copy(self) -> ThemesReference:
        return load_reference(self.to_dict())

    def target(self, theme: str, layer: str) -> Target | None:
        return next((t for t in self.targets if t.theme == theme and t.layer == layer), None)


def load_reference(raw: dict[str, Any]) -> ThemesReference:
    return ThemesReference(themes={tid: ThemeInfo.from_dict(t) for tid, t in (raw.get("themes") or {}).items()},
                           targets=[Target.from_dict(t) for t in raw.get("targets") or []])


# -- state -------------------------------------------------------------------------------------------------
@dataclass
class SignUp:
    government: str
    layer: str
    on: dt.date
    commitments: list[int] = field(default_factory=list)
    ref: str | None = None
    email: str | None = None
    withdrawn_on: dt.date | None = None
    in_kind: str | None = None          # an in-kind contribution, with the text that makes it one (footnote 3)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"government": self.government, "layer": self.layer,
                               "commitments": list(self.commitments), "on": self.on.isoformat(), "ref": self.ref}
        if self.email is not None:
            out["email"] = self.email
        if self.in_kind is not None:
            out["in_kind"] = self.in_kind
        if self.withdrawn_on is not None:
            out["withdrawn_on"] = self.withdrawn_on.isoformat()
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> SignUp:
        return cls(government=raw["government"], layer=raw["layer"], on=dt.date.fromisoformat(raw["on"]),
                   commitments=list(raw.get("commitments") or []), ref=raw.get("ref"), email=raw.get("email"),
                   withdrawn_on=date_of(raw.get("withdrawn_on")), in_kind=raw.get("in_kind"))


@dataclass
class ThemeProgress:
    status: ThemeStatus | None = None
    last_report: dt.date | None = None
    last_report_text: str | None = None
    escalation_level: int = 0             # 0 none, 1 working group, 2 DO, 3 BO
    sign_ups: list[SignUp] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"status": None if self.status is None else str(self.status), "last_report": iso(self.last_report),
                "last_report_text": self.last_report_text, "escalation_level": self.escalation_level,
                "sign_ups": [s.to_dict() for s in self.sign_ups]}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ThemeProgress:
        status = raw.get("status")
        return cls(status=ThemeStatus(status) if status else None, last_report=date_of(raw.get("last_report")),
                   last_report_text=raw.get("last_report_text"),
                   escalation_level=int(raw.get("escalation_level") or 0),
                   sign_ups=[SignUp.from_dict(s) for s in raw.get("sign_ups") or []])

    @property
    def current_sign_ups(self) -> list[SignUp]:
        return [s for s in self.sign_ups if s.withdrawn_on is None]


@dataclass
class ThemesState:
    themes: dict[str, ThemeProgress] = field(default_factory=dict)
    government_contacts: dict[str, list[Contact]] = field(default_factory=dict)   # given at a sign-up
    # per government and target deadline kind: when it reached the target and the reference (VTH afspraak 3)
    implementations: dict[str, dict[str, Any]] = field(default_factory=dict)
    # what adopted amendments added to the agreement's themes, in order (Art. 5.8): {"amendment", "on", and
    # "theme": {"id", ThemeInfo's fields} or "commitment": {"theme", Commitment's fields}}; over the reference data
    amended: list[dict[str, Any]] = field(default_factory=list)
    proposed: dict[str, dict[str, str]] = field(default_factory=dict)     # per open amendment: its --set keys

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "themes": {tid: t.to_dict() for tid, t in self.themes.items()},
            "government_contacts": {g: [c.to_dict() for c in cs] for g, cs in self.government_contacts.items()}}
        if self.implementations:
            out["implementations"] = {g: dict(i) for g, i in self.implementations.items()}
        if self.amended:
            out["amended"] = [_plain(a) for a in self.amended]
        if self.proposed:
            out["proposed"] = {a: dict(p) for a, p in self.proposed.items()}
        return out

    def copy(self) -> ThemesState:
        return load_state(self.to_dict())

    def theme(self, tid: str) -> ThemeProgress:
        return self.themes.setdefault(tid, ThemeProgress())


def load_state(raw: dict[str, Any]) -> ThemesState:
    return ThemesState(themes={tid: ThemeProgress.from_dict(t) for tid, t in (raw.get("themes") or {}).items()},
                       government_contacts={g: [Contact.from_dict(c) for c in cs]
                                            for g, cs in (raw.get("government_contacts") or {}).items()},
                       implementations={g: dict(i) for g, i in (raw.get("implementations") or {}).items()},
                       amended=[_plain(a) for a in raw.get("amended") or []],
                       proposed={a: dict(p) for a, p in (raw.get("proposed") or {}).items()})


def _plain(value: Any) -> Any:
    """A deep copy of JSON-like data (an amended entry), so that copies share nothing."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def state_of(root: Process) -> ThemesState:
    found = root.plugins.get(NAME)
    if found is None:
        found = root.plugins[NAME] = ThemesState()
    if not isinstance(found, ThemesState):
        raise TypeError(f"the {NAME} state of {root.id} is a {type(found).__name__}")
    return found


def reference_of(root: Process) -> ThemesReference:
    """The agreement's theme data: the reference data it was created with, and what adopted amendments added."""
    found = root.reference.plugins.get(NAME) if root.reference is not None else None
    if found is None:
        found = ThemesReference()
    if not isinstance(found, ThemesReference):
        raise TypeError(f"the {NAME} reference data of {root.id} is a {type(found).__name__}")
    state = root.plugins.get(NAME)
    if isinstance(state, ThemesState) and state.amended:
        return amended_reference(found, state.amended)
    return found


def amended_reference(base: ThemesReference, amended: list[dict[str, Any]]) -> ThemesReference:
    """The reference data with the amendments' themes and commitments added, in their order (a copy)."""
    out = base.copy()
    for entry in amended:
        if "theme" in entry:
            raw = dict(entry["theme"])
            out.themes.setdefault(raw.pop("id"), ThemeInfo.from_dict(raw))
        if "commitment" in entry:
            c = entry["commitment"]
            theme = out.themes.get(c["theme"])
            if theme is not None and all(k.n != c["n"] for k in theme.commitments):
                theme.commitments.append(Commitment(n=c["n"], title_nl=c["title_nl"], title_en=c.get("title_en")))
    return out


# -- vocabularies and values --------------------------------------------------------------------------------
def theme_ids(root: Process) -> list[str]:
    return list(reference_of(root).themes)


def validate(params: dict[str, Any], root: Process) -> None:
    """Values that only the agreement's data can judge (exit 2): commitment numbers of the theme, an address."""
    theme = reference_of(root).themes.get(params.get("theme") or "")
    if theme is not None and params.get("commitments"):
        known = [c.n for c in theme.commitments]
        unknown = [n for n in params["commitments"] if n not in known]
        if unknown:
            raise BadInput(f"commitments: theme {params['theme']} has no commitment "
                           f"{', '.join(map(str, unknown))} (it has {', '.join(map(str, known)) or 'none'})",
                           field="commitments")
    if params.get("email") is not None:
        email_address(params["email"], "email")


# -- guards ------------------------------------------------------------------------------------------------
def guard_layer_themes(act: Act, article: str, allowed: dict[str, list[str]],
                       in_kind: dict[str, list[str]] | None = None, **_: Any) -> None:
    """A layer whose umbrella party committed to some themes only may sign up only for those, and for the themes
    it contributes to in kind (footnote 3, read whole: the UvW contributes in kind to Kennisdeling)."""
    layer, theme = act.params.get("layer"), act.params.get("theme")
    info = reference_of(act.root).themes.get(theme or "")
    if info is not None and info.layers is not None:
        # a theme added by amendment names who may sign up for it; the parties agreed to that by the amendment
        if layer not in info.layers:
            raise act.refuse(f"a {(layer or '').replace('_', ' ')} may not sign up for {theme}: the theme is open "
                             f"to {', '.join(lr.replace('_', ' ') for lr in info.layers)}", info.article)
        return
    permitted = allowed.get(layer or "")
    if permitted is not None and theme in (in_kind or {}).get(layer or "", []):
        act.notes["in_kind"] = f"{article}: an in-kind contribution to {theme}"
        return
    if permitted is not None and theme not in permitted:
        # the reason in the agreement's own words: the reservation of the umbrella party of that layer
        why = next((p.reservation for p in act.root.parties.values() if p.layer == layer and p.reservation), None)
        raise act.refuse(f"a {(layer or '').replace('_', ' ')} may sign up only for {' and '.join(permitted)}, "
                         f"not {theme}" + (f" ({why})" if why else ""), article)


# -- amendments that add a theme or a commitment (Art. 5.8) ---------------------------------------------------
THEME_KEYS = ("theme", "theme_title", "theme_title_en", "theme_article", "theme_layers")
COMMITMENT_KEYS = ("commitment", "commitment_theme", "commitment_text", "commitment_text_en")
THEME_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-")


def _given(params: dict[str, Any], key: str) -> str | None:
    value = params.get(key)
    text = "" if value is None else str(value).strip()
    return text or None


def _layers(text: str | None) -> list[str]:
    """--set theme_layers=province,municipality (default: every layer); exit 2 naming `theme_layers`."""
    if text is None:
        return list(LAYERS)
    words = [w.strip() for w in text.split(",") if w.strip()]
    unknown = [w for w in words if w not in LAYERS]
    if not words or unknown:
        raise BadInput(f"theme_layers={text!r}: give one or more of {', '.join(LAYERS)}, separated by commas",
                       field="theme_layers")
    return [lr for lr in LAYERS if lr in words]


def _proposed(act: Act, match: dict[str, str]) -> str | None:
    """An open amendment that proposes the same new theme or commitment already (its id)."""
    proposed = state_of(act.root).proposed
    for c in act.root.children:
        if c.id in proposed and not c.final and all(_given(proposed[c.id], k) == v for k, v in match.items()):
            return c.id
    return None


def guard_amendment_themes(act: Act, article: str, **_: Any) -> None:
    """--set theme=ID --set theme_title=TEXT [--set theme_title_en=TEXT --set theme_article=TEXT
    --set theme_layers=LIST] adds a theme; --set commitment=N --set commitment_theme=THEME
    --set commitment_text=TEXT [--set commitment_text_en=TEXT] adds a commitment to a theme (an existing one, or the
    one the same amendment adds). A duplicate or unknown id, or a missing text, is refused naming the field."""
    p = act.params
    themes = reference_of(act.root).themes
    tid = _given(p, "theme")
    if tid is None and any(_given(p, k) for k in THEME_KEYS[1:]):
        raise BadInput("--set theme=ID is required with the theme's title, article or layers (the theme it adds)",
                       field="theme")
    if tid is not None:
        if len(tid) > 40 or not set(tid) <= THEME_ID_CHARS or not tid[0].isalpha():
            raise BadInput(f"theme={tid!r}: an id is a lowercase letter followed by letters, digits, - or _ "
                           f"(at most 40)", field="theme")
        if tid in themes:
            raise BadInput(f"theme={tid!r}: the agreement has that theme already ({', '.join(themes)})",
                           field="theme")
        other = _proposed(act, {"theme": tid})
        if other is not None:
            raise BadInput(f"theme={tid!r}: amendment {other} proposes that theme already", field="theme")
        if _given(p, "theme_title") is None:
            raise BadInput(f"--set theme_title=TEXT (the Dutch title) is required with --set theme={tid}",
                           field="theme_title")
        _layers(_given(p, "theme_layers"))
    number = _given(p, "commitment")
    if number is None and any(_given(p, k) for k in COMMITMENT_KEYS[1:]):
        raise BadInput("--set commitment=N is required with the commitment's theme or text (the number it gets)",
                       field="commitment")
    if number is None:
        return
    if not number.isdigit() or not 0 < int(number) <= 999:
        raise BadInput(f"commitment={number!r}: a commitment is numbered within its theme, 1 to 999",
                       field="commitment")
    of = _given(p, "commitment_theme")
    if of is None:
        raise BadInput(f"--set commitment_theme=THEME is required with --set commitment={number}",
                       field="commitment_theme")
    if of not in themes and of != tid:
        raise BadInput(f"commitment_theme={of!r}: unknown theme; themes are {', '.join(themes)}",
                       field="commitment_theme")
    known = [c.n for c in themes[of].commitments] if of in themes else []
    if int(number) in known:
        raise BadInput(f"commitment={number}: theme {of} has commitment {number} already (it has "
                       f"{', '.join(map(str, known))})", field="commitment")
    other = _proposed(act, {"commitment_theme": of, "commitment": number})
    if other is not None:
        raise BadInput(f"commitment={number}: amendment {other} proposes commitment {number} of {of} already",
                       field="commitment")
    if _given(p, "commitment_text") is None:
        raise BadInput(f"--set commitment_text=TEXT (the Dutch text) is required with --set commitment={number}",
                       field="commitment_text")


def effect_propose_themes(act: Act, **_: Any) -> None:
    """After `create_child` of the amendment: its proposed theme or commitment is kept whole in the agreement's
    state (the child's short facts on the agreement cut long texts), for `amend_themes` on adoption."""
    child = act.notes.get("created")
    proposal = {k: str(act.params[k]).strip() for k in THEME_KEYS + COMMITMENT_KEYS if _given(act.params, k)}
    if child and (proposal.get("theme") or proposal.get("commitment")):
        state_of(act.root).proposed[child] = proposal
        act.root_changed = True


def effect_amend_themes(act: Act, **_: Any) -> None:
    """After `apply_amendment`: the adopted amendment's new theme or commitment joins the agreement's theme data
    (kept in its state, over the reference data), recorded in the same migration (before/after); a new theme of an
    active agreement awaits its first progress report like the others (Art. 1.1 ii)."""
    migration = act.notes.get("migration")
    if not migration:
        return
    child = next((c for c in act.root.children if c.id == migration["amendment"]), None)
    if child is None:
        return
    state = state_of(act.root)
    f = state.proposed.pop(child.id, None) or {}
    tid, number = _given(f, "theme"), _given(f, "commitment")
    if tid is None and number is None:
        return
    before, after = migration["before"], migration["after"]
    themes = reference_of(act.root).themes
    before["themes"] = sorted(themes)
    added: list[dict[str, Any]] = []
    if tid is not None and tid not in themes:
        title_nl = _given(f, "theme_title") or tid
        info = ThemeInfo(title={"nl": title_nl, "en": _given(f, "theme_title_en") or title_nl},
                         article=_given(f, "theme_article") or "Art. 4", layers=_layers(_given(f, "theme_layers")))
        added.append({"amendment": child.id, "on": act.on.isoformat(), "theme": {"id": tid, **info.to_dict()}})
        after["theme"] = {"id": tid, **info.to_dict()}
    elif tid is not None:
        after["theme"] = {"id": tid, "unchanged": f"the agreement has theme {tid} already"}
    if number is not None:
        of = _given(f, "commitment_theme") or ""
        if of in themes or (tid == of and "theme" in after and "unchanged" not in after["theme"]):
            known = [c.n for c in themes[of].commitments] if of in themes else []
            before["commitments"] = {of: known}
            if int(number) in known:
                after["commitment"] = {"theme": of, "n": int(number),
                                       "unchanged": f"theme {of} has commitment {number} already"}
            else:
                text = _given(f, "commitment_text") or ""
                entry = {"theme": of, **Commitment(int(number), text, _given(f, "commitment_text_en")).to_dict()}
                added.append({"amendment": child.id, "on": act.on.isoformat(), "commitment": entry})
                after["commitment"] = entry
        else:
            after["commitment"] = {"theme": of, "n": int(number), "unchanged": f"the agreement has no theme {of}"}
    state.amended.extend(added)
    themes = reference_of(act.root).themes
    after["themes"] = sorted(themes)
    if any("theme" in a for a in added) and "progress_from" in act.root.facts and tid is not None \
            and not act.awaited(PROGRESS, tid):
        _open_progress(act, tid, state.theme(tid))
        after["progress_report_due"] = act.awaited(PROGRESS, tid)[0].due.isoformat()
    elif any("theme" in a for a in added) and tid is not None:
        state.theme(tid)
    act.root_changed = True


# -- effects -----------------------------------------------------------------------------------------------
def _progress_base(act: Act, theme: ThemeProgress) -> dt.date:
    """Silence is counted from the later of activation and entry, or from the last report."""
    dates = [act.on, dt.date.fromisoformat(act.root.facts["progress_from"])]
    if theme.last_report:
        dates.append(theme.last_report)
    return max(dates)


def _open_progress(act: Act, tid: str, theme: ThemeProgress) -> None:
    interval = act.settings.progress.report_interval_days
    if theme.status == ThemeStatus.STALLED:
        # Reported stalled: the on-track report was due the day before, so the ladder starts at the next run.
        row = act.open_deadline(PROGRESS, act.on - dt.timedelta(days=1),
                                f"reported stalled on {act.on.isoformat()}: escalates until an on-track report",
                                subject=tid, responsible=[f"theme:{tid}"])
        row.status, row.missed_at = DeadlineStatus.MISSED, act.now
        return
    base = _progress_base(act, theme)
    act.open_deadline(PROGRESS, base + dt.timedelta(days=interval),
                      f"{base.isoformat()} (last report, or the later of activation and entry) + {interval} days",
                      subject=tid, responsible=[f"theme:{tid}"])


def effect_open_progress_deadlines(act: Act, **_: Any) -> None:
    """At activation: one awaited progress report per theme (Art. 1.1 ii)."""
    entered = act.root.entered_at
    start = max(act.on, entered.date()) if entered else act.on
    act.root.facts.setdefault("progress_from", start.isoformat())
    state = state_of(act.root)
    for tid in reference_of(act.root).themes:
        if not act.awaited(PROGRESS, tid):
            _open_progress(act, tid, state.theme(tid))
    act.root_changed = True


def effect_sign_up(act: Act, **_: Any) -> None:
    theme, government, layer = act.params["theme"], act.params["government"], act.params["layer"]
    progress = state_of(act.root).theme(theme)
    if any(s.government == government and s.withdrawn_on is None for s in progress.sign_ups):
        raise act.refuse(f"{government} has signed up for {theme} already", "Art. 3.4")
    entry = SignUp(government=government, layer=layer, on=act.on, commitments=act.params.get("commitments") or [],
                   ref=act.ref, email=act.params.get("email") or None, in_kind=act.notes.get("in_kind"))
    state = state_of(act.root)
    if entry.email:
        state.government_contacts[government] = [Contact(name=government, email=entry.email)]
    progress.sign_ups.append(entry)
    target = reference_of(act.root).target(theme, layer)
    if target is not None and entry.in_kind is None and target.applies_to(entry.commitments) \
            and not act.awaited(target.deadline, government):
        row = act.open_deadline(target.deadline, target.due,
                                f"{theme.upper()} target for {layer.replace('_', ' ')}s "
                                f"({target.source or 'Art. 4'})",
                                subject=government, responsible=[f"government:{government}"])
        done = state.implementations.get(government, {}).get(target.deadline)
        if done is not None:        # implemented before it signed up: met at once
            _meet(row, dt.date.fromisoformat(done["on"]))
    act.root_changed = True


def _meet(d: Deadline, on: dt.date) -> None:
    d.met_on = on
    d.status = DeadlineStatus.MET if on <= d.due else DeadlineStatus.MISSED
    d.next_at = None


def effect_record_implementation(act: Act, kind: str = VTH_TARGET, **_: Any) -> None:
    """A government implemented what a target awaits (VTH afspraak 3: the building blocks at base level): its
    target is met on that legal date (late if after the due date), and a later sign-up finds it met."""
    government = act.params["government"]
    state = state_of(act.root)
    state.implementations.setdefault(government, {})[kind] = {"on": act.on.isoformat(), "ref": act.ref}
    met = []
    for d in act.awaited(kind, government):
        _meet(d, act.on)
        if d not in act.new_deadlines:
            act.changed_deadlines.append(d)
        met.append(d.due.isoformat())
    act.notes["implemented"] = {"government": government, "target": kind, "met": met}
    act.root_changed = True


def effect_withdraw_sign_up(act: Act, **_: Any) -> None:
    theme, government = act.params["theme"], act.params["government"]
    for s in state_of(act.root).theme(theme).sign_ups:
        if s.government == government and s.withdrawn_on is None:
            s.withdrawn_on = act.on
            act.root_changed = True
            for kind in {t.deadline for t in reference_of(act.root).targets if t.theme == theme}:
                _cancel(act, act.awaited(kind, government))     # the target no longer applies
            return
    raise act.refuse(f"{government} has no sign-up for {theme}", "Art. 3.4")


def _cancel(act: Act, rows: list[Deadline]) -> None:
    for d in rows:
        d.status = DeadlineStatus.CANCELLED if d.status == DeadlineStatus.OPEN else d.status
        d.next_at = None
        if d in act.new_deadlines:
            act.new_deadlines.remove(d)
        else:
            act.changed_deadlines.append(d)


def effect_report_progress(act: Act, **_: Any) -> None:
    """A report is the awaited act; `stalled` starts the ladder at once, `on_track` ends it (Art. 1.1, 1.4)."""
    tid, status = act.params["theme"], ThemeStatus(act.params["status"])
    theme = state_of(act.root).theme(tid)
    theme.status = status
    theme.last_report = max(theme.last_report, act.on) if theme.last_report else act.on
    theme.last_report_text = act.params.get("text")
    act.root.new_log.append(LogEntry(kind=PROGRESS, effective=act.on, recorded_at=act.now, subject=tid,
                                     data={"status": str(status), "text": act.params.get("text")}))
    act.root_changed = True
    if "progress_from" not in act.root.facts:
        return          # not active yet: the first progress deadline opens at activation
    rows = act.awaited(PROGRESS, tid)
    if status == ThemeStatus.STALLED and any(d.status == DeadlineStatus.MISSED for d in rows):
        return          # the ladder is running already; it keeps its pace
    for d in rows:
        d.met_on = act.on
        d.status = DeadlineStatus.MET if act.on <= d.due else DeadlineStatus.MISSED
        d.next_at = None
        act.changed_deadlines.append(d)
    if status == ThemeStatus.ON_TRACK and theme.escalation_level:
        act.notes["escalation_ended"] = {"theme": tid, "level": theme.escalation_level}
    if status == ThemeStatus.ON_TRACK:
        theme.escalation_level = 0
    _open_progress(act, tid, theme)


# -- hooks -------------------------------------------------------------------------------------------------
def escalated(root: Process, d: Deadline, level: int) -> bool:
    """A ladder step of a theme's progress deadline ran: 1 working group, 2 DO, 3 BO (kept in the theme)."""
    if d.kind != PROGRESS or d.subject not in reference_of(root).themes:
        return False
    state_of(root).theme(d.subject).escalation_level = level + 1
    return True


def topic(root: Process, d: Deadline) -> Topic | None:
    """A progress deadline is about a theme: named by its title, escalated with the progress template, and its
    first rung is the theme's working group (Art. 1.1 iii, 1.4)."""
    theme = reference_of(root).themes.get(d.subject or "") if d.kind == PROGRESS else None
    if theme is None:
        return None
    return Topic(label=dict(theme.title), theme=dict(theme.title), escalation_template="progress_escalation",
                 first_rung={lang: gettext("working group %(theme)s", lang, theme=localized(theme.title, lang))
                             for lang in LANGS})


def government_recipients(root: Process, government: str) -> list[dict[str, str]]:
    """A signed-up government's contact ([]: the secretariat hears instead)."""
    return [{"name": c.name, "email": c.email, "language": str(c.language)}
            for c in state_of(root).government_contacts.get(government, [])]


def theme_recipients(root: Process, tid: str) -> list[dict[str, str]]:
    """A theme's working group ([]: the secretariat hears instead)."""
    theme = reference_of(root).themes.get(tid)
    return [{"name": c.name or "werkgroep", "email": c.email, "language": str(c.language)}
            for c in (theme.contacts if theme else []) if c.email]


# -- views -------------------------------------------------------------------------------------------------
def themes_view(root: Process, deadlines: list[Deadline]) -> list[dict[str, Any]]:
    """Per theme: its last report, the escalation level (0 none, 1 working group, 2 DO, 3 BO), the sign-ups."""
    awaited = {d.subject: d for d in deadlines if d.kind == PROGRESS and d.awaited}
    state = state_of(root)
    out = []
    for tid, info in reference_of(root).themes.items():
        th = state.themes.get(tid) or ThemeProgress()
        row = awaited.get(tid)
        out.append({"id": tid, "title": dict(info.title), "article": info.article,
                    "status": None if th.status is None else str(th.status), "last_report": iso(th.last_report),
                    "escalation_level": th.escalation_level,
                    "next_report_due": row.due.isoformat() if row else None,
                    "overdue": bool(row and row.status == DeadlineStatus.MISSED),
                    "commitments": len(info.commitments),
                    "sign_ups": [s.to_dict() for s in th.current_sign_ups]})
    return out


def governments_view(root: Process, deadlines: list[Deadline]) -> list[dict[str, Any]]:
    """The same sign-ups per government, with the target of its layer where it signed up for a target's theme."""
    kinds = {t.deadline for t in reference_of(root).targets}
    targets = {d.subject: d for d in deadlines if d.kind in kinds and d.status != DeadlineStatus.CANCELLED}
    govs: dict[str, dict[str, Any]] = {}
    for tid, th in state_of(root).themes.items():
        for s in th.current_sign_ups:
            g = govs.setdefault(s.government, {"government": s.government, "layer": s.layer, "themes": []})
            g["themes"].append({"theme": tid, "commitments": list(s.commitments), "on": s.on.isoformat()})
    for name, g in govs.items():
        d = targets.get(name)
        g["vth_target"] = {"due": d.due.isoformat(), "status": str(d.status)} if d else None
    return sorted(govs.values(), key=lambda g: (g["layer"], g["government"]))


def show_section(root: Process, deadlines: list[Deadline], settings: Settings) -> dict[str, Any]:
    return {"themes": themes_view(root, deadlines)}


def progress_view(root: Process, deadlines: list[Deadline], settings: Settings) -> dict[str, Any]:
    return {"report_interval_days": settings.progress.report_interval_days,
            "themes": themes_view(root, deadlines), "governments": governments_view(root, deadlines)}


# -- the agreement's data file ------------------------------------------------------------------------------
class CommitmentIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    n: int
    title_nl: str
    title_en: str | None = None


class ThemeIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str
    title_nl: str
    title_en: str | None = None
    article: str = "Art. 4"
    commitments: list[CommitmentIn] = Field(default_factory=list)
    contacts: list[ContactIn] = Field(default_factory=list)


class TargetIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    theme: str
    layer: str
    due: dt.date
    deadline: str = VTH_TARGET
    source: str | None = None


class VthTargetIn(BaseModel):
    """The data file's `vth_targets`: targets of the theme `vth` (VTH afspraak 3)."""
    model_config = ConfigDict(extra="ignore")
    layer: str
    due: dt.date
    source: str | None = None
    commitment: int | None = 3         # VTH afspraak 3 sets the targets


class ThemesData(BaseModel):
    themes: list[ThemeIn] = Field(default_factory=list)
    vth_targets: list[VthTargetIn] = Field(default_factory=list)
    targets: list[TargetIn] = Field(default_factory=list)


def _contact(c: ContactIn) -> Contact:
    return Contact.from_dict(c.model_dump())


def from_data(values: dict[str, Any], wf: WorkflowDefinition) -> DataPart:
    """The data file's `themes`, `vth_targets` and `targets` (raises pydantic's ValidationError, named by field)."""
    data = ThemesData.model_validate(values)
    themes = {th.id: ThemeInfo(title={"nl": th.title_nl, "en": th.title_en or th.title_nl}, article=th.article,
                               commitments=[Commitment(c.n, c.title_nl, c.title_en) for c in th.commitments],
                               contacts=[_contact(c) for c in th.contacts]) for th in data.themes}
    targets = [Target(theme="vth", layer=t.layer, due=t.due, source=t.source, commitment=t.commitment)
               for t in data.vth_targets]
    targets += [Target(theme=t.theme, layer=t.layer, due=t.due, deadline=t.deadline, source=t.source)
                for t in data.targets]
    deadline_kinds = wf.process(wf.root).deadline_map
    for i, t in enumerate(targets):
        if t.theme not in themes:
            raise BadInput(f"agreement data: a target names theme {t.theme!r}, which the data does not have",
                           field="targets")
        if t.deadline not in deadline_kinds:
            raise BadInput(f"agreement data: target {i + 1} ({t.theme}, {t.layer}) needs the deadline kind "
                           f"{t.deadline!r}, which the {wf.name} workflow does not define", field="targets")
    return DataPart(state=ThemesState(themes={tid: ThemeProgress() for tid in themes}),
                    reference=ThemesReference(themes=themes, targets=targets))


# -- format 1 (the release before plug-ins kept all of this in the agreement's row) ---------------------------
def from_format_1(v1: dict[str, Any]) -> FromFormat1 | None:
    if "themes" not in v1 and not v1.get("vth_targets") and not v1.get("government_contacts"):
        return None
    themes: dict[str, Any] = {}
    infos: dict[str, Any] = {}
    log: list[LogEntry] = []
    for tid, th in (v1.get("themes") or {}).items():
        infos[tid] = {"title": th.get("title") or {"nl": tid, "en": tid}, "article": th.get("article"),
                      "commitments": th.get("commitments") or [], "contacts": th.get("contacts") or []}
        themes[tid] = {k: th.get(k) for k in ("status", "last_report", "last_report_text", "escalation_level",
                                              "sign_ups")}
        log += [LogEntry(kind=PROGRESS, effective=dt.date.fromisoformat(r["on"]),
                         recorded_at=dt.datetime.fromisoformat(r["recorded_at"]), subject=tid,
                         data={"status": r.get("status"), "text": r.get("text")})
                for r in th.get("reports") or []]
    targets = [{"theme": "vth", "layer": t["layer"], "due": str(t["due"]), "deadline": VTH_TARGET,
                "source": t.get("source")} for t in v1.get("vth_targets") or []]
    contacts = {g: [{"name": c.get("name", g), "email": c["email"], "language": c.get("language", "nl")}
                    for c in cs] for g, cs in (v1.get("government_contacts") or {}).items()}
    log.sort(key=lambda e: e.recorded_at)      # the log's order is the order of entry (stable per theme)
    return FromFormat1(state={"themes": themes, "government_contacts": contacts},
                       reference={"themes": infos, "targets": targets}, log=log)


PLUGIN = Plugin(
    name=NAME,
    guards={"layer_themes": guard_layer_themes, "amendment_themes": guard_amendment_themes},
    effects={"amend_themes": effect_amend_themes, "propose_themes": effect_propose_themes, "sign_up": effect_sign_up, "record_implementation": effect_record_implementation, "withdraw_sign_up": effect_withdraw_sign_up,
             "report_progress": effect_report_progress, "open_progress_deadlines": effect_open_progress_deadlines},
    vocabularies={"themes": theme_ids, "layers": lambda root: list(LAYERS), "commitments": lambda root: None},
    validate=validate,
    show=show_section,
    views={"progress": progress_view},
    holds=lambda root: bool(reference_of(root).themes),
    recipients={"government": government_recipients, "theme": theme_recipients},
    topic=topic,
    escalated=escalated,
    escalation_kinds=frozenset({PROGRESS}),
    data_keys=frozenset({"themes", "vth_targets", "targets"}),
    from_data=from_data,
    load_state=load_state,
    load_reference=load_reference,
    from_format_1=from_format_1,
)
