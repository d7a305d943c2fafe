"""The pages for people: server-rendered (Jinja2), Dutch by default (?lang=en or the language cookie switches).
A person signs in with their own account (/sign-in: email and password, or their organisation's identity
provider) and gets a session: its random id in an http-only, SameSite=Lax cookie (Secure when [web]
secure_cookies), ended on the server by signing out; every POST carries a CSRF token bound to that session. What a form may fire is what Service.allowed_triggers says, and the
same Service.fire judges it, so the pages can never allow more than the command line.

Every page is built in the Rijkshuisstijl (the NL Design System's Rijkshuisstijl community components, vendored in
static/vendor/), readable at 375 px without sideways scrolling, and meant to meet WCAG 2.1 AA (the accessibility
statement, /toegankelijkheid, says how that is tested). Words come from the definition's titles and the catalogs,
never the engine's ids or its English messages (humane.py), dates in words and times in local time."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from convenant.app.web.auth import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    RateLimited,
    Unauthenticated,
    clear_session_cookie,
    new_login_csrf,
    set_session_cookie,
)
from convenant.app.web.diagram import state_svg, transitions
from convenant.app.web.forms import trigger_forms
from convenant.app.web.humane import field_labels, humane, namer
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
from convenant.app.web.present import Reader, ptype_of, state_title, trigger_title
from convenant.app.web.start import start_context
from convenant.app.web.timeline import Mark, timeline_svg
from convenant.engine.access import Principal, require_role, root_of
from convenant.engine.deadlines import calendar_uid
from convenant.engine.errors import BadInput, ConvenantError, NotAllowed, NotFound
from convenant.i18n import N_, format_date, gettext, localized
from convenant.notifications.ics import DeadlineEvent, deadline_calendar

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
install(templates.env)  # {% trans %}, _() and the date filters, in the language of the context's `lang`
HISTORY_SHOWN = 2000
START_WITHIN_DAYS = 60       # the start page lists deadlines due within this many days (?within= changes it)
SEARCH_SHOWN = 100


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
    """The person whose session the cookie names (read once per request)."""
    if "convenant_who" not in request.scope:
        request.scope["convenant_who"] = convenant(request).accounts.session_principal(
            request.cookies.get(SESSION_COOKIE))
    return request.scope["convenant_who"]


def page_user(request: Request) -> Principal:
    who = current_user(request)
    if who is None:
        raise LoginRequired()
    return who


def href(pid: str) -> str:
    return quote(pid, safe="/")


def nav_items(who: Principal | None) -> list[tuple[str, str]]:
    """The main navigation: (path, msgid) for this role."""
    if who is None:
        return []
    items = [("/", N_("Start")), ("/agenda", N_("Agenda")), ("/history", N_("History")), ("/search", N_("Search"))]
    if who.role in ("secretariat", "auditor"):
        items += [("/outbox", N_("Outbox")), ("/refusals", N_("Refusals"))]
    if who.administers:
        items += [("/admin/users", N_("Accounts"))]
    return items


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
           "tz": app.settings.tz, "href": href, "other_lang": other_language(lang), "nav": nav_items(who),
           "path": request.url.path,
           "switch_url": str(request.url.include_query_params(lang=other_language(lang)))}
    response = templates.TemplateResponse(request, name, ctx, status_code=status)
    if request.query_params.get("lang") in LANGS:
        response.set_cookie("lang", lang, max_age=365 * 86400, httponly=True, samesite="strict",
                            secure=app.settings.web.secure_cookies)
    return response


def error_page(request: Request, exc: ConvenantError) -> Response:
    if isinstance(exc, Unauthenticated):
        return to_login(request, exc)
    lang = lang_of(request)
    return render(request, "error.html", {"title": error_title(exc.kind, lang),
                                          "message": humane(exc, lang, lambda f: f or "", lambda v: v)},
                  status=exc.http_status, who=current_user(request))


def plain_error(request: Request, status: int) -> Response:
    lang = lang_of(request)
    message = gettext("This page does not exist.", lang) if status == 404 else \
        gettext("You have no access to this page.", lang)
    title = gettext("Page not found", lang) if status == 404 else gettext("Error", lang)
    return render(request, "error.html", {"title": title, "message": message},
                  status=status, who=current_user(request))


def to_login(request: Request, _: Exception | None = None) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/sign-in?next={quote(target, safe='')}", status_code=303)


def safe_next(target: str | None) -> str:
    return target if target and target.startswith("/") and not target.startswith("//") and "\\" not in target \
        else "/"


def visible_process(app, who: Principal, pid: str) -> tuple[dict[str, Any], Any]:
    """What `show` returns of a process the principal may see (404 before 403), with its workflow."""
    app.queries.require_visible(who, pid)
    doc = app.queries.show(pid, who.role, who.party)
    return doc, app.service.workflow(doc["workflow"])


def processes_of(queries, who: Principal) -> list[Any]:
    """Every process the principal may see: roots and their children, in id order."""
    out = []
    for root in queries.roots(who):
        out.append(root)
        out += sorted(queries.children(root.id), key=lambda p: p.id)
    return out


def check_csrf(request: Request, who: Principal, given: str | None) -> None:
    if not who.csrf_ok(given):
        raise NotAllowed(gettext(FORM_EXPIRED, lang_of(request)), forbidden=True)


# -- sign in and out ----------------------------------------------------------------------------------
def _sign_in_page(request: Request, target: str, *, error: str | None = None, status: int = 200,
                  email: str = "") -> Response:
    token = new_login_csrf()
    auth = convenant(request).settings.auth     # [auth]: a button to the identity provider (app/web/oidc.py)
    response = render(request, "sign_in.html", {"next": target, "login_csrf": token, "error": error,
                                                "email": email, "title": gettext("Sign in", lang_of(request)),
                                                "oidc_provider": auth.provider_name if auth.enabled else None},
                      status=status)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", max_age=3600,
                        secure=convenant(request).settings.web.secure_cookies)
    return response


@router.get("/sign-in")
def sign_in_form(request: Request, next: str | None = None) -> Response:
    return _sign_in_page(request, safe_next(next))


@router.get("/login")
def login_form(request: Request, next: str | None = None) -> Response:
    """The sign-in's former address."""
    return RedirectResponse(f"/sign-in?next={quote(safe_next(next), safe='')}", status_code=303)


async def posted(request: Request) -> tuple[Principal, Any, str, dict[str, str]]:
    """A signed-in person's POST: (who, the app, the page's language, the form's text values), its CSRF token
    checked."""
    who = page_user(request)
    form = await request.form()
    values = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    check_csrf(request, who, values.get("csrf"))
    return who, convenant(request), lang_of(request), values


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    """Email and password (engine/accounts.py: Argon2id, rate limited per account and per client address)."""
    form = await request.form()
    lang = lang_of(request)
    app = convenant(request)
    target = safe_next(str(form.get("next") or "/"))
    given, expected = str(form.get("csrf") or ""), request.cookies.get(LOGIN_CSRF_COOKIE) or ""
    email = str(form.get("email") or "").strip()[:254]
    if not expected or given != expected:
        return _sign_in_page(request, target, error=gettext(FORM_EXPIRED, lang), status=403, email=email)
    address = request.client.host if request.client else None
    try:
        session_id = app.accounts.sign_in_password(email, str(form.get("password") or ""), address)
    except RateLimited as exc:
        until = exc.until.astimezone(app.settings.tz).strftime("%H:%M")
        return _sign_in_page(request, target, status=429, email=email, error=gettext(
            "Too many failed attempts. Try again after %(time)s.", lang) % {"time": until})
    except Unauthenticated:
        return _sign_in_page(request, target, status=401, email=email,
                             error=gettext("The email address or the password is wrong.", lang))
    except NotAllowed:
        return _sign_in_page(request, target, status=403, email=email,
                             error=gettext("This account is disabled. Ask your administrator.", lang))
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, session_id, secure=app.settings.web.secure_cookies,
                       max_age=app.accounts.session_seconds())
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
@router.post("/sign-out")
async def logout(request: Request) -> Response:
    """Sign out: the session ends on the server (the cookie alone would not be enough)."""
    who = page_user(request)
    form = await request.form()
    check_csrf(request, who, str(form.get("csrf") or ""))
    app = convenant(request)
    app.accounts.close_session(request.cookies.get(SESSION_COOKIE))
    # then on to the identity provider's own sign-out, for a session that began there (app/web/oidc.py)
    at_provider = getattr(request.app.state, "sign_out_redirect", None)
    response = RedirectResponse((at_provider(request) if at_provider else None) or "/sign-in", status_code=303)
    clear_session_cookie(response, secure=app.settings.web.secure_cookies)
    return response


# -- the start page -----------------------------------------------------------------------------------
@router.get("/")
def start(request: Request) -> Response:
    who = page_user(request)
    if who.administers:     # an administrator manages accounts; agreements are the others' work
        return RedirectResponse("/admin/users", status_code=303)
    app = convenant(request)
    lang = lang_of(request)
    raw = request.query_params.get("within") or ""
    within = START_WITHIN_DAYS
    if raw:
        if not raw.isdigit() or len(raw) > 5:
            raise BadInput(f"within {raw!r} is not a number of days", field="within")
        within = int(raw)
    ctx = start_context(app, who, lang, within)
    done = request.query_params.get("done")
    if done:
        ctx["done"] = {"title": done_title(app, request.query_params.get("process") or "", done, lang),
                       "seq": request.query_params.get("seq"), "created": request.query_params.get("created"),
                       "process": request.query_params.get("process")}
    return render(request, "start.html", {**ctx, "title": gettext("Start", lang), "within": within}, who=who)


def done_title(app, pid: str, trigger: str, lang: str) -> str:
    proc = app.queries.find(pid) if pid else None
    if proc is None:
        return trigger
    return trigger_title(app.service.workflow(proc.workflow), proc.ptype, trigger, lang)


# -- one process --------------------------------------------------------------------------------------
def agreement_marks(app, reader: Reader, who: Principal, doc: dict[str, Any], lang: str) -> list[Mark]:
    """What the agreement's timeline draws: its acts (with their records), its deadlines and its dates."""
    marks = []
    for rec in app.queries.records(who, process=doc["id"]):
        if rec["trigger"] in ("create", "deadline_missed"):
            continue
        marks.append(Mark(dt.date.fromisoformat(rec["effective"]), "act", reader.title(rec), seq=rec["seq"]))
    deadlines = doc["deadlines"] + [d for c in doc["children"] for d in c["deadlines"]]
    for d in deadlines:
        marks.append(Mark(dt.date.fromisoformat(d["due"]), "deadline",
                          reader.deadline_title(d["process"], d["kind"], d.get("subject")), status=d["status"]))
    if doc.get("effective_from"):
        marks.append(Mark(dt.date.fromisoformat(doc["effective_from"]), "fact", gettext("In force", lang)))
    if doc.get("ends_on"):
        marks.append(Mark(dt.date.fromisoformat(doc["ends_on"]), "fact", gettext("No longer in force", lang)))
    return marks


def child_facts(app, reader: Reader, doc: dict[str, Any], lang: str) -> list[tuple[str, str]]:
    """A child process's own facts in words: who asked, what, when, with which letter."""
    facts = doc.get("facts") or {}
    names = {"requester": gettext("Requested by", lang), "notifier": gettext("Notice given by", lang),
             "raised_by": gettext("Raised by", lang), "ref": gettext("Reference", lang),
             "requested_on": gettext("Requested on", lang), "notice_on": gettext("Notice given on", lang),
             "subject": gettext("Subject", lang), "opened_on": gettext("Opened on", lang)}
    out = []
    for key, label in names.items():
        value = facts.get(key)
        if value in (None, ""):
            continue
        if key in ("requester", "notifier", "raised_by"):
            value = reader.party_name(doc["id"], value)
        elif key.endswith("_on"):
            value = format_date(value, lang)
        out.append((label, str(value)))
    return out


def process_page(request: Request, who: Principal, pid: str, *, status: int = 200,
                 failed: dict[str, Any] | None = None) -> Response:
    app = convenant(request)
    lang = lang_of(request)
    doc, wf = visible_process(app, who, pid)
    spec = wf.process(doc["type"])
    reader = Reader(app, lang)
    names = {p["id"]: p["name"] for p in doc["parties"]}
    for d in doc["deadlines"]:
        d["title"] = reader.deadline_title(d["process"], d["kind"], d.get("subject"))
    for c in doc["children"]:
        cspec = wf.process(c["type"])
        c["type_title"] = localized(cspec.title, lang, c["type"])
        c["state_title"] = localized(cspec.states[c["state"]].title, lang, c["state"])
        c["open_decisions"] = [d for d in c["decisions"] if not d["outcome"]]
    for th in doc.get("themes") or []:
        th["rung"] = reader.rung(doc["id"], "progress_report", th["id"], th["escalation_level"] - 1) \
            if th["escalation_level"] else None
    done = None
    if request.query_params.get("done"):
        done = {"title": trigger_title(wf, doc["type"], request.query_params["done"], lang),
                "seq": request.query_params.get("seq"), "created": request.query_params.get("created")}
    forms = trigger_forms(app, who, doc, lang)
    if failed and failed.get("field"):  # a field the form does not show: say it above the form instead
        shown = {f["name"] for form in forms if form["trigger"] == failed["trigger"] for f in form["fields"]}
        if failed["field"] not in shown:
            failed = {**failed, "field": None}
    if failed:
        failed["message"] = humane(failed.pop("error"), lang, field_labels(forms, failed["trigger"], lang),
                                   namer(names, lambda t: reader.theme_title(pid, t)))
    decisions = decision_rows(app, reader, doc, lang)
    ctx = {"doc": doc, "title": doc.get("title") or doc["id"], "type_title": localized(spec.title, lang, doc["type"]),
           "state_title": localized(spec.states[doc["state"]].title, lang, doc["state"]), "names": names,
           "forms": forms, "failed": failed or {}, "done": done, "decisions": decisions,
           "facts_list": child_facts(app, reader, doc, lang) if doc["parent"] else [],
           "transitions": transitions(wf, doc["type"], lang),
           "ancestors": [(root_of(pid), doc.get("title") or root_of(pid))] if "/" in pid else [],
           "is_root": "/" not in pid}
    if "/" not in pid:
        today = app.service.today()
        marks = agreement_marks(app, reader, who, doc, lang)
        title = gettext("Timeline of %(title)s", lang, title=doc.get("title") or doc["id"])
        ctx["timeline_wide"] = timeline_svg(marks, today, lang, width=760, title=title)
        ctx["timeline_narrow"] = timeline_svg(marks, today, lang, width=340, title=title)
    return render(request, "process.html", ctx, status=status, who=who)


def decision_rows(app, reader: Reader, doc: dict[str, Any], lang: str) -> list[dict[str, Any]]:
    """The process's decisions with each party's answer in words, and who has not answered yet."""
    wf = app.service.workflow(doc["workflow"])
    out = []
    for d in doc["decisions"]:
        spec = wf.process(doc["type"]).decisions.get(d["name"])
        title = reader.deadline_title(doc["id"], spec.deadline) if spec and spec.deadline else \
            localized(wf.process(doc["type"]).title, lang)
        out.append({**d, "title": title, "process": doc["id"],
                    "answer_rows": [{"party": pid, "name": reader.party_name(doc["id"], pid),
                                     "answer": option_label(a.get("answer"), lang), "on": a.get("on"),
                                     "ref": a.get("ref"), "initiator": a.get("initiator"),
                                     "counts_for": [reader.party_name(doc["id"], p) for p in a.get("counts_for") or []
                                                    if p != pid]}
                                    for pid, a in d["answers"].items()],
                    "pending_names": [(pid, reader.party_name(doc["id"], pid)) for pid in d["pending"]],
                    "carried_rows": [(param_label(k, None, lang), reader.value(doc["id"], k, v))
                                     for k, v in (d.get("carried") or {}).items()]})
    return out


@router.get("/processes/{pid:path}/report.pdf")
def report_pdf(request: Request, pid: str) -> Response:
    from convenant.app.web.report import pdf_of

    who = page_user(request)
    html = report_html(request, who, pid)
    name = pid.replace("/", "-")
    return Response(pdf_of(html, base_url=str(request.base_url)), media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{name}.pdf"'})


@router.get("/processes/{pid:path}/report")
def report(request: Request, pid: str) -> Response:
    who = page_user(request)
    return HTMLResponse(report_html(request, who, pid))


def report_html(request: Request, who: Principal, pid: str) -> str:
    """The agreement for the file: state, parties, deadlines, timeline and the whole history with the chain's
    verdict, from the same template for the browser's print and for WeasyPrint."""
    app = convenant(request)
    lang = lang_of(request)
    doc, wf = visible_process(app, who, pid)
    reader = Reader(app, lang)
    for d in doc["deadlines"] + [d for c in doc["children"] for d in c["deadlines"]]:
        d["title"] = reader.deadline_title(d["process"], d["kind"], d.get("subject"))
    for c in doc["children"]:
        c["state_title"] = state_title(wf, c["type"], c["state"], lang)
        c["type_title"] = localized(wf.process(c["type"]).title, lang, c["type"])
    records = [reader.describe(r) for r in app.queries.records(who, process=pid)]
    marks = agreement_marks(app, reader, who, doc, lang) if "/" not in pid else []
    simulated, now = app.service.clock_info()
    ctx = {"doc": doc, "lang": lang, "tz": app.settings.tz, "records": records, "verdict": app.queries.verify(),
           "state_title": state_title(wf, doc["type"], doc["state"], lang),
           "type_title": localized(wf.process(doc["type"]).title, lang, doc["type"]),
           "timeline": timeline_svg(marks, app.service.today(), lang, width=680) if marks else None,
           "now": now.astimezone(app.settings.tz), "simulated": simulated, "who": who,
           "title": doc.get("title") or doc["id"]}
    return templates.env.get_template("report.html").render(ctx)


@router.get("/processes/{pid:path}/parties/{party}")
def party_page(request: Request, pid: str, party: str) -> Response:
    return party_view(request, page_user(request), pid, party)


def party_view(request: Request, who: Principal, pid: str, party: str, *, status: int = 200,
               failed: dict[str, Any] | None = None, values: dict[str, str] | None = None) -> Response:
    app = convenant(request)
    lang = lang_of(request)
    app.queries.require_visible(who, pid)
    info = app.queries.party(pid, party)
    if who.role == "party" and who.party != party and info["represented_by"] != who.party:
        raise NotAllowed(gettext("A party sees its own contacts only.", lang), forbidden=True)
    rows = [dict(c) for c in info["contacts"]] + [{"name": "", "email": "", "language": "nl"}]
    done = request.query_params.get("done") == "contacts"
    return render(request, "party.html", {"party": info, "pid": pid, "rows": rows, "failed": failed or {},
                                          "values": values, "done": done, "title": info["name"]},
                  status=status, who=who)


@router.post("/processes/{pid:path}/parties/{party}")
async def party_save(request: Request, pid: str, party: str) -> Response:
    who, app, lang, values = await posted(request)
    require_role(who, "secretariat", what="change a party's contacts")
    contacts = []
    i = 0
    while f"name.{i}" in values or f"email.{i}" in values:
        name, email = values.get(f"name.{i}", "").strip(), values.get(f"email.{i}", "").strip()
        if name or email:
            contacts.append({"name": name, "email": email, "language": values.get(f"language.{i}") or "nl"})
        i += 1
    try:
        app.service.update_contacts(pid, party, contacts, actor=who.name, role=who.role,
                                    language=values.get("party_language") or None,
                                    reason=values.get("reason", "").strip() or None)
    except ConvenantError as exc:
        field = exc.field
        labels = {"name": gettext("Name", lang), "email": gettext("Email address", lang),
                  "language": gettext("Language", lang)}

        def label(f: str | None) -> str:
            base = (f or "").split(".")[-1]
            return labels.get(base, base)
        failed = {"field": field, "kind": error_title(exc.kind, lang),
                  "message": humane(exc, lang, label, lambda v: v)}
        return party_view(request, who, pid, party, status=exc.http_status, failed=failed, values=values)
    return RedirectResponse(f"/processes/{href(pid)}/parties/{quote(party)}?done=contacts", status_code=303)


@router.get("/processes/{pid:path}")
def process(request: Request, pid: str) -> Response:
    return process_page(request, page_user(request), pid)


@router.post("/processes/{pid:path}/fire")
async def fire(request: Request, pid: str) -> Response:
    who, app, lang, values = await posted(request)
    trigger = values.get("trigger", "")
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
                  "error": exc, "conflict": exc.kind == "conflict"}
        return process_page(request, who, pid, status=exc.http_status, failed=failed)
    if values.get("back") == "start":
        target = f"/?done={quote(trigger)}&seq={fired.seq}&process={quote(pid, safe='')}"
    else:
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
    doc, wf = visible_process(app, who, pid)
    reader = Reader(app, lang)
    decisions = decision_rows(app, reader, doc, lang)
    for c in doc["children"]:
        child = app.queries.show(c["id"], who.role, who.party)
        decisions += decision_rows(app, reader, child, lang)
    return render(request, "decision.html", {"doc": doc, "decisions": decisions,
                                             "title": gettext("Decisions", lang) + ": " + (doc.get("title") or doc["id"]),
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
    parties = sorted({(pid, p.name) for r in procs if r.parent_id is None for pid, p in r.parties.items()},
                     key=lambda x: x[1])
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
            errors[exc.field or "since"] = gettext("Not a date; choose one in the calendar (like 21-03-2025).", lang)
    reader = Reader(app, lang)
    rows = [reader.describe(rec) for rec in rows]
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
    error = None
    if raw:
        if not raw.isdigit() or len(raw) > 5:
            error = gettext("Give a whole number of days, like 30.", lang)
        else:
            within = int(raw)
    today = app.service.today()
    procs = {p.id: p for p in processes_of(app.queries, who)}
    reader = Reader(app, lang)
    rows = app.queries.deadlines(who, within=within, include_missed=True)
    for d in rows:
        d["title"] = reader.deadline_title(d["process"], d["kind"], d.get("subject"))
        d["days_left"] = (dt.date.fromisoformat(d["due"]) - today).days
    roots = [p for p in procs.values() if p.parent_id is None]
    if who.role == "party":
        feed_parties = [(who.party, next((r.parties[who.party].name for r in roots), who.party))]
    else:
        feed_parties = sorted({(pid, p.name) for r in roots for pid, p in r.parties.items()}, key=lambda x: x[1])
    feeds = [(pid, name, f"{request.base_url}feeds/{quote(pid)}.ics?key={quote(secret)}")
             for pid, name in feed_parties if (secret := app.accounts.feed_secret(who, pid))]
    return render(request, "agenda.html", {"rows": rows, "within": raw, "feeds": feeds, "error": error,
                                           "title": gettext("Agenda", lang)}, status=400 if error else 200, who=who)


@router.get("/feeds/{party}.ics")
def feed(request: Request, party: str, key: str | None = None) -> Response:
    """An iCalendar feed of one party's deadlines; calendar programs send no headers, so a feed secret is in the
    query string: made for this person and this party alone (engine/accounts.py), read-only, neither a token
    nor a session id, and never written to the access log (server.py)."""
    app = convenant(request)
    who = app.accounts.feed_principal(party, key)
    if who is None:
        raise Unauthenticated("a valid feed secret is required (?key=..., the link on the agenda page)")
    if who.role == "party" and who.party != party:
        raise NotAllowed(f"a party's feed is for its own people only ({who.party})", forbidden=True)
    roots = [r for r in app.queries.roots(who) if party in r.parties]
    if not roots:
        raise NotFound(f"no agreement has a party {party!r}")
    lang = str(roots[0].parties[party].language)
    reader = Reader(app, lang)
    events = []
    for d in app.queries.deadlines(who, include_missed=True):
        root = next((r for r in roots if r.id == root_of(d["process"])), None)
        if root is None:
            continue
        events.append(DeadlineEvent(
            uid=calendar_uid(d["process"], d["kind"], d["id"]), due=dt.date.fromisoformat(d["due"]),
            summary=f"{reader.deadline_title(d['process'], d['kind'], d.get('subject'))} ({root.title or root.id})",
            description=f"{d['process']}: {d['kind']}, {d['article']}; status {d['status']}",
            status=d["status"], categories=(d["article"],)))
    ics = deadline_calendar(events, now=app.service.now(),
                            name=gettext("Deadlines", lang) + ": " + roots[0].parties[party].name)
    return Response(ics, media_type="text/calendar; charset=utf-8",
                    headers={"Content-Disposition": f'inline; filename="{party}.ics"',
                             "Cache-Control": "private, max-age=300"})


# -- outbox and refusals ------------------------------------------------------------------------------
OUTBOX_STATUS = ("pending", "sent", "failed")


@router.get("/outbox")
def outbox(request: Request) -> Response:
    who = page_user(request)
    require_role(who, "secretariat", "auditor", what="read the outbox")
    app = convenant(request)
    lang = lang_of(request)
    status = request.query_params.get("status") or None
    if status not in (None, *OUTBOX_STATUS):
        status = None
    rows = list(reversed(app.queries.outbox(status)))[:500]
    return render(request, "outbox.html", {"rows": rows, "status": status, "statuses": OUTBOX_STATUS,
                                           "done": request.query_params.get("resent"),
                                           "title": gettext("Outbox", lang)}, who=who)


@router.post("/outbox/{row_id}/resend")
async def resend(request: Request, row_id: int) -> Response:
    who = page_user(request)
    form = await request.form()
    check_csrf(request, who, str(form.get("csrf") or ""))
    require_role(who, "secretariat", what="send a message again")
    convenant(request).service.resend_mail(row_id, actor=who.name, role=who.role)
    back = "/" if form.get("back") == "start" else "/outbox"
    return RedirectResponse(f"{back}?resent={row_id}", status_code=303)


@router.get("/refusals")
def refusals(request: Request) -> Response:
    who = page_user(request)
    require_role(who, "secretariat", "auditor", what="read the refused attempts")
    app = convenant(request)
    lang = lang_of(request)
    reader = Reader(app, lang)
    kinds = {2: "bad_input", 3: "not_allowed", 4: "not_found", 5: "conflict"}
    rows = []
    for r in app.queries.refusals(500):
        exc = ConvenantError(r["message"], article=r.get("article"))
        exc.kind = kinds.get(r["code"], "error")
        proc = app.queries.find(r["process"]) if r.get("process") else None
        wf = app.service.workflow(proc.workflow) if proc else None
        names = {pid: p.name for pid, p in (reader.root(proc.id).parties.items() if proc else [])}
        rows.append({**r, "kind_title": error_title(exc.kind, lang),
                     "message_text": humane(exc, lang, lambda f: param_label(f or "", None, lang), namer(names)),
                     "trigger_title": trigger_title(wf, ptype_of(wf, proc.id), r["trigger"], lang)
                     if wf and r.get("trigger") else r.get("trigger"),
                     "party_name": names.get(r.get("party") or "", r.get("party"))})
    return render(request, "refusals.html", {"rows": rows, "title": gettext("Refused attempts", lang)}, who=who)


# -- search -------------------------------------------------------------------------------------------
@router.get("/search")
def search(request: Request) -> Response:
    who = page_user(request)
    app = convenant(request)
    lang = lang_of(request)
    q = (request.query_params.get("q") or "").strip()[:200]
    agreements: list[dict[str, Any]] = []
    parties: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = []
    if q:
        needle = q.casefold()
        reader = Reader(app, lang)
        for root in app.queries.roots(who):
            if needle in f"{root.id} {root.title or ''}".casefold():
                agreements.append({"id": root.id, "title": root.title or root.id})
            for pid, p in root.parties.items():
                if needle in f"{pid} {p.name}".casefold():
                    parties.append({"agreement": root.id, "id": pid, "name": p.name})
        for rec in app.queries.records(who):
            view = reader.describe(rec)
            text = " ".join(str(x) for x in (view["process"], view["title"], view["actor"], view["party_name"],
                                             view["shown_ref"] or "", view["shown_reason"] or "",
                                             *(v for _, v, _ in view["said"]))).casefold()
            if needle in text:
                records.append(view)
                if len(records) >= SEARCH_SHOWN:
                    break
    return render(request, "search.html", {"q": q, "agreements": agreements, "parties": parties,
                                           "records": records, "shown": SEARCH_SHOWN,
                                           "title": gettext("Search", lang)}, who=who)


# -- the accessibility statement ------------------------------------------------------------------------
@router.get("/toegankelijkheid")
def accessibility(request: Request) -> Response:
    lang = lang_of(request)
    return render(request, "accessibility.html", {"title": gettext("Accessibility statement", lang)},
                  who=current_user(request))
