"""The pages for people: server-rendered (Jinja2), Dutch by default (?lang=en or the language cookie switches).
Sign-in keeps the token in an http-only, SameSite=Strict cookie (Secure when [web] secure_cookies); every POST
carries a CSRF token bound to that session. What a form may fire is what Service.allowed_triggers says, and the
same Service.fire judges it, so the pages can never allow more than the command line."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from urllib.parse import quote

from convenant.app.web.auth import COOKIE, LOGIN_CSRF_COOKIE, Unauthenticated, new_login_csrf
from convenant.app.web.diagram import state_svg
from convenant.app.web.i18n import (
    DEFAULT_LANG,
    FORM_EXPIRED,
    LANGS,
    error_title,
    install,
    option_label,
    other_language,
    param_label,
)
from convenant.engine.access import Principal, root_of
from convenant.engine.deadlines import calendar_uid
from convenant.engine.errors import BadInput, ConvenantError, NotAllowed, NotFound
from convenant.notifications.ics import DeadlineEvent, deadline_calendar
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from convenant.i18n import format_date, gettext, localized

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
install(templates.env)  # {% trans %}, _() and the date filters, in the language of the context's `lang`
HISTORY_SHOWN = 2000


class LoginRequired(Exception):
    pass


# -- plumbing -----------------------------------------------------------------------------------------
def convenant(request: Request):
    return request.app.state.convenant


def lang_of(request: Request) -> str:
    asked = request.query_params.get("lang")
    if asked in LANGS:
        return asked
    return request.cookies.get("lang") if request.cookies.get("lang") in LANGS else DEFAULT_LANG


def current_user(request: Request) -> Principal | None:
    return convenant(request).accounts.principal(request.cookies.get(COOKIE))


def page_user(request: Request) -> Principal:
    who = current_user(request)
    if who is None:
        raise LoginRequired()
    return who


def href(pid: str) -> str:
    return quote(pid, safe="/")


def render(request: Request, name: str, ctx: dict[str, Any], *, status: int = 200,
           who: Principal | None = None) -> HTMLResponse:
    lang = lang_of(request)
    app = convenant(request)
    try:
        simulated, now = app.service.clock_info()
        clock = {"simulated": simulated, "now": now.astimezone(app.settings.tz)}
    except Exception:  # a page about a broken database still renders
        clock = None
    ctx = {**ctx, "lang": lang, "who": who, "clock": clock, "csrf": who.csrf() if who else None,
           "tz": app.settings.tz, "href": href, "other_lang": other_language(lang),
           "switch_url": str(request.url.include_query_params(lang=other_language(lang)))}
    response = templates.TemplateResponse(request, name, ctx, status_code=status)
    if request.query_params.get("lang") in LANGS:
        response.set_cookie("lang", lang, max_age=365 * 86400, httponly=True, samesite="strict",
                            secure=app.settings.web.secure_cookies)
    return response


def error_page(request: Request, exc: ConvenantError) -> Response:
    if isinstance(exc, Unauthenticated):
        return to_login(request, exc)
    return render(request, "error.html", {"title": error_title(exc.kind, lang_of(request)),
                                          "message": str(exc)}, status=exc.http_status, who=current_user(request))


def plain_error(request: Request, status: int) -> Response:
    lang = lang_of(request)
    message = gettext("This page does not exist.", lang) if status == 404 else \
        gettext("You have no access to this page.", lang)
    return render(request, "error.html", {"title": str(status), "message": message},
                  status=status, who=current_user(request))


def to_login(request: Request, _: Exception | None = None) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


def safe_next(target: str | None) -> str:
    return target if target and target.startswith("/") and not target.startswith("//") and "\\" not in target \
        else "/"


def find_title(wf, kind: str, what: str, lang: str) -> str:
    """A deadline kind's or trigger's title from the definition, in the page's language."""
    for spec in wf.processes.values():
        item = spec.deadline_map.get(kind) if what == "deadline" else spec.trigger_map.get(kind)
        if item is not None:
            return localized(item.title, lang, kind)
    return kind


def processes_of(queries, who: Principal) -> list[Any]:
    """Every process the principal may see: roots and their children, in id order."""
    out = []
    for root in queries.roots(who):
        out.append(root)
        out += sorted(queries.children(root.id), key=lambda p: p.id)
    return out


# -- sign in and out ----------------------------------------------------------------------------------
@router.get("/login")
def login_form(request: Request, next: str | None = None) -> Response:
    token = new_login_csrf()
    response = render(request, "login.html", {"next": safe_next(next), "login_csrf": token, "error": None})
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", max_age=3600,
                        secure=convenant(request).settings.web.secure_cookies)
    return response


@router.post("/login")
async def login(request: Request) -> Response:
    form = await request.form()
    lang = lang_of(request)
    target = safe_next(str(form.get("next") or "/"))
    given, expected = str(form.get("csrf") or ""), request.cookies.get(LOGIN_CSRF_COOKIE) or ""
    if not expected or given != expected:
        fresh = new_login_csrf()
        response = render(request, "login.html", {"next": target, "login_csrf": fresh, "error": gettext(FORM_EXPIRED, lang)},
                          status=403)
        response.set_cookie(LOGIN_CSRF_COOKIE, fresh, httponly=True, samesite="strict", max_age=3600,
                            secure=convenant(request).settings.web.secure_cookies)
        return response
    who = convenant(request).accounts.principal(str(form.get("token") or "").strip())
    if who is None:
        return render(request, "login.html", {"next": target, "login_csrf": expected,
                                              "error": gettext("This token is unknown or revoked.", lang)}, status=401)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(COOKIE, who.token, httponly=True, samesite="strict", path="/",
                        secure=convenant(request).settings.web.secure_cookies, max_age=12 * 3600)
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    who = page_user(request)
    form = await request.form()
    if not who.csrf_ok(str(form.get("csrf") or "")):
        raise NotAllowed(gettext(FORM_EXPIRED, lang_of(request)), forbidden=True)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


# -- overview -----------------------------------------------------------------------------------------
@router.get("/")
def overview(request: Request) -> Response:
    who = page_user(request)
    app = convenant(request)
    lang = lang_of(request)
    rows = app.queries.overview(who)
    for row in rows:
        wf = app.service.workflow(row["workflow"])
        nxt = row["next_deadline"]
        row["next_title"] = find_title(wf, nxt["kind"], "deadline", lang) if nxt else None
        row["missed_titles"] = [f"{find_title(wf, m['kind'], 'deadline', lang)} ({format_date(m['due'], lang)})"
                                for m in row["missed_deadlines"]]
    return render(request, "overview.html", {"rows": rows, "title": gettext("Overview", lang)}, who=who)


# -- one process --------------------------------------------------------------------------------------
def trigger_forms(app, who: Principal, doc: dict[str, Any], lang: str) -> list[dict[str, Any]]:
    """One form per trigger this principal may fire now, with exactly the fields it takes."""
    if who.reads_only:
        return []
    wf = app.service.workflow(doc["workflow"])
    spec = wf.process(doc["type"])
    root = app.queries.process(root_of(doc["id"]))
    today = app.service.today()
    forms = []
    for name in doc["allowed_triggers"]:
        tspec = spec.trigger_map[name]
        fields: list[dict[str, Any]] = []
        if tspec.party != "none" and who.role == "secretariat":
            options = []
            for p in doc["parties"]:
                if p["represented_by"] or (p["withdrawn_on"] and p["withdrawn_on"] <= today.isoformat()):
                    continue
                if tspec.parties is not None and p["id"] not in tspec.parties:
                    continue
                if name == "sign" and p["signed_on"]:
                    continue
                options.append((p["id"], p["name"]))
            fields.append({"name": "party", "label": gettext("Party", lang), "kind": "option", "options": options,
                           "required": tspec.party == "required"})
        for key, pspec in tspec.params.items():
            opts = app.service.options(pspec, root) if pspec.type == "option" else None
            fields.append({"name": f"param.{key}", "key": key, "label": param_label(key, pspec.label, lang),
                           "kind": pspec.type, "required": pspec.required,
                           "options": [(o, option_label(o, lang)) for o in opts] if opts is not None else None})
        fields.append({"name": "on", "label": gettext("Date of the act", lang), "kind": "date", "required": False,
                       "default": today.isoformat()})
        fields.append({"name": "ref", "label": gettext("Reference (letter, decision, Staatscourant)", lang), "kind": "text", "required": tspec.ref_required})
        fields.append({"name": "reason", "label": gettext("Reason", lang), "kind": "textarea", "required": False})
        forms.append({"trigger": name, "title": localized(tspec.title, lang, name), "article": tspec.article,
                      "fields": fields})
    return forms


def process_page(request: Request, who: Principal, pid: str, *, status: int = 200,
                 failed: dict[str, Any] | None = None) -> Response:
    app = convenant(request)
    lang = lang_of(request)
    app.queries.require_visible(who, pid)
    doc = app.queries.show(pid, who.role, who.party)
    wf = app.service.workflow(doc["workflow"])
    spec = wf.process(doc["type"])
    names = {p["id"]: p["name"] for p in doc["parties"]}
    for d in doc["deadlines"]:
        d["title"] = find_title(wf, d["kind"], "deadline", lang)
    for c in doc["children"]:
        cspec = wf.process(c["type"])
        c["type_title"] = localized(cspec.title, lang, c["type"])
        c["state_title"] = localized(cspec.states[c["state"]].title, lang, c["state"])
        c["open_decisions"] = [d for d in c["decisions"] if not d["outcome"]]
    done = None
    if request.query_params.get("done"):
        done = {"title": find_title(wf, request.query_params["done"], "trigger", lang),
                "seq": request.query_params.get("seq"), "created": request.query_params.get("created")}
    forms = trigger_forms(app, who, doc, lang)
    if failed and failed.get("field"):  # a field the form does not show: say it above the form instead
        shown = {f["name"] for form in forms if form["trigger"] == failed["trigger"] for f in form["fields"]}
        if failed["field"] not in shown:
            failed = {**failed, "field": None}
    ctx = {"doc": doc, "title": doc.get("title") or doc["id"], "type_title": localized(spec.title, lang, doc["type"]),
           "state_title": localized(spec.states[doc["state"]].title, lang, doc["state"]), "names": names,
           "forms": forms, "failed": failed or {}, "done": done,
           "ancestors": [root_of(pid)] if "/" in pid else []}
    return render(request, "process.html", ctx, status=status, who=who)


@router.get("/processes/{pid:path}")
def process(request: Request, pid: str) -> Response:
    return process_page(request, page_user(request), pid)


@router.post("/processes/{pid:path}/fire")
async def fire(request: Request, pid: str) -> Response:
    who = page_user(request)
    app = convenant(request)
    lang = lang_of(request)
    form = await request.form()
    trigger = str(form.get("trigger") or "")
    values = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    if not who.csrf_ok(values.get("csrf")):
        raise NotAllowed(gettext(FORM_EXPIRED, lang), forbidden=True)
    if who.reads_only:
        raise NotAllowed(gettext("As an auditor you read everything and change nothing.", lang), forbidden=True,
                         process=pid)
    data = {k[len("param."):]: v.strip() for k, v in values.items() if k.startswith("param.") and v.strip()}
    party = who.party if who.role == "party" else (values.get("party") or None)
    try:
        version = int(values["version"]) if values.get("version") else None
    except ValueError:
        version = None
    try:
        fired = app.service.fire(pid, trigger, actor=who.name, role=who.role, party=party,
                                 on=values.get("on") or None, ref=values.get("ref", "").strip() or None,
                                 reason=values.get("reason", "").strip() or None, data=data,
                                 expected_version=version)
    except ConvenantError as exc:
        field = exc.field if exc.field in ("on", "ref", "reason", "party") else \
            f"param.{exc.field}" if exc.field else None
        failed = {"trigger": trigger, "values": values, "field": field, "kind": error_title(exc.kind, lang),
                  "message": str(exc), "conflict": exc.kind == "conflict"}
        return process_page(request, who, pid, status=exc.http_status, failed=failed)
    target = f"/processes/{href(pid)}?done={quote(trigger)}&seq={fired.seq}"
    if fired.created:
        target += f"&created={quote(fired.created)}"
    return RedirectResponse(target, status_code=303)


@router.get("/diagrams/{pid:path}.svg")
def diagram(request: Request, pid: str) -> Response:
    who = page_user(request)
    app = convenant(request)
    proc = app.queries.require_visible(who, pid)
    svg = state_svg(app.service.workflow(proc.workflow), proc.ptype, proc.state, lang_of(request))
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "private, no-cache"})


@router.get("/decisions/{pid:path}")
def decision(request: Request, pid: str) -> Response:
    who = page_user(request)
    app = convenant(request)
    lang = lang_of(request)
    app.queries.require_visible(who, pid)
    doc = app.queries.show(pid, who.role, who.party)
    wf = app.service.workflow(doc["workflow"])
    names = {p["id"]: p["name"] for p in doc["parties"]}
    decisions = [{**d, "process": doc["id"]} for d in doc["decisions"]]
    decisions += [{**d, "process": c["id"]} for c in doc["children"] for d in c["decisions"]]
    return render(request, "decision.html", {"doc": doc, "decisions": decisions, "names": names,
                                             "title": f"{gettext('Decisions', lang)}: {doc['id']}",
                                             "type_title": localized(wf.process(doc["type"]).title, lang)}, who=who)


# -- history ------------------------------------------------------------------------------------------
def history_filters(request: Request) -> dict[str, str | None]:
    q = request.query_params
    return {k: (q.get(k) or "").strip()[:100] or None for k in ("process", "party", "since", "until")}


@router.get("/history")
def history(request: Request) -> Response:
    who = page_user(request)
    app = convenant(request)
    lang = lang_of(request)
    filters = history_filters(request)
    procs = processes_of(app.queries, who)
    parties = sorted({(pid, p.name) for r in procs if r.parent_id is None for pid, p in r.parties.items()})
    errors: dict[str, str] = {}
    rows: list[dict[str, Any]] = []
    truncated = False
    if filters["process"] and filters["process"] not in {p.id for p in procs}:
        errors["process"] = gettext("There is no process %(process)s.", lang, process=repr(filters["process"]))
    else:
        try:
            stream = app.queries.records(who, **filters)
            for rec in stream:
                if len(rows) >= HISTORY_SHOWN:
                    truncated = True
                    break
                rows.append(rec)
        except BadInput as exc:
            errors[exc.field or "since"] = gettext("not a date (like 2025-03-21)", lang)
    wfs = {p.id: app.service.workflow(p.workflow) for p in procs}
    for rec in rows:
        wf = wfs.get(root_of(rec["process"]))
        rec["title"] = find_title(wf, rec["trigger"], "trigger", lang) if wf else rec["trigger"]
    query = "&".join(f"{k}={quote(v)}" for k, v in filters.items() if v)
    status = 400 if errors else 200
    return render(request, "history.html", {
        "rows": rows, "filters": filters, "errors": errors, "processes": [p.id for p in procs],
        "parties": parties, "verdict": app.queries.verify(), "truncated": truncated, "shown": HISTORY_SHOWN,
        "query": query, "title": gettext("History", lang)}, status=status, who=who)


@router.get("/history/export")
def history_export(request: Request, format: str = "csv") -> Response:
    who = page_user(request)
    app = convenant(request)
    if format not in ("csv", "json"):
        raise BadInput(f"format {format!r} is not one of csv, json", field="format")
    filters = history_filters(request)
    if filters["process"]:
        app.queries.require_visible(who, filters["process"])
    from convenant.app.web.api import export_response
    stem = "convenant-history" + (f"-{filters['process'].replace('/', '-')}" if filters["process"] else "")
    return export_response(app.queries.records(who, **filters), format, stem)


# -- agenda and calendar feeds ------------------------------------------------------------------------
@router.get("/agenda")
def agenda(request: Request) -> Response:
    who = page_user(request)
    app = convenant(request)
    lang = lang_of(request)
    raw = request.query_params.get("within") or ""
    within = None
    if raw:
        if not raw.isdigit() or len(raw) > 5:
            raise BadInput(f"within {raw!r} is not a number of days", field="within")
        within = int(raw)
    today = app.service.today()
    procs = {p.id: p for p in processes_of(app.queries, who)}
    rows = app.queries.deadlines(who, within=within, include_missed=True)
    for d in rows:
        proc = procs.get(d["process"])
        wf = app.service.workflow(proc.workflow) if proc else None
        d["title"] = find_title(wf, d["kind"], "deadline", lang) if wf else d["kind"]
        d["days_left"] = (dt.date.fromisoformat(d["due"]) - today).days
    roots = [p for p in procs.values() if p.parent_id is None]
    if who.role == "party":
        feed_parties = [(who.party, next((r.parties[who.party].name for r in roots), who.party))]
    else:
        feed_parties = sorted({(pid, p.name) for r in roots for pid, p in r.parties.items()})
    feeds = [(pid, name, f"{request.base_url}feeds/{quote(pid)}.ics?token={quote(who.token)}")
             for pid, name in feed_parties]
    return render(request, "agenda.html", {"rows": rows, "within": raw, "feeds": feeds,
                                           "title": gettext("Agenda", lang)}, who=who)


@router.get("/feeds/{party}.ics")
def feed(request: Request, party: str, token: str | None = None) -> Response:
    """An iCalendar feed of one party's deadlines; calendar programs send no headers, so the token is in the
    query string (and the Referrer-Policy keeps it from leaking)."""
    app = convenant(request)
    who = app.accounts.principal(token)
    if who is None:
        raise Unauthenticated("a valid token is required (?token=...)")
    if who.role == "party" and who.party != party:
        raise NotAllowed(f"a party token reads its own feed only ({who.party})", forbidden=True)
    roots = [r for r in app.queries.roots(who) if party in r.parties]
    if not roots:
        raise NotFound(f"no agreement has a party {party!r}")
    lang = str(roots[0].parties[party].language)
    events = []
    for d in app.queries.deadlines(who, include_missed=True):
        root = next((r for r in roots if r.id == root_of(d["process"])), None)
        if root is None:
            continue
        wf = app.service.workflow(root.workflow)
        events.append(DeadlineEvent(
            uid=calendar_uid(d["process"], d["kind"], d["id"]), due=dt.date.fromisoformat(d["due"]),
            summary=f"{find_title(wf, d['kind'], 'deadline', lang)} ({root.title or root.id})",
            description=f"{d['process']}: {d['kind']}, {d['article']}; status {d['status']}",
            status=d["status"], categories=(d["article"],)))
    ics = deadline_calendar(events, now=app.service.now(),
                            name=f"{gettext('Deadlines', lang)}: {roots[0].parties[party].name}")
    return Response(ics, media_type="text/calendar; charset=utf-8",
                    headers={"Content-Disposition": f'inline; filename="{party}.ics"',
                             "Cache-Control": "private, max-age=300"})
