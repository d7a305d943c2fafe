"""What `show`, `history`, `deadlines` and the web pages present: plain dicts with the fields INTERFACE.md names."""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from convenant.engine import rules
from convenant.engine.access import agreement_of
from convenant.engine.clock import iso_moment
from convenant.engine.errors import NotFound
from convenant.engine.model import Deadline, Decision, Process, iso
from convenant.engine.plugins import registry

if TYPE_CHECKING:
    from convenant.engine.service import Service


def deadline_view(service: Service, d: Deadline) -> dict[str, Any]:
    nxt = service.next_reminder(d)
    return {"process": d.process_id, "kind": d.kind, "due": d.due.isoformat(), "status": d.status,
            "article": d.article, "rule": d.rule, "met_on": d.met_on.isoformat() if d.met_on else None,
            "subject": d.subject, "next_reminder": iso_moment(nxt, service.tz) if nxt else None,
            "next_step_at": iso_moment(d.next_at, service.tz) if d.next_at else None}


def show(service: Service, pid: str, role: str | None = None, party: str | None = None) -> dict[str, Any]:
    with service.store.transaction() as tx:
        proc = tx.get_process(pid)
        if proc is None:
            raise NotFound(f"no process {pid!r}", process=pid)
        root = agreement_of(proc, tx.get_process)
        wf = service.workflow(proc.workflow)
        spec = wf.process(proc.ptype)
        now = service.now(tx)
        today = now.astimezone(service.tz).date()
        deadlines = tx.deadlines_of(pid)
        children = tx.children(root.id) if proc.id == root.id else [c for c in tx.children(root.id)
                                                                     if c.parent_id == proc.id]
        child_deadlines = {c.id: tx.deadlines_of(c.id) for c in children}
    facts = root.facts
    doc: dict[str, Any] = {
        "id": proc.id, "workflow": wf.name, "definition_version": wf.version, "type": proc.ptype,
        "title": root.title,
        "state": proc.state, "state_article": spec.states[proc.state].article,
        "state_title": spec.states[proc.state].title, "in_force": in_force(spec.states[proc.state].in_force, facts, today),
        "version": proc.version, "parent": proc.parent_id,
        "effective_from": facts.get("effective_from"), "ends_on": facts.get("ends_on"),
        "published_on": facts.get("published_on"), "publication_ref": facts.get("publication_ref"),
        "facts": dict(proc.facts),
        "parties": [party_view(root, pid2) for pid2 in root.parties],
        "deadlines": [deadline_view(service, d) for d in deadlines],
        "children": [{"id": c.id, "type": c.ptype, "state": c.state, "final": c.final,
                      "deadlines": [deadline_view(service, d) for d in child_deadlines[c.id]],
                      "decisions": decisions_view(service, wf, c, root, today)}
                     for c in children],
        "decisions": decisions_view(service, wf, proc, root, today),
        "allowed_triggers": service.allowed_triggers(wf, proc, root, role, party, today),
        "clock": iso_moment(now, service.tz),
    }
    if proc is root:
        doc["text_versions"] = [v.to_dict() for v in root.text_versions]
        doc["entered_at"] = iso(root.entered_at)
        # Art. 3.2: who acts for itself and has no recorded mandate decision yet (flagged, not refused)
        doc["lacking_mandate"] = [p for p, party in root.parties.items()
                                  if not party.represented_by and not party.has_mandate]
        doc.update(registry.sections(root, deadlines, service.settings))   # the plug-ins' parts (themes)
    return doc


def in_force(state_in_force: bool, facts: Any, today: dt.date) -> bool:
    """In force only from effective_from (Art. 5.3: the day after the last signature), not on the signing day."""
    start = facts.date("effective_from")
    return state_in_force and (start is None or today >= start)


def party_view(root: Process, pid: str) -> dict[str, Any]:
    p = root.parties[pid]
    return {"id": pid, "name": p.name, "represented_by": p.represented_by, "group": p.group,
            "signed_on": iso(p.signed_on), "withdrawn_on": iso(p.withdrawn_on), "reservation": p.reservation,
            "themes": p.themes, "mandate": [dict(m) for m in p.mandate]}


def decision_view(root: Process, name: str, article: str, state: Decision, eligible: list[str]) -> dict[str, Any]:
    answers = state.answers
    return {"name": name, "article": article, "opened_on": iso(state.opened_on), "outcome": state.outcome,
            "decided_on": iso(state.decided_on),
            "answers": {p: {**a.to_dict(), "counts_for": rules.represented_by(root, p)} for p, a in answers.items()},
            "pending": [p for p in eligible if p not in answers] if not state.outcome else [],
            "carried": dict(state.carried)}


def decisions_view(service: Service, wf, proc: Process, root: Process, today: dt.date) -> list[dict[str, Any]]:
    spec = wf.process(proc.ptype)
    eligible = rules.voters(root, today)
    return [decision_view(root, name, spec.decisions[name].article, state, eligible)
            for name, state in proc.decisions.items()]


def plugin_view(service: Service, pid: str, name: str) -> dict[str, Any]:
    """A read view a plug-in of the agreement offers (themes: `progress`, per theme and per government), with
    the agreement's id, title, state and the clock."""
    with service.store.transaction() as tx:
        root = tx.get_process(pid)
        if root is None or not root.is_root:
            raise NotFound(f"no agreement {pid!r}", process=pid)
        rows = tx.deadlines_of(root.id)
        now = service.now(tx)
    found = registry.view(root, name, rows, service.settings)
    if found is None:
        raise NotFound(f"agreement {pid!r} has no {name} (its workflow's plug-ins offer none)", process=pid)
    return {"agreement": root.id, "title": root.title, "state": root.state, "clock": iso_moment(now, service.tz),
            **found}


def progress_view(service: Service, pid: str) -> dict[str, Any]:
    """The progress overview of one agreement (CLI `progress`, web pages): per theme and per government."""
    return plugin_view(service, pid, "progress")


def offers(root: Process, name: str) -> bool:
    """Does one of the agreement's plug-ins offer this view, with something in it (`progress`: any theme)?"""
    return registry.offers(root, name)
