"""The start page per role: what to do next.

- The secretariat sees what needs an act from it or from a party now, soonest first: failed mail, missed
  deadlines with the rung of the ladder they reached, deadlines due within N days (for a decision: who has not
  answered), and the acts that move a process on (open the signing, the signatures still missing); each with the
  form that records the act, posted to the same place as on the process page.
- A party sees only its own: what it must answer or do, by when, and what it has done.
- An auditor sees the state of the log (the chain's verdict, its head, the records) and the exports.
Everyone sees the agreements below."""
from __future__ import annotations

import datetime as dt
from typing import Any

from convenant.app.web.forms import trigger_forms
from convenant.app.web.present import Reader, trigger_title
from convenant.engine.access import Principal
from convenant.i18n import localized


def overview_rows(app, who: Principal, reader: Reader) -> list[dict[str, Any]]:
    rows = app.queries.overview(who)
    for row in rows:
        row["next_title"] = reader.deadline_title(row["next_deadline"]["process"], row["next_deadline"]["kind"]) \
            if row["next_deadline"] else None
        row["missed_count"] = len(row["missed_deadlines"])
    return rows


def _rungs(app, who: Principal, root_id: str, reader: Reader) -> dict[tuple, str]:
    """The last escalation rung each missed deadline reached, by (process, kind, subject)."""
    out: dict[tuple, str] = {}
    for rec in app.queries.records(who, process=root_id):
        data = rec.get("data") or {}
        if rec["trigger"] == "escalate" and rec.get("role") == "system" and "deadline" in data:
            key = (rec["process"], data["deadline"], data.get("subject"))
            out[key] = reader.rung(rec["process"], data["deadline"], data.get("subject"), data.get("level"))
    return out


def _moves(wf, doc: dict[str, Any]) -> set[str]:
    """Triggers allowed now that move the process on (change its state, or take a signature or a vote); not
    those only one party may choose to do for itself (withdraw its request, retract its notice), nor those that
    also happen by themselves when their time comes (opening the extension decision)."""
    spec = wf.process(doc["type"])
    out = set()
    for name in doc["allowed_triggers"]:
        t = spec.trigger_map[name]
        if t.own or t.automatic is not None:
            continue
        if (t.dest and t.dest != doc["state"]) or t.branches or t.decision:
            out.add(name)
    return out


def todo_items(app, who: Principal, lang: str, within: int, reader: Reader) -> list[dict[str, Any]]:
    today = app.service.today()
    items: list[dict[str, Any]] = []
    for root in app.queries.roots(who):
        wf = app.service.workflow(root.workflow)
        rungs = _rungs(app, who, root.id, reader)
        docs = [app.queries.show(root.id, who.role, who.party)]
        docs += [app.queries.show(c.id, who.role, who.party) for c in app.queries.children(root.id) if not c.final]
        for doc in docs:
            spec = wf.process(doc["type"])
            covered: set[str] = set()
            pending = {d["deadline"]: d for d in _decisions(spec, doc)}
            for d in doc["deadlines"]:
                dspec = spec.deadline_map.get(d["kind"])
                if dspec is None or dspec.moment:
                    continue
                awaited = d["status"] == "open" or (d["status"] == "missed" and not d["met_on"])
                due = dt.date.fromisoformat(d["due"])
                if not awaited or (d["status"] == "open" and (due - today).days > within):
                    continue
                decision = pending.get(d["kind"])
                voters = decision["pending"] if decision else None
                met_by = set(dspec.met_by) | ({"report_progress"} if d["kind"] == "progress_report" else set())
                forms = trigger_forms(app, who, doc, lang, only=met_by, parties=voters)
                for form in forms:
                    _preset(form, "param.theme", d.get("subject") if d["kind"] == "progress_report" else None)
                if who.role == "party" and not forms and not (voters and who.party in voters):
                    continue
                covered |= {f["trigger"] for f in forms}
                items.append({
                    "kind": "deadline", "due": d["due"], "days_left": (due - today).days, "status": d["status"],
                    "title": reader.deadline_title(doc["id"], d["kind"], d.get("subject")), "article": d["article"],
                    "process": doc["id"], "agreement": root.title or root.id,
                    "rung": rungs.get((doc["id"], d["kind"], d.get("subject"))) if d["status"] == "missed" else None,
                    "pending": [reader.party_name(doc["id"], p) for p in voters or []],
                    "expected": localized(dspec.expected, lang), "forms": forms})
            moves = _moves(wf, doc) - covered
            if moves:
                forms = trigger_forms(app, who, doc, lang, only=moves)
                if forms:
                    items.append({"kind": "act", "due": None, "days_left": None, "status": None,
                                  "title": localized(spec.states[doc["state"]].title, lang, doc["state"]),
                                  "article": doc["state_article"], "process": doc["id"],
                                  "agreement": root.title or root.id, "rung": None, "pending": [],
                                  "expected": None, "forms": forms})
    order = {"missed": 0, "open": 1, None: 2}
    items.sort(key=lambda i: (order[i["status"]], i["due"] or "9999", i["process"]))
    return items


def _decisions(spec, doc: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for d in doc["decisions"]:
        dspec = spec.decisions.get(d["name"])
        if dspec is not None and dspec.deadline and not d["outcome"]:
            out.append({"deadline": dspec.deadline, "pending": d["pending"]})
    return out


def _preset(form: dict[str, Any], name: str, value: str | None) -> None:
    if value is None:
        return
    for fld in form["fields"]:
        if fld["name"] == name:
            fld["default"] = value


def failed_mail(app) -> list[dict[str, Any]]:
    return [r for r in app.queries.outbox("failed")]


def done_by(app, who: Principal, reader: Reader, limit: int = 10) -> list[dict[str, Any]]:
    """A party's own recorded acts, newest first."""
    out = []
    for root in app.queries.roots(who):
        out += [r for r in app.queries.records(who, process=root.id) if r.get("party") == who.party]
    out.sort(key=lambda r: r["seq"], reverse=True)
    return [reader.describe(r) for r in out[:limit]]


def start_context(app, who: Principal, lang: str, within: int) -> dict[str, Any]:
    reader = Reader(app, lang)
    ctx: dict[str, Any] = {"rows": overview_rows(app, who, reader), "items": [], "failed_mail": [], "done_acts": [],
                           "verdict": None}
    if who.role == "auditor":
        ctx["verdict"] = app.queries.verify()
        ctx["refusal_count"] = len(app.queries.refusals(500))
        ctx["failed_count"] = len(failed_mail(app))
        return ctx
    ctx["items"] = todo_items(app, who, lang, within, reader)
    ctx["party_name"] = next((r.parties[who.party].name for r in app.queries.roots(who) if who.party in r.parties),
                             who.party)
    if who.role == "secretariat":
        ctx["failed_mail"] = failed_mail(app)
    else:
        ctx["done_acts"] = done_by(app, who, reader)
    ctx["trigger_title"] = trigger_title
    return ctx
