"""How the pages say what happened: a record of the history in words of the page's language - the act's title
from the definition (the engine's own records too: entry, a missed deadline, each escalation rung by the name of
the body it went to), and what the act said (a vote's answer and new end date, a note, a sign-up's government and
theme, a theme's status) with every value translated. Read through the service layer only (`app.queries`,
`app.service`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from convenant.app.web.i18n import option_label, param_label
from convenant.engine.access import root_of
from convenant.engine.confidential import REDACTED
from convenant.engine.definitions import WorkflowDefinition
from convenant.engine.notify import level_title
from convenant.engine.plugins import registry
from convenant.i18n import N_, format_date, gettext, localized

# The engine's own record of an agreement's entry (no trigger of a definition); a missed deadline and an
# escalation are titled with what they are about (Reader.title).
ENTERED = N_("Agreement entered (bookkeeping, not a legal act)")
OPTION_PARAMS = {"status", "layer", "extend", "continue", "confidential", "answer"}


def ptype_of(wf: WorkflowDefinition, pid: str) -> str:
    """The process type of an id: the agreement's own, or the child type whose id prefix it carries."""
    if "/" not in pid:
        return wf.root
    prefix = pid.rsplit("/", 1)[1].rsplit("-", 1)[0]
    for name, spec in wf.processes.items():
        if spec.id_prefix == prefix:
            return name
    return wf.root


def trigger_title(wf: WorkflowDefinition, ptype: str, trigger: str, lang: str) -> str:
    """A trigger's title in the process type it belongs to (the dispute's `escalate` is not the ladder's)."""
    spec = wf.processes.get(ptype)
    tspec = spec.trigger_map.get(trigger) if spec else None
    if tspec is not None:
        return localized(tspec.title, lang, trigger)
    for other in wf.processes.values():
        if trigger in other.trigger_map:
            return localized(other.trigger_map[trigger].title, lang, trigger)
    return trigger


def state_title(wf: WorkflowDefinition, ptype: str, state: str | None, lang: str) -> str:
    spec = wf.processes.get(ptype)
    if spec is None or state is None or state not in spec.states:
        return state or "—"
    return localized(spec.states[state].title, lang, state)


@dataclass
class _DeadlineRef:
    """What registry.topic reads of a deadline (its kind and subject), for a record that names one."""
    kind: str
    subject: str | None


@dataclass
class Reader:
    """One page's reading of records: the workflows, agreements and names it needs, each looked up once."""
    app: Any
    lang: str
    workflows: dict[str, WorkflowDefinition] = field(default_factory=dict)
    roots: dict[str, Any] = field(default_factory=dict)

    def root(self, pid: str) -> Any:
        rid = root_of(pid)
        if rid not in self.roots:
            self.roots[rid] = self.app.queries.find(rid)
        return self.roots[rid]

    def workflow(self, pid: str) -> WorkflowDefinition | None:
        root = self.root(pid)
        if root is None:
            return None
        if root.workflow not in self.workflows:
            self.workflows[root.workflow] = self.app.service.workflow(root.workflow)
        return self.workflows[root.workflow]

    # -- names ----------------------------------------------------------------------------------------
    def party_name(self, pid: str, party: str | None) -> str:
        root = self.root(pid)
        if not party:
            return ""
        found = root.parties.get(party) if root is not None else None
        return found.name if found else party

    def theme_title(self, pid: str, theme: str | None) -> str:
        root = self.root(pid)
        ref = root.reference if root is not None else None
        themes = getattr(ref.plugins.get("themes"), "themes", {}) if ref is not None else {}
        info = themes.get(theme or "")
        return localized(info.title, self.lang, theme or "") if info is not None else (theme or "")

    def deadline_title(self, pid: str, kind: str, subject: str | None = None) -> str:
        """A deadline's title, with the theme (or government) it is about: 'Voortgangsrapportage - Inkoop'."""
        wf = self.workflow(pid)
        title = kind
        if wf is not None:
            for spec in (wf.processes.get(ptype_of(wf, pid)), *wf.processes.values()):
                if spec is not None and kind in spec.deadline_map:
                    title = localized(spec.deadline_map[kind].title, self.lang, kind)
                    break
        if subject:
            root = self.root(pid)
            topic = registry.topic(root, _DeadlineRef(kind, subject)) if root is not None else None
            title += f" – {localized(topic.label, self.lang) if topic else subject}"
        return title

    def rung(self, pid: str, kind: str, subject: str | None, level: int | None) -> str:
        """The body an escalation step went to, as the mail named it: the responsible party and the secretariat
        (or a theme's working group), the DO, the BO."""
        root = self.root(pid)
        settings = self.app.service.settings
        levels = settings.escalation.levels
        body = levels[min(level or 0, len(levels) - 1)]
        if root is None:
            return body
        topic = registry.topic(root, _DeadlineRef(kind, subject)) if subject else None
        if topic is not None and topic.first_rung is not None and body == "responsible":
            return localized(topic.first_rung, self.lang)
        return localized(level_title(self.app.service, root, body), self.lang, body)

    # -- a record -------------------------------------------------------------------------------------
    def title(self, rec: dict[str, Any]) -> str:
        data = rec.get("data") or {}
        if rec["trigger"] == "escalate" and rec.get("role") == "system" and "deadline" in data:
            return gettext("Escalation to %(body)s", self.lang,
                           body=self.rung(rec["process"], data["deadline"], data.get("subject"), data.get("level")))
        if rec["trigger"] == "deadline_missed" and rec.get("role") == "system" and "deadline" in data:
            return gettext("Deadline missed: %(deadline)s", self.lang,
                           deadline=self.deadline_title(rec["process"], data["deadline"], data.get("subject")))
        if rec["trigger"] == "create" and rec.get("source") is None:
            return gettext(ENTERED, self.lang)
        wf = self.workflow(rec["process"])
        if wf is None:
            return rec["trigger"]
        return trigger_title(wf, ptype_of(wf, rec["process"]), rec["trigger"], self.lang)

    def value(self, pid: str, key: str, value: Any) -> str:
        if value == REDACTED:
            return gettext("confidential (Art. 5.9)", self.lang)
        if isinstance(value, dict):     # an attached document: its name, size and hash
            return gettext("%(name)s (%(size)s bytes, SHA-256 %(hash)s…)", self.lang,
                           name=value.get("name", ""), size=value.get("size", "?"),
                           hash=str(value.get("sha256", ""))[:12])
        if key == "theme":
            return self.theme_title(pid, str(value))
        if key in OPTION_PARAMS:
            return option_label(value, self.lang)
        text = str(value)
        if len(text) == 10 and text[4:5] == "-" and text[7:8] == "-":
            try:
                return format_date(text, self.lang)
            except ValueError:
                return text
        return text

    def said(self, rec: dict[str, Any]) -> list[tuple[str, str, bool]]:
        """What the act said, as (label, value, technical) in the page's language; technical values (addresses,
        hashes) are shown as code, as they are, in any language."""
        data = rec.get("data") or {}
        pid = rec["process"]
        out: list[tuple[str, str, bool]] = []
        wf = self.workflow(pid)
        params_spec = {}
        if wf is not None:
            spec = wf.processes.get(ptype_of(wf, pid))
            tspec = spec.trigger_map.get(rec["trigger"]) if spec else None
            params_spec = tspec.params if tspec else {}
        if rec.get("role") == "system" and "deadline" in data:
            out.append((gettext("Deadline", self.lang),
                        self.deadline_title(pid, data["deadline"], data.get("subject")), False))
            if data.get("due"):
                out.append((gettext("Due", self.lang), format_date(data["due"], self.lang), False))
            if rec["trigger"] == "escalate" and data.get("level") is not None:
                out.append((gettext("Rung", self.lang),
                            f"{int(data['level']) + 1} / {len(self.app.service.settings.escalation.levels)}", False))
            if data.get("to"):
                out.append((gettext("Sent to", self.lang), ", ".join(data["to"]), True))
            return out
        for key, value in (data.get("params") or {}).items():
            if value in (None, ""):
                continue
            pspec = params_spec.get(key)
            out.append((param_label(key, pspec.label if pspec else None, self.lang), self.value(pid, key, value),
                        key == "email"))
        for part in ("contacts", "language"):      # a party's contacts changed (Service.update_contacts)
            change = data.get(part)
            if isinstance(change, dict) and "after" in change:
                out.append((gettext("Contacts", self.lang) if part == "contacts" else gettext("Language", self.lang),
                            _change_text(change, part), part == "contacts"))
        return out

    def describe(self, rec: dict[str, Any]) -> dict[str, Any]:
        """A record as the pages show it: its title, what it said, its states in words, the party by name."""
        wf = self.workflow(rec["process"])
        ptype = ptype_of(wf, rec["process"]) if wf else ""
        system = rec.get("role") == "system" or rec["trigger"] == "create"
        return {**rec, "title": self.title(rec), "said": self.said(rec),
                "party_name": self.party_name(rec["process"], rec.get("party")),
                "source_title": state_title(wf, ptype, rec.get("source"), self.lang) if wf else rec.get("source"),
                "dest_title": state_title(wf, ptype, rec.get("dest"), self.lang) if wf else rec.get("dest"),
                "created": (rec.get("data") or {}).get("created"),
                # the engine's own reasons are English notes for the log; the title and `said` tell it in words
                "shown_reason": None if system else (gettext("confidential (Art. 5.9)", self.lang)
                                                     if rec.get("reason") == REDACTED else rec.get("reason")),
                "shown_ref": gettext("confidential (Art. 5.9)", self.lang) if rec.get("ref") == REDACTED
                else rec.get("ref")}


def _change_text(change: dict[str, Any], part: str) -> str:
    def text(value: Any) -> str:
        if part == "contacts":
            return "; ".join(f"{c.get('name')} <{c.get('email')}> ({c.get('language')})" for c in value or []) or "—"
        return str(value)
    return f"{text(change.get('before'))} → {text(change.get('after'))}"
