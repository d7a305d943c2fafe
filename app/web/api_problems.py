"""Errors of the HTTP API as problem details (RFC 9457, `application/problem+json`), as the NL API Design Rules ask
(/core/error-handling/problem-details), and the `API-Version` header (/core/version-header) that every response of
/api/v1 carries, errors included.

A problem keeps every field the API's errors had before (`error`, `reason`, `message`, `article`, and `field`,
`process`, `state`, `trigger` where known), beside RFC 9457's `type`, `title`, `status`, `detail` and `instance`.
Bad input names its fields in `invalid-params` (each `name` and `reason`): a body that is no JSON at all is named
`body`, never by a character offset."""
from __future__ import annotations

import re
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from convenant.engine.errors import BadInput, ConvenantError

# The full semantic version of the API (/core/semver); the major version is the `v1` of the path (/core/uri-version).
# 1.1.0: problem details, paging, outbox, refusals, explanations, rehearsals, corrections, users.
API_VERSION = "1.1.0"
VERSION_HEADER = "API-Version"
PROBLEM_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:convenant:problem:"

TITLES = {
    "bad_input": "Bad input",
    "unauthenticated": "Authentication required",
    "not_allowed": "Not allowed",
    "not_found": "Not found",
    "conflict": "Conflict",
    "method_not_allowed": "Method not allowed",
    "unavailable": "Service unavailable",
    "rate_limited": "Too many requests",
    "internal_error": "Internal error",
    "error": "Error",
}


class InvalidParam(BaseModel):
    name: str = Field(description="the field, query parameter or header, by name (`on`, `data.extend`, `page`); "
                                  "`body` for a body that is not JSON")
    reason: str = Field(description="what is wrong with it, in words")


class Problem(BaseModel):
    """RFC 9457 problem details, with the fields of the API's error body before 1.1.0 kept beside them."""
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    type: str = Field(description="the kind of problem, a URN: urn:convenant:problem:bad_input, ...:not_allowed, "
                                  "...:not_found, ...:conflict, ...:unauthenticated, ...:method_not_allowed, "
                                  "...:unavailable, ...:internal_error", examples=["urn:convenant:problem:not_allowed"])
    title: str = Field(description="a short summary of the kind of problem", examples=["Not allowed"])
    status: int = Field(description="the HTTP status code", examples=[409])
    detail: str = Field(description="what went wrong here, in words, with the article where there is one")
    instance: str = Field(description="the request's path: where it went wrong", examples=["/api/v1/processes/x"])
    error: str = Field(description="the kind, as before 1.1.0: bad_input, unauthenticated, not_allowed, not_found, "
                                   "conflict, method_not_allowed, unavailable, internal_error")
    reason: str = Field(description="why, in words")
    message: str = Field(description="the same as `reason`")
    article: str | None = Field(None, description="the article of the agreement the refusal rests on")
    field: str | None = Field(None, description="the first field at fault (bad input)")
    process: str | None = None
    state: str | None = None
    trigger: str | None = None
    correlation_id: str | None = Field(None, description="an internal error's id, as logged")
    invalid_params: list[InvalidParam] | None = Field(None, alias="invalid-params",
                                                      description="bad input: every field at fault, by name")


def _responses() -> dict[int | str, dict[str, Any]]:
    texts = {
        400: "bad input (a field outside the vocabulary, an unparseable date, a date after today, a body that is no "
             "JSON), each field named in `invalid-params`",
        401: "no token, or an unknown, expired or revoked one",
        403: "this role, party or token scope may not do this",
        404: "no such process (or other resource)",
        409: "not allowed in the current state, a guard refused, or someone changed the process meanwhile",
        405: "this method is not allowed here (the `Allow` header lists those that are)",
        503: "the database cannot be reached",
        500: "an internal error (its correlation id is logged)",
    }
    return {code: {"model": Problem, "description": text} for code, text in texts.items()}


RESPONSES = _responses()


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The problem responses of an operation, for its OpenAPI description (500 and 503 are added to all)."""
    return {code: RESPONSES[code] for code in sorted({*codes, 500, 503})}


def problem(request: Request, status: int, kind: str, detail: str, *, headers: dict[str, str] | None = None,
            **fields: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": TYPE_PREFIX + kind, "title": TITLES.get(kind, TITLES["error"]),
                            "status": status, "detail": detail, "instance": request.url.path,
                            "error": kind, "reason": fields.pop("reason", None) or detail,
                            "message": fields.pop("message", None) or detail, "article": fields.pop("article", None)}
    body.update({k: v for k, v in fields.items() if v is not None})
    out = {VERSION_HEADER: API_VERSION, **(headers or {})}
    return JSONResponse(body, status_code=status, headers=out, media_type=PROBLEM_TYPE)


def from_error(request: Request, exc: ConvenantError, *, invalid: list[dict[str, str]] | None = None
               ) -> JSONResponse:
    """An engine error as a problem: its class decides the status, its fields are kept."""
    headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
    fields = {k: v for k, v in exc.as_dict().items() if k not in ("error", "message")}
    if isinstance(exc, BadInput) and invalid is None:
        invalid = [{"name": exc.field or "request", "reason": exc.message}]
    if invalid:
        fields["invalid-params"] = invalid
    return problem(request, exc.http_status, exc.kind, str(exc), headers=headers, reason=exc.message,
                   message=exc.message, **fields)


# -- a request that does not validate (FastAPI's RequestValidationError) ----------------------------------------
_WHERE = ("body", "query", "path", "header", "cookie")


_TAG = re.compile(r"^(str|int|float|bool|none|[A-Z][A-Za-z]*Ref|.*\[.*\])$")


def _tag(part: Any) -> bool:
    """pydantic names the member of a union a value failed to be (`data.document.str`,
    `data.document.DocumentRef.sha256`): a type, not a field."""
    return isinstance(part, str) and bool(_TAG.match(part))


def param_name(error: dict[str, Any]) -> str:
    """The field an error is about by its dotted name: never a character offset of a body that is no JSON, nor
    the member of a union the value failed to be."""
    loc = [p for i, p in enumerate(error.get("loc", ())) if p not in _WHERE and not (i > 1 and _tag(p))]
    if error.get("type") in ("json_invalid", "json_type") or (error.get("loc", ("",))[0] == "body" and (
            not loc or isinstance(loc[0], int))):
        return "body"
    return ".".join(str(p) for p in loc) or "request"


def param_reason(error: dict[str, Any]) -> str:
    if error.get("type") == "json_invalid":
        return "the body is not valid JSON"
    if error.get("type") == "missing" and param_name(error) == "body":
        return "a JSON body is required"
    return str(error.get("msg") or "invalid")


def from_validation(request: Request, errors: list[dict[str, Any]]) -> JSONResponse:
    reasons: dict[str, list[str]] = {}
    for e in errors:                       # one entry a field (a union's members give one error each)
        found = reasons.setdefault(param_name(e), [])
        if param_reason(e) not in found:
            found.append(param_reason(e))
    invalid = [{"name": name, "reason": "; or ".join(why)} for name, why in reasons.items()] or \
        [{"name": "request", "reason": "invalid request"}]
    first = invalid[0]
    exc = BadInput(f"{first['name']}: {first['reason']}", field=first["name"])
    return from_error(request, exc, invalid=invalid)
