"""The administrator's page: every personal account, a form to add one and a button to disable one (which ends
that person's sessions at once; their history stays). Only the role administrator reaches it; every form carries
the CSRF token of the administrator's session, as the other pages' forms do."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from convenant.app.web.pages import check_csrf, convenant, lang_of, page_user, render
from convenant.engine.access import Principal, require_role
from convenant.engine.definitions import ROLES
from convenant.engine.errors import ConvenantError, NotAllowed
from convenant.i18n import gettext

router = APIRouter(include_in_schema=False)
FIELDS = ("name", "email", "role", "party", "language", "password")


def administrator(request: Request) -> Principal:
    who = page_user(request)
    require_role(who, "administrator", what="manage accounts")
    return who


def users_page(request: Request, who: Principal, *, failed: dict[str, Any] | None = None, status: int = 200,
               done: str | None = None) -> Response:
    app = convenant(request)
    lang = lang_of(request)
    return render(request, "admin_users.html", {
        "users": app.accounts.list_users(), "roles": ROLES, "parties": app.queries.party_ids(),
        "failed": failed, "done": done, "title": gettext("Accounts", lang)}, status=status, who=who)


@router.get("/admin/users")
def users(request: Request) -> Response:
    who = administrator(request)
    return users_page(request, who, done=request.query_params.get("done"))


@router.post("/admin/users")
async def add_user(request: Request) -> Response:
    who = administrator(request)
    form = await request.form()
    values = {k: str(form.get(k) or "").strip() for k in FIELDS}
    check_csrf(request, who, str(form.get("csrf") or ""))
    try:
        made = convenant(request).accounts.add_user(
            values["name"], values["email"], values["role"], party=values["party"] or None,
            language=values["language"] or "nl", password=str(form.get("password") or "") or None)
    except ConvenantError as exc:
        values.pop("password")
        failed = {"field": exc.field, "message": exc.message, "values": values}
        return users_page(request, who, failed=failed, status=exc.http_status)
    return RedirectResponse(f"/admin/users?done=added:{made['email']}", status_code=303)


@router.post("/admin/users/disable")
async def disable_user(request: Request) -> Response:
    who = administrator(request)
    form = await request.form()
    check_csrf(request, who, str(form.get("csrf") or ""))
    email = str(form.get("email") or "").strip().lower()
    if email == who.email:      # no administrator locks themselves out here (`users disable` on the server can)
        raise NotAllowed(gettext("You cannot disable your own account.", lang_of(request)), forbidden=True)
    gone = convenant(request).accounts.disable_user(email)
    return RedirectResponse(f"/admin/users?done=disabled:{gone['email']}", status_code=303)
