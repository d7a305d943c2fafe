"""The HTTP API's resources outside one process: the notifications of the outbox (`convenant outbox`) and a new
delivery of a failed one (the outbox page's "send again"), the refused attempts (`convenant audit refusals`), and
the personal accounts for an administrator (`convenant users add|list|disable`). Who may: the same as on the
pages and the command line (engine/access.py's require_role)."""
from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import Field

from convenant.app.web import api_models as m
from convenant.app.web.api_changes import Body
from convenant.app.web.api_common import LIST_HEADERS, Paging, convenant, may_change, paged, paging, principal, queries
from convenant.app.web.api_problems import responses
from convenant.engine.access import Principal, require_role
from convenant.engine.errors import NotFound

router = APIRouter(prefix="/api/v1")   # its routes join api.router's, in order
UTC = dt.UTC


def _moment(value: Any, tz: Any) -> str | None:
    from convenant.engine.clock import iso_moment
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return iso_moment(value if value.tzinfo else value.replace(tzinfo=UTC), tz)


def notification(r: dict[str, Any], tz: Any) -> dict[str, Any]:
    """One outbox row with the fields of `outbox --json`."""
    return {"id": r["id"], "to": r["to_addr"], "to_name": r["to_name"], "subject": r["subject"],
            "status": r["status"], "attempts": r["attempts"], "kind": r["kind"], "process": r["process_id"],
            "created_at": _moment(r["created_at"], tz), "sent_at": _moment(r["sent_at"], tz),
            "last_error": r["last_error"], "message_id": r["message_id"],
            "next_attempt_at": _moment(r["next_attempt_at"], tz) if r["status"] == "pending" else None,
            "record_seq": r["record_seq"]}


# -- the outbox -------------------------------------------------------------------------------------------------
@router.get("/notifications", summary="The notifications of the outbox and their delivery state (`outbox --json`; "
            "secretariat and auditors), oldest first", tags=["notifications"], response_model=None,
            responses={200: {"model": list[m.OutboxItem], "headers": LIST_HEADERS},
                       **responses(400, 401, 403, 404)})
def notifications(request: Request, status: Literal["pending", "sent", "failed"] | None = Query(None),
                  process: str | None = Query(None, max_length=300, description="only those of this agreement"),
                  pages: Paging = Depends(paging), who: Principal = Depends(principal)) -> JSONResponse:
    require_role(who, "secretariat", "auditor", what="read the outbox")
    q = queries(request)
    if process is not None:
        q.require_visible(who, process)
    tz = convenant(request).service.tz
    root = q.root(q.process(process)).id if process is not None else None
    return paged(request, (notification(r, tz) for r in q.outbox(status, root)), pages)


def _one(request: Request, row_id: int) -> dict[str, Any]:
    found = next((r for r in queries(request).outbox(None) if r["id"] == row_id), None)
    if found is None:
        raise NotFound(f"no message {row_id} in the outbox")
    return notification(found, convenant(request).service.tz)


NOTIFICATION_ID = Path(..., ge=1, le=2**62, description="the notification's `id`")


@router.get("/notifications/{notification_id}", summary="One notification of the outbox (secretariat and "
            "auditors)", tags=["notifications"], response_model=None,
            responses={200: {"model": m.OutboxItem}, **responses(400, 401, 403, 404)})
def notification_of(request: Request, notification_id: int = NOTIFICATION_ID,
                    who: Principal = Depends(principal)) -> dict[str, Any]:
    require_role(who, "secretariat", "auditor", what="read the outbox")
    return _one(request, notification_id)


@router.post("/notifications/{notification_id}/deliveries", summary="Send a failed notification again "
             "(secretariat): it is queued anew, its attempts start over, and the dispatcher takes it at its next "
             "run. Only a failed one can be sent again (409 otherwise)", tags=["notifications"],
             response_model=None, status_code=202,
             responses={202: {"model": m.Resent, "description": "queued again"},
                        **responses(400, 401, 403, 404, 409)})
def resend(request: Request, notification_id: int = NOTIFICATION_ID, who: Principal = Depends(principal)
           ) -> JSONResponse:
    require_role(who, "secretariat", what="send a message again")
    may_change(who, "send a message again")
    done = convenant(request).service.resend_mail(notification_id, actor=who.name, role=who.role)
    return JSONResponse(done, status_code=202)


# -- refused attempts -------------------------------------------------------------------------------------------
KINDS = {2: "bad_input", 3: "not_allowed", 4: "not_found", 5: "conflict"}


@router.get("/refusals", summary="Refused attempts, newest first (`audit refusals --json`; secretariat and "
            "auditors): who tried what, and why; kept apart from the chained history", tags=["refusals"],
            response_model=None,
            responses={200: {"model": list[m.Refusal], "headers": LIST_HEADERS}, **responses(400, 401, 403)})
def refusals(request: Request, limit: int = Query(200, ge=1, le=10_000, description="the newest this many"),
             pages: Paging = Depends(paging), who: Principal = Depends(principal)) -> JSONResponse:
    require_role(who, "secretariat", "auditor", what="read the refused attempts")
    rows = queries(request).refusals(limit)
    return paged(request, ({**r, "error": KINDS.get(r["code"], "error")} for r in rows), pages)


# -- personal accounts ------------------------------------------------------------------------------------------
class UserBody(Body):
    """`convenant users add`."""
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(min_length=3, max_length=254)
    role: str = Field(max_length=32, description="secretariat, party, auditor or administrator")
    party: str | None = Field(None, max_length=100, description="with role party: the party")
    language: str = Field("nl", max_length=8, description="nl or en")


class UserChange(Body):
    enabled: Literal[False] = Field(description="false disables the account and ends its sessions at once; its "
                                                "history stays")


def _accounts(request: Request, who: Principal, what: str) -> Any:
    require_role(who, "administrator", what=what)
    return convenant(request).accounts


EMAIL = Path(..., min_length=3, max_length=254, description="the account's email")


@router.get("/users", summary="Every personal account (administrator)", tags=["users"], response_model=None,
            responses={200: {"model": list[m.User], "headers": LIST_HEADERS}, **responses(400, 401, 403)})
def users(request: Request, pages: Paging = Depends(paging), who: Principal = Depends(principal)) -> JSONResponse:
    return paged(request, _accounts(request, who, "list the accounts").list_users(), pages)


@router.post("/users", summary="Add a personal account (`users add`; administrator)", tags=["users"],
             response_model=None, status_code=201,
             responses={201: {"model": m.User, "description": "the account"}, **responses(400, 401, 403, 409)})
def add_user(request: Request, body: UserBody, who: Principal = Depends(principal)) -> JSONResponse:
    accounts = _accounts(request, who, "add an account")
    may_change(who, "add an account")
    made = accounts.add_user(body.name, body.email, body.role, body.party, body.language)
    return JSONResponse(made, status_code=201, headers={"Location": f"/api/v1/users/{made['email']}"})


@router.get("/users/{email}", summary="One personal account (administrator)", tags=["users"], response_model=None,
            responses={200: {"model": m.User}, **responses(400, 401, 403, 404)})
def user(request: Request, email: str = EMAIL, who: Principal = Depends(principal)) -> Any:
    found = _accounts(request, who, "read an account").find_user(email)
    if found is None:
        raise NotFound(f"no account for {email}")
    return found


@router.patch("/users/{email}", summary="Disable a personal account (`users disable`; administrator): "
              "`{\"enabled\": false}` ends its sessions at once and keeps its history", tags=["users"],
              response_model=None, responses={200: {"model": m.User}, **responses(400, 401, 403, 404)})
def change_user(request: Request, body: UserChange, email: str = EMAIL, who: Principal = Depends(principal)) -> Any:
    accounts = _accounts(request, who, "disable an account")
    may_change(who, "disable an account")
    return accounts.disable_user(email)
