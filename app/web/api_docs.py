"""The HTTP API's description and documentation (/core/doc-openapi, /core/publish-openapi): the OpenAPI document at
/api/v1/openapi.json (and at /openapi.json, the address INTERFACE.md names), the API's base /api/v1 (its version
and where the rest is), and interactive documentation at /api/v1/docs served from the package's own static files
(Swagger UI, vendored by scripts/update-vendored.sh): the page asks nothing of any other host.

The document declares every response schema, the `bearer` security scheme on every operation that needs a token,
the problem details of every error (`application/problem+json`) and the `API-Version` header of every
response."""
from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from convenant.app.web.api_models import Index
from convenant.app.web.api_problems import API_VERSION, PROBLEM_TYPE, VERSION_HEADER

router = APIRouter(prefix="/api/v1")   # its routes join api.router's, in order
OPENAPI = "/api/v1/openapi.json"
DOCS = "/api/v1/docs"
VENDOR = "/static/vendor/swagger-ui"

DESCRIPTION = """The HTTP API of convenant (see INTERFACE.md), following the NL API Design Rules.

**Authentication.** `Authorization: Bearer TOKEN` (tokens from `convenant tokens create`): the token's role and
party decide what is allowed, exactly as `--role`/`--party` on the command line; a token of scope `read` changes
nothing. Process ids with a `/` are URL-encoded (`krachtenbundeling%2Famendment-1`).

**Versions.** The path carries the major version (`/api/v1`); every response carries the full version in the
`API-Version` header (semantic versioning).

**Errors** are problem details (RFC 9457, `application/problem+json`): `type`, `title`, `status`, `detail`,
`instance`, with the fields of the error body before 1.1.0 kept beside them (`error`, `reason`, `message`,
`article`, and `field`, `process`, `state`, `trigger` where known). 400 bad input (each field named in
`invalid-params`, never by a character offset), 401 no or bad token, 403 this role, party or scope may not, 404
unknown process, 405 a method the resource does not allow (the `Allow` header lists those it does), 409 wrong state,
failed guard or a concurrent change (send `If-Match` with the ETag of GET, or `version`, to detect it).

**Lists** are JSON arrays. Without `page` and `pageSize` a list is whole, as the command line prints it; with them
one page of it. `X-Total-Count` says how many items the whole list has, and `Link` (RFC 8288) gives the first,
prev, next and last pages."""


# -- the document ---------------------------------------------------------------------------------------------
def _problem_media(responses: dict[str, Any]) -> None:
    for code, response in responses.items():
        if code[:1] in "45" and "content" in response:
            content = response["content"]
            if "application/json" in content:
                content[PROBLEM_TYPE] = content.pop("application/json")


def _version_header(responses: dict[str, Any]) -> None:
    for response in responses.values():
        response.setdefault("headers", {})[VERSION_HEADER] = {"$ref": "#/components/headers/API-Version"}


def document(web: FastAPI) -> dict[str, Any]:
    """The OpenAPI document of the API routes (pages stay out), made once."""
    if web.openapi_schema is None:
        from fastapi.openapi.utils import get_openapi
        doc = get_openapi(title=web.title, version=API_VERSION, description=DESCRIPTION, routes=web.routes,
                          contact={"name": "convenant"}, tags=[
                              {"name": "processes", "description": "agreements and their child processes"},
                              {"name": "deadlines"}, {"name": "rehearsals"}, {"name": "corrections"},
                              {"name": "migrations"}, {"name": "notifications"}, {"name": "refusals"},
                              {"name": "audit"}, {"name": "log"}, {"name": "users"}, {"name": "api"}])
        components = doc.setdefault("components", {})
        for name in ("HTTPValidationError", "ValidationError"):
            components.get("schemas", {}).pop(name, None)
        components["headers"] = {"API-Version": {
            "description": "the full semantic version of the API (/core/version-header)", "required": True,
            "schema": {"type": "string", "example": API_VERSION}}}
        for path in doc.get("paths", {}).values():
            for operation in path.values():
                responses = operation.get("responses", {})
                responses.pop("422", None)      # bad input is 400 here, never FastAPI's 422
                _problem_media(responses)
                _version_header(responses)
        web.openapi_schema = doc
    return web.openapi_schema


def _document_response(request: Request) -> JSONResponse:
    # /core/publish-openapi: readable without a token, from a page on any origin
    return JSONResponse(document(request.app), headers={"Access-Control-Allow-Origin": "*"})


@router.get("/openapi.json", include_in_schema=False)
def openapi_json(request: Request) -> JSONResponse:
    return _document_response(request)


def index() -> Index:
    """The API's base (GET /api/v1; declared in api.py, as a path of the prefix itself)."""
    return Index(name="convenant", version=API_VERSION, openapi=OPENAPI, docs=DOCS)


# -- the interactive documentation ----------------------------------------------------------------------------
def _docs_page() -> tuple[str, str]:
    page = get_swagger_ui_html(
        openapi_url=OPENAPI, title="convenant API", swagger_js_url=f"{VENDOR}/swagger-ui-bundle.js",
        swagger_css_url=f"{VENDOR}/swagger-ui.css", swagger_favicon_url=f"{VENDOR}/favicon-32x32.png",
        swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": False, "tryItOutEnabled": False})
    html = bytes(page.body).decode("utf-8").replace("<html>", '<html lang="en">', 1)
    hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'"
                      for s in re.findall(r"<script>(.*?)</script>", html, flags=re.S))
    # Nothing from another host: scripts, styles, images and requests from this server only (Swagger UI sets
    # style attributes and shows SVG icons as data: URLs).
    policy = (f"default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
              "img-src 'self' data:; connect-src 'self'; font-src 'self'; frame-ancestors 'none'; "
              "form-action 'self'; base-uri 'none'")
    return html, policy


_PAGE = _docs_page()


def docs_html() -> HTMLResponse:
    html, policy = _PAGE
    return HTMLResponse(html, headers={"Content-Security-Policy": policy, "X-Frame-Options": "DENY",
                                       "Cache-Control": "no-cache"})


@router.get("/docs", include_in_schema=False)
def docs() -> HTMLResponse:
    return docs_html()


# Outside /api/v1: the addresses of before 1.1.0.
legacy = APIRouter()


@legacy.get("/api/docs", include_in_schema=False)
def old_docs() -> RedirectResponse:
    return RedirectResponse(DOCS, status_code=308)


@legacy.get("/openapi.json", include_in_schema=False)
def old_openapi_json(request: Request) -> JSONResponse:
    """INTERFACE.md: the API is "described by /openapi.json"; the same document as /api/v1/openapi.json."""
    return _document_response(request)
