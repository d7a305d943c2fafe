"""Issue 16 in a real Chromium: the secretariat opens a deadline's "why this date?" row, fills the "what if?" form
on the agreement page (VNG gives notice), and sees what would follow; the agreement page and the result page pass
axe-core at WCAG 2.0/2.1 A and AA and do not scroll sideways at 360 px; the database is unchanged."""
from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.browser.conftest import KB, _need_browser, axe_violations, running_agreement, serve, shot, widths

pytestmark = pytest.mark.browser


@dataclass
class Site:
    url: str
    app: object
    session: str        # the secretariat's session id (its cookie), opened on the server


@pytest.fixture(scope="module")
def rehearsal_site(tmp_path_factory) -> Iterator[Site]:
    _need_browser()
    folder = tmp_path_factory.mktemp("rehearsal-browser")
    app, tokens = running_agreement(folder)
    app.accounts.add_user("Secretariaat CE", "secretariaat-ce@example.org", "secretariat")
    session = app.accounts.open_session("secretariaat-ce@example.org", "password")
    url, server, thread = serve(app)
    try:
        yield Site(url, app, session)
    finally:
        server.should_exit = True
        thread.join(30)
        app.store.dispose()


def signed_in(browser, site: Site, width: int, lang: str):
    """A context at this width with the secretariat's session cookie (CSP bypassed only to inject axe-core)."""
    from convenant.app.web.auth import SESSION_COOKIE

    context = browser.new_context(viewport={"width": width, "height": 800}, bypass_csp=True,
                                  locale="nl-NL" if lang == "nl" else "en-GB")
    context.add_cookies([{"name": SESSION_COOKIE, "value": site.session, "url": site.url}])
    page = context.new_page()
    page.set_default_timeout(20000)
    return context, page


def database(site: Site) -> str:
    url = site.app.settings.database.url      # type: ignore[attr-defined]
    return hashlib.sha256(open(url.removeprefix("sqlite:///"), "rb").read()).hexdigest()


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_the_secretariat_rehearses_a_notice_on_a_phone(browser, rehearsal_site: Site, lang: str) -> None:
    site = rehearsal_site
    before = database(site)
    context, page = signed_in(browser, site, 360, lang)
    problems: list[str] = []
    page.goto(f"{site.url}/processes/{KB}?lang={lang}")
    why = page.locator('details.why[data-kind="publication"]')
    why.locator("summary").click()
    assert why.locator(".why-steps li").count() == 3
    expect_rule = ("laatste ondertekening + 14 dagen" if lang == "nl" else "last signature + 14 days")
    assert expect_rule in why.inner_text()
    size = widths(page)
    if size["scroll"] > size["inner"]:
        problems.append(f"agreement page {size['scroll']} px wide in a {size['inner']} px window")
    problems += [f"agreement page: axe {v['id']}: {v['help']} at {v['nodes']}" for v in axe_violations(page)]
    shot(page, f"rehearsal-agreement-{lang}-360")

    page.select_option("#whatif-0-trigger", "give_notice")
    page.select_option("#whatif-0-party", "vng")
    page.fill("#whatif-0-on", "2025-07-01")
    page.fill("#whatif-0-ref", "VNG/2025/9")
    page.fill("#whatif-until", "2025-09-30")
    with page.expect_navigation():
        page.click("#whatif-form button[type=submit]")
    assert page.locator("#whatif-result").is_visible()
    states = page.locator("#whatif-states").inner_text()
    assert "krachtenbundeling/termination-1" in states
    assert ("Besluit over voortzetting" if lang == "nl" else "Continuation decision") in states
    assert page.locator("#whatif-deadlines tr[data-kind='notice_period']").count() == 1
    assert page.locator("#whatif-mails tbody tr").count() > 0
    assert ("meer" if lang == "nl" else "more") in page.locator("#diff-mails").inner_text()
    size = widths(page)
    if size["scroll"] > size["inner"]:
        problems.append(f"result page {size['scroll']} px wide in a {size['inner']} px window")
    problems += [f"result page: axe {v['id']}: {v['help']} at {v['nodes']}" for v in axe_violations(page)]
    shot(page, f"rehearsal-result-{lang}-360")
    context.close()

    context, page = signed_in(browser, site, 1280, lang)
    page.goto(f"{site.url}/processes/{KB}?lang={lang}")
    problems += [f"agreement page at 1280: axe {v['id']}: {v['help']} at {v['nodes']}" for v in axe_violations(page)]
    context.close()
    assert problems == []
    assert database(site) == before          # the rehearsal wrote nothing
