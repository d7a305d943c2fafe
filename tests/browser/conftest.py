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
from typing import Any

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


PASSWORD = "correct horse battery staple"     # every test person's password for local sign-in


@dataclass
class Site:
    url: str
    app: object
    logins: dict[str, str]      # who -> the email of their account (password PASSWORD)


def add_people(app, people) -> dict[str, str]:
    """An account with PASSWORD for each (who, name, role, party); who -> email."""
    logins = {}
    for who, name, role, party in people:
        email = f"{who}@example.org"
        app.accounts.add_user(name, email, role, party=party, password=PASSWORD)
        logins[who] = email
    return logins


def sessions_of(app, logins: dict[str, str]) -> dict[str, str]:
    """A signed-in session for each person (who -> session id), for TestClient cookies."""
    return {who: app.accounts.open_session(email, "test") for who, email in logins.items()}


@pytest.fixture
def site(tmp_path) -> Iterator[Site]:
    """The Krachtenbundeling in draft on a simulation clock (20 March 2025), tokens for three roles, served."""
    _need_browser()

    from convenant import workflows
    from convenant.engine.agreements import read_data_file
    from tests.conftest import build_app

    app = build_app(f"sqlite:///{tmp_path / 'convenant.db'}", tmp_path, simulation="2025-03-20T12:00:00+01:00")
    wf = app.service.workflow("krachtenbundeling")
    app.service.create_agreement("krachtenbundeling", read_data_file(workflows.example_file(wf)))
    logins = add_people(app, (("secretariat", "Secretariaat CE", "secretariat", None),
                              ("auditor", "Auditdienst Rijk", "auditor", None), ("ipo", "IPO", "party", "ipo")))
    url, server, thread = start_server(app)
    try:
        yield Site(url, app, logins)
    finally:
        stop_server(server, thread)
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


# -- a running agreement with something to do for everyone ---------------------------------------------------------
KB = "krachtenbundeling"
AMENDMENT = "krachtenbundeling/amendment-1"
AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def serve(app) -> tuple[str, object, threading.Thread]:
    """The web app in a uvicorn thread on a free port; returns (url, server, thread)."""
    return start_server(app)


def start_server(app, **options: Any) -> tuple[str, Any, threading.Thread]:
    """The web app in a uvicorn thread on a free port, started (its startup has run): (url, server, thread).
    `options` go to uvicorn.Config (log_config, log_level, ...)."""
    import uvicorn

    from convenant.app.web.server import create_app

    port = free_port()
    started = threading.Event()

    class Server(uvicorn.Server):
        async def startup(self, sockets=None) -> None:
            await super().startup(sockets)
            started.set()

    config = {"log_level": "warning", "lifespan": "on", **options}
    server = Server(uvicorn.Config(create_app(app, scheduler=False), host="127.0.0.1", port=port, **config))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    assert started.wait(30), "uvicorn did not start within 30 s"
    return f"http://127.0.0.1:{port}", server, thread


def stop_server(server: Any, thread: threading.Thread) -> None:
    server.should_exit = True
    thread.join(30)


def running_agreement(tmp_path: Path):
    """The Krachtenbundeling signed, published and active; the work structure (due 31 May 2025) missed and on the
    ladder; an amendment of IPO open, with IenW's consent and three answers pending; a progress report, a sign-up
    and a confidential note; one message that failed for good. The clock stands at 2 June 2025, 10:00."""
    import datetime as dt

    from convenant import workflows
    from convenant.engine.agreements import read_data_file
    from tests.conftest import build_app

    app = build_app(f"sqlite:///{tmp_path / 'convenant.db'}", tmp_path, simulation="2025-03-20T12:00:00+01:00")
    service = app.service
    service.create_agreement(KB, read_data_file(workflows.example_file(service.workflow(KB))))
    send = app.dispatcher()
    service.fire(KB, "open_signing", actor="Secretariaat CE", role="secretariat")
    for party, name in (("ienw", "C.A. Jansen"), ("ipo", "R.F. Douwstra"), ("uvw", "S.E. Mager"),
                        ("vng", "M. Veeningen")):
        service.fire(KB, "sign", actor=name, role="party", party=party)
    service.fire(KB, "publish", actor="Secretariaat CE", role="secretariat", ref="Stcrt. 2025, 11512")
    service.advance_clock(dt.datetime.fromisoformat("2025-04-01T09:00:00+02:00"), dispatch=send)
    service.fire(KB, "report_progress", actor="Secretariaat CE", role="secretariat",
                 data={"theme": "inkoop", "status": "on_track", "text": "Inkoopcriteria vastgesteld"})
    service.fire(KB, "sign_up", actor="Secretariaat CE", role="secretariat",
                 data={"government": "Gemeente Apeldoorn", "layer": "municipality", "theme": "vth"})
    service.fire(KB, "add_note", actor="Secretariaat CE", role="secretariat", party="ipo",
                 data={"text": "Begrotingstekort provincie", "confidential": "yes"})
    service.advance_clock(dt.datetime.fromisoformat("2025-06-02T10:00:00+02:00"), dispatch=send)
    service.fire(KB, "request_amendment", actor="R.F. Douwstra", role="party", party="ipo", ref="IPO/2025/7",
                 data={"change": "Art. 4.2 komt te luiden: <script>alert(1)</script> de partijen rapporteren "
                                 "halfjaarlijks aan het DO."})
    service.fire(AMENDMENT, "consent", actor="C.A. Jansen", role="party", party="ienw", ref="IenW/2025/41")
    failed = next(r for r in app.queries.outbox("pending") + app.queries.outbox("sent"))
    app.outbox.mark_failed(failed["id"], "550 5.1.1 mailbox unavailable")
    logins = add_people(app, (
        ("secretariat", "Secretariaat CE", "secretariat", None), ("auditor", "Auditdienst Rijk", "auditor", None),
        ("ipo", "R.F. Douwstra", "party", "ipo"), ("vng", "M. Veeningen", "party", "vng"),
        ("administrator", "Functioneel beheer", "administrator", None)))
    return app, logins


@pytest.fixture(scope="module")
def running(tmp_path_factory) -> Iterator[Site]:
    """running_agreement(), served, for a whole test module (the pages are read, or acted on in order)."""
    _need_browser()
    app, logins = running_agreement(tmp_path_factory.mktemp("running"))
    url, server, thread = serve(app)
    try:
        yield Site(url, app, logins)
    finally:
        server.should_exit = True
        thread.join(30)
        app.store.dispose()


def context_for(browser, width: int, lang: str = "nl"):
    """A browser context at this width; CSP is bypassed only so that the tests can inject axe-core."""
    return browser.new_context(viewport={"width": width, "height": 900}, locale="nl-NL" if lang == "nl" else "en-GB",
                               bypass_csp=True, accept_downloads=True)


def sign_in_as(page, site: Site, who: str, lang: str = "nl") -> None:
    page.goto(f"{site.url}/sign-in?lang={lang}")
    page.fill("#email", site.logins[who])
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.click("#sign-in button[type=submit]")


def axe_violations(page) -> list[dict]:
    """axe-core's violations of WCAG 2.0/2.1 A and AA on the page as it is now."""
    page.add_script_tag(path=str(AXE))
    return page.evaluate("""async (tags) => {
        const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
        return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                            nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}));
    }""", WCAG_AA)


def widths(page) -> dict:
    return page.evaluate("() => ({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})")
