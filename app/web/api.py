"""The HTTP API of INTERFACE.md under /api/v1, by the NL API Design Rules: the same Service, queries and views as the
command line, with the bearer token's role and party in place of --role/--party. Errors are problem details
(app/web/api_problems.py) that keep the engine's classes: 400 bad input, 401 no or bad token, 403 this role, party
or scope may not, 404 unknown process, 405 a method the resource does not allow, 409 wrong state, failed guard or
a concurrent change; each names the reason and the article.

Routes of one process come before the process itself, because a process id may hold a `/`
(`/processes/{process_id:path}`); a wrong method on any known path is 405 with an `Allow` header (see
`_method_not_allowed`), never 404."""
from __future__ import annotations

import json
from typing import Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, model_validator

from convenant.app.web import api_admin, api_changes, api_docs, api_reference, reading
from convenant.app.web import api_models as m
from convenant.app.web.api_common import LIST_HEADERS, Paging, may_change, paged, paging, principal, queries, service
from convenant.app.web.api_problems import responses
from convenant.engine.access import Principal, require_role, root_of
from convenant.engine.errors import BadInput, NotAllowed
from convenant.engine.history import csv_chunks
from convenant.engine.pipeline import TriggerRequest
from convenant.i18n import DEFAULT_LANG

__all__ = ["export_response", "principal", "router"]

PREFIX = "/api/v1"
router = APIRouter(prefix=PREFIX)
router.routes.extend(api_docs.router.routes)
router.add_api_route("", api_docs.index, methods=["GET"], tags=["api"], response_model=m.Index,
                     summary="The API's base: its version and where its description and documentation are (no "
                             "token needed)")
ERRORS = responses(400, 401, 403, 404, 409)   # what firing may answer


class TriggerBody(BaseModel):
    """What `convenant trigger` takes besides the role and party, which the token decides."""
    model_config = ConfigDict(extra="forbid")
    on: str | None = Field(None, description="the date the act legally happened (ISO 8601; default today on "
                                             "the engine's clock)", examples=["2025-03-20"], max_length=40)
    ref: str | None = Field(None, description="the letter, decision or Staatscourant reference", max_length=2000)
    reason: str | None = Field(None, description="why (kept in the history)", max_length=2000)
    data: dict[str, api_changes.Value] = Field(
        default_factory=dict, description="the trigger's values (`--set KEY=VALUE`), e.g. {\"extend\": \"yes\"}; a "
                                          "document as {name, sha256, size}")
    party: str | None = Field(None, description="the party the act is for: a secretariat token recording an act "
                                                "for a party; a party token may only name its own", max_length=100)
    version: int | None = Field(None, description="refuse with 409 if the process is no longer at this version "
                                                  "(same as the If-Match header)")

    @model_validator(mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        """Every string of the body, keys included, through engine/text.py (lone surrogates such as JSON's
        "\\ud800", NUL, control characters): bad input naming the field, never a 500."""
        return api_changes.checked_text(value)


# -- processes --------------------------------------------------------------------------------------------------
@router.get("/processes", summary="All agreements with state, dates, next deadline, open decisions and missed "
            "deadlines", tags=["processes"], response_model=None,
            responses={200: {"model": list[m.ProcessSummary], "headers": LIST_HEADERS}, **responses(400, 401)})
def list_processes(request: Request, pages: Paging = Depends(paging), who: Principal = Depends(principal)
                   ) -> JSONResponse:
    return paged(request, queries(request).overview(who), pages)


HISTORY: dict[str, Any] = {
    "description": "the records (`format=csv`: as `history --format csv`, one column each, a header row)",
    "headers": LIST_HEADERS, "model": list[m.HistoryRecord], "content": {"text/csv": {"schema": {"type": "string"}}}}


@router.get("/processes/{process_id:path}/history", summary="What `history --json` returns (`format=csv`: what "
            "`history --format csv` writes, the process's export)", tags=["processes"], response_model=None,
            responses={200: HISTORY, **responses(400, 401, 403, 404)})
def process_history(request: Request, process_id: str, party: str | None = Query(None, max_length=100),
                    since: str | None = Query(None, max_length=40), until: str | None = Query(None, max_length=40),
                    format: Literal["json", "csv"] = Query("json"), pages: Paging = Depends(paging),
                    who: Principal = Depends(principal)) -> Response:
    q = queries(request)
    q.require_visible(who, process_id)
    rows = q.records(who, process=process_id, party=party, since=since, until=until)
    if format == "csv":
        listed = paged(request, rows, pages)
        records = json.loads(bytes(listed.body))
        out = export_response(records, "csv", "convenant-history-" + process_id.replace("/", "-"))
        for name in ("X-Total-Count", "Link"):
            if name in listed.headers:
                out.headers[name] = listed.headers[name]
        return out
    return paged(request, rows, pages)


def _if_match(value: str | None) -> int | None:
    if value is None or value.strip() in ("", "*"):
        return None
    text = value.strip()
    if text.startswith("W/"):
        text = text[2:]
    try:
        return int(text.strip('"'))
    except ValueError:
        raise BadInput(f"If-Match {value!r} is not a process version (the ETag of GET, like \"3\")",
                       field="If-Match") from None


@router.post("/processes/{process_id:path}/triggers/{trigger}", summary="Fire a transition", tags=["processes"],
             response_model=None, responses={200: {"model": m.Fired, "headers": {"ETag": {
                 "description": "the process's new version", "schema": {"type": "string"}}}}, **ERRORS})
def fire(request: Request, process_id: str, trigger: str, body: TriggerBody,
         if_match: str | None = Header(None, description="the process version (ETag) this act expects"),
         who: Principal = Depends(principal)) -> JSONResponse:
    svc, q = service(request), queries(request)
    expected = _if_match(if_match)
    if body.version is not None:
        if expected is not None and expected != body.version:
            raise BadInput("If-Match and version disagree", field="version")
        expected = body.version
    party = body.party
    if who.role == "party":
        if party is not None and party != who.party:
            q.require_visible(who, process_id)  # an unknown process is 404 first
            root = q.process(root_of(process_id))
            if party not in root.parties:  # outside the vocabulary is bad input, as on the command line
                raise BadInput(f"unknown party {party!r}; parties are {', '.join(root.parties)}", field="party")
            raise NotAllowed(f"a party token acts for its own party ({who.party}) only, not for {party}",
                             forbidden=True, process=process_id, trigger=trigger)
        party = who.party
    may_change(who, f"fire {trigger}")
    data = api_changes.as_sets(body.data)
    fired = svc.fire(TriggerRequest(process_id, trigger, actor=who.name, role=who.role, party=party, on=body.on,
                                    ref=body.ref, reason=body.reason, data=data, expected_version=expected))
    out = fired.as_dict()
    proc = q.find(process_id)
    out["version"] = proc.version if proc else None
    return JSONResponse(out, headers={"ETag": f'"{out["version"]}"'} if proc else None)


router.routes.extend(api_changes.router.routes)   # the process's deadlines, rehearsals, corrections, migrations
router.routes.extend(api_reference.router.routes)  # its progress and parties; workflows, the clock, progress


@router.get("/processes/{process_id:path}", summary="What `show --json` returns, with the triggers this token "
            "may fire now", tags=["processes"], response_model=None,
            responses={200: {"model": m.ProcessView, "headers": {"ETag": {
                "description": "the process's version (for If-Match)", "schema": {"type": "string"}}}},
                **responses(400, 401, 403, 404)})
def get_process(request: Request, process_id: str,
                as_recorded_on: str | None = Query(None, alias="asRecordedOn", max_length=40, description=(
                    "the process as it was known at the end of this date (entry time, not legal date), as `show "
                    "--as-recorded-on DATE`")),
                who: Principal = Depends(principal)) -> JSONResponse:
    q = queries(request)
    q.require_visible(who, process_id)
    if as_recorded_on is not None:
        from convenant.engine.corrections import as_recorded_on as known_on
        from convenant.engine.dates import parse_date
        from convenant.engine.views import show as show_view
        try:
            day = parse_date(as_recorded_on, "asRecordedOn")
        except ValueError as exc:
            raise BadInput(str(exc), field="asRecordedOn") from None
        then, pid = known_on(service(request), q.reads, request.app.state.convenant.fork, process_id, day)
        return JSONResponse({**show_view(then, pid, who.role, who.party), "as_recorded_on": day.isoformat()})
    doc = q.show(process_id, who.role, who.party)
    return JSONResponse(doc, headers={"ETag": f'"{doc["version"]}"'})


# -- deadlines --------------------------------------------------------------------------------------------------
@router.get("/deadlines", summary="What `deadlines --json` returns (with `explain=true`: what `deadlines --explain "
            "--json` returns, each deadline with its `explanation`)", tags=["deadlines"], response_model=None,
            responses={200: {"model": list[m.ExplainedDeadline], "headers": LIST_HEADERS},
                       **responses(400, 401)})
def get_deadlines(request: Request, within: int | None = Query(None, ge=0, le=36500, description="only those due "
                  "within this many days"), all: bool = Query(False, description="met, missed and cancelled too"),
                  explain: bool = Query(False, description="each with why it is due then (`explanation`: the "
                                                           "fields of `explain --json`)"),
                  lang: Literal["nl", "en"] = Query(DEFAULT_LANG, description="with explain: the language of the "
                                                                            "steps"),
                  pages: Paging = Depends(paging), who: Principal = Depends(principal)) -> JSONResponse:
    q = queries(request)

    def explained(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        from convenant.engine.explain import explain_many
        found = explain_many(q, [r["id"] for r in rows], lang=lang)
        return [{**r, "explanation": found.get(r["id"])} for r in rows]
    return paged(request, q.deadlines(who, within=within, show_all=all), pages, each=explained if explain else None)


# -- the audit --------------------------------------------------------------------------------------------------
@router.get("/audit/verify", summary="Check the tamper-evident chain (`audit verify --json`)", tags=["audit"],
            response_model=None, responses={200: {"model": m.Verdict}, **responses(400, 401)})
def audit_verify(request: Request, who: Principal = Depends(principal)) -> dict[str, Any]:
    result: dict[str, Any] = queries(request).verify()
    return result


EXPORT: dict[int | str, dict[str, Any]] = {200: {
    "description": "every record with the fields of `history`", "model": list[m.HistoryRecord],
    "content": {"text/csv": {"schema": {"type": "string"}}}}}


@router.get("/audit/export", summary="Every record, as `audit export` (secretariat and auditors)", tags=["audit"],
            response_model=None, responses={**EXPORT, **responses(400, 401, 403)})
def audit_export(request: Request, format: Literal["json", "csv"] = Query("json"),
                 who: Principal = Depends(principal)) -> StreamingResponse:
    require_role(who, "secretariat", "auditor", what="export the whole history")
    return export_response(queries(request).records(who), format, "convenant-history")


def export_response(rows, fmt: str, stem: str) -> StreamingResponse:
    if fmt == "csv":
        return StreamingResponse(csv_chunks(rows), media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": f'attachment; filename="{stem}.csv"'})
    return StreamingResponse(reading.as_json(rows), media_type="application/json",
                             headers={"Content-Disposition": f'attachment; filename="{stem}.json"'})


# -- the verifiable log (engine/log.py): checkpoints, proofs and receipts for every token -----------------------
LOG_ERRORS = responses(400, 401, 403, 404)


def _log(request: Request):
    return request.app.state.convenant.service.log


@router.get("/log/key", summary="The log's public key (`keys show --json`): publish it; checkpoints and receipts "
            "are checked with it (`convenant-verify --key`)", tags=["log"], response_model=None,
            responses={200: {"model": m.PublicKey}, **LOG_ERRORS})
def log_key(request: Request, who: Principal = Depends(principal)) -> dict[str, Any]:
    shown = _log(request).public_key()
    return {"public_key": shown["public_key"], "key_id": shown["key_id"], "origin": shown["origin"]}


@router.get("/log/checkpoint", summary="The latest signed checkpoint (`audit checkpoint --json`: size, root, "
            "note - the C2SP signed note a party keeps)", tags=["log"], response_model=None,
            responses={200: {"model": m.Checkpoint}, **LOG_ERRORS})
def log_checkpoint(request: Request, who: Principal = Depends(principal)) -> dict[str, Any]:
    result: dict[str, Any] = _log(request).checkpoint()
    return result


@router.get("/log/checkpoints", summary="Every signed checkpoint, smallest first", tags=["log"],
            response_model=None, responses={200: {"model": list[m.Checkpoint], "headers": LIST_HEADERS},
                                            **LOG_ERRORS})
def log_checkpoints(request: Request, pages: Paging = Depends(paging), who: Principal = Depends(principal)
                    ) -> JSONResponse:
    return paged(request, _log(request).checkpoints(), pages)


@router.get("/log/checkpoints/{size}", summary="The signed checkpoint of one tree size", tags=["log"],
            response_model=None, responses={200: {"model": m.Checkpoint}, **LOG_ERRORS})
def log_checkpoint_of(request: Request, size: int = PathParam(..., ge=1, le=2**62),
                      who: Principal = Depends(principal)) -> dict[str, Any]:
    result: dict[str, Any] = _log(request).checkpoint(size)
    return result


@router.get("/log/proofs/inclusion", summary="An inclusion proof of one record (`audit prove --seq N "
            "[--checkpoint SIZE]`)", tags=["log"], response_model=None,
            responses={200: {"model": m.InclusionProof}, **LOG_ERRORS})
def log_inclusion(request: Request, seq: int = Query(..., ge=1, le=2**62),
                  checkpoint: int | None = Query(None, ge=1, le=2**62, description="a checkpoint's tree size "
                                                 "(default: the latest)"),
                  who: Principal = Depends(principal)) -> dict[str, Any]:
    result: dict[str, Any] = _log(request).prove(seq, checkpoint)
    return result


@router.get("/log/proofs/consistency", summary="A consistency proof between two checkpoints (`audit consistency "
            "--from SIZE --to SIZE`), for `convenant-verify consistency`", tags=["log"], response_model=None,
            responses={200: {"model": dict[str, Any]}, **LOG_ERRORS})
def log_consistency(request: Request, from_: int = Query(..., alias="from", ge=0, le=2**62),
                    to: int = Query(..., ge=0, le=2**62), who: Principal = Depends(principal)) -> dict[str, Any]:
    result: dict[str, Any] = _log(request).consistency(from_, to)
    return result


@router.get("/log/receipts/{seq}", summary="An offline receipt for one record (`audit receipt SEQ`), for "
            "`convenant-verify receipt`; a party token gets receipts for its own agreements' records, and not for "
            "a confidential record entered for another party (Art. 5.9)", tags=["log"], response_model=None,
            responses={200: {"model": dict[str, Any]}, **LOG_ERRORS})
def log_receipt(request: Request, seq: int = PathParam(..., ge=1, le=2**62),
                who: Principal = Depends(principal)) -> dict[str, Any]:
    from convenant.engine.confidential import redact
    receipt: dict[str, Any] = _log(request).receipt(seq, readable=lambda r: redact(r, who.role, who.party))
    if who.role == "party":
        queries(request).require_visible(who, root_of(receipt["record"]["process"]))
    return receipt


@router.get("/log/export", summary="The log as `audit export --format json` writes it, for `convenant-verify log` "
            "(secretariat and auditors)", tags=["log"], response_model=None,
            responses={200: {"model": dict[str, Any]}, **LOG_ERRORS})
def log_export(request: Request, who: Principal = Depends(principal)) -> JSONResponse:
    require_role(who, "secretariat", "auditor", what="export the whole log")
    q = queries(request)
    return JSONResponse(_log(request).export(lambda rows: q.readable(rows, who.role, who.party)))


router.routes.extend(api_admin.router.routes)     # notifications, refusals, users


# -- 405 for a wrong method on a known path (/core/http-methods) ------------------------------------------------
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
PROCESS = f"{PREFIX}/processes/{{process_id:path}}"


def _not_allowed(allowed: list[str]):
    allow = ", ".join(allowed)

    def endpoint(request: Request) -> Response:
        if request.method == "OPTIONS":
            return Response(status_code=204, headers={"Allow": allow})
        from starlette.exceptions import HTTPException
        raise HTTPException(405, f"{request.method} is not allowed here; {allow} is", headers={"Allow": allow})
    return endpoint


def _method_not_allowed(routes: list[Any]) -> None:
    """For each path of the API, one route that answers every other method: 405 with `Allow` (OPTIONS: 204 with
    `Allow`). Starlette's own 405 names the methods of one route only, and the greedy process path would answer
    GET on a POST-only sub-resource (`.../whatif`) with 404; so the process's sub-resources get theirs before the
    process route, the others after every route."""
    allowed: dict[str, set[str]] = {}
    for route in routes:
        if isinstance(route, APIRoute):
            allowed.setdefault(route.path, set()).update(route.methods or ())
    before: list[APIRoute] = []
    after: list[APIRoute] = []
    for path, methods in allowed.items():
        methods = methods | ({"HEAD"} if "GET" in methods else set())
        listed = [x for x in METHODS if x in methods or x == "OPTIONS"]
        others = [x for x in METHODS if x not in methods]
        fallback = APIRoute(path, _not_allowed(listed), methods=others, include_in_schema=False)
        (before if path.startswith(PROCESS + "/") else after).append(fallback)
    item = next(i for i, r in enumerate(routes) if isinstance(r, APIRoute) and r.path == PROCESS)
    routes[item:item] = before
    routes.extend(after)


_method_not_allowed(router.routes)
