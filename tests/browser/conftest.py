"""A real Chromium (Debian's, at /usr/bin/chromium, driven by Playwright's sync API) against the web app served by
uvicorn in a thread on a free 127.0.0.1 port. Without chromium the tests skip with the reason; with
CONVENANT_REQUIRE_BROWSER=1 (set by .ci/run) they fail instead, so CI never skips them silently."""
from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
REQUIRE = os.environ.get("CONVENANT_REQUIRE_BROWSER") == "1"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def _need_browser() -> None:
    problem = None
    if not os.path.exists(CHROMIUM):
        problem = f"{CHROMIUM} is missing (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError as exc:
            problem = f"playwright is not installed ({exc})"
    if problem:
        if REQUIRE:
            pytest.fail(problem + " but CONVENANT_REQUIRE_BROWSER=1 requires the browser tests")
        pytest.skip(problem)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Site:
    url: str
    app: object
    tokens: dict[str, str]


@pytest.fixture
def site(tmp_path) -> Iterator[Site]:
    """The Krachtenbundeling in draft on a simulation clock (20 March 2025), tokens for three roles, served."""
    _need_browser()
    import uvicorn
    from convenant.app.web.server import create_app
    from convenant.engine.agreements import read_data_file
    from convenant.storage.queries import create_token

    from convenant import workflows
    from tests.conftest import build_app

    app = build_app(f"sqlite:///{tmp_path / 'convenant.db'}", tmp_path, simulation="2025-03-20T12:00:00+01:00")
    wf = app.service.workflow("krachtenbundeling")
    app.service.create_agreement("krachtenbundeling", read_data_file(workflows.example_file(wf)))
    now = app.service.now()
    tokens = {"secretariat": create_token(app.store, "Secretariaat CE", "secretariat", None, now),
              "auditor": create_token(app.store, "Auditdienst Rijk", "auditor", None, now),
              "ipo": create_token(app.store, "IPO", "party", "ipo", now)}
    port = free_port()
    started = threading.Event()

    class Server(uvicorn.Server):
        async def startup(self, sockets=None) -> None:
            await super().startup(sockets)
            started.set()

    server = Server(uvicorn.Config(create_app(app, scheduler=False), host="127.0.0.1", port=port,
                                   log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    assert started.wait(30), "uvicorn did not start within 30 s"
    try:
        yield Site(f"http://127.0.0.1:{port}", app, tokens)
    finally:
        server.should_exit = True
        thread.join(30)
        app.store.dispose()


@pytest.fixture(scope="session")
def browser():
    _need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1366, "height": 900}, accept_downloads=True, locale="nl-NL")
    pg = context.new_page()
    pg.set_default_timeout(15000)
    yield pg
    context.close()


def shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
