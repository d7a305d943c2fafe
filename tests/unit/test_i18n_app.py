"""The running application in both languages: the Krachtenbundeling taken from signing to a missed deadline and an
open amendment, then every main page read in Dutch (no English msgid left) and with ?lang=en (no Dutch
translation left), and every mail it sent read in its recipient's language (VNG's contact prefers English)."""
from __future__ import annotations

import datetime as dt
import mailbox
import re
from email import message_from_bytes, policy
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from convenant import workflows
from convenant.app.web.auth import SESSION_COOKIE
from tests.conftest import build_app
from tests.unit.test_i18n_catalog import foreign_words
from tests.unit.test_i18n_mail import readable

KB = "krachtenbundeling"
AMENDMENT = "krachtenbundeling/amendment-1"


class Visible(HTMLParser):
    """The text a person reads (or hears: alt and aria-label) on a page. Leaves out <code>, which shows the
    engine's own ids on purpose (a trigger's name beside its title)."""

    SKIP = {"code", "script", "style"}

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self.skipping += 1
        self.parts += [value for name, value in attrs if name in ("alt", "aria-label", "placeholder") and value]

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skipping -= 1

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)

    @classmethod
    def text(cls, html: str) -> str:
        parser = cls()
        parser.feed(html)
        return " ".join(" ".join(parser.parts).split())


def texts_of(value: Any) -> list[str]:
    """Every text of a {nl, en} table in a definition (its titles, labels, what is expected)."""
    if isinstance(value, dict):
        if value and set(value) <= {"nl", "en"}:
            return [str(v) for v in value.values()]
        return [t for v in value.values() for t in texts_of(v)]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in texts_of(v)]
    return []


class Site:
    def __init__(self, tmp_path: Path) -> None:
        from convenant.app.web.server import create_app
        from convenant.engine.agreements import read_data_file

        self.mail = tmp_path / "mail"
        self.app = build_app(f"sqlite:///{tmp_path / 'convenant.db'}", tmp_path,
                             simulation="2025-03-20T12:00:00+01:00")
        service = self.app.service
        data = read_data_file(workflows.example_file(service.workflow(KB)))
        for party in data["parties"]:
            if party["id"] == "vng":
                party["contacts"] = [dict(c, language="en") for c in party["contacts"]]
        service.create_agreement(KB, data)
        send = self.app.dispatcher()
        service.fire(KB, "open_signing", actor="Secretariaat", role="secretariat")
        for party in ("ienw", "ipo", "uvw", "vng"):
            service.fire(KB, "sign", actor="Secretariaat", role="secretariat", party=party)
        service.fire(KB, "publish", actor="Secretariaat", role="secretariat", ref="Stcrt. 2025, 11512")
        service.advance_clock(dt.datetime.fromisoformat("2025-04-01T09:00:00+02:00"), dispatch=send)
        service.fire(KB, "request_amendment", actor="R.F. Douwstra", role="party", party="ipo", ref="IPO/2025/7",
                     data={"change": "Art. 4.2: nieuwe tekst"})
        service.fire(KB, "report_progress", actor="Secretariaat", role="secretariat",
                     data={"theme": "inkoop", "status": "on_track"})
        # the work structure (due 31 May) is not recorded: missed, and the first rung of the ladder
        service.advance_clock(dt.datetime.fromisoformat("2025-06-02T10:00:00+02:00"), dispatch=send)
        people = (("secretariat", "Secretariaat CE", "secretariat", None), ("auditor", "Auditdienst Rijk", "auditor", None),
                  ("vng", "VNG", "party", "vng"))
        self.tokens = {who: self.app.accounts.create_token(name, role, party)["token"]   # the API's, for machines
                       for who, name, role, party in people}
        for who, name, role, party in people:
            self.app.accounts.add_user(name, f"{who}@example.org", role, party=party)
        self.sessions = {who: self.app.accounts.open_session(f"{who}@example.org", "test") for who, *_ in people}
        self.client = TestClient(create_app(self.app, scheduler=False))

    def page(self, path: str, who: str | None = "secretariat", lang: str | None = None) -> tuple[int, str, str]:
        self.client.cookies.clear()
        if who:
            self.client.cookies.set(SESSION_COOKIE, self.sessions[who])
        url = path + (("&" if "?" in path else "?") + f"lang={lang}" if lang else "")
        response = self.client.get(url)
        return response.status_code, response.text, Visible.text(response.text)

    def data(self) -> list[str]:
        """What the agreement's data and its records say (names, titles, stored reasons): shown as entered, in
        whatever language it was entered, so no sign of an untranslated page. Longest first, to strip them."""
        doc = self.client.get(f"/api/v1/processes/{KB}", headers={"Authorization": f"Bearer {self.tokens['auditor']}"})
        records = self.client.get("/api/v1/audit/export", headers={"Authorization": f"Bearer {self.tokens['auditor']}"})
        assert doc.status_code == records.status_code == 200
        strings = [doc.json()["title"], *(p["name"] for p in doc.json()["parties"])]
        strings += [str(r[k]) for r in records.json() for k in ("actor", "reason", "ref") if r.get(k)]
        strings += texts_of(self.app.service.workflow(KB).model_dump())   # titles of the definition
        return sorted(set(strings), key=len, reverse=True)

    def without_data(self, text: str) -> str:
        for value in self.data():
            text = text.replace(" ".join(value.split()), " ")
        return text

    def mails(self) -> list[Any]:
        return [message_from_bytes(m.as_bytes(), policy=policy.default) for m in mailbox.Maildir(self.mail)]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Site:
    site = Site(tmp_path_factory.mktemp("i18n"))
    yield site
    site.app.store.dispose()


PAGES = [
    ("/sign-in", None, 200),
    ("/", "secretariat", 200),
    (f"/processes/{KB}", "secretariat", 200),
    (f"/processes/{AMENDMENT}", "secretariat", 200),
    (f"/decisions/{AMENDMENT}", "secretariat", 200),
    ("/history", "secretariat", 200),
    ("/history?since=gisteren", "secretariat", 400),
    ("/agenda", "secretariat", 200),
    (f"/processes/{KB}", "auditor", 200),
    (f"/processes/{AMENDMENT}", "vng", 200),
    ("/agenda", "vng", 200),
    ("/no-such-page", "secretariat", 404),
]


@pytest.mark.parametrize(("path", "who", "status"), PAGES)
def test_dutch_pages_show_no_english_msgid(site: Site, path: str, who: str | None, status: int) -> None:
    code, html, text = site.page(path, who)
    assert code == status
    assert '<html lang="nl">' in html
    assert foreign_words(site.without_data(text), "nl") == []


@pytest.mark.parametrize(("path", "who", "status"), PAGES)
def test_english_pages_show_no_dutch_translation(site: Site, path: str, who: str | None, status: int) -> None:
    code, html, text = site.page(path, who, lang="en")
    assert code == status
    assert '<html lang="en">' in html
    assert foreign_words(site.without_data(text), "en") == []


def test_dates_on_pages_are_words_in_the_pages_language(site: Site) -> None:
    _, _, dutch = site.page(f"/processes/{KB}")
    _, _, english = site.page(f"/processes/{KB}", lang="en")
    assert "In werking sinds 21 maart 2025" in dutch and "In force since 21 March 2025" in english
    assert "Ondertekend op" in dutch and "20 maart 2025" in dutch and "20 March 2025" in english
    assert "31 mei 2025" in dutch and "verstreken" in dutch and "31 May 2025" in english
    for text in (dutch, english):
        assert not re.search(r"\b20\d\d-\d\d-\d\d\b", text), "no ISO date for people"
    _, _, history = site.page("/history")
    assert "Ingevoerd 20 maart 2025, 12:00" in history          # entry time in local time (UTC+1 in March)
    _, _, clock = site.page("/")
    assert "Klok: 2 juni 2025, 10:00 (simulatie)" in clock      # and the clock (UTC+2 in June)


def test_the_language_follows_the_cookie_and_the_switch_names_the_other_language(site: Site) -> None:
    site.client.cookies.clear()
    site.client.cookies.set(SESSION_COOKIE, site.sessions["secretariat"])
    first = site.client.get("/agenda?lang=en")
    assert 'hreflang="nl" lang="nl">Nederlands</a>' in first.text
    assert "lang=en" in first.headers["set-cookie"]
    assert "Calendar subscriptions" in Visible.text(site.client.get("/agenda").text)   # the cookie
    site.client.cookies.clear()
    site.client.cookies.set(SESSION_COOKIE, site.sessions["secretariat"])
    dutch = site.client.get("/agenda").text                                               # none: Dutch
    assert "Agenda-abonnementen" in Visible.text(dutch) and 'hreflang="en" lang="en">English</a>' in dutch


def test_a_refusal_on_a_dutch_page_is_titled_in_dutch(site: Site) -> None:
    site.client.cookies.clear()
    site.client.cookies.set(SESSION_COOKIE, site.sessions["secretariat"])
    page = site.client.get(f"/processes/{KB}")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    version = re.search(r'name="version" value="(\d+)"', page.text).group(1)
    refused = site.client.post(f"/processes/{KB}/fire", data={
        "trigger": "report_progress", "csrf": csrf, "version": str(int(version) - 1),
        "param.theme": "vth", "param.status": "on_track"})
    assert refused.status_code == 409
    text = Visible.text(refused.text)
    assert "Intussen gewijzigd" in text and "Iemand anders heeft dit proces intussen gewijzigd" in text


def test_every_mail_is_in_its_recipients_language(site: Site) -> None:
    mails = site.mails()
    english = [m for m in mails if m["Content-Language"] == "en"]
    dutch = [m for m in mails if m["Content-Language"] == "nl"]
    assert {str(m["To"]) for m in english} == {'"M. Veeningen" <vng@example.org>'}
    assert dutch and english and len(dutch) + len(english) == len(mails)
    kinds = {str(m["Subject"]).split(":")[0].split(" naar ")[0].split(" to ")[0] for m in mails}
    assert kinds == {"Herinnering", "Bevestiging", "Escalatie", "Reminder", "Confirmation", "Escalation"}
    for msg in dutch:
        assert foreign_words(readable(msg), "nl") == [], msg["Subject"]
    for msg in english:
        assert foreign_words(readable(msg), "en") == [], msg["Subject"]
    (rung,) = [m for m in english if str(m["Subject"]).startswith("Escalation to")]
    assert "the responsible party and the secretariat" in str(rung["Subject"])
    assert "Dear M. Veeningen," in readable(rung) and "passed on 31 May 2025" in readable(rung)
