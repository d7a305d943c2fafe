"""People and machines over HTTP beyond the sign-in (tests/e2e/test_api.py has that): a token of scope `read`
looks but never changes anything (403), an expired token is 401, `tokens list` shows a token's last use, the
administrator's page adds and disables accounts behind CSRF, and the server's access log (uvicorn, as `convenant
serve` configures it) never holds a feed secret or a token from a query string."""
from __future__ import annotations

import json
import re

import httpx
from fastapi.testclient import TestClient

from tests.conftest import Cli, build_app

START = "2025-03-20T12:00:00+01:00"
KB = "krachtenbundeling"
PASSWORD = "correct horse battery staple"


def agreement(tmp_path):
    from convenant import workflows
    from convenant.engine.agreements import read_data_file

    url = f"sqlite:///{tmp_path / 'convenant.db'}"
    app = build_app(url, tmp_path, simulation=START)
    wf = app.service.workflow(KB)
    app.service.create_agreement(KB, read_data_file(workflows.example_file(wf)))
    return app, url


def convenant(cli: Cli, *args: str, input: str | None = None, expect: int = 0):
    """`convenant --json ARGS` in-process, with standard input; its JSON output."""
    from convenant.app.cli import cli as command
    done = cli.runner.invoke(command, ["--config", str(cli.config), "--json", *args], input=input,
                             catch_exceptions=False)
    assert done.exit_code == expect, (args, done.stdout, done.stderr)
    return json.loads(done.stdout) if done.stdout.strip() else None


def csrf_of(html: str) -> str:
    return html.split('name="csrf" value="')[1].split('"')[0]


def signed_in(web, email: str) -> TestClient:
    client = TestClient(web, follow_redirects=False)
    client.get("/sign-in")
    done = client.post("/sign-in", data={"email": email, "password": PASSWORD,
                                         "csrf": client.cookies.get("convenant_login_csrf")})
    assert done.status_code == 303, done.text
    return client


def test_a_read_token_looks_but_never_changes_and_an_expired_one_is_refused(tmp_path):
    from convenant.app.web.server import create_app

    app, url = agreement(tmp_path)
    cli = Cli(tmp_path, url)
    read = convenant(cli, "tokens", "create", "--name", "dashboard", "--role", "secretariat", "--scope", "read",
                  "--days", "30")
    write = convenant(cli, "tokens", "create", "--name", "script", "--role", "secretariat")
    assert (read["scope"], write["scope"]) == ("read", "write") and {"name", "role", "party", "token"} <= set(read)
    client = TestClient(create_app(app, scheduler=False))
    bearer = {"Authorization": f"Bearer {read['token']}"}
    assert client.get(f"/api/v1/processes/{KB}", headers=bearer).status_code == 200
    refused = client.post(f"/api/v1/processes/{KB}/triggers/open_signing", headers=bearer, json={})
    assert refused.status_code == 403 and "scope read" in refused.text
    assert app.queries.process(KB).state == "draft" and len(convenant(cli, "history", KB)) == 1
    fired = client.post(f"/api/v1/processes/{KB}/triggers/open_signing",
                        headers={"Authorization": f"Bearer {write['token']}"}, json={})
    assert fired.status_code == 200 and app.queries.process(KB).state == "signing"
    listed = {t["name"]: t for t in convenant(cli, "tokens", "list")}
    assert listed["dashboard"]["last_used_at"] and listed["script"]["last_used_at"]
    assert listed["dashboard"]["owner"] == "dashboard" and listed["dashboard"]["expires_at"]
    assert all("token" not in t and "hash" not in t for t in listed.values())
    # the token's clock is the installation's real one: 31 days on, the 30-day token is refused
    import datetime as dt

    from convenant.engine.clock import FixedClock
    later = FixedClock(app.accounts.clock.now() + dt.timedelta(days=31))
    app.accounts.clock = later
    assert client.get(f"/api/v1/processes/{KB}", headers=bearer).status_code == 401
    assert client.get(f"/api/v1/processes/{KB}",
                      headers={"Authorization": f"Bearer {write['token']}"}).status_code == 200


def test_the_administrators_page_adds_and_disables_accounts(tmp_path):
    from convenant.app.web.server import create_app

    app, url = agreement(tmp_path)
    cli = Cli(tmp_path, url)
    convenant(cli, "users", "add", "--name", "Beheer", "--email", "beheer@example.org", "--role", "administrator",
              "--password-stdin", input=PASSWORD + "\n")
    convenant(cli, "users", "add", "--name", "Anna", "--email", "anna@example.org", "--role", "secretariat",
              "--password-stdin", input=PASSWORD + "\n")
    web = create_app(app, scheduler=False)
    anna = signed_in(web, "anna@example.org")
    assert anna.get("/admin/users").status_code == 403                 # only an administrator
    admin = signed_in(web, "beheer@example.org")
    assert admin.get("/").headers["location"] == "/admin/users"
    page = admin.get("/admin/users")
    assert page.status_code == 200 and "anna@example.org" in page.text and "Accounts" in page.text
    csrf = csrf_of(page.text)
    forged = admin.post("/admin/users", data={"name": "Piet", "email": "piet@example.org", "role": "auditor",
                                              "csrf": "forged"})
    assert forged.status_code == 403 and app.accounts.find_user("piet@example.org") is None
    bad = admin.post("/admin/users", data={"name": "Piet", "email": "piet", "role": "auditor", "csrf": csrf})
    assert bad.status_code == 400 and 'id="u-email-error"' in bad.text
    assert app.accounts.find_user("piet") is None and len(app.accounts.list_users()) == 2
    added = admin.post("/admin/users", data={"name": "Piet", "email": "piet@example.org", "role": "party",
                                             "party": "ipo", "language": "en", "csrf": csrf})
    assert added.status_code == 303 and app.accounts.find_user("piet@example.org")["party"] == "ipo"
    assert anna.get("/agenda").status_code == 200
    itself = admin.post("/admin/users/disable", data={"email": "beheer@example.org", "csrf": csrf})
    assert itself.status_code == 403 and app.accounts.find_user("beheer@example.org")["enabled"]
    gone = admin.post("/admin/users/disable", data={"email": "anna@example.org", "csrf": csrf})
    assert gone.status_code == 303
    assert anna.get("/agenda").status_code == 303                       # her session ended at once
    listed = {u["email"]: u for u in convenant(Cli(tmp_path, url), "users", "list")}
    assert listed["anna@example.org"]["enabled"] is False and listed["piet@example.org"]["language"] == "en"


def test_the_access_log_never_records_a_secret(tmp_path, capfd):
    """uvicorn in a thread with the logging configuration `convenant serve` gives it: the feed's secret and a
    token sent in a query string appear nowhere in what the server writes."""
    from convenant.app.web.server import log_config
    from tests.browser.conftest import start_server, stop_server

    app, _ = agreement(tmp_path)
    app.accounts.add_user("IPO", "ipo@example.org", "party", party="ipo", password=PASSWORD)
    token = app.accounts.create_token("script", "secretariat", None)["token"]
    base, server, thread = start_server(app, log_config=log_config(), log_level="info")
    try:
        with httpx.Client(base_url=base, follow_redirects=False) as client:
            client.get("/sign-in")
            assert client.post("/sign-in", data={"email": "ipo@example.org", "password": PASSWORD,
                                                 "csrf": client.cookies.get("convenant_login_csrf")}
                               ).status_code == 303
            session = client.cookies.get("convenant_session")
            feed = re.search(r'href="([^"]*/feeds/ipo\.ics\?key=[^"]+)"', client.get("/agenda").text).group(1)
            secret = feed.split("key=")[1]
            assert httpx.get(feed).status_code == 200
            assert httpx.get(f"{base}/feeds/ipo.ics?token={token}&lang=en").status_code == 401
    finally:
        stop_server(server, thread)
    out, err = capfd.readouterr()
    written = out + err
    assert "GET /feeds/ipo.ics?key=[redacted] HTTP/1.1" in written            # the request is logged ...
    assert "token=[redacted]&lang=en" in written
    for value in (secret, token, session):                                  # ... its secrets are not
        assert value not in written
