"""Every page, for every role, in both languages, in a real Chromium: axe-core (vendored, tests/browser/vendor)
finds no violation of WCAG 2.0/2.1 A and AA; at 375 px no page scrolls sideways (the document is no wider than the
window); screenshots at 1280 and 375 px go to test-artifacts/, and the measurements to
test-artifacts/accessibility.json. Also the keyboard: the skip link is the first stop and leads to the content,
and the focus is visible."""
from __future__ import annotations

import json

import pytest

from tests.browser.conftest import AMENDMENT, ARTIFACTS, KB, axe_violations, context_for, shot, sign_in_as, widths

pytestmark = pytest.mark.browser

PAGES = {
    "secretariat": ["/", f"/processes/{KB}", f"/processes/{AMENDMENT}", f"/decisions/{AMENDMENT}", "/history",
                    f"/history?process={AMENDMENT}", "/agenda", "/outbox", "/refusals", "/search?q=ipo",
                    f"/processes/{KB}/parties/ipo", "/toegankelijkheid", f"/processes/{KB}/report", "/no-such-page"],
    "auditor": ["/", f"/processes/{KB}", f"/processes/{AMENDMENT}", f"/decisions/{AMENDMENT}", "/history",
                "/agenda", "/outbox", "/refusals", "/search?q=Jansen", f"/processes/{KB}/parties/vng",
                "/toegankelijkheid", f"/processes/{KB}/report"],
    "vng": ["/", f"/processes/{KB}", f"/processes/{AMENDMENT}", f"/decisions/{AMENDMENT}", "/history", "/agenda",
            "/search?q=wijziging", f"/processes/{KB}/parties/vng", "/toegankelijkheid", f"/processes/{KB}/report",
            "/outbox"],
    "administrator": ["/admin/users", "/toegankelijkheid"],
}
MEASURED: dict[str, dict] = {}
PROBLEMS: dict[str, list[str]] = {}


def name_of(path: str) -> str:
    return path.strip("/").replace("/", "_").replace("?", "_").replace("=", "-") or "start"


def check_page(page, site, path: str, label: str) -> list[str]:
    """Load the page, run axe, measure: the problems found, in words."""
    problems = []
    page.goto(site.url + path)
    found = axe_violations(page)
    for v in found:
        problems.append(f"{label} {path}: axe {v['id']} ({v['impact']}): {v['help']} at {v['nodes']}")
    size = widths(page)
    MEASURED.setdefault(label, {})[path] = {"violations": len(found), **size}
    if size["scroll"] > size["inner"]:
        problems.append(f"{label} {path}: {size['scroll']} px wide in a {size['inner']} px window")
    return problems


@pytest.mark.parametrize("lang", ["nl", "en"])
@pytest.mark.parametrize("who", list(PAGES))
def test_every_page_meets_wcag_aa_and_fits_a_phone(browser, running, who: str, lang: str) -> None:
    problems = []
    for width in (375, 1280):
        context = context_for(browser, width, lang)
        page = context.new_page()
        page.set_default_timeout(20000)
        sign_in_as(page, running, who, lang)
        for path in PAGES[who]:
            problems += check_page(page, running, path, f"{who}-{lang}-{width}")
            if lang == "nl" or path == "/":
                shot(page, f"a11y-{who}-{lang}-{width}-{name_of(path)}")
        context.close()
    PROBLEMS[f"{who}-{lang}"] = problems
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "accessibility.json").write_text(json.dumps({"measured": MEASURED, "problems": PROBLEMS}, indent=1),
                                                  encoding="utf-8")
    checked = sum(len(v) for k, v in MEASURED.items() if k.startswith(f"{who}-{lang}-"))
    assert checked == 2 * len(PAGES[who])
    assert problems == []


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_the_signed_out_pages_and_a_refused_form_meet_wcag_aa(browser, running, lang: str) -> None:
    problems = []
    for width in (375, 1280):
        context = context_for(browser, width, lang)
        page = context.new_page()
        problems += check_page(page, running, f"/sign-in?lang={lang}", f"anonymous-{lang}-{width}")
        page.fill("#email", "nobody@example.org")
        page.fill("#password", "not the password")
        with page.expect_navigation():
            page.click("#sign-in button[type=submit]")
        assert page.locator("#sign-in-error").is_visible()
        assert page.locator("#password").get_attribute("aria-describedby") == "sign-in-error"
        problems += [p for p in (f"login error: axe {v['id']}: {v['help']}" for v in axe_violations(page))]
        problems += check_page(page, running, "/toegankelijkheid", f"anonymous-{lang}-{width}")
        # a refused act: the error stands beside its field, tied to it, and the page still passes
        sign_in_as(page, running, "secretariat", lang)
        page.goto(f"{running.url}/processes/{KB}")
        page.locator("#action-record_work_structure summary").click()
        with page.expect_navigation():
            page.locator("#action-record_work_structure button[type=submit]").click()
        field = page.locator("#record_work_structure-ref")
        assert field.get_attribute("aria-invalid") == "true"
        assert "record_work_structure-ref-error" in field.get_attribute("aria-describedby")
        text = page.locator("#record_work_structure-ref-error").inner_text()
        assert "--ref" not in text and ("kenmerk" in text if lang == "nl" else "reference" in text)
        problems += [f"refused form {width}: axe {v['id']}: {v['help']} at {v['nodes']}" for v in axe_violations(page)]
        size = widths(page)
        assert size["scroll"] <= size["inner"], size
        shot(page, f"a11y-refused-form-{lang}-{width}")
        context.close()
    assert problems == []


def test_keyboard_skip_link_and_visible_focus(browser, running) -> None:
    context = context_for(browser, 1280)
    page = context.new_page()
    sign_in_as(page, running, "secretariat")
    page.goto(f"{running.url}/processes/{KB}")
    page.keyboard.press("Tab")
    first = page.evaluate("() => ({text: document.activeElement.textContent.trim(), "
                          "href: document.activeElement.getAttribute('href')})")
    assert first == {"text": "Direct naar de inhoud", "href": "#inhoud"}
    skip = page.locator(".nl-skip-link")
    assert skip.is_visible() and skip.bounding_box()["y"] >= 0       # shown while it has the focus
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "inhoud"
    page.keyboard.press("Tab")          # the next stop is inside the content, not the navigation
    inside = page.evaluate("() => !!document.activeElement.closest('#inhoud')")
    assert inside
    # headings in order: one h1, and no level skipped
    levels = page.evaluate("() => [...document.querySelectorAll('main h1, main h2, main h3, main h4')]"
                           ".map(h => +h.tagName[1])")
    assert levels.count(1) == 1 and all(b - a <= 1 for a, b in zip(levels, levels[1:], strict=False))
    context.close()
