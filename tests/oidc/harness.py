"""A real OpenID Connect provider for the sign-in tests (tests/browser/test_oidc_sign_in.py, which imports these
fixtures and uses the browser of tests/browser/conftest.py): panva's oidc-provider (the reference implementation,
from npm), run by node from tests/oidc/provider.mjs on a free 127.0.0.1 port, with the users of users.json. `npm ci`
runs first when node_modules is missing. Without node (or npm) the tests skip with the reason; with
CONVENANT_REQUIRE_OIDC=1 (set by .ci/run) they fail instead, so CI never skips them silently."""
from __future__ import annotations

import json
import os
import selectors
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REQUIRE = os.environ.get("CONVENANT_REQUIRE_OIDC") == "1"
USERS = json.loads((HERE / "users.json").read_text(encoding="utf-8"))
CLIENT_ID = "convenant-test"
CLIENT_SECRET = "test-client-secret-of-convenant"
SECRET_ENV = "CONVENANT_TEST_OIDC_SECRET"
START_SECONDS = 30


def _need_node() -> None:
    problem = None
    if shutil.which("node") is None:
        problem = "node is not installed (apt-get install nodejs npm): no OpenID Connect provider to test against"
    elif not (HERE / "node_modules" / "oidc-provider").is_dir() and shutil.which("npm") is None:
        problem = "npm is not installed and tests/oidc/node_modules is missing (npm ci --prefix tests/oidc)"
    if problem:
        if REQUIRE:
            pytest.fail(problem + " but CONVENANT_REQUIRE_OIDC=1 requires the OpenID Connect tests")
        pytest.skip(problem)
    if not (HERE / "node_modules" / "oidc-provider").is_dir():
        done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--prefix", str(HERE)], capture_output=True,
                              text=True, timeout=600)
        if done.returncode != 0:
            pytest.fail(f"npm ci --prefix tests/oidc failed:\n{done.stdout}\n{done.stderr}")


@dataclass
class Provider:
    issuer: str
    app_port: int          # the port the app must serve on: its callback is the client's one redirect URI
    process: subprocess.Popen

    @property
    def app_url(self) -> str:
        return f"http://127.0.0.1:{self.app_port}"


def _first_line(process: subprocess.Popen, seconds: float) -> str:
    """The provider's first line of output (printed once it listens), or a failure with what it said."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(seconds):
            process.kill()
            pytest.fail(f"the OpenID Connect provider said nothing within {seconds} s")
    line = process.stdout.readline()
    if not line:
        process.wait(10)
        stderr = process.stderr.read() if process.stderr else ""
        pytest.fail(f"the OpenID Connect provider stopped (exit {process.returncode}):\n{stderr}")
    return line


def start_provider(app_port: int) -> Provider:
    """node provider.mjs for an app on `app_port`; returns once its discovery document answers."""
    import httpx
    env = {**os.environ, "PORT": "0", "OIDC_CLIENT_ID": CLIENT_ID, "OIDC_CLIENT_SECRET": CLIENT_SECRET,
           "OIDC_REDIRECT_URI": f"http://127.0.0.1:{app_port}/sign-in/oidc/callback",
           "OIDC_POST_LOGOUT_URI": f"http://127.0.0.1:{app_port}/sign-in", "NODE_NO_WARNINGS": "1"}
    process = subprocess.Popen(["node", str(HERE / "provider.mjs")], cwd=HERE, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    issuer = json.loads(_first_line(process, START_SECONDS))["issuer"]
    discovery = httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=10)
    assert discovery.status_code == 200 and discovery.json()["issuer"] == issuer, discovery.text
    # stderr is read on and dropped, so that the provider never blocks on a full pipe
    threading.Thread(target=lambda: process.stderr and process.stderr.read(), daemon=True).start()
    return Provider(issuer, app_port, process)


def stop_provider(provider: Provider) -> None:
    provider.process.terminate()
    try:
        provider.process.wait(10)
    except subprocess.TimeoutExpired:
        provider.process.kill()
        provider.process.wait(10)


@pytest.fixture(scope="module")
def oidc_provider() -> Iterator[Provider]:
    """The provider, for a module's tests; the app of each test serves on `app_port`."""
    _need_node()
    from tests.browser.conftest import free_port
    provider = start_provider(free_port())
    try:
        yield provider
    finally:
        stop_provider(provider)


def auth_table(issuer: str) -> dict:
    """config.toml's [auth] for the test provider: "secretariaat" maps to the secretariat, "uvw" to party uvw."""
    return {"issuer": issuer, "client_id": CLIENT_ID, "client_secret_env": SECRET_ENV,
            "scopes": ["openid", "email", "profile", "groups"], "provider_name": "Testprovider",
            "groups": {"secretariaat": {"role": "secretariat"}, "uvw": {"role": "party", "party": "uvw"}}}


def write_config(folder: Path, issuer: str) -> Path:
    """A config.toml in `folder` (SQLite and maildir beside it), so that the command line reaches the same
    installation as the served app."""
    auth = auth_table(issuer)
    groups = "\n".join(f'"{name}" = {{ ' + ", ".join(f'{k} = "{v}"' for k, v in mapping.items()) + " }"
                       for name, mapping in auth["groups"].items())
    text = f"""[database]
url = "sqlite:///{folder / 'convenant.db'}"

[mail]
transport = "maildir"
path = "{folder / 'mail'}"

[auth]
issuer = "{auth['issuer']}"
client_id = "{auth['client_id']}"
client_secret_env = "{auth['client_secret_env']}"
scopes = {json.dumps(auth['scopes'])}
provider_name = "{auth['provider_name']}"

[auth.groups]
{groups}
"""
    path = folder / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


@dataclass
class OidcSite:
    url: str
    app: object
    config: Path
    provider: Provider


@pytest.fixture
def oidc_site(oidc_provider: Provider, tmp_path: Path, monkeypatch) -> Iterator[OidcSite]:
    """The Krachtenbundeling in draft (a simulation database on 20 March 2025), served on the provider's app port,
    with [auth] pointing at the provider; no account exists yet."""
    from tests.browser.conftest import _need_browser
    _need_browser()
    import datetime as dt

    import uvicorn

    from convenant import workflows
    from convenant.app.bootstrap import build
    from convenant.app.web.server import create_app
    from convenant.engine.agreements import read_data_file

    monkeypatch.setenv(SECRET_ENV, CLIENT_SECRET)
    config = write_config(tmp_path, oidc_provider.issuer)
    app = build(str(config))
    app.store.migrate()
    with app.store.transaction() as tx:
        tx.set_meta("clock_mode", "simulation")
        tx.set_meta("clock_now", dt.datetime.fromisoformat("2025-03-20T12:00:00+01:00").astimezone(dt.UTC).isoformat())
    wf = app.service.workflow("krachtenbundeling")
    app.service.create_agreement("krachtenbundeling", read_data_file(workflows.example_file(wf)))
    started = threading.Event()

    class Server(uvicorn.Server):
        async def startup(self, sockets=None) -> None:
            await super().startup(sockets)
            started.set()

    server = Server(uvicorn.Config(create_app(app, scheduler=False), host="127.0.0.1", port=oidc_provider.app_port,
                                   log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    assert started.wait(30), "uvicorn did not start within 30 s"
    try:
        yield OidcSite(oidc_provider.app_url, app, config, oidc_provider)
    finally:
        server.should_exit = True
        thread.join(30)
        app.store.dispose()


def sign_in_at_provider(page, site: OidcSite, login: str) -> None:
    """From the sign-in page (this one, if the page shows it), through the provider's login form, back to
    convenant."""
    if not page.url.startswith(f"{site.url}/sign-in?") and page.url != f"{site.url}/sign-in":
        page.goto(f"{site.url}/sign-in")
    with page.expect_navigation():
        page.click("#sign-in-oidc")
    assert page.url.startswith(site.provider.issuer + "/interaction/"), page.url
    page.fill("#login-name", login)
    page.fill("#password", USERS[login]["password"])
    with page.expect_navigation(url=lambda u: u.startswith(site.url)):
        page.click("#login button[type=submit]")
