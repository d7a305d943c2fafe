"""Who hears about a deadline, and what the message carries. Reminders go to those the deadline concerns; the
escalation ladder climbs from the responsible party and the secretariat to the DO and then the BO (Art. 1.1,
1.4, 2.1, 2.2). The engine builds payloads; notifications/ renders and sends them."""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Protocol

from convenant.engine import rules
from convenant.engine.deadlines import Step, calendar_uid
from convenant.engine.definitions import WorkflowDefinition
from convenant.engine.model import Deadline, Notification, Process
from convenant.engine.plugins import registry
from convenant.i18n import DEFAULT_LANG, N_, localized, texts

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from convenant.engine.config import Settings
    from convenant.engine.ports import SubjectRenderer


class Mailing(Protocol):
    """What notifications need of the service (engine/service.py): its settings, time zone and the renderer of
    subjects. A protocol, so that this module does not import the service that calls it."""
    settings: Settings
    tz: ZoneInfo
    subject: SubjectRenderer


# The first rung is a role, not a body; the DO and the BO are named by the agreement's data (level_title).
LEVEL_NAMES = {"responsible": N_("the responsible party and the secretariat")}


def governance_contacts(service: Mailing, root: Process, body: str) -> list[dict[str, str]]:
    """Contacts of the secretariat, DO or BO: from the agreement's data, else from config.toml [contacts]."""
    entry = root.reference.governance.get(body) if root.reference is not None else None
    contacts = [c.to_dict() for c in entry.contacts] if entry else []
    if not contacts and body in service.settings.contacts:
        contacts = [service.settings.contacts[body].model_dump()]
    return [{"name": c.get("name") or body, "email": c["email"], "language": c.get("language") or "nl",
             "body": body} for c in contacts if c.get("email")]


def level_title(service: Mailing, root: Process, body: str) -> dict[str, str] | None:
    """How the emails name a rung of the ladder: the body's name in the agreement's data (Art. 2), not in code."""
    entry = root.reference.governance.get(body) if root.reference is not None else None
    title = dict(entry.title) if entry else {}
    if not title and body in service.settings.contacts:
        title = {"nl": service.settings.contacts[body].name, "en": service.settings.contacts[body].name}
    if not title:
        return texts(LEVEL_NAMES[body]) if body in LEVEL_NAMES else {"nl": body.upper(), "en": body.upper()}
    abbr = entry.abbr if entry else None
    return {lang: f"{text} ({abbr})" if abbr and abbr not in text else text for lang, text in title.items()}


def party_contacts(root: Process, pid: str) -> list[dict[str, str]]:
    party = root.parties.get(pid)
    if party is None:
        return []
    if party.represented_by:
        return party_contacts(root, party.represented_by)
    contacts = root.reference.contacts.get(pid, []) if root.reference is not None else []
    return [{"name": c.name or party.name, "email": c.email, "language": str(c.language), "party": pid}
            for c in contacts if c.email]


def _pending_voters(proc: Process, root: Process, decision: str, on: dt.date) -> list[str]:
    state = proc.decisions.get(decision)
    answered = state.answers if state else {}
    return [pid for pid in rules.voters(root, on) if pid not in answered]


def _contacts_of(service: Mailing, proc: Process, root: Process, entry: str, on: dt.date) -> list[dict]:
    """One recipient entry of a definition: 'party:ID', 'parties', 'pending_voters:DECISION', 'fact:NAME', an
    entry a plug-in of the agreement resolves ('theme:ID', 'government:NAME': its contacts, else the
    secretariat), or a governance body."""
    head, _, arg = entry.partition(":")
    if head == "party" and arg:
        return party_contacts(root, arg)
    if entry == "parties":
        return [c for pid in rules.voters(root, on) for c in party_contacts(root, pid)]
    if head == "pending_voters" and arg:
        return [c for pid in _pending_voters(proc, root, arg, on) for c in party_contacts(root, pid)]
    if head == "fact" and arg:
        pid = proc.facts.get(arg)
        return party_contacts(root, pid) if pid else []
    found = registry.recipients(root, entry) if arg else None
    if found is not None:
        return found or governance_contacts(service, root, "secretariat")
    return governance_contacts(service, root, entry)


def resolve(service: Mailing, proc: Process, root: Process, who: list[str], on: dt.date) -> list[dict]:
    out: list[dict] = []
    for entry in who:
        out += _contacts_of(service, proc, root, entry, on)
    seen: set[str] = set()
    unique = []
    for c in out:
        if c["email"].lower() not in seen:
            seen.add(c["email"].lower())
            unique.append(c)
    return unique


def deadline_notifications(service: Mailing, wf: WorkflowDefinition, where: tuple[Process, Process], d: Deadline,
                           step: Step, now: dt.datetime) -> list[Notification]:
    """The mails of one step of deadline `d` of `where` (the process and its agreement)."""
    proc, root = where
    spec = wf.process(proc.ptype)
    today = now.astimezone(service.tz).date()
    dspec = spec.deadline_map.get(d.kind)
    title = dict(dspec.title) if dspec else {"nl": d.kind, "en": d.kind}
    expected = dict(dspec.expected) if dspec else {}
    responsible = list(d.responsible)
    level_name = None
    topic = registry.topic(root, d) if d.subject else None     # a plug-in's deadline: how mail names it
    if d.subject:   # a deadline on one theme or government: say which
        label = topic.label if topic else {"nl": d.subject, "en": d.subject}
        title = {lang: f"{text} - {localized(label, lang)}" for lang, text in title.items()}
    if step.kind == "reminder":
        template, who = "reminder", responsible
    else:
        levels = service.settings.escalation.levels
        body = levels[min(step.level or 0, len(levels) - 1)]
        template = (topic.escalation_template if topic else None) or "escalation"
        if topic is not None and topic.first_rung is not None and body == "responsible":
            who, level_name = responsible, topic.first_rung   # e.g. the theme's working group (Art. 1.1 iii, 1.4)
        else:
            who = responsible + ["secretariat"] if body == "responsible" else [body]
            level_name = level_title(service, root, body)
    recipients = resolve(service, proc, root, who, today)
    wf_title = root.title or localized(wf.title, DEFAULT_LANG)
    step_id = f"r{step.offset_days}" if step.kind == "reminder" else f"e{step.level}"
    notes = []
    for contact in recipients:
        lang = contact.get("language", "nl")
        payload: dict[str, Any] = {
            "template": template, "lang": lang, "to_name": contact["name"], "to_addr": contact["email"],
            "agreement_id": root.id, "agreement_title": wf_title, "process_id": proc.id, "article": d.article,
            "state": proc.state, "days_left": (d.due - today).days, "theme": topic.theme if topic else None,
            # people count rungs from 1 (working group / responsible party = 1, DO = 2, BO = 3), as `show` does
            "level": None if step.level is None else step.level + 1,
            "level_name": localized(level_name, lang) or None,
            "expected": expected, "subject_of": d.subject,
            "deadlines": [{"kind": d.kind, "title": title, "due": d.due.isoformat(), "article": d.article,
                           "status": d.status, "uid": calendar_uid(d.process_id, d.kind, d.id)}],
        }
        key = f"{proc.id}|{d.kind}#{d.id}|{step_id}|{contact['email'].lower()}"
        payload["key"] = key
        notes.append(Notification(key=key, process_id=proc.id, root_id=root.id, to_addr=contact["email"],
                                  to_name=contact["name"], subject=service.subject(payload), payload=payload,
                                  deadline_id=d.id, kind=template))
    return notes


def act_notifications(service: Mailing, wf: WorkflowDefinition, proc: Process, root: Process,
                      notices: list[dict[str, Any]], rec: Any) -> list[Notification]:
    """Messages the definition asks for when an act happens (a state's `notify` effect, e.g. a dispute laid
    before the BO, Art. 5.2 and 2.1): one per recipient, keyed to the history record that caused them."""
    spec = wf.process(proc.ptype)
    on = dt.date.fromisoformat(rec.effective)
    wf_title = root.title or localized(wf.title, DEFAULT_LANG)
    state = spec.states[proc.state]
    notes: list[Notification] = []
    for i, notice in enumerate(notices):
        level_name = level_title(service, root, notice["body"]) if notice.get("body") else None
        for contact in resolve(service, proc, root, notice["to"], on):
            lang = contact.get("language", "nl")
            key = f"{proc.id}|{notice['template']}|record{rec.seq}.{i}|{contact['email'].lower()}"
            payload: dict[str, Any] = {
                "template": notice["template"], "lang": lang, "to_name": contact["name"],
                "to_addr": contact["email"], "agreement_id": root.id, "agreement_title": wf_title,
                "process_id": proc.id, "article": rec.article, "state": dict(state.title) or proc.state,
                "level": None, "level_name": localized(level_name, lang) or None, "text": notice.get("text"),
                "ref": rec.ref, "trigger": rec.trigger, "effective": rec.effective, "deadlines": [],
                "record_seq": rec.seq, "key": key}
            notes.append(Notification(key=key, process_id=proc.id, root_id=root.id, to_addr=contact["email"],
                                      to_name=contact["name"], subject=service.subject(payload), payload=payload,
                                      kind=notice["template"]))
    return notes
