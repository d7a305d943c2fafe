"""The process's sub-resources of the HTTP API beyond show, history and triggers: its deadlines with their
explanations (`convenant explain`), rehearsals (`convenant whatif`: writes nothing), corrections (`convenant
correct`) and migrations (`convenant migrate`). The same engine functions as the command line, with the bearer
token's role and party in place of --role/--party; engine/access.py and the engine decide, as there."""
from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from convenant.app.web import api_models as m
from convenant.app.web.api_common import Paging, may_change, paged, paging, principal, queries, service
from convenant.app.web.api_problems import responses
from convenant.engine.access import Principal, require_role
from convenant.engine.errors import BadInput
from convenant.i18n import DEFAULT_LANG

router = APIRouter(prefix="/api/v1")   # its routes join api.router's, in order
# The longest rehearsal the API runs: a fork's clock runs at most this far past the agreement's clock.
MAX_WHATIF_YEARS = 50


def checked_text(value: Any) -> Any:
    """Every string of a body, keys included, through engine/text.py: bad input naming the field, never a 500."""
    from convenant.engine.text import check_value
    if isinstance(value, dict):
        for key, item in value.items():
            check_value(item, str(key).encode("utf-8", "backslashreplace").decode("utf-8"))
            check_value(key, "body (a key)", 200)
    return value


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return checked_text(value)


class DocumentRef(BaseModel):
    """An attached document as the history keeps it (engine/documents.py): the command line reads a file named by
    `--set document=PATH`; over HTTP the client says what identifies it - the server reads no path it is sent."""
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=255, description="the file's name, no folders")
    sha256: str = Field(pattern="^[0-9a-f]{64}$", description="its SHA-256, 64 lower-case hexadecimal digits")
    size: int = Field(ge=0, le=2**62, description="its size in bytes")


Value = str | int | list[str | int] | DocumentRef


def as_sets(data: dict[str, Value]) -> dict[str, Any]:
    """A JSON object of values as the command line's --set KEY=VALUE (a list: comma-separated); a document stays
    the object that identifies it."""
    return {k: v.model_dump() if isinstance(v, DocumentRef) else ",".join(str(i) for i in v)
            if isinstance(v, list) else str(v) for k, v in data.items()}


# -- deadlines and their explanations ---------------------------------------------------------------------------
Lang = Literal["nl", "en"]


@router.get("/processes/{process_id:path}/deadlines/{kind}/explanation", summary="Why a deadline is due when it "
            "is (`convenant explain ID KIND --json`): the article, the rule, its inputs with the records they come "
            "from, and the calendar reasoning", tags=["deadlines"], response_model=None,
            responses={200: {"model": m.Explanation}, **responses(400, 401, 403, 404)})
def explanation(request: Request, process_id: str, kind: str,
                subject: str | None = Query(None, max_length=200, description="the government or theme, for a "
                                            "deadline kept per subject"),
                lang: Lang = Query(DEFAULT_LANG, description="the language of the steps"),
                who: Principal = Depends(principal)) -> dict[str, Any]:
    from convenant.engine.explain import explain
    q = queries(request)
    q.require_visible(who, process_id)
    return explain(q, process_id, kind, subject=subject, lang=lang)


@router.get("/processes/{process_id:path}/deadlines", summary="The deadlines of one process (of an agreement: "
            "with its children's), met, missed and cancelled ones too", tags=["deadlines"], response_model=None,
            responses={200: {"model": list[m.Deadline]}, **responses(400, 401, 403, 404)})
def process_deadlines(request: Request, process_id: str, pages: Paging = Depends(paging),
                      who: Principal = Depends(principal)) -> Any:
    from convenant.engine.access import root_of
    q = queries(request)
    proc = q.require_visible(who, process_id)
    mine = (lambda d: root_of(d["process"]) == proc.id) if proc.parent_id is None else \
        (lambda d: d["process"] == proc.id)
    return paged(request, (d for d in q.deadlines(who, show_all=True) if mine(d)), pages)


# -- rehearsals -------------------------------------------------------------------------------------------------
class ActBody(Body):
    """One hypothetical act, as `--act "TRIGGER [--party P] [--on DATE] [--set K=V]..."`."""
    trigger: str = Field(max_length=100)
    party: str | None = Field(None, max_length=100, description="the party acting (role party); without it the "
                                                                "secretariat acts")
    on: str | None = Field(None, max_length=40, description="the legal date (ISO 8601); default the fork's today")
    data: dict[str, Value] = Field(default_factory=dict, description="the trigger's values (`--set KEY=VALUE`)")
    ref: str | None = Field(None, max_length=2000)
    process: str | None = Field(None, max_length=300, description="the child process it is for, when not the "
                                                                  "agreement")


class WhatIfBody(Body):
    acts: list[ActBody | str] = Field(default_factory=list, max_length=200, description="the acts, in order: "
                                      "objects, or strings in the command line's --act syntax")
    until: str = Field(max_length=40, description="ISO date-time (or date) to run the fork's clock to",
                       examples=["2026-04-01T00:00:00+02:00"])


def _acts(body: WhatIfBody) -> list[Any]:
    from convenant.engine.dates import parse_date
    from convenant.engine.whatif import Act, parse_act
    out = []
    for n, act in enumerate(body.acts):
        if isinstance(act, str):
            try:
                out.append(parse_act(act))
            except BadInput as exc:
                exc.field = f"acts.{n}"
                raise
            continue
        try:
            on = parse_date(act.on, f"acts.{n}.on") if act.on else None
        except ValueError as exc:
            raise BadInput(str(exc), field=f"acts.{n}.on") from None
        out.append(Act(act.trigger, act.party, on, as_sets(act.data), act.ref, act.process))
    return out


def _moment(text: str, field: str, tz: Any) -> dt.datetime:
    from convenant.engine.clock import local_moment
    from convenant.engine.dates import parse_date
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        try:
            return local_moment(parse_date(text, field), tz)
        except ValueError:
            raise BadInput(f"{field} {text!r} is not an ISO 8601 date-time (like 2026-04-01T00:00:00+02:00)",
                           field=field) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=tz)


@router.post("/processes/{process_id:path}/whatif", summary="Rehearse acts on a throwaway fork of the agreement "
             "(`convenant whatif --json`): the states reached, the deadlines and the mails that would go out. "
             "Writes nothing and sends nothing (secretariat)", tags=["rehearsals"], response_model=None,
             responses={200: {"model": m.WhatIf}, **responses(400, 401, 403, 404, 409)})
def whatif(request: Request, process_id: str, body: WhatIfBody, who: Principal = Depends(principal)
           ) -> dict[str, Any]:
    from convenant.engine.whatif import whatif as rehearse
    svc, q = service(request), queries(request)
    proc = q.require_visible(who, process_id)
    require_role(who, "secretariat", what="rehearse acts on a fork")
    until = _moment(body.until, "until", svc.tz)
    if until > svc.now() + dt.timedelta(days=365 * MAX_WHATIF_YEARS):
        raise BadInput(f"until {body.until!r}: at most {MAX_WHATIF_YEARS} years after the engine's clock",
                       field="until")
    acts = _acts(body)
    root = q.root(proc)
    app = request.app.state.convenant
    return rehearse(svc, process_id, acts, until, app.fork, pending=q.outbox("pending", root.id))


# -- corrections ------------------------------------------------------------------------------------------------
class CorrectionBody(Body):
    """What `convenant correct` takes besides the actor and role, which the token decides."""
    seq: int = Field(ge=1, le=2**62, description="the record to correct")
    reason: str = Field(min_length=1, max_length=2000, description="why it is corrected (kept in the history)")
    set: dict[str, Value] = Field(default_factory=dict, description="`--set KEY=VALUE`: on=DATE, ref=TEXT, "
                                  "party=ID or a value the act took", examples=[{"on": "2025-03-20"}])
    withdraw: bool = Field(False, description="withdraw the wrongly entered act")
    dry_run: bool = Field(False, alias="dryRun", description="show what changes, write nothing")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def secretariat_change(request: Request, who: Principal, process_id: str, what: str, *, dry_run: bool) -> Any:
    """The checks of a secretariat's change to a process, in the CLI's order: the process is visible (404), the
    role may (403), and a real change needs a token that may write (a dry run only reads); the queries back."""
    q = queries(request)
    q.require_visible(who, process_id)
    require_role(who, "secretariat", what=what)
    if not dry_run:
        may_change(who, what)
    return q


@router.post("/processes/{process_id:path}/corrections", summary="Correct (or withdraw) a recorded act "
             "(`convenant correct --json`; secretariat): a new record names the one it corrects, and what follows "
             "from it is recomputed. `dryRun` writes nothing and answers the same", tags=["corrections"],
             response_model=None, responses={200: {"model": m.Correction}, **responses(400, 401, 403, 404, 409)})
def correction(request: Request, process_id: str, body: CorrectionBody, who: Principal = Depends(principal)
               ) -> dict[str, Any]:
    from convenant.engine.corrections import correct
    q = secretariat_change(request, who, process_id, "correct a recorded act", dry_run=body.dry_run)
    return correct(service(request), q.reads, request.app.state.convenant.fork, process_id, body.seq,
                   sets=as_sets(body.set), withdraw=body.withdraw,
                   who={"actor": who.name, "role": who.role, "reason": body.reason}, dry_run=body.dry_run)


# -- migrations -------------------------------------------------------------------------------------------------
class MigrationBody(Body):
    to: int = Field(ge=1, le=10_000, description="the version of the workflow definition to move to")
    reason: str | None = Field(None, max_length=2000)
    dry_run: bool = Field(False, alias="dryRun", description="show the diff, write nothing")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


@router.post("/processes/{process_id:path}/migrations", summary="Move a running agreement to another version of "
             "its workflow definition (`convenant migrate --json`; secretariat), as one recorded migration. "
             "`dryRun` shows the diff and writes nothing", tags=["migrations"], response_model=None,
             responses={200: {"model": m.Migration}, **responses(400, 401, 403, 404, 409)})
def migration(request: Request, process_id: str, body: MigrationBody, who: Principal = Depends(principal)
              ) -> dict[str, Any]:
    secretariat_change(request, who, process_id, "migrate an agreement", dry_run=body.dry_run)
    result: dict[str, Any] = service(request).migrate(process_id, body.to, actor=who.name, role=who.role,
                                                      reason=body.reason, dry_run=body.dry_run)
    return result
