"""The start page per role, in Chromium: the secretariat sees what needs an act now, soonest first (the failed
message, the missed work structure with the rung it reached, the amendment with who has not answered) and records
the act from there; a party sees only its own and answers from there; an auditor sees the log's state and the
exports. Screenshots at 1280 and 375 px."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.browser.conftest import AMENDMENT, KB, Site, context_for, running_agreement, serve, shot, sign_in_as

pytestmark = pytest.mark.browser


@pytest.fixture
def fresh(tmp_path) -> Iterator[Site]:
    """running_agreement() of its own, for a test that acts."""
    from tests.browser.conftest import _need_browser

    _need_browser()
    app, logins = running_agreement(tmp_path)
    url, server, thread = serve(app)
    try:
        yield Site(url, app, logins)
    finally:
        server.should_exit = True
        thread.join(30)
        app.store.dispose()


def items(page) -> list[str]:
    return page.locator("#todo li.todo-item h3").all_inner_texts()


def test_the_secretariat_sees_what_needs_an_act_and_records_it_from_there(browser, fresh) -> None:
    context = context_for(browser, 1280)
    page = context.new_page()
    sign_in_as(page, fresh, "secretariat")
    assert page.url == fresh.url + "/"
    listed = items(page)
    # missed first (with the rung of the ladder it reached), then by due date; the amendment names who is silent
    assert listed[0] == "Nadere afspraken over de werkstructuur"
    first = page.locator("#todo li.todo-item").first
    assert "verstreken" in first.inner_text() and "31 mei 2025" in first.inner_text()
    assert "Geëscaleerd naar de verantwoordelijke partij en het secretariaat" in first.inner_text()
    response = page.locator(f"#todo li.todo-item[data-process='{AMENDMENT}']")
    assert "Reactie op wijzigingsverzoek" in response.inner_text()
    assert "Unie van Waterschappen" in response.inner_text() and "Vereniging van Nederlandse Gemeenten" in \
        response.inner_text() and "Interprovinciaal Overleg" not in response.inner_text().split("Nog niet")[1]
    # the consent form offers only the parties that have not answered
    choices = response.locator("form[data-trigger='consent'] select[name='party'] option").evaluate_all(
        "options => options.map(o => o.textContent)")
    assert choices[1:] == ["Unie van Waterschappen", "Vereniging van Nederlandse Gemeenten"]
    assert page.locator("#mail-heading").is_visible() and page.locator(".todo-mail li").count() == 1
    shot(page, "start-secretariat-1280")

    # record the work structure from the start page
    first.locator("details.action summary").click()
    first.locator("input[name='ref']").fill("DO 2025-06-02")
    with page.expect_navigation():
        first.locator("button[type=submit]").click()
    assert page.url.startswith(fresh.url + "/?done=record_work_structure")
    assert "Afspraken over de werkstructuur vastleggen" in page.locator("#done").inner_text()
    assert "Nadere afspraken over de werkstructuur" not in items(page)
    records = list(fresh.app.queries.history(KB))
    assert records[-1]["trigger"] == "record_work_structure" and records[-1]["ref"] == "DO 2025-06-02"
    assert records[-1]["actor"] == "Secretariaat CE"

    # send the failed message again
    failed = fresh.app.queries.outbox("failed")
    assert len(failed) == 1
    with page.expect_navigation():
        page.locator(".todo-mail button[type=submit]").click()
    assert fresh.app.queries.outbox("failed") == []
    assert any(r["id"] == failed[0]["id"] for r in fresh.app.queries.outbox("pending"))
    assert page.locator("#mail-heading").count() == 0
    context.close()

    narrow = context_for(browser, 375)
    page = narrow.new_page()
    sign_in_as(page, fresh, "secretariat")
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    shot(page, "start-secretariat-375")
    narrow.close()


def test_a_party_sees_only_its_own_and_answers_from_there(browser, fresh) -> None:
    context = context_for(browser, 375)
    page = context.new_page()
    sign_in_as(page, fresh, "vng")
    assert page.locator("h1").inner_text() == "Wat Vereniging van Nederlandse Gemeenten moet doen"
    todo = page.locator("#todo li.todo-item")
    assert todo.count() == 1     # the amendment it must answer; nothing of the secretariat's
    assert "Reactie op wijzigingsverzoek" in todo.inner_text() and "14 juli 2025" in todo.inner_text()
    assert page.locator("#todo select[name='party']").count() == 0       # a party answers for itself
    assert page.locator(".todo-mail").count() == 0
    shot(page, "start-party-375")
    todo.locator("details.action").filter(has_text="Schriftelijke instemming").locator("summary").click()
    form = todo.locator("form[data-trigger='consent']")
    form.locator("input[name='ref']").fill("VNG/2025/12")
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    assert "Schriftelijke instemming vastleggen" in page.locator("#done").inner_text()
    assert page.locator("#todo li.todo-item").count() == 0
    done = page.locator("#done-acts").inner_text()
    assert "Schriftelijke instemming vastleggen" in done and "VNG/2025/12" in done
    answers = fresh.app.queries.show(AMENDMENT)["decisions"][0]["answers"]
    assert answers["vng"]["answer"] == "consent" and answers["vng"]["ref"] == "VNG/2025/12"
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    shot(page, "start-party-after-375")
    context.close()


def test_an_auditor_sees_the_log_and_the_exports(browser, fresh) -> None:
    context = context_for(browser, 1280)
    page = context.new_page()
    sign_in_as(page, fresh, "auditor")
    verdict = page.locator("#verdict").inner_text()
    records = len(list(fresh.app.queries.history(KB)))
    assert f"Keten intact: {records} vastleggingen" in verdict
    assert page.locator("form.trigger-form").count() == 0
    log = fresh.app.queries.verify()["log"]
    checkpoint = page.locator("#checkpoint").inner_text()
    assert f"het laatste omvat {log['size']} vastleggingen" in checkpoint and log["root"] in checkpoint
    with page.expect_download() as info:
        page.click("#export-all-csv")
    assert open(info.value.path(), encoding="utf-8").read().startswith("seq,process,trigger")
    assert page.locator("a[href='/processes/krachtenbundeling/report.pdf']").count() == 1
    shot(page, "start-auditor-1280")
    context.close()
