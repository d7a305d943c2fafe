"""The HTTP API by the NL API Design Rules (issue 18), in-process on a SQLite simulation database: the API-Version
header on every answer, errors as problem details that keep the fields of before, bad input named by field, 405
with Allow, paging, the published OpenAPI document; and the routes that expose what the command line does
(explanations, rehearsals, corrections, migrations, the outbox, refusals, accounts), compared with the command
line's own --json and with the same authorisation."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.e2e.test_api import KB, Api, refused

VERSION = "1.1.0"
PROBLEM_FIELDS = ("type", "title", "status", "detail", "instance")


@pytest.fixture
def api(tmp_path) -> Api:
    return Api(tmp_path)


def problem(response, status: int) -> dict:
    """A problem details answer (RFC 9457) that keeps the error body of before (reason, article, error)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["api-version"] == VERSION
    body = response.json()
    assert all(body[k] for k in PROBLEM_FIELDS) and body["status"] == status
    assert body["type"].startswith("urn:convenant:problem:") and body["type"].endswith(body["error"])
    assert body["reason"] and body["message"] and "article" in body
    return body


# -- /core/version-header ---------------------------------------------------------------------------------------
def test_every_answer_carries_the_full_version(api, monkeypatch):
    for method, path, who in (("get", "/api/v1", None), ("get", "/api/v1/processes", "secretariat"),
                              ("get", "/api/v1/processes", None), ("get", "/api/v1/processes/nope", "auditor"),
                              ("delete", "/api/v1/processes", "secretariat"), ("get", "/api/v1/nothing", None),
                              ("get", "/api/v1/openapi.json", None), ("get", "/openapi.json", None),
                              ("get", "/api/v1/docs", None), ("options", "/api/v1/deadlines", None),
                              ("head", "/api/v1/deadlines", "auditor"), ("get", "/api/v1/deadlines/", None)):
        response = getattr(api.client, method)(path, headers=api.h(who))
        assert response.headers["api-version"] == VERSION, (method, path)
    index = api.client.get("/api/v1").json()
    assert index == {"name": "convenant", "version": VERSION, "openapi": "/api/v1/openapi.json",
                     "docs": "/api/v1/docs"}
    # an internal error too (its handler runs outside the middleware)
    from convenant.engine.queries import Queries
    monkeypatch.setattr(Queries, "overview", lambda self, who: 1 / 0)
    from fastapi.testclient import TestClient
    crashed = TestClient(api.web, raise_server_exceptions=False).get("/api/v1/processes", headers=api.h("auditor"))
    body = problem(crashed, 500)
    assert body["correlation_id"] in body["detail"]


# -- /core/error-handling: problem details ----------------------------------------------------------------------
def test_errors_are_problem_details_that_keep_the_old_fields(api):
    body = problem(api.fire(KB, "sign", body={"party": "ipo"}), 409)           # still in draft
    assert body["state"] == "draft" and body["article"] == "Art. 5.3" and body["trigger"] == "sign"
    assert body["instance"] == f"/api/v1/processes/{KB}/triggers/sign" and "Art. 5.3" in body["detail"]
    assert body["title"] == "Not allowed"
    denied = problem(api.fire(KB, "open_signing", "ipo"), 403)
    assert denied["article"] == "Art. 5.3" and denied["error"] == "not_allowed"
    missing = problem(api.get("/api/v1/processes/nope"), 404)
    assert missing["process"] == "nope" and missing["error"] == "not_found"
    anonymous = problem(api.get("/api/v1/processes", None), 401)
    assert anonymous["error"] == "unauthenticated"
    assert api.get("/api/v1/processes", None).headers["www-authenticate"] == "Bearer"


def test_bad_json_is_named_by_field_never_by_offset(api):
    api.fire(KB, "open_signing")
    before = api.version()
    broken = api.client.post(f"/api/v1/processes/{KB}/triggers/sign", content=b'{"party": "ipo",, }',
                             headers={**api.h("secretariat"), "Content-Type": "application/json"})
    body = problem(broken, 400)
    assert body["field"] == "body" and body["invalid-params"] == [{"name": "body",
                                                                   "reason": "the body is not valid JSON"}]
    assert not any(ch.isdigit() for ch in body["detail"])          # no character offset anywhere
    many = problem(api.fire(KB, "sign", body={"on": 20250320, "party": ["ipo"], "extra": 1}), 400)
    assert {p["name"] for p in many["invalid-params"]} == {"on", "party", "extra"}
    assert many["field"] in {"on", "party", "extra"} and many["error"] == "bad_input"
    assert problem(api.get("/api/v1/deadlines", params={"within": "soon"}), 400)["invalid-params"][0][
        "name"] == "within"
    assert problem(api.get("/api/v1/processes", params={"pageSize": 0}), 400)["field"] == "pageSize"
    engine = problem(api.fire(KB, "sign", body={"on": "2025-02-30", "party": "ipo"}), 400)   # the engine's own
    assert engine["invalid-params"] == [{"name": "on", "reason": engine["reason"]}]
    not_object = problem(api.client.post(f"/api/v1/processes/{KB}/triggers/sign", json=[1, 2],
                                         headers=api.h("secretariat")), 400)
    assert not_object["field"] == "body"
    assert api.version() == before


# -- /core/http-methods, /core/no-trailing-slash ----------------------------------------------------------------
@pytest.mark.parametrize("method,path,allow", [
    ("get", f"/api/v1/processes/{KB}/triggers/sign", "POST, OPTIONS"),
    ("put", f"/api/v1/processes/{KB}/triggers/sign", "POST, OPTIONS"),
    ("get", f"/api/v1/processes/{KB}/whatif", "POST, OPTIONS"),
    ("get", f"/api/v1/processes/{KB}/corrections", "POST, OPTIONS"),
    ("post", f"/api/v1/processes/{KB}/history", "GET, HEAD, OPTIONS"),
    ("delete", f"/api/v1/processes/{KB}", "GET, HEAD, OPTIONS"),
    ("post", "/api/v1/processes", "GET, HEAD, OPTIONS"),
    ("delete", "/api/v1/users", "GET, HEAD, POST, OPTIONS"),
    ("put", "/api/v1/users/a@example.org", "GET, HEAD, PATCH, OPTIONS"),
    ("post", "/api/v1/deadlines", "GET, HEAD, OPTIONS"),
])
def test_a_wrong_method_is_405_with_allow(api, method, path, allow):
    response = getattr(api.client, method)(path, headers=api.h("secretariat"))
    assert problem(response, 405)["error"] == "method_not_allowed"
    assert response.headers["allow"] == allow
    options = api.client.options(path)
    assert options.status_code == 204 and options.headers["allow"] == allow


def test_head_and_trailing_slashes(api):
    head = api.client.head("/api/v1/processes", headers=api.h("auditor"))
    assert head.status_code == 200 and head.content == b"" and head.headers["x-total-count"] == "1"
    for path in ("/api/v1/processes/", "/api/v1/deadlines/", "/api/v1/"):
        slash = api.client.get(path, headers=api.h("auditor"), follow_redirects=False)
        assert problem(slash, 404)["instance"] == path       # not a redirect


# -- paging -----------------------------------------------------------------------------------------------------
def test_lists_page_with_link_and_total(api):
    api.signed()
    whole = api.get(f"/api/v1/processes/{KB}/history")
    records = whole.json()
    assert whole.headers["x-total-count"] == str(len(records)) == "6" and "link" not in whole.headers
    assert [r["seq"] for r in records] == [r["seq"] for r in api.cli.run("history", KB).data]
    page = api.get(f"/api/v1/processes/{KB}/history", params={"page": 2, "pageSize": 4})
    assert page.json() == records[4:] and page.headers["x-total-count"] == "6"
    links = dict(reversed(part.split("; ")) for part in page.headers["link"].split(", "))
    assert set(links) == {'rel="first"', 'rel="prev"', 'rel="last"'}
    assert "page=1&pageSize=4" in links['rel="first"'] and "page=2&pageSize=4" in links['rel="last"']
    first = api.get(f"/api/v1/processes/{KB}/history", params={"pageSize": 4})
    assert first.json() == records[:4] and 'rel="next"' in first.headers["link"]
    assert api.get(f"/api/v1/processes/{KB}/history", params={"page": 9, "pageSize": 4}).json() == []
    for bad in ({"page": 0}, {"pageSize": 1001}, {"page": "two"}):
        problem(api.get("/api/v1/deadlines", params=bad), 400)
    deadlines = api.get("/api/v1/deadlines", params={"pageSize": 1, "page": 2})
    assert deadlines.json() == api.get("/api/v1/deadlines").json()[1:2]
    csv = api.get(f"/api/v1/processes/{KB}/history", params={"format": "csv", "pageSize": 2})
    assert csv.headers["content-type"].startswith("text/csv") and csv.headers["x-total-count"] == "6"
    assert len(csv.text.strip().splitlines()) == 3                 # the header row and two records
    cli_csv = api.cli.runner.invoke(__import__("convenant.app.cli", fromlist=["cli"]).cli,
                                    ["--config", str(api.cli.config), "history", KB, "--format", "csv"]).stdout
    assert api.get(f"/api/v1/processes/{KB}/history", params={"format": "csv"}).text.strip() == cli_csv.strip()


# -- /core/doc-openapi, /core/publish-openapi -------------------------------------------------------------------
def test_the_document_declares_schemas_security_and_problems(api):
    response = api.client.get("/api/v1/openapi.json")           # no token needed, from any origin
    assert response.status_code == 200 and response.headers["access-control-allow-origin"] == "*"
    doc = response.json()
    assert api.client.get("/openapi.json").json() == doc
    assert doc["info"]["version"] == VERSION
    assert doc["components"]["securitySchemes"]["bearer"] == {**doc["components"]["securitySchemes"]["bearer"],
                                                              "type": "http", "scheme": "bearer"}
    assert {"/api/v1/notifications", "/api/v1/refusals", "/api/v1/users",
            "/api/v1/processes/{process_id}/whatif", "/api/v1/processes/{process_id}/corrections",
            "/api/v1/processes/{process_id}/migrations",
            "/api/v1/processes/{process_id}/deadlines/{kind}/explanation"} <= set(doc["paths"])
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            assert (op.get("security") == [{"bearer": []}]) is (path != "/api/v1"), (method, path)
            for code, answer in op["responses"].items():
                assert "API-Version" in answer["headers"], (method, path, code)
                content = answer.get("content", {})
                if code.startswith(("4", "5")):
                    assert content == {"application/problem+json": {
                        "schema": {"$ref": "#/components/schemas/Problem"}}}, (method, path, code)
                else:
                    assert content and all(c.get("schema") for c in content.values()), (method, path, code)
            assert "401" in op["responses"] or path == "/api/v1"
    problem_schema = doc["components"]["schemas"]["Problem"]
    assert set(PROBLEM_FIELDS) | {"error", "reason", "article", "invalid-params"} <= set(problem_schema["properties"])


# -- deadlines and their explanations ---------------------------------------------------------------------------
def test_explanations_are_what_explain_says(api):
    api.signed()
    for lang in ("nl", "en"):
        got = api.get(f"/api/v1/processes/{KB}/deadlines/publication/explanation", "ipo", params={"lang": lang})
        assert got.status_code == 200
        assert got.json() == api.cli.run("explain", KB, "publication", "--lang", lang).data
    doc = got.json()
    assert {"kind", "due", "article", "rule", "inputs", "steps"} <= set(doc) and doc["inputs"][0]["seq"]
    explained = api.get("/api/v1/deadlines", params={"explain": "true", "lang": "en"}).json()
    assert explained == api.cli.run("deadlines", "--explain", "--lang", "en").data
    assert all(d["explanation"]["due"] == d["due"] for d in explained)
    second = api.get("/api/v1/deadlines", params={"explain": "true", "lang": "en", "page": 2, "pageSize": 1})
    assert second.json() == explained[1:2] and second.headers["x-total-count"] == str(len(explained))
    problem(api.get(f"/api/v1/processes/{KB}/deadlines/nothing/explanation"), 404)
    problem(api.get(f"/api/v1/processes/{KB}/deadlines/publication/explanation", "stranger"), 403)
    problem(api.get("/api/v1/processes/nope/deadlines/publication/explanation", "stranger"), 404)
    every = api.get(f"/api/v1/processes/{KB}/deadlines").json()
    assert {d["kind"] for d in every} >= {"publication", "work_structure", "end"}
    assert every == [d for d in api.get("/api/v1/deadlines", params={"all": "true"}).json() if d["process"] == KB]


# -- rehearsals ---------------------------------------------------------------------------------------------------
def _fingerprint(api: Api) -> tuple:
    with api.app.store.engine.connect() as conn:
        return tuple(tuple(map(tuple, conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY 1")).fetchall()))
                     for table in ("processes", "records", "deadlines", "outbox"))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_whatif_is_what_the_command_line_rehearses_and_writes_nothing(api, tmp_path):
    api.active()
    until = "2026-04-01T00:00:00+02:00"
    acts = ["give_notice --party vng --on 2026-01-31"]
    before, db = _fingerprint(api), tmp_path / "convenant.db"
    sha = _sha(db)
    mails = api.cli.messages()
    as_object = api.client.post(f"/api/v1/processes/{KB}/whatif", headers=api.h("secretariat"), json={
        "acts": [{"trigger": "give_notice", "party": "vng", "on": "2026-01-31"}], "until": until})
    as_text = api.client.post(f"/api/v1/processes/{KB}/whatif", headers=api.h("secretariat"),
                              json={"acts": acts, "until": until})
    assert as_object.status_code == 200 and as_object.json() == as_text.json()
    assert _fingerprint(api) == before and _sha(db) == sha and api.cli.messages() == mails
    report = as_object.json()
    assert report == api.cli.run("whatif", KB, "--act", acts[0], "--until", until).data
    assert any(d["kind"] == "notice_period" for d in report["deadlines"]) and report["mails"]
    # who may, and bad input by field
    problem(api.client.post(f"/api/v1/processes/{KB}/whatif", headers=api.h("ipo"),
                            json={"acts": [], "until": until}), 403)
    problem(api.client.post("/api/v1/processes/nope/whatif", headers=api.h("ipo"),
                            json={"acts": [], "until": until}), 404)
    assert problem(api.client.post(f"/api/v1/processes/{KB}/whatif", headers=api.h("secretariat"),
                                   json={"acts": [{"trigger": "give_notice", "on": "2026-02-30"}], "until": until}),
                   400)["field"] == "acts.0.on"
    assert problem(api.client.post(f"/api/v1/processes/{KB}/whatif", headers=api.h("secretariat"),
                                   json={"acts": ["--on 2026-01-01"], "until": until}), 400)["field"] == "acts.0"
    for far in ("soon", "2999-01-01T00:00:00+01:00", "2024-01-01"):
        assert problem(api.client.post(f"/api/v1/processes/{KB}/whatif", headers=api.h("secretariat"),
                                       json={"acts": [], "until": far}), 400)["field"] == "until"
    assert _fingerprint(api) == before


# -- corrections --------------------------------------------------------------------------------------------------
def test_corrections_are_what_correct_does(api):
    api.signed()                     # seq 3: ienw's signature, entered on 2025-03-20
    body = {"seq": 3, "reason": "typo in the date", "set": {"on": "2025-03-19"}, "dryRun": True}
    before = api.get(f"/api/v1/processes/{KB}/history").json()
    dry = api.client.post(f"/api/v1/processes/{KB}/corrections", headers=api.h("secretariat"), json=body)
    assert dry.status_code == 200 and dry.json()["seq"] is None and dry.json()["dry_run"] is True
    cli = api.cli.run("correct", KB, "--seq", "3", "--reason", "typo in the date", "--actor", "secretariat",
                      "--role", "secretariat", "--set", "on=2025-03-19", "--dry-run").data
    assert dry.json() == cli
    assert api.get(f"/api/v1/processes/{KB}/history").json() == before
    # a party, an auditor and a read-only token may not
    for who in ("ipo", "auditor"):
        problem(api.client.post(f"/api/v1/processes/{KB}/corrections", headers=api.h(who), json=body), 403)
    reader = api.app.accounts.create_token("reader", "secretariat", None, scope="read")["token"]
    read_only = {"Authorization": f"Bearer {reader}"}
    for dry_run in (True, False):     # a token of scope read sends no POST at all, not even a dry run
        problem(api.client.post(f"/api/v1/processes/{KB}/corrections", headers=read_only,
                                json={**body, "dryRun": dry_run}), 403)
    assert problem(api.client.post(f"/api/v1/processes/{KB}/corrections", headers=api.h("secretariat"),
                                   json={**body, "set": {"on": "2025-03-32"}}), 400)["field"]
    problem(api.client.post(f"/api/v1/processes/{KB}/corrections", headers=api.h("secretariat"),
                            json={**body, "seq": 999}), 404)
    # and for real: one record that names the one it corrects, entered by the token's holder
    done = api.client.post(f"/api/v1/processes/{KB}/corrections", headers=api.h("secretariat"),
                           json={**body, "dryRun": False})
    assert done.status_code == 200 and done.json()["seq"] and done.json()["changes"] == cli["changes"]
    last = api.get(f"/api/v1/processes/{KB}/history").json()[-1]
    assert last["seq"] == done.json()["seq"] and last["corrects"] == 3 and last["actor"] == "secretariat"
    assert api.get("/api/v1/audit/verify", "auditor").json()["intact"] is True


# -- migrations ---------------------------------------------------------------------------------------------------
def test_migrations_are_what_migrate_does(api):
    api.active()
    dry = api.client.post(f"/api/v1/processes/{KB}/migrations", headers=api.h("secretariat"),
                          json={"to": 2, "dryRun": True})
    assert dry.status_code == 200, dry.text
    assert dry.json() == api.cli.run("migrate", KB, "--to", "2", "--dry-run").data
    assert api.get(f"/api/v1/processes/{KB}/history").json()[-1]["trigger"] != "migrate"
    problem(api.client.post(f"/api/v1/processes/{KB}/migrations", headers=api.h("ipo"), json={"to": 2}), 403)
    assert problem(api.client.post(f"/api/v1/processes/{KB}/migrations", headers=api.h("secretariat"),
                                   json={"to": 99}), 400)["field"] == "to"
    done = api.client.post(f"/api/v1/processes/{KB}/migrations", headers=api.h("secretariat"),
                           json={"to": 2, "reason": "new definition"})
    assert done.status_code == 200 and done.json()["seq"]
    last = api.get(f"/api/v1/processes/{KB}/history").json()[-1]
    assert last["trigger"] == "migrate" and last["actor"] == "secretariat"
    problem(api.client.post(f"/api/v1/processes/{KB}/migrations", headers=api.h("secretariat"),
                            json={"to": 2}), 409)                        # runs under version 2 already


# -- the outbox and refused attempts ------------------------------------------------------------------------------
def test_notifications_are_the_outbox(api):
    api.signed()
    listed = api.get("/api/v1/notifications").json()
    assert listed == api.cli.run("outbox").data and listed
    assert all({"id", "to", "subject", "status", "attempts"} <= set(n) for n in listed)
    assert api.get("/api/v1/notifications", "auditor", params={"status": "sent"}).json() == \
        api.cli.run("outbox", "--status", "sent").data
    assert api.get("/api/v1/notifications", params={"process": KB}).json() == listed
    problem(api.get("/api/v1/notifications", "ipo"), 403)
    problem(api.get("/api/v1/notifications", params={"status": "lost"}), 400)
    first = listed[0]
    assert api.get(f"/api/v1/notifications/{first['id']}").json() == first
    problem(api.get("/api/v1/notifications/99999"), 404)
    # a failed message is sent again by the secretariat: queued anew, attempts from zero
    with api.app.store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE outbox SET status = 'failed', attempts = 5 WHERE id = :id"), {"id": first["id"]})
    for who in ("auditor", "ipo"):
        problem(api.client.post(f"/api/v1/notifications/{first['id']}/deliveries", headers=api.h(who)), 403)
    again = api.client.post(f"/api/v1/notifications/{first['id']}/deliveries", headers=api.h("secretariat"))
    assert again.status_code == 202 and again.json() == {"id": first["id"], "status": "pending"}
    assert api.get(f"/api/v1/notifications/{first['id']}").json()["status"] == "pending"
    problem(api.client.post(f"/api/v1/notifications/{first['id']}/deliveries", headers=api.h("secretariat")), 409)
    problem(api.client.post("/api/v1/notifications/99999/deliveries", headers=api.h("secretariat")), 404)


def test_refusals_are_the_refused_attempts(api):
    api.fire(KB, "open_signing")
    problem(api.fire(KB, "publish", body={"ref": "x"}), 409)                 # not yet signed
    problem(api.fire(KB, "open_signing", "ipo"), 403)                         # secretariat only
    rows = api.get("/api/v1/refusals", "auditor").json()
    cli = api.cli.run("audit", "refusals").data
    assert [{k: v for k, v in r.items() if k != "error"} for r in rows] == cli and len(rows) >= 2
    assert [r["error"] for r in rows[:2]] == ["not_allowed", "not_allowed"]
    assert rows[0]["trigger"] == "open_signing" and rows[0]["party"] == "ipo"
    assert api.get("/api/v1/refusals", params={"limit": 1}).json() == rows[:1]
    problem(api.get("/api/v1/refusals", "ipo"), 403)


# -- accounts for an administrator ----------------------------------------------------------------------------------
def test_an_administrator_manages_accounts(api):
    admin = api.app.accounts.create_token("admin", "administrator", None)["token"]
    h = {"Authorization": f"Bearer {admin}"}
    made = api.client.post("/api/v1/users", headers=h, json={"name": "A. de Vries", "email": "A.deVries@example.org",
                                                              "role": "party", "party": "ipo"})
    assert made.status_code == 201 and made.json()["email"] == "a.devries@example.org" and made.json()["enabled"]
    assert made.headers["location"] == "/api/v1/users/a.devries@example.org"
    listed = api.client.get("/api/v1/users", headers=h).json()
    assert [u["email"] for u in listed] == [u["email"] for u in api.cli.run("users", "list").data]
    assert api.client.get("/api/v1/users/a.devries@example.org", headers=h).json()["party"] == "ipo"
    assert problem(api.client.post("/api/v1/users", headers=h, json={"name": "B", "email": "not-an-email",
                                                                     "role": "auditor"}), 400)["field"] == "email"
    assert problem(api.client.post("/api/v1/users", headers=h, json={"name": "B", "email": "b@example.org",
                                                                     "role": "king"}), 400)["field"] == "role"
    problem(api.client.post("/api/v1/users", headers=h, json={"name": "A", "email": "a.devries@example.org",
                                                              "role": "auditor"}), 409)
    for who in ("secretariat", "auditor", "ipo"):
        problem(api.get("/api/v1/users", who), 403)
        problem(api.client.patch("/api/v1/users/a.devries@example.org", headers=api.h(who),
                                 json={"enabled": False}), 403)
    off = api.client.patch("/api/v1/users/a.devries@example.org", headers=h, json={"enabled": False})
    assert off.status_code == 200 and off.json()["enabled"] is False
    assert api.cli.run("users", "list").data[0]["enabled"] is False
    problem(api.client.patch("/api/v1/users/nobody@example.org", headers=h, json={"enabled": False}), 404)
    problem(api.client.get("/api/v1/users/nobody@example.org", headers=h), 404)
    problem(api.client.patch("/api/v1/users/a.devries@example.org", headers=h, json={"enabled": True}), 400)
    # an administrator acts on no agreement
    assert api.client.get(f"/api/v1/processes/{KB}", headers=h).json()["allowed_triggers"] == []


def test_the_old_error_checks_still_hold(api):
    """tests/e2e/test_api.py's `refused` reads `reason`, `error` and `article`: problem details keep them."""
    refused(api.fire(KB, "sign", body={"party": "ipo"}), 409)
    assert json.loads(api.fire(KB, "sign", "auditor", {"party": "ipo"}).text)["article"] == "Art. 5.3"


# -- definitions, the clock, progress, parties, the past --------------------------------------------------------
def test_reference_reads_are_what_the_command_line_shows(api):
    api.active()
    assert api.get("/api/v1/workflows", "ipo").json() == api.cli.run("workflows").data
    assert api.get(f"/api/v1/workflows/{KB}", "auditor").json() == api.cli.run("workflows", "show", KB).data
    assert api.get(f"/api/v1/workflows/{KB}", params={"diagram": "mermaid"}).json() == \
        api.cli.run("workflows", "show", KB, "--diagram", "mermaid").data
    problem(api.get("/api/v1/workflows/nope"), 404)
    assert api.get("/api/v1/clock", "ipo").json() == api.cli.run("clock").data
    assert api.get("/api/v1/progress", "ipo").json() == [api.cli.run("progress", KB).data]
    assert api.get(f"/api/v1/processes/{KB}/progress", "auditor").json() == api.cli.run("progress", KB).data
    assert api.get("/api/v1/progress", "stranger").json() == []
    for day in ("2025-03-20", "2025-04-01"):
        assert api.get(f"/api/v1/processes/{KB}", "ipo", params={"asRecordedOn": day}).json() == api.cli.run(
            "show", KB, "--role", "party", "--party", "ipo", "--as-recorded-on", day).data
    assert problem(api.get(f"/api/v1/processes/{KB}", params={"asRecordedOn": "2025-03-32"}), 400)[
        "field"] == "asRecordedOn"
    problem(api.get(f"/api/v1/processes/{KB}", params={"asRecordedOn": "2025-01-01"}), 404)   # not yet entered


def test_parties_and_their_contacts(api):
    api.signed()
    own = api.get(f"/api/v1/processes/{KB}/parties/ipo", "ipo").json()
    assert own["name"] == "Interprovinciaal Overleg" and own["contacts"][0]["email"] == "ipo@example.org"
    assert api.get(f"/api/v1/processes/{KB}/parties/ez").json()["represented_by"] == "ienw"
    problem(api.get(f"/api/v1/processes/{KB}/parties/vng", "ipo"), 403)
    problem(api.get(f"/api/v1/processes/{KB}/parties/nobody"), 404)
    new = {"contacts": [{"name": "R.F. Douwstra", "email": "douwstra@example.org", "language": "en"}],
           "reason": "a new contact"}
    for who in ("ipo", "auditor"):
        problem(api.client.put(f"/api/v1/processes/{KB}/parties/ipo/contacts", headers=api.h(who), json=new), 403)
    assert problem(api.client.put(f"/api/v1/processes/{KB}/parties/ipo/contacts", headers=api.h("secretariat"),
                                  json={"contacts": [{"name": "X", "email": "x@@example"}]}), 400)["field"]
    done = api.client.put(f"/api/v1/processes/{KB}/parties/ipo/contacts", headers=api.h("secretariat"), json=new)
    assert done.status_code == 200 and done.json()["contacts"] == new["contacts"]
    last = api.get(f"/api/v1/processes/{KB}/history").json()[-1]
    assert last["trigger"] == "update_contacts" and last["party"] == "ipo" and last["actor"] == "secretariat"


SAMPLE = {"process_id": KB, "trigger": "sign", "kind": "publication", "notification_id": "1", "email": "a@example.org",
          "size": "1", "seq": "1", "name": KB, "party": "ipo"}


def test_every_path_answers_an_undeclared_method_with_405_and_its_allow(api):
    """/core/http-methods over the whole document: each method a path does not declare is 405, and `Allow`
    lists exactly the declared ones (with HEAD beside GET, and OPTIONS)."""
    doc = api.client.get("/api/v1/openapi.json").json()
    checked = 0
    for template, operations in doc["paths"].items():
        path = template.format(**SAMPLE)
        declared = {m.upper() for m in operations}
        allow = [m for m in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
                 if m in declared or m == "OPTIONS" or (m == "HEAD" and "GET" in declared)]
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            if method in declared:
                continue
            response = api.client.request(method, path, headers=api.h("secretariat"))
            assert response.status_code == 405, (method, path, response.text[:200])
            assert response.headers["allow"] == ", ".join(allow), (method, path)
            assert response.headers["content-type"] == "application/problem+json"
            checked += 1
    assert checked >= 80


def test_a_document_is_named_by_what_identifies_it_never_by_a_path(api):
    """The command line reads `--set document=PATH`; over HTTP the server reads no path it is sent: the client
    gives the document's name, SHA-256 and size, which the history keeps."""
    api.active()
    doc = {"name": "voorstel.pdf", "sha256": "ab" * 32, "size": 2048}
    done = api.fire(KB, "request_amendment", "ipo", {"ref": "IPO-1", "data": {"change": "Art. 4.2", "document": doc}})
    assert done.status_code == 200 and done.json()["created"] == "krachtenbundeling/amendment-1"
    child = api.get("/api/v1/processes/krachtenbundeling%2Famendment-1").json()
    assert doc in child["facts"].values() or json.dumps(doc) in json.dumps(child)
    path = problem(api.fire(KB, "request_amendment", "ipo", {"ref": "IPO-2", "data": {"document": "/etc/passwd"}}),
                   400)
    assert path["field"] == "document" and "passwd" not in json.dumps(api.get(f"/api/v1/processes/{KB}").json())
    wrong = problem(api.fire(KB, "request_amendment", "ipo", {"ref": "IPO-2", "data": {"document": {
        "name": "x.pdf", "sha256": "not hex", "size": 1}}}), 400)
    assert "data.document.sha256" in {p["name"] for p in wrong["invalid-params"]}
    assert not any("DocumentRef" in p["name"] or p["name"].endswith(".str") for p in wrong["invalid-params"])
