"""What `show`, `history`, `deadlines` and the web pages present: plain dicts with the fields INTERFACE.md names."""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from convenant.engine import rules
from convenant.engine.clock import iso_moment
from convenant.engine.errors import NotFound
from convenant.engine.model import Deadline, Process

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
        root = proc if proc.root_id in (None, proc.id) else tx.get_process(proc.root_id)
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
        "id": proc.id, "workflow": wf.name, "type": proc.ptype, "title": root.data.get("title"),
        "state": proc.state, "state_article": spec.states[proc.state].article,
        "state_title": spec.states[proc.state].title, "in_force": spec.states[proc.state].in_force,
        "version": proc.version, "parent": proc.parent_id,
        "effective_from": facts.get("effective_from"), "ends_on": facts.get("ends_on"),
        "published_on": facts.get("published_on"), "publication_ref": facts.get("publication_ref"),
        "facts": proc.facts if proc is not root else {k: v for k, v in facts.items()},
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
        doc["themes"] = themes_view(root, deadlines)
        doc["text_versions"] = root.data.get("text_versions", [])
        doc["entered_at"] = root.data.get("entered_at")
    return doc


def party_view(root: Process, pid: str) -> dict[str, Any]:
    p = root.parties[pid]
    return {"id": pid, "name": p["name"], "represented_by": p.get("represented_by"), "group": p.get("group"),
            "signed_on": p.get("signed_on"), "withdrawn_on": p.get("withdrawn_on"),
            "reservation": p.get("reservation"), "themes": p.get("themes")}


def decisions_view(service: Service, wf, proc: Process, root: Process, today: dt.date) -> list[dict[str, Any]]:
    spec = wf.process(proc.ptype)
    out = []
    for name, state in proc.data.get("decisions", {}).items():
        dspec = spec.decisions[name]
        eligible = rules.voters(root, today)
        answers = state.get("answers", {})
        out.append({"name": name, "article": dspec.article, "opened_on": state.get("opened_on"),
                    "outcome": state.get("outcome"), "decided_on": state.get("decided_on"),
                    "answers": {p: {**a, "counts_for": rules.represented_by(root, p)} for p, a in answers.items()},
                    "pending": [p for p in eligible if p not in answers] if not state.get("outcome") else [],
                    "carried": state.get("carried", {})})
    return out


def themes_view(root: Process, deadlines: list[Deadline] | None = None) -> list[dict[str, Any]]:
    """Per theme: its last report, the escalation level (0 none, 1 working group, 2 DO, 3 BO), the sign-ups."""
    awaited = {d.subject: d for d in deadlines or [] if d.kind == rules.PROGRESS and d.met_on is None
               and d.status in ("open", "missed")}
    out = []
    for tid, th in root.data.get("themes", {}).items():
        row = awaited.get(tid)
        out.append({"id": tid, "title": th.get("title"), "article": th.get("article"),
                    "status": th.get("status"), "last_report": th.get("last_report"),
                    "escalation_level": th.get("escalation_level", 0),
                    "next_report_due": row.due.isoformat() if row else None,
                    "overdue": bool(row and row.status == "missed"),
                    "commitments": len(th.get("commitments", [])),
                    "sign_ups": [s for s in th.get("sign_ups", []) if not s.get("withdrawn_on")]})
    return out


def governments_view(root: Process, deadlines: list[Deadline] | None = None) -> list[dict[str, Any]]:
    """The same sign-ups per government, with the VTH target of its layer where it signed up for VTH."""
    targets = {d.subject: d for d in deadlines or [] if d.kind == rules.VTH and d.status != "cancelled"}
    govs: dict[str, dict[str, Any]] = {}
    for tid, th in root.data.get("themes", {}).items():
        for s in th.get("sign_ups", []):
            if s.get("withdrawn_on"):
                continue
            g = govs.setdefault(s["government"], {"government": s["government"], "layer": s["layer"], "themes": []})
            g["themes"].append({"theme": tid, "commitments": s.get("commitments", []), "on": s.get("on")})
    for name, g in govs.items():
        d = targets.get(name)
        g["vth_target"] = {"due": d.due.isoformat(), "status": d.status} if d else None
    return sorted(govs.values(), key=lambda g: (g["layer"], g["government"]))


def progress_view(service: Service, pid: str) -> dict[str, Any]:
    """The progress overview of one agreement (CLI `progress`, web pages): per theme and per government."""
    with service.store.transaction() as tx:
        root = tx.get_process(pid)
        if root is None or root.root_id not in (None, root.id):
            raise NotFound(f"no agreement {pid!r}", process=pid)
        rows = tx.deadlines_of(root.id)
        now = service.now(tx)
    return {"agreement": root.id, "title": root.data.get("title"), "state": root.state,
            "clock": iso_moment(now, service.tz),
            "report_interval_days": service.settings.progress.report_interval_days,
            "themes": themes_view(root, rows), "governments": governments_view(root, rows)}
