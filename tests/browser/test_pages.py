"""The pages in a real Chromium: the secretariat records the four signatures and the publication through the
forms and sees the state change; an auditor finds no forms and exports the history. Screenshots of the main pages
go to test-artifacts/."""
from __future__ import annotations

import csv
import io
import json
import re

import pytest

from convenant.engine.views import show
from tests.browser.conftest import PASSWORD, shot

pytestmark = pytest.mark.browser


def sign_in(page, site, who: str) -> None:
    page.goto(site.url + "/")
    assert "/sign-in" in page.url
    page.fill("#email", site.logins[who])
    page.fill("#password", PASSWORD)
    page.click("#sign-in button[type=submit]")
    page.wait_for_url(site.url + "/")


def fire(page, trigger: str, **fields: str) -> None:
    details = page.locator(f"#action-{trigger}")
    if details.get_attribute("open") is None:
        details.locator("summary").click()
    form = details.locator("form")
    for name, value in fields.items():
        control = form.locator(f"[name='{name}']")
        if control.evaluate("e => e.tagName") == "SELECT":
            control.select_option(value)
        else:
            control.fill(value)
    with page.expect_navigation():
        form.locator("button[type=submit]").click()


def state(page) -> str:
    return page.locator("#state").get_attribute("data-state")


def test_secretariat_records_signatures_and_publication(page, site):
    sign_in(page, site, "secretariat")
    assert page.locator("#agreements").is_visible()
    assert "Concept" in page.locator("#agreements").inner_text()
    shot(page, "01-overview-draft")
    page.click("#agreements a[href='/processes/krachtenbundeling']")
    assert state(page) == "draft"
    # a form for each trigger the secretariat may fire now, and only those
    forms = page.locator("form.trigger-form").evaluate_all("fs => fs.map(f => f.dataset.trigger)")
    allowed = show(site.app.service, "krachtenbundeling", "secretariat")["allowed_triggers"]
    assert forms == allowed and "open_signing" in forms and "sign" not in forms
    fire(page, "open_signing")
    assert state(page) == "signing"
    assert page.locator("#done").is_visible()

    # a signature without the party is refused beside the party field, and changes nothing
    fire(page, "sign")
    error = page.locator("#action-sign .has-error .field-error")
    assert error.is_visible() and "Kies de partij" in error.inner_text() and "--party" not in error.inner_text()
    assert state(page) == "signing"
    shot(page, "02-agreement-error-beside-field")

    for party in ("ienw", "ipo", "uvw", "vng"):
        fire(page, "sign", party=party)
        assert page.locator(f"tr[data-party='{party}'] td.signed").inner_text() == "20 maart 2025"  # dates in words
    assert state(page) == "signed"
    # the represented ministries count as signed through ienw
    assert page.locator("tr[data-party='ez'] td.signed").inner_text() == "20 maart 2025"
    assert "21 maart 2025" in page.locator(".facts").inner_text()

    fire(page, "publish")  # no reference: refused beside the reference field
    assert page.locator("#action-publish .has-error #publish-ref").is_visible()
    fire(page, "publish", ref="Stcrt. 2025, 11512")
    assert state(page) == "published"
    assert "Stcrt. 2025, 11512" in page.locator(".facts").inner_text()
    # the diagram is an image rendered on the server, with the current state marked
    assert page.locator("#diagram").evaluate("img => img.complete && img.naturalWidth > 100")
    svg = page.request.get(site.url + "/diagrams/krachtenbundeling.svg")
    assert svg.ok and svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.text().count("#ffd54f") == 1
    assert re.search(r"<title>published</title>(?:(?!</g>).)*#ffd54f", svg.text(), re.S)
    shot(page, "03-agreement-published")

    page.click("header nav >> text=Historie")
    assert "Keten intact" in page.locator("#verdict").inner_text()
    assert page.locator("#timeline li").count() == 7  # create, open_signing, 4 signatures (the last one: signed), publish
    shot(page, "04-history")
    page.click("header nav >> text=Agenda")
    assert page.locator("#agenda").is_visible()
    assert "Nadere afspraken over de werkstructuur" in page.locator("#agenda").inner_text()
    shot(page, "05-agenda")
    page.goto(site.url + "/")
    shot(page, "06-overview-published")
    page.goto(site.url + "/?lang=en")
    assert "Published" in page.locator("#agreements").inner_text()
    page.goto(site.url + "/history")  # the language stays in its cookie
    assert "Chain intact" in page.locator("#verdict").inner_text()


def test_auditor_sees_no_forms_and_exports_history(page, site):
    service = site.app.service
    service.fire("krachtenbundeling", "open_signing", actor="Secretariaat", role="secretariat")
    service.fire("krachtenbundeling", "sign", actor="namens ipo", role="party", party="ipo")
    sign_in(page, site, "auditor")
    page.goto(site.url + "/processes/krachtenbundeling")
    assert state(page) == "signing"
    assert page.locator("form.trigger-form").count() == 0
    assert page.locator("#actions").inner_text().count("auditor") == 1
    shot(page, "07-agreement-auditor")
    page.goto(site.url + "/history?process=krachtenbundeling")
    assert "Keten intact" in page.locator("#verdict").inner_text()
    with page.expect_download() as info:
        page.click("#export-csv")
    rows = list(csv.DictReader(io.StringIO(open(info.value.path(), encoding="utf-8").read())))
    assert [r["trigger"] for r in rows] == ["create", "open_signing", "sign"]
    assert rows[2]["party"] == "ipo" and rows[2]["article"] == "Art. 5.3" and len(rows[2]["hash"]) == 64
    with page.expect_download() as info:
        page.click("#export-json")
    records = json.loads(open(info.value.path(), encoding="utf-8").read())
    assert [r["seq"] for r in records] == [1, 2, 3]
    shot(page, "08-history-auditor")
    # a hand-made POST without the form's CSRF token is refused too
    response = page.request.post(site.url + "/processes/krachtenbundeling/fire",
                                 form={"trigger": "sign", "party": "vng"})
    assert response.status == 403


def test_party_acts_for_itself_and_sees_the_decision_page(page, site):
    import datetime as dt

    service = site.app.service
    service.fire("krachtenbundeling", "open_signing", actor="Secretariaat", role="secretariat")
    sign_in(page, site, "ipo")
    page.goto(site.url + "/processes/krachtenbundeling")
    assert page.locator("#action-sign form [name='party']").count() == 0  # a party signs for itself only
    fire(page, "sign")
    assert page.locator("tr[data-party='ipo'] td.signed").inner_text() == "20 maart 2025"
    assert page.locator("#action-sign").count() == 0

    for party in ("ienw", "uvw", "vng"):
        service.fire("krachtenbundeling", "sign", actor="Secretariaat", role="secretariat", party=party)
    service.fire("krachtenbundeling", "publish", actor="Secretariaat", role="secretariat", ref="Stcrt. 2025, 11512")
    service.advance_clock(dt.datetime.fromisoformat("2025-04-01T09:00:00+02:00"))
    page.goto(site.url + "/processes/krachtenbundeling")
    fire(page, "request_amendment", ref="IPO-2025-7", **{"param.change": "Art. 4.2: nieuwe tekst"})
    created = page.locator("#done a")
    assert created.inner_text() == "krachtenbundeling/amendment-1"
    created.click()
    assert state(page) == "open"
    assert page.locator("#action-consent").count() == 0  # the request counts as the requester's consent
    page.goto(site.url + "/decisions/krachtenbundeling/amendment-1")
    decision = page.locator("section.decision").first
    assert "Interprovinciaal Overleg" in decision.locator("table.answers").inner_text()
    pending = decision.locator("ul.pending").inner_text()
    assert "Vereniging van Nederlandse Gemeenten" in pending and "Interprovinciaal Overleg" not in pending
    shot(page, "09-decision-amendment")
    page.goto(site.url + "/agenda")
    feeds = page.locator(".feeds a")
    href = feeds.first.get_attribute("href")
    assert feeds.count() == 1 and "/feeds/ipo.ics?key=cvf_" in href      # a feed secret: no token, no session
    assert page.context.cookies()[0]["value"] not in href
    ics = page.request.get(feeds.first.get_attribute("href"))
    assert ics.ok and "BEGIN:VEVENT" in ics.text() and "DTSTART;VALUE=DATE:" in ics.text()
