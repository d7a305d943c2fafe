"""One process with the pages, the HTTP API and the scheduler: `convenant serve`. The scheduler (engine.scheduler
Worker) starts with the app and stops with it, so a plain `convenant serve` on the embedded SQLite default keeps
every deadline."""
from __future__ import annotations

import contextlib
import copy
import logging
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from convenant.app.bootstrap import explain_failure
from convenant.app.web import admin, api, api_docs, api_problems, oidc, pages
from convenant.app.web.auth import bearer
from convenant.engine.errors import BadInput, ConvenantError

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"

DESCRIPTION = api_docs.DESCRIPTION


def error_body(exc: ConvenantError) -> dict[str, Any]:
    body = exc.as_dict()
    body["reason"] = exc.message
    body.setdefault("article", None)
    return body


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def create_app(app, *, scheduler: bool = True) -> FastAPI:
    """The FastAPI application over a bootstrap.App; `scheduler=False` for tests that drive the clock."""

    @contextlib.asynccontextmanager
    async def lifespan(web: FastAPI) -> AsyncIterator[None]:
        worker = None
        if scheduler:
            from convenant.engine.scheduler import Worker
            worker = Worker(app.service, app.dispatcher(), interval_seconds=app.settings.scheduler.interval_seconds,
                            batch=app.settings.scheduler.batch_size)
            worker.start()
        web.state.worker = worker
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()

    # The API's description and docs are its own routes (app/web/api_docs.py): /api/v1/openapi.json, /api/v1/docs,
    # and /openapi.json as INTERFACE.md names it.
    web = FastAPI(title="convenant", version=api_problems.API_VERSION, description=DESCRIPTION, lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url=None)
    web.state.convenant = app
    web.state.worker = None
    _error_handlers(web)
    web.middleware("http")(security_headers)
    web.middleware("http")(read_scope)
    web.middleware("http")(api_headers)     # outermost: API-Version on every /api/ response
    web.include_router(api.router)
    web.include_router(api_docs.legacy)
    from convenant.app.web import rehearsal  # "what if?" and "why this date?" on the agreement page (issue 16)
    web.include_router(rehearsal.router)
    web.include_router(pages.router)
    web.include_router(admin.router)     # the administrator's page of accounts
    redact_access_log(logging.getLogger("uvicorn.access"))
    web.include_router(oidc.router)      # sign-in through an OpenID Connect provider ([auth] in config.toml)
    web.state.sign_out_redirect = oidc.sign_out_redirect   # pages.logout: on to the provider's sign-out
    web.mount("/static", StaticFiles(directory=STATIC), name="static")
    web.openapi = lambda: api_docs.document(web)  # type: ignore[method-assign]
    return web


def _error_handlers(web: FastAPI) -> None:
    """The engine's errors keep their classes over HTTP (JSON for the API and feeds, a page for people)."""

    async def convenant_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ConvenantError)
        if is_api(request):
            return api_problems.from_error(request, exc)
        if request.url.path.startswith("/feeds/"):
            headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
            return JSONResponse(error_body(exc), status_code=exc.http_status, headers=headers)
        return pages.error_page(request, exc)

    async def login_required(request: Request, exc: Exception) -> Response:
        return pages.to_login(request)

    async def validation_error(request: Request, exc: Exception) -> Response:
        """Bad input is 400 with the field named, as on the command line (not FastAPI's 422)."""
        assert isinstance(exc, RequestValidationError)
        if is_api(request):    # problem details naming every field (a body that is no JSON: `body`)
            return api_problems.from_validation(request, list(exc.errors()))
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "header")]
        field = ".".join(loc) or None
        message = f"{field}: {first.get('msg')}" if field else str(first.get("msg"))
        return await convenant_error(request, BadInput(message, field=field))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "error")
        if is_api(request):
            return api_problems.problem(request, exc.status_code, kind, str(exc.detail), headers=exc.headers)
        return pages.plain_error(request, exc.status_code)

    async def unexpected(request: Request, exc: Exception) -> Response:
        """The API's one error boundary: what no handler above knew becomes 500 with a correlation id, logged
        once with its traceback under that id; an unreachable database is 503 naming it."""
        known = explain_failure(exc, app_of(request))
        if known is not None:
            return await convenant_error(request, known)
        cid = uuid.uuid4().hex[:12]
        log.error("unexpected error %s on %s %s: %s: %s", cid, request.method, _safe(request.url.path),
                  type(exc).__name__, _safe(str(exc).splitlines()[0] if str(exc) else ""), exc_info=exc)
        if is_api(request):
            return api_problems.problem(request, 500, "internal_error", f"internal error {cid}", correlation_id=cid)
        return JSONResponse({"error": "internal_error", "reason": f"internal error {cid}",
                             "message": f"internal error {cid}", "article": None, "correlation_id": cid},
                            status_code=500)

    web.add_exception_handler(ConvenantError, convenant_error)
    web.add_exception_handler(pages.LoginRequired, login_required)
    web.add_exception_handler(RequestValidationError, validation_error)
    web.add_exception_handler(StarletteHTTPException, http_error)
    web.add_exception_handler(Exception, unexpected)


def app_of(request: Request) -> str | None:
    app = getattr(request.app.state, "convenant", None)
    return app.settings.database.url if app is not None else None


def _safe(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")[:300]


def text_of_request(request: Request) -> BadInput | None:
    """The path and query of every request through engine/text.py: a process id with NUL (`%00`) or bytes that
    are not UTF-8 is bad input before any route or database sees it (PostgreSQL refuses NUL in text)."""
    from urllib.parse import parse_qsl

    from convenant.engine.text import problem
    path = request.scope.get("path", "")
    found = problem(path, max_len=8192)
    if found is not None:
        return BadInput(f"the path {found}", field="path")
    raw = request.scope.get("query_string", b"")
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        return BadInput("the query string is not UTF-8", field="query")
    for key, value in pairs:
        found = problem(key, 200) or problem(value)
        if found is not None:
            return BadInput(f"query {_safe(key)}: {found}", field=_safe(key))
    return None


async def security_headers(request: Request, call_next):
    bad = text_of_request(request)
    if bad is not None:
        if is_api(request):
            response: Response = api_problems.from_error(request, bad)
        elif request.url.path.startswith("/feeds/"):
            response = JSONResponse(error_body(bad), status_code=400)
        else:
            response = Response(f"400 bad input: {bad}\n", status_code=400, media_type="text/plain; charset=utf-8")
    else:
        response = await call_next(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if not is_api(request):
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Content-Security-Policy",
                                    "default-src 'self'; img-src 'self'; style-src 'self'; "
                                    "form-action 'self'; frame-ancestors 'none'")
    return response


async def read_scope(request: Request, call_next):
    """A token of scope `read` may look but not change: every API request that is not GET, HEAD or OPTIONS is
    refused (403) before any route sees it, whatever the role would allow."""
    if is_api(request) and request.method not in ("GET", "HEAD", "OPTIONS"):
        token = bearer(request.headers.get("authorization"))
        who = request.app.state.convenant.accounts.principal(token) if token else None
        if who is not None and who.scope == "read":
            from convenant.engine.errors import NotAllowed
            refusal = NotAllowed(f"the token {who.name} has the scope read: it may not change anything "
                                 f"(tokens create --scope write)", forbidden=True)
            return api_problems.from_error(request, refusal)
    return await call_next(request)


# -- the access log never records a secret ------------------------------------------------------------------
SECRET_PARAMS = ("key", "token", "code", "state", "session", "password", "access_token", "id_token")
_SECRET_VALUE = re.compile(r"(?i)([?&](?:" + "|".join(SECRET_PARAMS) + r")=)[^&#\s\"]*")


def redact(text: str) -> str:
    """A request line with the values of secret-bearing query parameters (a feed's `key`, an old `token`, an
    identity provider's `code` and `state`) replaced by `[redacted]`."""
    return _SECRET_VALUE.sub(r"\1[redacted]", text)


class RedactSecrets(logging.Filter):
    """On uvicorn's access log: its record's arguments are (client, method, path with query, version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def redact_access_log(logger: logging.Logger) -> None:
    if not any(isinstance(f, RedactSecrets) for f in logger.filters):
        logger.addFilter(RedactSecrets())


def log_config() -> dict[str, Any]:
    """uvicorn's own logging configuration with RedactSecrets on its access handler."""
    from uvicorn.config import LOGGING_CONFIG
    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_secrets"] = {"()": RedactSecrets}
    config["handlers"]["access"].setdefault("filters", []).append("redact_secrets")
    return config


def openapi(web: FastAPI) -> dict[str, Any]:
    """The API's OpenAPI document (app/web/api_docs.py)."""
    return api_docs.document(web)


async def api_headers(request: Request, call_next):
    """Under /api/ (and /openapi.json), by the NL API Design Rules: the `API-Version` header on every response
    (/core/version-header; a 500 gets it from its handler, outside this middleware); a path with a trailing slash
    is 404, never a redirect (/core/no-trailing-slash); HEAD answers as GET does, without the body."""
    path = request.url.path
    if not (is_api(request) or path == "/openapi.json"):
        return await call_next(request)
    if path.endswith("/"):
        response: Response = api_problems.problem(request, 404, "not_found", f"no resource {_safe(path)}: leave off "
                                                  "the trailing slash")
    elif request.method == "HEAD":
        request.scope["method"] = "GET"
        full = await call_next(request)
        response = Response(status_code=full.status_code, headers=dict(full.headers))
    else:
        response = await call_next(request)
    response.headers[api_problems.VERSION_HEADER] = api_problems.API_VERSION
    return response


def serve(app, host: str, port: int) -> None:
    """`convenant serve`: pages, API and scheduler in one process until interrupted."""
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    uvicorn.run(create_app(app), host=host, port=port, log_level="info", proxy_headers=False,
                log_config=log_config())
