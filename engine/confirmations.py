"""Confirmations: a person who records an act hears back, in the same transaction as the act.

Who: the contacts of the party the act is for (its representative's, for a represented party) and the
secretariat. When not: acts of the engine itself (automatic transitions, follow-ups), acts whose legal date lies
more than `[mail] confirmations_max_age_days` (7) before today on the engine's clock - the secretariat entering a
running agreement's history must not send a letter for every signature of last year -, and never when
`[mail] confirmations = false`. What: the act, its legal date, who recorded it, the reference and the deadlines it
opened (each with an .ics); never the values of `--set` (free text, notes) and, for an act marked confidential
(Art. 5.9), not its reference either."""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from convenant.engine.clock import local_date
from convenant.engine.deadlines import calendar_uid
from convenant.engine.model import Notification, Record
from convenant.engine.notify import Mailing, governance_contacts, party_contacts

if TYPE_CHECKING:
    from convenant.engine.rules import Act


def is_confidential(params: dict[str, Any] | None) -> bool:
    """An act is confidential (Art. 5.9) when it was recorded with `--set confidential=yes`."""
    return str((params or {}).get("confidential", "")).lower() == "yes"


def confirmation_notifications(service: Mailing, act: Act, rec: Record, dest: str, now: dt.datetime
                               ) -> list[Notification]:
    mail = service.settings.mail
    if not mail.confirmations or act.trigger is None:
        return []
    if (local_date(now, service.tz) - act.on).days > mail.confirmations_max_age_days:
        return []
    root, proc = act.root, act.process
    recipients = (party_contacts(root, act.party) if act.party else []) + \
        governance_contacts(service, root, "secretariat")
    party = root.parties.get(act.party) if act.party else None
    state = act.spec.states[dest].title or {"nl": dest, "en": dest}
    deadlines = []
    for d in act.new_deadlines:
        dspec = act.spec.deadline_map.get(d.kind)
        deadlines.append({"kind": d.kind, "title": dict(dspec.title) if dspec else {"nl": d.kind, "en": d.kind},
                          "due": d.due.isoformat(), "article": d.article, "status": d.status,
                          "uid": calendar_uid(d.process_id, d.kind, d.id)})
    title = root.title or act.wf.title.get("nl")
    notes: list[Notification] = []
    seen: set[str] = set()
    for contact in recipients:
        addr = contact["email"].lower()
        if addr in seen:
            continue
        seen.add(addr)
        key = f"{proc.id}|confirm|{rec.seq}|{addr}"
        payload: dict[str, Any] = {
            "template": "confirmation", "lang": contact.get("language", "nl"), "key": key,
            "to_name": contact["name"], "to_addr": contact["email"], "agreement_id": root.id,
            "agreement_title": title, "process_id": proc.id, "article": act.trigger.article,
            "trigger": act.trigger.name, "trigger_label": dict(act.trigger.title) or act.trigger.name,
            "state": dict(state), "effective": act.on.isoformat(), "actor": act.actor,
            "party_name": party.name if party else None, "ref": None if is_confidential(act.params) else act.ref,
            "deadlines": deadlines, "record_seq": rec.seq,
        }
        notes.append(Notification(key=key, process_id=proc.id, root_id=root.id, to_addr=contact["email"],
                                  to_name=contact["name"], subject=service.subject(payload), payload=payload,
                                  kind="confirmation"))
    return notes
