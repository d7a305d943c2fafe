"""The agreement page's "why this date?" and "what if?" (issue 16), apart from pages.py.

- Each deadline of the agreement page gets its explanation (engine/explain.py, in the page's words: acts and
  deadlines by their titles, dates in words), shown in a detail row under it: the article, the rule, the inputs
  with the record (seq) each comes from, the calendar steps, and when and why each reminder and escalation step
  fires. The template asks for it through the global `deadline_reasons(doc)`.
- The secretariat rehearses acts on a throwaway fork (engine/whatif.py, `App.fork`): a form on the agreement page
  (the global `whatif_form(doc)`) posts to `/processes/ID/whatif`, which shows the states, deadlines and mails the
  acts lead to and how that differs from the same fork run without them. The real database is read, never
  written; no mail is sent. The POST carries the session's CSRF token like every form."""
from __future__ import annotations

import datetime as dt
import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from jinja2 import pass_context

from convenant.app.web.humane import humane
from convenant.app.web.i18n import error_title, param_label
from convenant.app.web.pages import (
    convenant,
    posted,
    render,
    templates,
    visible_process,
)
from convenant.app.web.present import Reader, ptype_of, state_title
from convenant.engine.access import Principal, require_role, root_of
from convenant.engine.clock import local_moment
from convenant.engine.dates import parse_date
from convenant.engine.errors import BadInput, ConvenantError
from convenant.engine.explain import FACTS, People, explain_many
from convenant.engine.whatif import Act, whatif
from convenant.i18n import N_, format_date, format_datetime, gettext, localized

router = APIRouter(include_in_schema=False)
ACT_ROWS = 3                 # acts the form offers (an empty row is left out)
STEP_KINDS = {"reminder": N_("Reminder"), "missed": N_("Deadline passed"), "escalation": N_("Escalation")}
CHANGES = {"created": N_("new"), "moved": N_("moved"), "met": N_("met"), "missed": N_("missed"),
           "cancelled": N_("cancelled"), "open": N_("open again")}


# -- why this date ------------------------------------------------------------------------------------
def people(reader: Reader, lang: str) -> People:
    """How the explanation names a record and a deadline on the pages."""
    def record(rec: dict[str, Any]) -> str:
        values = {"act": reader.title(rec), "date": format_date(rec["effective"], lang)}
        if rec.get("party"):
            return gettext("%(act)s by %(party)s on %(date)s", lang,
                           party=reader.party_name(rec["process"], rec["party"]), **values)
        return gettext("%(act)s on %(date)s", lang, **values)
    return People(record=record, deadline=lambda pid, kind: reader.deadline_title(pid, kind))


def _is_date(value: Any) -> bool:
    try:
        dt.date.fromisoformat(str(value))
    except ValueError:
        return False
    return True


def page_explanation(doc: dict[str, Any], reader: Reader, records: dict[int, dict[str, Any]], lang: str
                     ) -> dict[str, Any]:
    """One explanation (explain_deadline's fields) with its inputs and schedule in words for the page."""
    words = people(reader, lang)
    pid = doc["process"]
    inputs = []
    for i in doc["inputs"]:
        rec = records.get(i["seq"]) if i["seq"] is not None else None
        if i["what"] == "opened_by":
            label = gettext("Opened by", lang)
        elif i["what"] == "fact":
            label = gettext(FACTS.get(i["name"], i["name"].replace("_", " ")), lang)
        elif i["what"] == "deadline":
            label = reader.deadline_title(pid, i["name"])
        elif i["what"] == "setting":
            label = gettext("Setting %(key)s in config.toml", lang, key=i["name"])
        else:
            label = gettext("Date of the act", lang)
        value = i["value"]
        shown = format_date(value, lang) if value is not None and _is_date(value) else ("—" if value is None
                                                                                          else str(value))
        inputs.append({"label": label, "value": shown, "seq": i["seq"], "record": words.record(rec) if rec else None})
    schedule = []
    for s in doc["schedule"]:
        to = reader.rung(pid, doc["kind"], doc["subject"], s["level"]) if s["kind"] == "escalation" else None
        schedule.append({"kind": gettext(STEP_KINDS.get(s["kind"], s["kind"]), lang), "at": s["at"],
                         "why": s["why"], "to": to, "done": s["done"]})
    return {**doc, "input_rows": inputs, "schedule_rows": schedule}


def explanations(app: Any, who: Principal, pid: str, lang: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    """The explanation of every deadline of process `pid` (and its agreement's children), keyed by (process,
    kind, subject, due) as `show` lists them."""
    app.queries.require_visible(who, pid)
    reader = Reader(app, lang)
    root = root_of(pid)
    rows = app.queries.reads.deadlines(statuses=None, root_id=root)
    found = explain_many(app.queries, [d.id for d in rows if d.id is not None], roots=[root], lang=lang,
                         people=people(reader, lang))
    records = {r["seq"]: r for r in app.queries.reads.history(root)}
    out = {}
    for d in rows:
        doc = found.get(d.id)
        if doc is not None:
            out[(d.process_id, d.kind, d.subject, d.due.isoformat())] = page_explanation(doc, reader, records, lang)
    return out


@pass_context
def deadline_reasons(ctx: Any, doc: dict[str, Any]) -> dict[tuple[Any, ...], dict[str, Any]]:
    """For the template: the explanations of the page's deadlines (an empty mapping where none can be made)."""
    request = ctx["request"]
    who = ctx.get("who")
    if who is None:
        return {}
    return explanations(convenant(request), who, doc["id"], ctx.get("lang") or "nl")


# -- what if --------------------------------------------------------------------------------------------
def form_context(app: Any, doc: dict[str, Any], lang: str, values: dict[str, str] | None = None) -> dict[str, Any]:
    """What the "what if?" form offers: every trigger a person can fire in the agreement and its processes
    (by process type), the agreement's parties, and the values entered before (after a refusal)."""
    wf = app.service.workflow(doc["workflow"])
    groups = []
    for ptype, spec in wf.processes.items():
        options = [(t.name, localized(t.title, lang, t.name)) for t in spec.triggers if t.manual]
        if options:
            groups.append((localized(spec.title, lang, ptype), options))
    root = app.queries.process(root_of(doc["id"]))
    parties = [(p, party.name) for p, party in root.parties.items()]
    today = app.service.today()
    return {"groups": groups, "parties": parties, "rows": range(ACT_ROWS), "values": values or {},
            "until_default": (today + dt.timedelta(days=90)).isoformat(), "today": today.isoformat(),
            "process": root.id}


@pass_context
def whatif_form(ctx: Any, doc: dict[str, Any]) -> dict[str, Any] | None:
    """For the template: the form's context, for the secretariat on an agreement's page only."""
    who = ctx.get("who")
    if who is None or who.role != "secretariat" or doc.get("parent"):
        return None
    return form_context(convenant(ctx["request"]), doc, ctx.get("lang") or "nl")


templates.env.globals.update(deadline_reasons=deadline_reasons, whatif_form=whatif_form)


def acts_of(values: dict[str, str]) -> list[Act]:
    """The acts of the form's rows; a row without a trigger is left out. Bad input names the row's field."""
    acts = []
    for n in range(ACT_ROWS):
        trigger = values.get(f"act.{n}.trigger", "").strip()
        if not trigger:
            continue
        on = values.get(f"act.{n}.on", "").strip()
        try:
            day = parse_date(on, f"act.{n}.on") if on else None
        except ValueError as exc:
            raise BadInput(str(exc), field=f"act.{n}.on") from None
        data: dict[str, Any] = {}
        for line in values.get(f"act.{n}.set", "").splitlines():
            if not line.strip():
                continue
            key, eq, value = line.partition("=")
            if not eq or not key.strip():
                raise BadInput(f"act {n + 1}: {line.strip()!r} is not NAME=VALUE", field=f"act.{n}.set")
            data[key.strip()] = value.strip()
        acts.append(Act(trigger, values.get(f"act.{n}.party", "").strip() or None, day, data,
                        values.get(f"act.{n}.ref", "").strip() or None, source=f"act {n + 1}"))
    if not acts:
        raise BadInput("choose at least one act", field="act.0.trigger")
    return acts


def until_of(app: Any, values: dict[str, str]) -> dt.datetime:
    """Through the chosen day: the fork runs to 00:00 of the day after it (local time)."""
    raw = values.get("until", "").strip()
    try:
        day = parse_date(raw, "until")
    except ValueError as exc:
        raise BadInput(str(exc), field="until") from None
    return local_moment(day + dt.timedelta(days=1), app.settings.tz)


def report_view(app: Any, reader: Reader, report: dict[str, Any], lang: str) -> dict[str, Any]:
    """The rehearsal's report in words: states and deadlines by their titles, changes translated."""
    wf = reader.workflow(report["agreement"])

    def state(pid: str, name: str | None) -> str:
        return state_title(wf, ptype_of(wf, pid), name, lang) if wf is not None and name else (name or "—")

    states = [{**s, "title": state(s["process"], s["state"])} for s in report["states"]]
    deadlines = [{**d, "title": reader.deadline_title(d["process"], d["kind"], d.get("subject")),
                  "change_title": gettext(CHANGES.get(d["change"], d["change"]), lang)} for d in report["deadlines"]]
    diff = report["difference"]
    diff_deadlines = [{**d, "title": reader.deadline_title(d["process"], d["kind"], d.get("subject"))}
                      for d in diff["deadlines"]]
    diff_states = [{**s, "title": state(s["process"], s["state"]), "sign": sign}
                   for sign, part in (("+", "added"), ("−", "removed")) for s in diff["states"][part]]
    return {"states": states, "deadlines": deadlines, "mails": report["mails"], "diff_deadlines": diff_deadlines,
            "diff_states": diff_states, "mails_added": diff["mails"]["added"],
            "mails_removed": diff["mails"]["removed"], "from": report["from"], "until": report["until"],
            "acts": [{**a, "title": localized(next((t.title for spec in wf.processes.values()
                                                     for t in spec.triggers if t.name == a["trigger"]), {}),
                                              lang, a["trigger"]) if wf else a["trigger"],
                      "party_name": reader.party_name(report["agreement"], a["party"])}
                     for a in report["acts"]]}


def refusal(exc: ConvenantError, lang: str) -> dict[str, Any]:
    """A refused rehearsal in words (humane.py), with the row of the act it concerns."""
    row = None
    found = re.match(r"act (\d+): ", exc.message)
    if found:
        row = int(found[1])
        exc.message = exc.message[found.end():]
    elif exc.field and re.match(r"act\.\d+\.", exc.field):
        row = int(exc.field.split(".")[1]) + 1
    labels = {"until": gettext("Run forward through", lang), "on": gettext("Date of the act", lang),
              "trigger": gettext("Act", lang), "party": gettext("Party", lang)}

    def label(f: str | None) -> str:
        base = (f or "").split(".")[-1]
        return labels.get(base, param_label(base, None, lang))
    return {"field": exc.field, "row": row, "kind": error_title(exc.kind, lang),
            "message": humane(exc, lang, label, lambda v: v)}


@router.post("/processes/{pid:path}/whatif")
async def rehearse(request: Request, pid: str) -> Response:
    """Run the acts of the form on a fork and show what follows; writes nothing, sends nothing."""
    who, app, lang, values = await posted(request)
    require_role(who, "secretariat", what="rehearse acts on a fork")
    doc, _ = visible_process(app, who, root_of(pid))
    reader = Reader(app, lang)
    ctx: dict[str, Any] = {"doc": doc, "title": gettext("What if? %(title)s", lang, title=doc.get("title") or doc["id"]),
                           "form": form_context(app, doc, lang, values), "report": None, "failed": None}
    try:
        acts = acts_of(values)
        until = until_of(app, values)
        report = whatif(app.service, doc["id"], acts, until, app.fork,
                        pending=app.queries.outbox("pending", doc["id"]))
    except ConvenantError as exc:
        ctx["failed"] = refusal(exc, lang)
        return render(request, "rehearsal.html", ctx, status=exc.http_status, who=who)
    ctx["report"] = report_view(app, reader, report, lang)
    ctx["until_moment"] = format_datetime(until, lang, app.settings.tz)
    return render(request, "rehearsal.html", ctx, who=who)
