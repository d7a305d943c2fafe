"""Who hears about a deadline, and what the message carries. Reminders go to those the deadline concerns; the
escalation ladder climbs from the responsible party and the secretariat to the DO and then the BO (Art. 1.1,
1.4, 2.1, 2.2). The engine builds payloads; notifications/ renders and sends them."""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from convenant.engine import rules
from convenant.engine.deadlines import Step, calendar_uid
from convenant.engine.definitions import ProcessSpec, WorkflowDefinition
from convenant.engine.model import Deadline, Notification, Process

from convenant.i18n import LANGS, N_, gettext, localized, texts

if TYPE_CHECKING:
    from convenant.engine.service import Service

# The first rung is a role, not a body; the DO and the BO are named by the agreement's data (level_title).
LEVEL_NAMES = {"responsible": N_("the responsible party and the secretariat")}


def governance_contacts(service: Service, root: Process, body: str) -> list[dict[str, str]]:
    """Contacts of the secretariat, DO or BO: from the agreement's data, else from config.toml [contacts]."""
    entry = root.data.get("governance", {}).get(body)
    contacts: list[dict[str, str]] = []
    if entry:
        contacts = entry.get("contacts") or ([entry] if entry.get("email") else [])
    if not contacts and body in service.settings.contacts:
        contacts = [service.settings.contacts[body].model_dump()]
    return [{"name": c.get("name", body), "email": c["email"], "language": c.get("language", "nl"),
             "body": body} for c in contacts if c.get("email")]


def level_title(service: Service, root: Process, body: str) -> dict[str, str] | None:
    """How the emails name a rung of the ladder: the body's name in the agreement's data (Art. 2), not in code."""
    entry = root.data.get("governance", {}).get(body) or {}
    title = dict(entry.get("title") or ({"nl": entry["name"], "en": entry["name"]} if entry.get("name") else {}))
    if not title and body in service.settings.contacts:
        title = {"nl": service.settings.contacts[body].name, "en": service.settings.contacts[body].name}
    if not title:
        return texts(LEVEL_NAMES[body]) if body in LEVEL_NAMES else {"nl": body.upper(), "en": body.upper()}
    abbr = entry.get("abbr")
    return {lang: f"{text} ({abbr})" if abbr and abbr not in text else text for lang, text in title.items()}


def party_contacts(root: Process, pid: str) -> list[dict[str, str]]:
    party = root.parties.get(pid, {})
    representative = party.get("represented_by")
    if representative:
        return party_contacts(root, representative)
    lang = party.get("language", "nl")
    return [{"name": c.get("name", party.get("name", pid)), "email": c["email"],
             "language": c.get("language", lang), "party": pid}
            for c in party.get("contacts", []) if c.get("email")]


def resolve(service: Service, proc: Process, root: Process, who: list[str], on: dt.date) -> list[dict]:
    out: list[dict] = []
    for entry in who:
        if entry.startswith("party:"):
            out += party_contacts(root, entry[len("party:"):])
        elif entry == "parties":
            for pid in rules.voters(root, on):
                out += party_contacts(root, pid)
        elif entry.startswith("pending_voters:"):
            name = entry[len("pending_voters:"):]
            answers = proc.data.get("decisions", {}).get(name, {}).get("answers", {})
            for pid in rules.voters(root, on):
                if pid not in answers:
                    out += party_contacts(root, pid)
        elif entry.startswith("fact:"):
            pid = proc.facts.get(entry[len("fact:"):])
            if pid:
                out += party_contacts(root, pid)
        elif entry.startswith("government:"):   # a signed-up government's contact, else the secretariat
            out += (root.data.get("government_contacts", {}).get(entry[len("government:"):])
                    or governance_contacts(service, root, "secretariat"))
        elif entry.startswith("theme:"):        # a theme's working group, else the secretariat
            theme = root.data.get("themes", {}).get(entry[len("theme:"):], {})
            out += ([{"name": c.get("name", "werkgroep"), "email": c["email"], "language": c.get("language", "nl")}
                     for c in theme.get("contacts", []) if c.get("email")]
                    or governance_contacts(service, root, "secretariat"))
        else:
            out += governance_contacts(service, root, entry)
    seen: set[str] = set()
    unique = []
    for c in out:
        if c["email"].lower() not in seen:
            seen.add(c["email"].lower())
            unique.append(c)
    return unique


def deadline_notifications(service: Service, wf: WorkflowDefinition, spec: ProcessSpec, proc: Process,
                           root: Process, d: Deadline, step: Step, now: dt.datetime) -> list[Notification]:
    today = now.astimezone(service.tz).date()
    dspec = spec.deadline_map.get(d.kind)
    title = dict(dspec.title) if dspec else {"nl": d.kind, "en": d.kind}
    expected = dict(dspec.expected) if dspec else {}
    responsible = list(d.responsible)
    level_name = None
    theme = root.data.get("themes", {}).get(d.subject) if d.kind == rules.PROGRESS and d.subject else None
    if d.subject:   # a deadline on one theme or government: say which
        label = (theme or {}).get("title") or {"nl": d.subject, "en": d.subject}
        title = {lang: f"{text} - {localized(label, lang)}" for lang, text in title.items()}
    if step.kind == "reminder":
        template, who = "reminder", responsible
    else:
        levels = service.settings.escalation.levels
        body = levels[min(step.level or 0, len(levels) - 1)]
        template = "escalation" if theme is None else "progress_escalation"
        if theme is not None and body == "responsible":   # the theme's working group (Art. 1.1 iii, 1.4)
            who = responsible
            level_name = {lang: gettext("working group %(theme)s", lang, theme=localized(theme["title"], lang))
                          for lang in LANGS}
        else:
            who = responsible + ["secretariat"] if body == "responsible" else [body]
            level_name = level_title(service, root, body)
    recipients = resolve(service, proc, root, who, today)
    wf_title = root.data.get("title") or wf.title.get("nl")
    step_id = f"r{step.offset_days}" if step.kind == "reminder" else f"e{step.level}"
    notes = []
    for contact in recipients:
        lang = contact.get("language", "nl")
        payload: dict[str, Any] = {
            "template": template, "lang": lang, "to_name": contact["name"], "to_addr": contact["email"],
            "agreement_id": root.id, "agreement_title": wf_title, "process_id": proc.id, "article": d.article,
            "state": proc.state, "days_left": (d.due - today).days, "theme": theme["title"] if theme else None,
            # people count rungs from 1 (working group / responsible party = 1, DO = 2, BO = 3), as `show` does
            "level": None if step.level is None else step.level + 1,
            "level_name": (level_name or {}).get(lang) if level_name else None,
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


def act_notifications(service: Service, wf: WorkflowDefinition, proc: Process, root: Process,
                      notices: list[dict[str, Any]], rec: Any) -> list[Notification]:
    """Messages the definition asks for when an act happens (a state's `notify` effect, e.g. a dispute laid
    before the BO, Art. 5.2 and 2.1): one per recipient, keyed to the history record that caused them."""
    spec = wf.process(proc.ptype)
    on = dt.date.fromisoformat(rec.effective)
    wf_title = root.data.get("title") or wf.title.get("nl")
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
                "level": None, "level_name": (level_name or {}).get(lang), "text": notice.get("text"),
                "ref": rec.ref, "trigger": rec.trigger, "effective": rec.effective, "deadlines": [],
                "record_seq": rec.seq, "key": key}
            notes.append(Notification(key=key, process_id=proc.id, root_id=root.id, to_addr=contact["email"],
                                      to_name=contact["name"], subject=service.subject(payload), payload=payload,
                                      kind=notice["template"]))
    return notes
