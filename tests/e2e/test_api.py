"""The HTTP API of INTERFACE.md and the pages' guards, in-process (FastAPI's TestClient) on a SQLite simulation
database: every route, every role and every error code, the same answers as the command line, and schemathesis
against /openapi.json with no server error."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from tests.conftest import Cli, build_app

START = "2025-03-20T12:00:00+01:00"
KB = "krachtenbundeling"
AMENDMENT = "krachtenbundeling/amendment-1"
ERROR_CODES = {400, 401, 403, 404, 409}


class Api:
    def __init__(self, tmp_path: Path) -> None:
        from convenant import workflows
        from convenant.app.web.server import create_app
        from convenant.engine.agreements import read_data_file
        from convenant.storage.people import SqlTokens

        self.url = f"sqlite:///{tmp_path / 'convenant.db'}"
        self.app = build_app(self.url, tmp_path, simulation=START)
        wf = self.app.service.workflow(KB)
        self.app.service.create_agreement(KB, read_data_file(workflows.example_file(wf)))
        now = self.app.service.now()
        tokens = SqlTokens(self.app.store)
        self.tokens = {name: tokens.create(name, role, party, now) for name, role, party in (
            ("secretariat", "secretariat", None), ("auditor", "auditor", None), ("ipo", "party", "ipo"),
            ("vng", "party", "vng"), ("ez", "party", "ez"), ("stranger", "party", "nobody"),
            ("revoked", "secretariat", None))}
        tokens.revoke("revoked", now)
        self.web = create_app(self.app, scheduler=False)
        self.client = TestClient(self.web)
        self.cli = Cli(tmp_path, self.url)

    def h(self, who: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}

    def get(self, path: str, who: str | None = "secretariat", **kw):
        return self.client.get(path, headers={**self.h(who), **kw.pop("headers", {})}, **kw)

    def fire(self, pid: str, trigger: str, who: str | None = "secretariat", body: dict | None = None, **kw):
        return self.client.post(f"/api/v1/processes/{pid.replace('/', '%2F')}/triggers/{trigger}",
                                headers={**self.h(who), **kw.pop("headers", {})}, json=body or {}, **kw)

    def advance(self, to: str) -> None:
        self.app.service.advance_clock(dt.datetime.fromisoformat(to))

    def signed(self) -> Api:
        assert self.fire(KB, "open_signing").status_code == 200
        for party in ("ienw", "ipo", "uvw", "vng"):
            assert self.fire(KB, "sign", body={"party": party}).status_code == 200
        return self

    def active(self) -> Api:
        self.signed()
        assert self.fire(KB, "publish", body={"ref": "Stcrt. 2025, 11512"}).status_code == 200
        self.advance("2025-04-01T09:00:00+02:00")
        return self

    def version(self, pid: str = KB) -> int:
        return self.get(f"/api/v1/processes/{pid}").json()["version"]


@pytest.fixture
def api(tmp_path) -> Api:
    return Api(tmp_path)


HISTORY_FIELDS = ("seq", "process", "trigger", "source", "dest", "actor", "role", "party", "effective",
                  "recorded_at", "article", "ref", "reason", "hash")


def fields_of(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The fields of `history --json` that INTERFACE.md names (more may be added on either side)."""
    return [{k: r[k] for k in HISTORY_FIELDS} for r in records]


def refused(response, status: int, *, article: bool = True) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["reason"] and body["error"]
    assert "article" in body
    if article:
        assert body["article"], body
    return body


# -- authentication: 401 on every route -----------------------------------------------------------------
ROUTES = [("get", "/api/v1/processes"), ("get", f"/api/v1/processes/{KB}"),
          ("get", f"/api/v1/processes/{KB}/history"), ("post", f"/api/v1/processes/{KB}/triggers/open_signing"),
          ("get", "/api/v1/deadlines"), ("get", "/api/v1/audit/verify"), ("get", "/api/v1/audit/export")]


@pytest.mark.parametrize("method,path", ROUTES)
def test_every_route_needs_a_valid_token(api, method, path):
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer cvn_unknown"},
                    api.h("revoked")):
        kwargs = {"json": {}} if method == "post" else {}
        response = getattr(api.client, method)(path, headers=headers, **kwargs)
        refused(response, 401, article=False)
        assert response.headers["www-authenticate"] == "Bearer"
    assert api.version() == 1  # nothing happened


# -- reading ------------------------------------------------------------------------------------------
def test_show_and_history_are_what_the_cli_says(api):
    api.active()
    assert api.fire(KB, "request_amendment", "ipo", {"ref": "IPO-2025-7", "data": {"change": "Art. 4.2"}}
                    ).json()["created"] == AMENDMENT
    for who, role, party in (("secretariat", "secretariat", None), ("ipo", "party", "ipo")):
        args = ["show", KB, "--role", role] + (["--party", party] if party else [])
        assert api.get(f"/api/v1/processes/{KB}", who).json() == api.cli.run(*args).data
    response = api.get(f"/api/v1/processes/{KB}")
    assert response.headers["etag"] == f'"{response.json()["version"]}"'
    doc = response.json()
    for key in ("id", "workflow", "state", "effective_from", "ends_on", "parties", "deadlines", "children",
                "allowed_triggers"):
        assert key in doc
    assert doc["state"] == "active" and doc["children"] == [
        {**doc["children"][0], "id": AMENDMENT, "state": "open"}]
    # a child's id with its '/' URL-encoded, or not
    for path in (AMENDMENT.replace("/", "%2F"), AMENDMENT):
        child = api.get(f"/api/v1/processes/{path}")
        assert child.status_code == 200 and child.json()["id"] == AMENDMENT
    assert fields_of(api.get(f"/api/v1/processes/{KB}/history").json()) == fields_of(api.cli.run("history", KB).data)
    child_history = api.get(f"/api/v1/processes/{AMENDMENT.replace('/', '%2F')}/history").json()
    assert fields_of(child_history) == fields_of(api.cli.run("history", AMENDMENT).data) and child_history
    assert api.get(f"/api/v1/processes/{KB}/history", "ipo").json() == \
        api.cli.run("history", KB, "--role", "party", "--party", "ipo").data
    filtered = api.get(f"/api/v1/processes/{KB}/history", params={"party": "ipo"}).json()
    assert {r["party"] for r in filtered} == {"ipo"}
    assert api.get(f"/api/v1/processes/{KB}/history", params={"since": "2025-03-32"}).status_code == 400
    assert set(HISTORY_FIELDS) <= set(child_history[0])


def test_confidential_notes_stay_with_who_may_read_them(api):
    api.signed()
    note = {"party": "vng", "data": {"text": "begrotingstekort gemeente X", "confidential": "yes"}}
    assert api.fire(KB, "add_note", body=note).status_code == 200
    for who, hidden in (("secretariat", False), ("auditor", False), ("vng", False), ("ipo", True)):
        last = api.get(f"/api/v1/processes/{KB}/history", who).json()[-1]
        assert last["trigger"] == "add_note" and last["confidential"] is True
        assert ("begrotingstekort" in json.dumps(last)) is not hidden, who
    assert "begrotingstekort" in api.get("/api/v1/audit/export", "auditor").text
    ipo = login(api, "ipo")
    assert "begrotingstekort" not in ipo.get("/history").text
    assert "begrotingstekort" not in ipo.get("/history/export?format=json").text
    assert "begrotingstekort" in login(api, "auditor").get("/history/export?format=json").text


def test_the_token_decides_what_is_allowed_now(api):
    api.fire(KB, "open_signing")
    allowed = {who: api.get(f"/api/v1/processes/{KB}", who).json()["allowed_triggers"]
               for who in ("secretariat", "auditor", "ipo", "ez")}
    assert "sign" in allowed["secretariat"] and "sign" in allowed["ipo"]
    assert allowed["auditor"] == [] and "sign" not in allowed["ez"]  # ez signs through ienw


def test_listing_deadlines_and_audit(api):
    api.signed()
    rows = api.get("/api/v1/processes").json()
    assert [r["id"] for r in rows] == [KB] and rows[0]["state"] == "signed"
    assert rows[0]["next_deadline"]["kind"] == "publication"
    assert api.get("/api/v1/processes", "stranger").json() == []
    deadlines = api.get("/api/v1/deadlines").json()
    assert deadlines == api.cli.run("deadlines").data or \
        [{k: v for k, v in d.items() if k != "id"} for d in deadlines] == api.cli.run("deadlines").data
    assert [d["kind"] for d in deadlines][0] == "publication"
    assert all({"process", "kind", "due", "status"} <= set(d) for d in deadlines)
    assert len(api.get("/api/v1/deadlines", params={"within": 14}).json()) == 1
    assert len(api.get("/api/v1/deadlines", params={"all": "true"}).json()) >= len(deadlines)
    assert api.get("/api/v1/deadlines", "stranger").json() == []
    refused(api.get("/api/v1/deadlines", params={"within": "soon"}), 400, article=False)
    refused(api.get("/api/v1/deadlines", params={"within": -1}), 400, article=False)

    verdict = api.get("/api/v1/audit/verify", "auditor").json()
    assert verdict["intact"] is True and verdict["records"] == 6
    exported = api.get("/api/v1/audit/export", "auditor", params={"format": "json"}).json()
    assert fields_of(exported) == fields_of(api.cli.run("audit", "export", "--format", "json").data["records"])
    csv_text = api.get("/api/v1/audit/export", "auditor", params={"format": "csv"})
    assert csv_text.headers["content-type"].startswith("text/csv")
    cli_csv = api.cli.runner.invoke(__import__("convenant.app.cli", fromlist=["cli"]).cli,
                                    ["--config", str(api.cli.config), "audit", "export", "--format", "csv"]).stdout
    assert csv_text.text.strip() == cli_csv.strip()
    assert api.get("/api/v1/audit/export", "secretariat").status_code == 200
    refused(api.get("/api/v1/audit/export", "ipo"), 403, article=False)
    refused(api.get("/api/v1/audit/export", "auditor", params={"format": "xml"}), 400, article=False)

    with api.app.store.engine.begin() as conn:  # tamper with record 3
        conn.execute(sa.text("UPDATE records SET actor = 'someone else' WHERE seq = 3"))
    broken = api.get("/api/v1/audit/verify", "auditor").json()
    assert broken["intact"] is False and broken["first_bad"] == 3


# -- firing: 200 and every refusal --------------------------------------------------------------------
def test_fire_answers_the_result(api):
    response = api.fire(KB, "open_signing", body={"reason": "kick-off", "on": "2025-03-19"})
    assert response.status_code == 200
    body = response.json()
    assert body["trigger"] == "open_signing" and body["source"] == "draft" and body["dest"] == "signing"
    assert body["effective"] == "2025-03-19" and body["version"] == 2
    assert response.headers["etag"] == '"2"'
    rec = api.get(f"/api/v1/processes/{KB}/history").json()[-1]
    assert rec["actor"] == "secretariat" and rec["role"] == "secretariat" and rec["reason"] == "kick-off"
    own = api.fire(KB, "sign", "ipo")  # a party token signs for its own party
    assert own.status_code == 200
    assert api.get(f"/api/v1/processes/{KB}/history").json()[-1]["party"] == "ipo"
    assert api.fire(KB, "sign", "vng", {"party": "vng"}).status_code == 200  # naming itself is fine


def test_bad_input_is_400_not_422(api):
    api.fire(KB, "open_signing")
    before = api.version()
    cases = [
        ("sign", {"on": "2025-02-30", "party": "ipo"}, "on"),           # impossible date
        ("sign", {"on": "2025-03-21", "party": "ipo"}, "on"),           # after today on the engine's clock
        ("sign", {"on": 20250320}, "on"),                                # wrong type
        ("sign", {"party": "nobody"}, "party"),                          # outside the vocabulary
        ("no_such_trigger", {}, "trigger"),
        ("sign", {"party": "ipo", "data": {"colour": "red"}}, "colour"),
        ("sign", {"party": "ipo", "extra": 1}, "extra"),                 # unknown body field
        ("sign", {}, "party"),                                           # the secretariat names the party
    ]
    for trigger, body, field in cases:
        err = refused(api.fire(KB, trigger, body=body), 400, article=False)
        assert err["error"] == "bad_input" and err["field"] == field, err
    not_json = api.client.post(f"/api/v1/processes/{KB}/triggers/sign", headers={**api.h("secretariat"),
                               "Content-Type": "application/json"}, content=b"{not json")
    assert refused(not_json, 400, article=False)["error"] == "bad_input"
    assert refused(api.fire(KB, "sign", body={"party": "ipo"}, headers={"If-Match": "soon"}), 400,
                   article=False)["field"] == "If-Match"
    assert api.version() == before


def test_forbidden_is_403_with_the_article(api):
    api.fire(KB, "open_signing")
    before = api.version()
    err = refused(api.fire(KB, "sign", "auditor", {"party": "ipo"}), 403)
    assert err["article"] == "Art. 5.3" and "auditor" in err["reason"]
    assert refused(api.fire(KB, "sign", "ipo", {"party": "vng"}), 403, article=False)["error"] == "not_allowed"
    assert refused(api.fire(KB, "open_signing", "ipo"), 403)["article"] == "Art. 5.3"  # secretariat only
    assert "ienw" in refused(api.fire(KB, "sign", "ez"), 403)["reason"]  # ez is represented by ienw
    refused(api.get(f"/api/v1/processes/{KB}", "stranger"), 403, article=False)
    refused(api.fire(KB, "sign", "stranger"), 400, article=False)  # its party is no party here
    assert api.version() == before


def test_not_found_is_404_before_anything_else(api):
    for who in ("secretariat", "auditor", "ipo"):
        err = refused(api.fire("nope", "sign", who, {"party": "ipo"}), 404, article=False)
        assert err["error"] == "not_found" and err["process"] == "nope"
    refused(api.get("/api/v1/processes/nope"), 404, article=False)
    refused(api.get("/api/v1/processes/nope/history"), 404, article=False)
    refused(api.get("/api/v1/processes/nope", "stranger"), 404, article=False)
    refused(api.fire("nope", "sign", "ipo", {"party": "vng"}), 404, article=False)
    assert api.client.get("/api/v1/nothing-here", headers=api.h("secretariat")).status_code == 404
    # the vocabulary (400) comes before authorisation (403)
    assert api.fire(KB, "no_such_trigger", "auditor").status_code == 400


def test_wrong_state_guards_and_concurrent_changes_are_409(api):
    before = api.version()
    err = refused(api.fire(KB, "sign", body={"party": "ipo"}), 409)  # still in draft
    assert err["state"] == "draft" and err["article"] == "Art. 5.3"
    assert api.version() == before
    api.fire(KB, "open_signing")
    api.fire(KB, "sign", "ipo")
    err = refused(api.fire(KB, "sign", "ipo"), 409)  # guard: signed already
    assert err["article"] == "Art. 5.3"
    assert refused(api.fire(KB, "activate"), 409)["article"]  # automatic only
    current = api.version()
    stale = api.fire(KB, "sign", body={"party": "vng"}, headers={"If-Match": f'"{current - 1}"'})
    assert refused(stale, 409, article=False)["error"] == "conflict"
    assert refused(api.fire(KB, "sign", body={"party": "vng", "version": current - 1}), 409,
                   article=False)["error"] == "conflict"
    assert api.version() == current
    ok = api.fire(KB, "sign", body={"party": "vng", "version": current}, headers={"If-Match": f'W/"{current}"'})
    assert ok.status_code == 200 and ok.json()["version"] == current + 1


# -- the server: OpenAPI, scheduler, pages' guards ------------------------------------------------------
def test_openapi_documents_the_api(api):
    doc = api.client.get("/openapi.json").json()
    assert set(doc["paths"]) >= {"/api/v1/processes", "/api/v1/processes/{process_id}",
                                 "/api/v1/processes/{process_id}/history",
                                 "/api/v1/processes/{process_id}/triggers/{trigger}", "/api/v1/deadlines",
                                 "/api/v1/audit/verify", "/api/v1/audit/export"}
    post = doc["paths"]["/api/v1/processes/{process_id}/triggers/{trigger}"]["post"]
    # the codes of INTERFACE.md, and since 1.1.0 the server's own 500 and 503 (problem details too)
    assert set(post["responses"]) == {"200", "400", "401", "403", "404", "409", "500", "503"}
    assert "422" not in json.dumps(doc["paths"])
    assert not any(p.startswith("/processes") or p == "/" for p in doc["paths"])  # pages stay out


def test_serve_runs_the_scheduler_with_the_app(api, monkeypatch):
    from convenant.app.web import server
    from convenant.app.web.server import create_app

    with TestClient(create_app(api.app)) as client:
        worker = client.app.state.worker
        scheduler = worker.scheduler
        assert scheduler is not None and scheduler.running
        assert client.get("/api/v1/audit/verify", headers=api.h("auditor")).status_code == 200
    assert not scheduler.running
    seen = {}
    monkeypatch.setattr("uvicorn.run", lambda web, **kw: seen.update(web=web, **kw))
    server.serve(api.app, "127.0.0.1", 8123)
    assert seen["host"] == "127.0.0.1" and seen["port"] == 8123 and seen["web"].state.convenant is api.app


PASSWORD = "correct horse battery staple"
ROLES_OF = {"secretariat": ("secretariat", None), "auditor": ("auditor", None), "ipo": ("party", "ipo"),
            "vng": ("party", "vng"), "ez": ("party", "ez"), "stranger": ("party", "nobody")}


def account(api, who: str) -> str:
    """The account of `who` (made at the first sign-in), named as their token is; its email."""
    email = f"{who}@example.org"
    if api.app.accounts.find_user(email) is None:
        role, party = ROLES_OF[who]
        if party == "nobody":     # a party of no agreement here (its agreement gone): past the validation
            api.app.accounts.people.add_user({"email": email, "name": who, "role": role, "party": party,
                                              "created_at": api.app.service.now(),
                                              "password_hash": api.app.accounts.hasher.hash(PASSWORD)})
        else:
            api.app.accounts.add_user(who, email, role, party=party, password=PASSWORD)
    return email


def login(api, who: str, client: TestClient | None = None) -> TestClient:
    client = client or TestClient(api.web, follow_redirects=False)
    email = account(api, who)
    form = client.get("/sign-in")
    csrf = form.cookies.get("convenant_login_csrf") or client.cookies.get("convenant_login_csrf")
    response = client.post("/sign-in", data={"email": email, "password": PASSWORD, "csrf": csrf, "next": "/agenda"})
    assert response.status_code == 303 and response.headers["location"] == "/agenda"
    return client


def csrf_of(html: str) -> str:
    return html.split('name="csrf" value="')[1].split('"')[0]


def test_sign_in_cookie_and_csrf(api, tmp_path):
    """A person signs in with email and password; the cookie holds a session id (never a token), HttpOnly and
    SameSite, and signing out ends the session on the server."""
    email = account(api, "secretariat")
    client = TestClient(api.web, follow_redirects=False)
    assert client.get("/").headers["location"].startswith("/sign-in")
    assert client.get("/login").headers["location"].startswith("/sign-in")      # the former address
    client.get("/sign-in")
    assert client.post("/sign-in", data={"email": email, "password": PASSWORD, "csrf": "forged"}).status_code == 403
    bad = client.post("/sign-in", data={"email": email, "password": "not the password",
                                        "csrf": client.cookies.get("convenant_login_csrf")})
    assert bad.status_code == 401 and "wachtwoord is onjuist" in bad.text and "convenant_session" not in \
        bad.headers.get("set-cookie", "")
    token = client.post("/sign-in", data={"email": email, "password": api.tokens["secretariat"],
                                          "csrf": client.cookies.get("convenant_login_csrf")})
    assert token.status_code == 401                                # a token is no password
    client = TestClient(api.web, follow_redirects=False)
    client.get("/sign-in")
    ok = client.post("/sign-in", data={"email": email.upper(), "password": PASSWORD,
                                       "csrf": client.cookies.get("convenant_login_csrf"), "next": "//evil.example"})
    cookie = ok.headers["set-cookie"]
    session = client.cookies.get("convenant_session")
    assert ok.headers["location"] == "/"
    assert session.startswith("cvs_") and session not in api.tokens.values()
    assert "convenant_token" not in cookie and "HttpOnly" in cookie and "samesite=lax" in cookie.lower() \
        and "Secure" not in cookie and "Max-Age=43200" in cookie              # [web] session_hours = 12
    page = client.get("/processes/krachtenbundeling")
    assert page.status_code == 200 and 'data-trigger="open_signing"' in page.text
    assert "Content-Security-Policy" in page.headers
    # a form post without (or with a wrong) CSRF token changes nothing
    for token in (None, "0" * 64):
        data = {"trigger": "open_signing", **({"csrf": token} if token else {})}
        assert client.post("/processes/krachtenbundeling/fire", data=data).status_code == 403
    assert api.version() == 1
    good = client.post("/processes/krachtenbundeling/fire",
                       data={"trigger": "open_signing", "csrf": csrf_of(page.text), "version": "1"})
    assert good.status_code == 303 and api.version() == 2
    last = api.get(f"/api/v1/processes/{KB}/history").json()[-1]
    assert (last["trigger"], last["actor"]) == ("open_signing", "secretariat")   # the person's name
    logout = client.post("/logout", data={"csrf": csrf_of(page.text)})
    assert logout.status_code == 303 and client.get("/").status_code == 303
    # the session ended on the server: the same cookie, kept by someone, opens nothing any more
    replay = TestClient(api.web, follow_redirects=False, cookies={"convenant_session": session})
    assert replay.get("/").status_code == 303 and api.app.accounts.session_principal(session) is None

    # [web] secure_cookies = true marks the cookie Secure
    from convenant.app.web.server import create_app
    secure = build_app(f"sqlite:///{tmp_path / 'secure.db'}", tmp_path, extra={"web": {"secure_cookies": True}})
    secure.accounts.add_user("S", "s@example.org", "secretariat", password=PASSWORD)
    client = TestClient(create_app(secure, scheduler=False), follow_redirects=False, base_url="https://testserver")
    client.get("/sign-in")
    ok = client.post("/sign-in", data={"email": "s@example.org", "password": PASSWORD,
                                       "csrf": client.cookies.get("convenant_login_csrf")})
    assert ok.status_code == 303 and "Secure" in ok.headers["set-cookie"]


def test_a_disabled_persons_session_stops_at_once_and_sign_in_is_rate_limited(api):
    """Disabling (users disable) ends a signed-in person's session on their next request; five wrong passwords
    within the window refuse even the right one, with a message saying until when (429)."""
    vng = login(api, "vng")
    assert vng.get("/agenda").status_code == 200
    api.cli.run("users", "disable", "vng@example.org")
    assert vng.get("/agenda").status_code == 303                    # back to the sign-in page
    client = TestClient(api.web, follow_redirects=False)
    client.get("/sign-in")

    def attempt(email: str, password: str, lang: str = ""):
        return client.post(f"/sign-in{lang}", data={"email": email, "password": password,
                                                    "csrf": client.cookies.get("convenant_login_csrf")})

    refused = attempt("vng@example.org", PASSWORD)
    assert refused.status_code == 403 and "uitgeschakeld" in refused.text
    email = account(api, "ez")
    for _ in range(5):
        assert attempt(email, "wrong password!").status_code == 401
    limited = attempt(email, PASSWORD)
    assert limited.status_code == 429 and "Te veel mislukte pogingen" in limited.text
    assert "convenant_session" not in limited.headers.get("set-cookie", "")
    english = attempt(email, PASSWORD, "?lang=en")
    assert english.status_code == 429 and "Too many failed attempts" in english.text


def test_pages_follow_the_role(api):
    api.active()
    assert api.fire(KB, "request_amendment", "ipo", {"ref": "IPO-2025-7", "data": {"change": "Art. 4.2"}}
                    ).status_code == 200
    auditor = login(api, "auditor")
    for path in ("/", f"/processes/{KB}", f"/processes/{AMENDMENT}", f"/decisions/{AMENDMENT}", "/history",
                 f"/history?process={AMENDMENT}&party=ipo&since=2025-01-01&until=2025-12-31", "/agenda",
                 f"/diagrams/{AMENDMENT}.svg"):
        response = auditor.get(path)
        assert response.status_code == 200, path
        assert "<form method=\"post\" action=\"/processes" not in response.text, path
    assert "Keten intact" in auditor.get("/history").text
    assert auditor.get("/history?since=2025-02-30").status_code == 400
    export = auditor.get(f"/history/export?format=csv&process={AMENDMENT}")
    assert export.status_code == 200 and export.text.splitlines()[0].startswith("seq,process,trigger")
    assert json.loads(auditor.get("/history/export?format=json").text)[0]["seq"] == 1
    decision = auditor.get(f"/decisions/{AMENDMENT}").text
    assert "Interprovinciaal Overleg" in decision and "Vereniging van Nederlandse Gemeenten" in decision
    english = auditor.get("/?lang=en")
    assert "Overview" in english.text and "lang=en" in english.headers["set-cookie"]
    assert "Agenda" in auditor.get("/agenda").text and "Sign out" in auditor.get("/agenda").text

    vng = login(api, "vng")
    page = vng.get(f"/processes/{AMENDMENT}").text
    assert 'data-trigger="consent"' in page and 'data-trigger="refuse"' in page
    assert 'name="party"' not in page  # a party acts for itself
    refusal = vng.post(f"/processes/{AMENDMENT}/fire", data={"trigger": "consent", "csrf": csrf_of(page)})
    assert refusal.status_code == 400 and 'id="consent-ref-error"' in refusal.text  # beside the field
    unknown = vng.post(f"/processes/{AMENDMENT}/fire", data={"trigger": "no_such", "csrf": csrf_of(page)})
    assert unknown.status_code == 400 and 'id="failed"' in unknown.text and "no_such" in unknown.text
    stale = vng.post(f"/processes/{AMENDMENT}/fire",
                     data={"trigger": "consent", "csrf": csrf_of(page), "ref": "VNG-12", "version": "0"})
    assert stale.status_code == 409 and "intussen gewijzigd" in stale.text
    done = vng.post(f"/processes/{AMENDMENT}/fire",
                    data={"trigger": "consent", "csrf": csrf_of(page), "ref": "VNG-12"})
    assert done.status_code == 303
    answers = api.get(f"/api/v1/processes/{AMENDMENT}").json()["decisions"][0]["answers"]
    assert answers["vng"]["answer"] and "ipo" in answers
    assert vng.get(f"/processes/{KB}/nothing").status_code == 404
    stranger = login(api, "stranger")
    assert stranger.get(f"/processes/{KB}").status_code == 403
    assert "krachtenbundeling" not in stranger.get("/").text.split("<main>")[1]


def feed_links(client: TestClient) -> dict[str, str]:
    """The agenda page's calendar links, by party."""
    import re
    return {m.group(2): m.group(1).replace("&amp;", "&") for m in
            re.finditer(r'href="(http://testserver/feeds/[^"]+)">([a-z]+)\.ics', client.get("/agenda").text)}


def test_calendar_feed_per_party(api):
    from icalendar import Calendar

    api.signed()
    ipo = login(api, "ipo")
    links = feed_links(ipo)
    assert list(links) == ["ipo"]
    secret = links["ipo"].split("?key=")[1]
    assert secret.startswith("cvf_") and secret not in (api.tokens["ipo"], ipo.cookies.get("convenant_session"))
    anonymous = TestClient(api.web)
    feed = anonymous.get(links["ipo"].replace("http://testserver", ""))
    assert feed.status_code == 200 and feed.headers["content-type"].startswith("text/calendar")
    cal = Calendar.from_ical(feed.content)
    events = [e for e in cal.walk("VEVENT")]
    due = {str(e["summary"]).split(" (")[0]: e.decoded("dtstart") for e in events}
    assert due["Publicatie in de Staatscourant"] == dt.date(2025, 4, 3)
    assert all(isinstance(e.decoded("dtstart"), dt.date) and not isinstance(e.decoded("dtstart"), dt.datetime)
               for e in events)
    assert b"DTSTART;VALUE=DATE:20250403" in feed.content
    # each deadline under the UID its emails give it (engine.deadlines.calendar_uid), so a calendar that has both
    # the feed and the invitations shows it once
    api.cli.run("clock", "advance", "--to", "2025-03-20T12:01:00+01:00")   # the signatures' confirmations go out
    mailed = {str(e["UID"]) for m in api.cli.messages() for part in m.walk()
              if part.get_content_type() == "text/calendar"
              for e in Calendar.from_ical(part.get_payload(decode=True)).walk("VEVENT")}
    assert events and {str(e["UID"]) for e in events} <= mailed
    auditor = feed_links(login(api, "auditor"))                    # the auditor reads every party's feed
    assert {"ipo", "vng"} <= set(auditor)
    assert anonymous.get(auditor["vng"].replace("http://testserver", "")).status_code == 200
    assert anonymous.get("/feeds/ipo.ics").status_code == 401
    assert anonymous.get(f"/feeds/ipo.ics?token={api.tokens['ipo']}").status_code == 401   # a token is no feed secret
    assert anonymous.get(f"/feeds/ipo.ics?key={ipo.cookies.get('convenant_session')}").status_code == 401
    assert anonymous.get(f"/feeds/vng.ics?key={secret}").status_code == 401             # another party's feed
    # the feed is read-only: it signs nobody in
    assert TestClient(api.web, follow_redirects=False, cookies={"convenant_session": secret}).get("/").status_code \
        == 303
    api.cli.run("users", "disable", "ipo@example.org")
    assert anonymous.get(f"/feeds/ipo.ics?key={secret}").status_code == 401


# -- schemathesis: no server error anywhere in the API ---------------------------------------------------
@pytest.mark.parametrize("who", ["secretariat", "ipo", "auditor"])
def test_schemathesis_finds_no_server_error(api, who):
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    api.signed()
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.web)
    failures: list[tuple] = []
    calls: list[int] = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        def check(case) -> None:
            response = case.call(headers=api.h(who))
            calls.append(response.status_code)
            if response.status_code >= 500:
                failures.append((case.method, case.formatted_path, case.path_parameters, case.query, case.body,
                                 response.status_code, response.text[:300]))
            else:
                assert response.status_code in {200} | ERROR_CODES | {405}, (case.path, response.status_code)
                if response.status_code in ERROR_CODES:
                    assert "reason" in response.json() and "article" in response.json()

        check()
    assert not failures, failures[:5]
    assert len(calls) >= 7 * 10 and 200 in calls and len(set(calls)) >= 3  # it did explore
    assert api.get("/api/v1/audit/verify", "auditor").json()["intact"] is True
