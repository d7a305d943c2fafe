"""What every route of the HTTP API shares: who is asking (the bearer token, declared as the OpenAPI `bearer`
security scheme), the service layer's parts, and paging of lists (`page`, `pageSize`; `X-Total-Count` and a
`Link` header with first, prev, next and last)."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from convenant.app.web.auth import Unauthenticated
from convenant.engine.access import Principal
from convenant.engine.errors import NotAllowed

BEARER = HTTPBearer(auto_error=False, scheme_name="bearer", bearerFormat="opaque (cvn_...)",
                    description="An API token from `convenant tokens create` (or the administrator's page): "
                                "`Authorization: Bearer TOKEN`. Its role and party decide what is allowed, as "
                                "--role/--party on the command line; a token of scope `read` changes nothing.")


def principal(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(BEARER)) -> Principal:
    token = credentials.credentials if credentials is not None else None
    who = request.app.state.convenant.accounts.principal(token)
    if who is None:
        raise Unauthenticated("a valid bearer token is required (Authorization: Bearer TOKEN); create one with "
                              "'convenant tokens create'" if token is None else
                              "the token is unknown, expired or revoked")
    return who


def may_change(who: Principal, what: str) -> None:
    """A token of scope `read` looks but never changes anything (403)."""
    if getattr(who, "scope", "write") == "read":
        raise NotAllowed(f"the token {who.name!r} has scope read: it may not {what}", forbidden=True)


def service(request: Request) -> Any:
    return request.app.state.convenant.service


def queries(request: Request) -> Any:
    return request.app.state.convenant.queries


def convenant(request: Request) -> Any:
    return request.app.state.convenant


# -- paging -----------------------------------------------------------------------------------------------------
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
MAX_PAGE = 1_000_000


@dataclass(frozen=True)
class Paging:
    page: int | None
    size: int | None

    @property
    def active(self) -> bool:
        return self.page is not None or self.size is not None


def paging(page: int | None = Query(None, ge=1, le=MAX_PAGE, description="the page, from 1 (with `pageSize`, "
                                    f"default {DEFAULT_PAGE_SIZE}); without `page` and `pageSize` the whole list"),
           page_size: int | None = Query(None, alias="pageSize", ge=1, le=MAX_PAGE_SIZE,
                                         description=f"items per page, 1 to {MAX_PAGE_SIZE}")) -> Paging:
    return Paging(page, page_size)


LIST_HEADERS = {
    "X-Total-Count": {"description": "how many items the whole list has", "schema": {"type": "integer"}},
    "Link": {"description": "with `page` or `pageSize`: the first, prev, next and last pages (RFC 8288)",
             "schema": {"type": "string"}},
}


def _link(request: Request, page: int, size: int, rel: str) -> str:
    """A relative reference (path and query), right behind any proxy whatever host name the client used."""
    url = request.url.include_query_params(page=page, pageSize=size)
    return f'<{url.path}?{url.query}>; rel="{rel}"'


def paged(request: Request, rows: Iterable[Any], pages: Paging, headers: dict[str, str] | None = None,
          each: Callable[[list[Any]], list[Any]] | None = None) -> JSONResponse:
    """A list as one JSON array: the whole list without paging parameters (what the command line prints), one
    page of it with them. The body keeps the shape of the list either way; the headers say where the rest is.
    `each` completes the items shown (of the page only: an explanation is made for the deadlines answered)."""
    items = list(rows)
    total = len(items)
    out = {"X-Total-Count": str(total), **(headers or {})}
    if pages.active:
        size = pages.size or DEFAULT_PAGE_SIZE
        page = pages.page or 1
        last = max(1, -(-total // size))
        items = items[(page - 1) * size: page * size]
        links = [_link(request, 1, size, "first")]
        if page > 1:
            links.append(_link(request, min(page - 1, last), size, "prev"))
        if page < last:
            links.append(_link(request, page + 1, size, "next"))
        links.append(_link(request, last, size, "last"))
        out["Link"] = ", ".join(links)
    return JSONResponse(jsonable_encoder(each(items) if each else items), headers=out)
