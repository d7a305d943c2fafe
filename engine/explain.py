"""Why a deadline is due when it is (`convenant explain ID KIND`): the rule of the definition, the inputs with the
history record each fact comes from, and the calendar reasoning step by step, in Dutch or English.

The reasoning is recomputed from the definition's date expression (engine/definitions.py DateExpr) with the same
functions that computed the due date (engine/dates.py), so the words cannot drift from the arithmetic. Where a
fact comes from is read off the chained history with the definition: the latest record whose trigger (its effects,
the branch it took, the state it entered) sets that fact - the record a court would be shown."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from babel.dates import format_date as babel_date

from convenant.engine.clock import iso_moment
from convenant.engine.dates import add_days, add_months, atw_end, holiday_name
from convenant.engine.deadlines import plan_of, scheme
from convenant.engine.definitions import Call, DateExpr, ProcessSpec, WorkflowDefinition
from convenant.engine.errors import NotFound
from convenant.engine.model import Deadline, Process
from convenant.engine.rules import last_signature
from convenant.i18n import N_, format_date, gettext, language

if TYPE_CHECKING:
    from convenant.engine.queries import Queries
    from convenant.engine.service import Service

Records = list[dict[str, Any]]

WHY = {"saturday": N_("Saturday"), "sunday": N_("Sunday"), "decree": N_("a day equated to a holiday by decree")}
# The facts a definition's dates are counted from, in words (the English is what the command line always said).
FACTS = {"last_signature": N_("last signature"), "ends_on": N_("ends on"), "requested_on": N_("requested on"),
         "notice_on": N_("notice on"), "opened_on": N_("opened on"), "effective_from": N_("effective from")}
CALENDARS = {"calendar_days": N_("calendar days"), "atw": N_("Algemene termijnenwet")}


@dataclass(frozen=True)
class People:
    """How a page names what the reasoning refers to (callbacks of the page's reader, in its language): a history
    record (its act, party and date in words) and a deadline of a process (its title). Without it the words are
    the command line's: `sign by vng on 2025-03-20`, the rule as the definition writes it."""
    record: Callable[[dict[str, Any]], str]
    deadline: Callable[[str, str], str]


@dataclass
class Said:
    """One step in words: an English msgid and its values (dates as dates, rendered in the reader's language)."""
    msgid: str
    values: dict[str, Any] = field(default_factory=dict)

    def text(self, lang: str) -> str:
        return gettext(self.msgid, lang, **{k: _word(v, lang) for k, v in self.values.items()})


def _word(value: Any, lang: str) -> Any:
    if isinstance(value, dt.date):
        return format_date(value, lang)
    if isinstance(value, Said):
        return value.text(lang)
    return value


def weekday(day: dt.date, lang: str) -> str:
    return babel_date(day, "EEEE", locale="nl_NL" if language(lang) == "nl" else "en_GB")


# -- which records set what ---------------------------------------------------------------------------------
def _calls(wf: WorkflowDefinition, procs: dict[str, Process], rec: dict[str, Any]) -> list[Call]:
    """The definition's effects that ran for one history record."""
    proc = procs.get(rec["process"])
    if proc is None or proc.ptype not in wf.processes:
        return []
    spec = wf.process(proc.ptype)
    dest = rec.get("dest")
    if rec.get("source") is None:      # a process entered: its opening effects
        calls = list(spec.on_create)
        if dest in spec.states:
            calls += spec.states[dest].on_enter
        return calls
    tspec = spec.trigger_map.get(rec["trigger"])
    if tspec is None:
        return []
    calls = list(tspec.effects)
    for branch in tspec.branches:
        if branch.dest == dest:
            calls += branch.effects
            break
    if dest != rec.get("source") and dest in spec.states:
        calls += spec.states[dest].on_enter
    return calls


def _sets(call: Call, name: str, on_root: bool) -> bool:
    if name == "last_signature":
        return call.do == "record_signature"
    return (call.do == "set_fact" and call.args.get("name") == name
            and (call.args.get("on", "self") == "root") == on_root)


def _opening_facts(wf: WorkflowDefinition, procs: dict[str, Process], rec: dict[str, Any]) -> set[str]:
    """The facts a child is created with (create_child's facts, and opened_on)."""
    proc = procs.get(rec["process"])
    if proc is None or proc.parent_id is None or rec.get("source") is not None:
        return set()
    parent = procs.get(proc.parent_id)
    tspec = wf.process(parent.ptype).trigger_map.get(rec["trigger"]) if parent else None
    names = {"opened_on"}
    for call in tspec.effects if tspec else []:
        if call.do == "create_child" and call.args.get("ptype") == proc.ptype:
            names |= set(call.args.get("facts") or {})
    return names


def fact_source(wf: WorkflowDefinition, procs: dict[str, Process], records: Records, holder: Process,
                name: str, value: Any) -> dict[str, Any] | None:
    """The latest record that set fact `name` on `holder` (its own acts, or a child's acts on the agreement)."""
    on_root = holder.is_root and name != "last_signature"
    for rec in reversed(records):
        mine = rec["process"] == holder.id
        if not mine and not (holder.is_root and procs.get(rec["process"]) is not None):
            continue
        if name == "last_signature" and value is not None and rec["effective"] != _iso(value):
            continue
        if mine and name in _opening_facts(wf, procs, rec):
            return rec
        if any(_sets(c, name, on_root and not mine) or (mine and _sets(c, name, False))
               for c in _calls(wf, procs, rec)):
            return rec
    return None


def opening_record(wf: WorkflowDefinition, procs: dict[str, Process], records: Records, d: Deadline
                   ) -> dict[str, Any] | None:
    """The record of the act that opened `d`: of its process, at the moment it was entered; the one whose
    effects open this kind where several share the moment."""
    at = d.created_at.replace(microsecond=0)
    same = [r for r in records if r["process"] == d.process_id
            and abs((dt.datetime.fromisoformat(r["recorded_at"]) - at).total_seconds()) < 1]
    for rec in same:
        if any(c.do == "open_deadlines" and d.kind in (c.args.get("kinds") or []) for c in _calls(wf, procs, rec)):
            return rec
    return same[-1] if same else None


def describe_record(rec: dict[str, Any]) -> str:
    who = f" by {rec['party']}" if rec.get("party") else ""
    return f"{rec['trigger']}{who} on {rec['effective']}"


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def _input(what: str, name: str, value: Any, rec: dict[str, Any] | None) -> dict[str, Any]:
    return {"what": what, "name": name, "value": _iso(value) if value is not None else None,
            "seq": rec["seq"] if rec else None, "record": describe_record(rec) if rec else None}


# -- the reasoning ----------------------------------------------------------------------------------------
@dataclass
class Reasoning:
    inputs: list[dict[str, Any]] = field(default_factory=list)
    steps: list[Said] = field(default_factory=list)
    due: dt.date | None = None


def _fact_words(name: str) -> Said:
    return Said(FACTS.get(name, name.replace("_", " ")))


def _record_words(ctx: _Context, rec: dict[str, Any]) -> str:
    return ctx.people.record(rec) if ctx.people is not None else describe_record(rec)


def rule_words(expr: DateExpr, fact: Callable[[str], Said], deadline: Callable[[str], str]) -> list[Said]:
    """The rule of a date expression in words, as parts joined by spaces ("last signature", "+ 14 days")."""
    if expr.date is not None:
        parts = [Said(N_("the fixed date %(date)s"), {"date": expr.date})]
    elif expr.deadline is not None:
        parts = [Said(N_("the due date of %(deadline)s"), {"deadline": deadline(expr.deadline)})]
    elif expr.fact is not None:
        parts = [fact(expr.fact)]
    else:
        parts = [Said(N_("the date of the act"))]
    if expr.months:
        parts.append(Said(N_("%(sign)s %(months)s calendar month(s)"),
                          {"sign": "+" if expr.months > 0 else "−", "months": abs(expr.months)}))
    if isinstance(expr.days, str):
        parts.append(Said(N_("%(sign)s the days of %(key)s"),
                          {"sign": "−" if expr.days.startswith("-") else "+", "key": expr.config_key or expr.days}))
    elif expr.days:
        parts.append(Said(N_("%(sign)s %(days)s days"), {"sign": "+" if expr.days > 0 else "−",
                                                         "days": abs(expr.days)}))
    if expr.calendar != "calendar_days":
        parts.append(Said(N_("(%(calendar)s)"), {"calendar": Said(CALENDARS.get(expr.calendar, expr.calendar))}))
    return parts


class _Joined(Said):
    def __init__(self, parts: list[Said]) -> None:
        super().__init__("", {})
        self.parts = parts

    def text(self, lang: str) -> str:
        return " ".join(p.text(lang) for p in self.parts)


def _base(ctx: _Context, expr: DateExpr, r: Reasoning) -> dt.date | None:
    if expr.date is not None:
        r.steps.append(Said(N_("The definition fixes the date: %(date)s."), {"date": expr.date}))
        return expr.date
    if expr.fact is not None:
        holder, value = ctx.fact(expr.fact)
        rec = fact_source(ctx.wf, ctx.procs, ctx.records, holder, expr.fact, value) if holder else None
        r.inputs.append(_input("fact", expr.fact, value, rec))
        if value is None:
            r.steps.append(Said(N_("%(fact)s is not known yet."), {"fact": _fact_words(expr.fact)}))
            return None
        said = N_("%(fact)s is %(date)s (seq %(seq)s: %(record)s).") if rec else N_("%(fact)s is %(date)s.")
        r.steps.append(Said(said, {"fact": _fact_words(expr.fact), "date": value,
                                   "seq": rec["seq"] if rec else "", "record": _record_words(ctx, rec) if rec else ""}))
        return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
    if expr.deadline is not None:
        other = ctx.deadline(expr.deadline)
        rec = opening_record(ctx.wf, ctx.procs, ctx.records, other) if other else None
        r.inputs.append(_input("deadline", expr.deadline, other.due if other else None, rec))
        if other is None:
            return None
        kind = ctx.people.deadline(ctx.proc.id, expr.deadline) if ctx.people is not None else expr.deadline
        r.steps.append(Said(N_("Deadline %(kind)s is due %(date)s."), {"kind": kind, "date": other.due}))
        return other.due
    rec = ctx.opening
    on = dt.date.fromisoformat(rec["effective"]) if rec else None
    r.inputs.append(_input("act", "on", on, rec))
    if on is None:
        return None
    r.steps.append(Said(N_("The act that opened the deadline is dated %(date)s (seq %(seq)s: %(record)s)."),
                        {"date": on, "seq": rec["seq"] if rec else "", "record": _record_words(ctx, rec) if rec else ""}))
    return on


def _arithmetic(ctx: _Context, expr: DateExpr, base: dt.date, r: Reasoning) -> dt.date:
    day = base
    if expr.months:
        day = add_months(base, expr.months)
        values = {"start": base, "months": expr.months, "end": day, "day": base.day}
        if day.day != base.day:
            r.steps.append(Said(N_("%(start)s + %(months)s calendar month(s) = %(end)s: that month has no day "
                                   "%(day)s, so the period ends on its last day (Hoge Raad, ECLI:NL:HR:2017:2225)."),
                                values))
        else:
            r.steps.append(Said(N_("%(start)s + %(months)s calendar month(s) = %(end)s (the same day number, Hoge "
                                   "Raad, ECLI:NL:HR:2017:2225)."), values))
    days = expr.days
    if isinstance(days, str):
        key = expr.config_key or ""
        count = int(ctx.settings.param(key)) * (-1 if days.startswith("-") else 1)
        r.inputs.append({"what": "setting", "name": key, "value": abs(count), "seq": None, "record": None})
        end = add_days(day, count)
        r.steps.append(Said(N_("%(start)s %(sign)s %(days)s days (%(key)s in config.toml) = %(end)s."),
                            {"start": day, "sign": "+" if count >= 0 else "−", "days": abs(count), "key": key,
                             "end": end}))
        return end
    if days:
        end = add_days(day, days)
        r.steps.append(Said(N_("%(start)s %(sign)s %(days)s days = %(end)s."),
                            {"start": day, "sign": "+" if days >= 0 else "−", "days": abs(days), "end": end}))
        return end
    return day


def _calendar(ctx: _Context, expr: DateExpr, base: dt.date, day: dt.date, r: Reasoning) -> dt.date:
    if expr.calendar == "calendar_days":
        r.steps.append(Said(N_("%(date)s is a %(weekday)s; the deadline counts calendar days, so no rest day moves "
                               "it: due %(date)s."), {"date": day, "weekday": _Weekday(day)}))
        return day
    backwards = (isinstance(expr.days, int) and expr.days < 0) or expr.months < 0 or (
        isinstance(expr.days, str) and expr.days.startswith("-"))
    end, shifts = atw_end(day, base, ctx.settings.calendar.extra_rest_days, backwards=backwards)
    for s in shifts:
        values: dict[str, Any] = {"date": s.day, "weekday": _Weekday(s.day), "article": s.article, "to": s.to}
        if s.why == "backwards":
            r.steps.append(Said(N_("The limit is counted backwards: %(article)s leaves it as it is."), values))
        elif s.why == "longer":
            r.steps.append(Said(N_("The limit is longer than three months: %(article)s excludes it from the "
                                   "Algemene termijnenwet."), values))
        elif s.why == "two_days":
            r.steps.append(Said(N_("Up to %(date)s the limit holds fewer than two days that are no Saturday, Sunday "
                                   "or holiday: under %(article)s it runs on to %(to)s."), values))
        else:
            values["why"] = _Holiday(s.day) if s.why == "holiday" else Said(WHY[s.why])
            r.steps.append(Said(N_("%(date)s is a %(weekday)s (%(why)s): under %(article)s the limit runs on to "
                                   "%(to)s."), values))
    r.steps.append(Said(N_("%(date)s is a %(weekday)s, no rest day under the Algemene termijnenwet: due %(date)s."),
                        {"date": end, "weekday": _Weekday(end)}))
    return end


class _Weekday(Said):
    def __init__(self, day: dt.date) -> None:
        super().__init__("", {})
        self.day = day

    def text(self, lang: str) -> str:
        return weekday(self.day, lang)


class _Holiday(Said):
    def __init__(self, day: dt.date) -> None:
        super().__init__("", {})
        self.day = day

    def text(self, lang: str) -> str:
        return holiday_name(self.day, lang) or ""


@dataclass
class _Context:
    wf: WorkflowDefinition
    spec: ProcessSpec
    settings: Any
    proc: Process
    root: Process
    procs: dict[str, Process]
    records: Records
    deadlines: list[Deadline]
    opening: dict[str, Any] | None
    people: People | None = None

    def fact(self, name: str) -> tuple[Process | None, Any]:
        if name == "last_signature":
            return self.root, last_signature(self.root)
        for holder in (self.proc, self.root):
            if name in holder.facts:
                return holder, holder.facts.value(name)
        return None, None

    def deadline(self, kind: str) -> Deadline | None:
        rows = [d for d in self.deadlines if d.process_id == self.proc.id and d.kind == kind
                and d.status != "cancelled"]
        return rows[-1] if rows else None


def reason(ctx: _Context, d: Deadline) -> Reasoning:
    """The inputs and steps of one deadline's due date."""
    r = Reasoning()
    dspec = ctx.spec.deadline_map.get(d.kind)
    if ctx.opening is not None:
        r.inputs.append(_input("opened_by", ctx.opening["trigger"], ctx.opening["effective"], ctx.opening))
    expr = dspec.due if dspec else None
    if expr is None or (expr.on and not expr.days and not expr.months and d.subject):
        # a plug-in's date (a VTH target of its layer): the act that opened it set it
        r.steps.append(Said(N_("The act that opened the deadline set its date (%(rule)s): due %(date)s."),
                            {"rule": d.rule, "date": d.due}))
        r.due = d.due
        return r
    rule: Any = expr.describe()
    if ctx.people is not None:
        rule = _Joined(rule_words(expr, _fact_words, lambda kind: ctx.people.deadline(ctx.proc.id, kind)
                                  if ctx.people else kind))
    r.steps.append(Said(N_("Rule of the definition (%(article)s): %(rule)s."), {"article": d.article, "rule": rule}))
    base = _base(ctx, expr, r)
    if base is None:
        return r
    day = _arithmetic(ctx, expr, base, r)
    r.due = _calendar(ctx, expr, base, day, r)
    if r.due != d.due:
        r.steps.append(Said(N_("The stored due date is %(due)s: it was computed when the deadline was opened or "
                               "last moved, under the facts and settings of that moment."), {"due": d.due}))
    return r


def _choose(rows: Iterable[Deadline], kind: str, subject: str | None) -> Deadline | None:
    mine = [d for d in rows if d.kind == kind and (subject is None or d.subject == subject)]
    if not mine:
        return None
    awaited = [d for d in mine if d.awaited]
    return max(awaited or mine, key=lambda d: (d.id or 0))


def explain(queries: Queries, pid: str, kind: str, *, subject: str | None = None, lang: str = "en",
            people: People | None = None) -> dict[str, Any]:
    """`convenant explain ID KIND`: the deadline of that kind of the process (an agreement: itself or, failing
    that, its children; an awaited one before a met one, the latest first)."""
    proc = queries.process(pid)
    root = queries.root(proc)
    procs = {root.id: root, **{c.id: c for c in queries.children(root.id)}}
    rows = queries.reads.deadlines(statuses=None, root_id=root.id)
    own = [d for d in rows if d.process_id == proc.id]
    d = _choose(own, kind, subject) or (_choose(rows, kind, subject) if proc.is_root else None)
    if d is None:
        known = sorted({x.kind for x in (rows if proc.is_root else own)})
        raise NotFound(f"{pid} has no deadline {kind!r}" + (f" for {subject}" if subject else "")
                       + f"; its deadlines: {', '.join(known) or 'none'}", process=pid)
    return explain_deadline(queries.service, d, procs, list(queries.reads.history(root.id)), rows, lang=lang,
                            people=people)


def explain_many(queries: Queries, ids: Iterable[int], *, roots: Iterable[str] | None = None, lang: str = "en",
                 people: People | None = None) -> dict[int, dict[str, Any]]:
    """The explanation of each deadline id (`deadlines --explain`, the agreement page), by id: each agreement's
    processes, history and deadlines are read once, however many of its deadlines are explained; `roots` limits
    the agreements looked at (the page's own)."""
    wanted = set(ids)
    out: dict[int, dict[str, Any]] = {}
    agreements = [queries.process(r) for r in roots] if roots is not None else queries.reads.roots()
    for root in agreements:
        rows = list(queries.reads.deadlines(statuses=None, root_id=root.id))
        mine = [d for d in rows if d.id in wanted]
        if not mine:
            continue
        procs = {root.id: root, **{c.id: c for c in queries.children(root.id)}}
        records = list(queries.reads.history(root.id))
        for d in mine:
            assert d.id is not None
            out[d.id] = explain_deadline(queries.service, d, procs, records, rows, lang=lang, people=people)
    return out


def explain_deadline(service: Service, d: Deadline, procs: dict[str, Process], records: Records,
                     deadlines: list[Deadline], *, lang: str = "en", people: People | None = None
                     ) -> dict[str, Any]:
    proc = procs[d.process_id]
    root = procs[proc.root_id or proc.id]
    wf = service.workflow(proc.workflow)
    spec = wf.process(proc.ptype)
    ctx = _Context(wf=wf, spec=spec, settings=service.settings, proc=proc, root=root, procs=procs,
                   records=records, deadlines=deadlines, opening=opening_record(wf, procs, records, d), people=people)
    r = reason(ctx, d)
    dspec = spec.deadline_map.get(d.kind)
    steps = plan_of(d, service.settings, wf, root.facts)
    moved = moved_by(records, d, ctx.opening)
    return {**({"moved_by": moved} if moved else {}),
            "reminders": reminder_source(service, wf, root, records, d.kind), "process": d.process_id, "kind": d.kind, "subject": d.subject, "due": d.due.isoformat(),
            "status": str(d.status), "article": d.article, "rule": d.rule,
            "calendar": dspec.due.calendar if dspec else "calendar_days", "lang": language(lang),
            "inputs": r.inputs, "steps": [s.text(lang) for s in r.steps],
            "schedule": [_step_view(service, s, d, lang) for s in steps]}


def reminder_source(service: Service, wf: WorkflowDefinition, root: Process, records: Records, kind: str
                    ) -> dict[str, Any]:
    """Where the reminder scheme of `kind` comes from for this agreement: an adopted amendment (with the seq of
    the record that applied it), the definition version it runs under (with its article), config.toml's
    [reminders], or the built-in default (engine/deadlines.py scheme(): that order of precedence)."""
    got = scheme(kind, service.settings, wf, root.facts)
    out = got.as_dict()
    if got.source == "amendment":
        rec = next((r for r in reversed(records) if r["process"] == root.id and r["trigger"] == "apply_amendment"
                    and ((r.get("data") or {}).get("migration") or {}).get("amendment") == got.amendment), None)
        out["seq"], out["record"] = (rec["seq"], describe_record(rec)) if rec else (None, None)
    return out


def moved_by(records: Records, d: Deadline, opening: dict[str, Any] | None) -> dict[str, Any] | None:
    """The record that last moved `d` to the date it has now, after the act that opened it: an adopted amendment
    that set it (`apply_amendment`, its migration record) or a definition migration (`migrate`, its diff)."""
    def moves(rec: dict[str, Any]) -> bool:
        data = rec.get("data") or {}
        if rec["trigger"] == "apply_amendment" and rec["process"] == d.process_id:
            rows = ((data.get("migration") or {}).get("after") or {}).get("deadlines") or []
            return any(x.get("kind") == d.kind and x.get("due") == d.due.isoformat() for x in rows)
        if rec["trigger"] == "migrate":
            rows = (data.get("diff") or {}).get("deadlines") or []
            return any(x.get("process") == d.process_id and x.get("change") in ("moved", "renamed")
                       and (x.get("after") or {}).get("kind") == d.kind
                       and (x.get("after") or {}).get("due") == d.due.isoformat()
                       and (x.get("after") or {}).get("subject") == d.subject for x in rows)
        return False

    after = opening["seq"] if opening else 0
    rec = next((r for r in reversed(records) if r["seq"] > after and moves(r)), None)
    if rec is None:
        return None
    data = rec.get("data") or {}
    out = {"seq": rec["seq"], "trigger": rec["trigger"], "record": describe_record(rec)}
    if rec["trigger"] == "apply_amendment":
        out["amendment"] = (data.get("migration") or {}).get("amendment")
    else:
        out["from"], out["to"] = data.get("from"), data.get("to")
    return out


def _step_view(service: Service, s: Any, d: Deadline, lang: str) -> dict[str, Any]:
    """One reminder or escalation step: when it fires and why, in words; `to` names the escalation's body (a key
    of [escalation] levels: responsible, do, bo)."""
    after = service.settings.escalation.after_days
    levels = service.settings.escalation.levels
    if s.kind == "reminder":
        why = gettext("%(days)s day(s) before the due date", lang, days=s.offset_days)
    elif s.kind == "missed":
        why = gettext("00:00 the day after the due date, if the act is not recorded", lang)
    else:
        why = gettext("escalation level %(level)s, %(days)s day(s) after the deadline was missed", lang,
                      level=(s.level or 0) + 1, days=after[s.level or 0])
    out = {"step": s.index, "kind": s.kind, "at": iso_moment(s.moment, service.tz), "why": why,
           "done": s.index < d.step}     # past: run, or skipped as it lay before the deadline was entered
    if s.kind == "escalation":
        out["level"] = s.level or 0
        out["to"] = levels[min(s.level or 0, len(levels) - 1)]
    return out
