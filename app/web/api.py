"""The HTTP API of INTERFACE.md under /api/v1: the same Service and views as the command line, with the
bearer token's role and party in place of --role/--party. Errors keep the engine's classes: 400 bad input,
401 no or bad token, 403 this role or party may not, 404 unknown process, 409 wrong state, failed guard or a
concurrent change; each body names the reason and the article."""
from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from convenant.app.web import reading
from convenant.app.web.auth import Unauthenticated, bearer
from convenant.engine.access import Principal, require_role, root_of
from convenant.engine.errors import BadInput, NotAllowed
from convenant.engine.history import csv_chunks
from convenant.engine.pipeline import TriggerRequest

router = APIRouter(prefix="/api/v1")


class ErrorBody(BaseModel):
    error: str = Field(description="bad_input, unauthenticated, not_allowed, not_found or conflict")
    reason: str = Field(description="why, in words")
    article: str | None = Field(None, description="the article of the agreement the refusal rests on")
    message: str
    field: str | None = None
    process: str | None = None
    state: str | None = None
    trigger: str | None = None


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text} for code, text in (
        (400, "bad input (a field outside the vocabulary, an unparseable date, a date after today)"),
        (401, "no token, or an unknown or revoked one"),
        (403, "this role or party may not do this"),
        (404, "no such process"),
        (409, "not allowed in the current state, a guard refused, or someone changed the process meanwhile"))}


class TriggerBody(BaseModel):
    """What `convenant trigger` takes besides the role and party, which the token decides."""
    model_config = ConfigDict(extra="forbid")
    on: str | None = Field(None, description="the date the act legally happened (ISO 8601; default today on "
                                             "the engine's clock)", examples=["2025-03-20"], max_length=40)
    ref: str | None = Field(None, description="the letter, decision or Staatscourant reference", max_length=2000)
    reason: str | None = Field(None, description="why (kept in the history)", max_length=2000)
    data: dict[str, str | int | list[str | int]] = Field(
        default_factory=dict, description="the trigger's values (`--set KEY=VALUE`), e.g. {\"extend\": \"yes\"}")
    party: str | None = Field(None, description="the party the act is for: a secretariat token recording an act "
                                                "for a party; a party token may only name its own", max_length=100)
    version: int | None = Field(None, description="refuse with 409 if the process is no longer at this version "
                                                  "(same as the If-Match header)")

    @model_validator(mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        """Every string of the body, keys included, through engine/text.py (lone surrogates such as JSON's
        "\\ud800", NUL, control characters): bad input naming the field, never a 500."""
        from convenant.engine.text import check_value
        if isinstance(value, dict):
            for key, item in value.items():
                check_value(item, str(key).encode("utf-8", "backslashreplace").decode("utf-8"))
                check_value(key, "body (a key)", 200)
        return value


def principal(request: Request, authorization: str | None = Header(None, description="Bearer TOKEN")
              ) -> Principal:
    who = request.app.state.convenant.accounts.principal(bearer(authorization))
    if who is None:
        raise Unauthenticated("a valid bearer token is required (Authorization: Bearer TOKEN); create one with "
                              "'convenant tokens create'" if not authorization else
                              "the token is unknown or revoked")
    return who


def _service(request: Request):
    return request.app.state.convenant.service


def _queries(request: Request):
    return request.app.state.convenant.queries


@router.get("/processes", summary="All agreements with state, dates, next deadline, open decisions and missed "
            "deadlines", responses=ERRORS)
def list_processes(request: Request, who: Principal = Depends(principal)) -> list[dict[str, Any]]:
    return _queries(request).overview(who)


@router.get("/processes/{process_id:path}/history", summary="What `history --json` returns", responses=ERRORS)
def process_history(request: Request, process_id: str, party: str | None = Query(None, max_length=100),
                    since: str | None = Query(None, max_length=40), until: str | None = Query(None, max_length=40),
                    who: Principal = Depends(principal)) -> list[dict[str, Any]]:
    queries = _queries(request)
    queries.require_visible(who, process_id)
    return list(queries.records(who, process=process_id, party=party, since=since, until=until))


@router.get("/processes/{process_id:path}", summary="What `show --json` returns, with the triggers this token "
            "may fire now", responses=ERRORS)
def get_process(request: Request, process_id: str, who: Principal = Depends(principal)) -> JSONResponse:
    queries = _queries(request)
    queries.require_visible(who, process_id)
    doc = queries.show(process_id, who.role, who.party)
    return JSONResponse(doc, headers={"ETag": f'"{doc["version"]}"'})


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


@router.post("/processes/{process_id:path}/triggers/{trigger}", summary="Fire a transition",
             responses=ERRORS)
def fire(request: Request, process_id: str, trigger: str, body: TriggerBody,
         if_match: str | None = Header(None, description="the process version (ETag) this act expects"),
         who: Principal = Depends(principal)) -> JSONResponse:
    service, queries = _service(request), _queries(request)
    expected = _if_match(if_match)
    if body.version is not None:
        if expected is not None and expected != body.version:
            raise BadInput("If-Match and version disagree", field="version")
        expected = body.version
    party = body.party
    if who.role == "party":
        if party is not None and party != who.party:
            queries.require_visible(who, process_id)  # an unknown process is 404 first
            root = queries.process(root_of(process_id))
            if party not in root.parties:  # outside the vocabulary is bad input, as on the command line
                raise BadInput(f"unknown party {party!r}; parties are {', '.join(root.parties)}", field="party")
            raise NotAllowed(f"a party token acts for its own party ({who.party}) only, not for {party}",
                             forbidden=True, process=process_id, trigger=trigger)
        party = who.party
    data = {k: ",".join(str(i) for i in v) if isinstance(v, list) else str(v) for k, v in body.data.items()}
    fired = service.fire(TriggerRequest(process_id, trigger, actor=who.name, role=who.role, party=party, on=body.on,
                                        ref=body.ref, reason=body.reason, data=data, expected_version=expected))
    out = fired.as_dict()
    proc = queries.find(process_id)
    out["version"] = proc.version if proc else None
    return JSONResponse(out, headers={"ETag": f'"{out["version"]}"'} if proc else None)


@router.get("/deadlines", summary="What `deadlines --json` returns", responses=ERRORS)
def get_deadlines(request: Request, within: int | None = Query(None, ge=0, le=36500, description="only those due "
                  "within this many days"), all: bool = Query(False, description="met, missed and cancelled too"),
                  who: Principal = Depends(principal)) -> list[dict[str, Any]]:
    return _queries(request).deadlines(who, within=within, show_all=all)


@router.get("/audit/verify", summary="Check the tamper-evident chain (`audit verify --json`)", responses=ERRORS)
def audit_verify(request: Request, who: Principal = Depends(principal)) -> dict[str, Any]:
    return _queries(request).verify()


@router.get("/audit/export", summary="Every record, as `audit export` (secretariat and auditors)",
            responses={**ERRORS, 200: {"content": {"application/json": {}, "text/csv": {}}}})
def audit_export(request: Request, format: Literal["json", "csv"] = Query("json"),
                 who: Principal = Depends(principal)) -> StreamingResponse:
    require_role(who, "secretariat", "auditor", what="export the whole history")
    return export_response(_queries(request).records(who), format, "convenant-history")


def export_response(rows, fmt: str, stem: str) -> StreamingResponse:
    if fmt == "csv":
        return StreamingResponse(csv_chunks(rows), media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": f'attachment; filename="{stem}.csv"'})
    return StreamingResponse(reading.as_json(rows), media_type="application/json",
                             headers={"Content-Disposition": f'attachment; filename="{stem}.json"'})


# -- the verifiable log (engine/log.py): checkpoints, proofs and receipts for every token -----------------------
LOG_ERRORS = {k: v for k, v in ERRORS.items() if k in (400, 401, 403, 404)}


def _log(request: Request):
    return request.app.state.convenant.service.log


@router.get("/log/key", summary="The log's public key (`keys show --json`): publish it; checkpoints and receipts "
            "are checked with it (`convenant-verify --key`)", responses=LOG_ERRORS)
def log_key(request: Request, who: Principal = Depends(principal)) -> dict[str, Any]:
    shown = _log(request).public_key()
    return {"public_key": shown["public_key"], "key_id": shown["key_id"], "origin": shown["origin"]}


@router.get("/log/checkpoint", summary="The latest signed checkpoint (`audit checkpoint --json`: size, root, "
            "note - the C2SP signed note a party keeps)", responses=LOG_ERRORS)
def log_checkpoint(request: Request, who: Principal = Depends(principal)) -> dict[str, Any]:
    return _log(request).checkpoint()


@router.get("/log/checkpoints", summary="Every signed checkpoint, smallest first", responses=LOG_ERRORS)
def log_checkpoints(request: Request, who: Principal = Depends(principal)) -> list[dict[str, Any]]:
    return _log(request).checkpoints()


@router.get("/log/checkpoints/{size}", summary="The signed checkpoint of one tree size", responses=LOG_ERRORS)
def log_checkpoint_of(request: Request, size: int, who: Principal = Depends(principal)) -> dict[str, Any]:
    return _log(request).checkpoint(size)


@router.get("/log/proofs/inclusion", summary="An inclusion proof of one record (`audit prove --seq N "
            "[--checkpoint SIZE]`)", responses=LOG_ERRORS)
def log_inclusion(request: Request, seq: int = Query(..., ge=1, le=2**62),
                  checkpoint: int | None = Query(None, ge=1, le=2**62, description="a checkpoint's tree size "
                                                 "(default: the latest)"),
                  who: Principal = Depends(principal)) -> dict[str, Any]:
    return _log(request).prove(seq, checkpoint)


@router.get("/log/proofs/consistency", summary="A consistency proof between two checkpoints (`audit consistency "
            "--from SIZE --to SIZE`), for `convenant-verify consistency`", responses=LOG_ERRORS)
def log_consistency(request: Request, from_: int = Query(..., alias="from", ge=0, le=2**62),
                    to: int = Query(..., ge=0, le=2**62), who: Principal = Depends(principal)) -> dict[str, Any]:
    return _log(request).consistency(from_, to)


@router.get("/log/receipts/{seq}", summary="An offline receipt for one record (`audit receipt SEQ`), for "
            "`convenant-verify receipt`; a party token gets receipts for its own agreements' records, and not for "
            "a confidential record entered for another party (Art. 5.9)", responses=LOG_ERRORS)
def log_receipt(request: Request, seq: int, who: Principal = Depends(principal)) -> dict[str, Any]:
    from convenant.engine.confidential import redact
    receipt = _log(request).receipt(seq, readable=lambda r: redact(r, who.role, who.party))
    if who.role == "party":
        _queries(request).require_visible(who, root_of(receipt["record"]["process"]))
    return receipt


@router.get("/log/export", summary="The log as `audit export --format json` writes it, for `convenant-verify log` "
            "(secretariat and auditors)", responses=LOG_ERRORS)
def log_export(request: Request, who: Principal = Depends(principal)) -> JSONResponse:
    require_role(who, "secretariat", "auditor", what="export the whole log")
    queries = _queries(request)
    return JSONResponse(_log(request).export(lambda rows: queries.readable(rows, who.role, who.party)))
