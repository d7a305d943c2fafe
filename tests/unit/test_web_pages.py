"""The pages of issue 17 without a browser (TestClient): every page in Dutch shows no English message id and in
English no Dutch translation; the history says what each act said and names each escalation rung; the amendment
page shows the wording, the requester, the reference and the answers; refusals are sentences for people, not
command-line flags; a party's contacts are changed by the secretariat only and the change is in the history; a
failed message is sent again; the PDF report opens (pdftoppm renders it) and holds the records."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from convenant.app.web.auth import SESSION_COOKIE
from tests.browser.conftest import AMENDMENT, KB, running_agreement, sessions_of
from tests.unit.test_i18n_app import Visible, texts_of
from tests.unit.test_i18n_catalog import foreign_words


class Pages:
    def __init__(self, tmp_path: Path) -> None:
        from convenant.app.web.server import create_app

        self.app, logins = running_agreement(tmp_path)
        self.sessions = sessions_of(self.app, logins)
        self.client = TestClient(create_app(self.app, scheduler=False), follow_redirects=False)

    def get(self, path: str, who: str | None = "secretariat", lang: str | None = None):
        self.client.cookies.clear()
        if who:
            self.client.cookies.set(SESSION_COOKIE, self.sessions[who])
        return self.client.get(path + (("&" if "?" in path else "?") + f"lang={lang}" if lang else ""))

    def text(self, path: str, who: str | None = "secretariat", lang: str | None = None) -> str:
        return Visible.text(self.get(path, who, lang).text)

    def post(self, path: str, data: dict, who: str = "secretariat"):
        page = self.get(path.rsplit("/fire", 1)[0] if path.endswith("/fire") else path, who)
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        return self.client.post(path, data={"csrf": csrf, **data})

    def data(self) -> list[str]:
        """What the agreement's data and records say, shown as entered (in whatever language): left out before
        looking for words of the other language. Longest first."""
        root = self.app.queries.process(KB)
        strings = [root.title or "", *(p.name for p in root.parties.values()),
                   *(p.reservation for p in root.parties.values() if p.reservation)]
        for rec in self.app.queries.export():
            strings += [str(rec.get(k)) for k in ("actor", "reason", "ref") if rec.get(k)]
            strings += [str(v) for v in ((rec.get("data") or {}).get("params") or {}).values()]
        strings += texts_of(self.app.service.workflow(KB).model_dump())
        strings += [m["subject"] for m in self.app.queries.outbox()] + [m["to_name"] for m in self.app.queries.outbox()]
        return sorted({s for s in strings if s}, key=len, reverse=True)

    def without_data(self, text: str) -> str:
        for value in self.data():
            text = text.replace(" ".join(value.split()), " ")
        return text


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> Pages:
    site = Pages(tmp_path_factory.mktemp("pages"))
    yield site
    site.app.store.dispose()


NEW_PAGES = [("/", "secretariat"), ("/", "auditor"), ("/", "vng"), ("/outbox", "secretariat"),
             ("/outbox", "auditor"), ("/refusals", "secretariat"), ("/search?q=ipo", "secretariat"),
             ("/search?q=wijziging", "vng"), (f"/processes/{KB}/parties/ipo", "secretariat"),
             (f"/processes/{KB}/parties/vng", "vng"), ("/toegankelijkheid", None), ("/toegankelijkheid", "auditor"),
             (f"/processes/{KB}/report", "auditor"), (f"/processes/{KB}", "secretariat"),
             (f"/processes/{AMENDMENT}", "vng"), ("/history", "secretariat"), ("/agenda", "vng")]


@pytest.mark.parametrize(("path", "who"), NEW_PAGES)
def test_no_english_on_dutch_pages_and_no_dutch_on_english_ones(pages: Pages, path: str, who: str | None) -> None:
    dutch = pages.get(path, who)
    assert dutch.status_code == 200, path
    assert foreign_words(pages.without_data(Visible.text(dutch.text)), "nl") == []
    english = pages.get(path, who, lang="en")
    assert english.status_code == 200
    assert foreign_words(pages.without_data(Visible.text(english.text)), "en") == []
    assert not re.search(r"\b20\d\d-\d\d-\d\d\b", pages.without_data(Visible.text(dutch.text))), "ISO date for people"


def test_the_history_says_what_each_act_said_and_names_each_rung(pages: Pages) -> None:
    text = pages.text(f"/history?process={KB}")
    assert "Escalatie naar de verantwoordelijke partij en het secretariaat" in text
    assert "Voorleggen aan het Bestuurlijk Overleg" not in text          # that is the dispute's trigger
    assert "Termijn verstreken: Nadere afspraken over de werkstructuur" in text
    assert "Gemeente Apeldoorn" in text and "Vergunning, Toezicht en Handhaving" in text      # the sign-up
    assert "Sturen met eigen inkoopinstrumentarium" in text and "Voortgang op koers" in text   # the report
    assert "Inkoopcriteria vastgesteld" in text
    assert "on_track" not in text and "municipality" not in text and "Bestuurslaag gemeente" in text
    assert "Convenant ingevoerd (administratief, geen rechtshandeling)" in text
    assert "passed unmet" not in text and "bookkeeping" not in text         # the engine's English notes stay out
    english = pages.text(f"/history?process={KB}", lang="en")
    assert "Escalation to the responsible party and the secretariat" in english and "Progress on track" in english


def test_the_amendment_page_shows_what_is_asked_and_every_answer(pages: Pages) -> None:
    page = pages.get(f"/processes/{AMENDMENT}", "vng")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text and "<script>alert" not in page.text
    text = Visible.text(page.text)
    assert "Art. 4.2 komt te luiden:" in text and "halfjaarlijks aan het DO" in text
    assert "Aangevraagd door Interprovinciaal Overleg" in text and "IPO/2025/7" in text
    assert "Aangevraagd op 2 juni 2025" in text
    assert "Interprovinciaal Overleg het verzoek telt als instemming instemming 2 juni 2025 IPO/2025/7" in text
    assert "Staatssecretaris van Infrastructuur en Waterstaat ook voor Minister van Economische Zaken" in text
    assert "instemming 2 juni 2025 IenW/2025/41" in text
    pending = text.split("Nog niet geantwoord:")[1][:80]
    assert "Unie van Waterschappen" in pending and "Vereniging van Nederlandse Gemeenten" in pending
    assert 'data-trigger="consent"' in page.text and 'data-trigger="refuse"' in page.text


def test_a_refusal_is_a_sentence_for_people(pages: Pages) -> None:
    refused = pages.post(f"/processes/{KB}/fire", {"trigger": "report_progress", "param.theme": "vth"})
    assert refused.status_code == 400
    error = Visible.text(re.search(r'<p class="field-error[^"]*" id="report_progress-param-status-error">(.*?)</p>',
                                   refused.text, re.S).group(1))
    assert error == "Ongeldige invoer: Vul “Voortgang” in."
    late = pages.post(f"/processes/{KB}/fire", {"trigger": "record_work_structure", "ref": "x", "on": "2030-01-01"})
    assert "ligt na vandaag (2 juni 2025)" in Visible.text(late.text) and "--on" not in late.text
    rows = pages.text("/refusals")
    assert "Vul “Voortgang” in." in rows and "--set" not in rows and "--on" not in rows


def test_the_secretariat_changes_a_partys_contacts_and_the_history_says_so(tmp_path) -> None:
    site = Pages(tmp_path)
    try:
        path = f"/processes/{KB}/parties/vng"
        assert 'id="contacts-form"' not in site.get(path, "vng").text      # a party reads its own
        assert site.get(f"/processes/{KB}/parties/ipo", "vng").status_code == 403
        bad = site.post(path, {"name.0": "M. Veeningen", "email.0": "not-an-address", "language.0": "nl"})
        assert bad.status_code == 400 and "is geen e-mailadres" in Visible.text(bad.text)
        done = site.post(path, {"name.0": "M. Veeningen", "email.0": "vng@example.org", "language.0": "en",
                                "name.1": "A. de Vries", "email.1": "a.devries@example.org", "language.1": "nl",
                                "party_language": "en", "reason": "nieuwe contactpersoon"})
        assert done.status_code == 303
        party = site.app.queries.party(KB, "vng")
        assert [c["email"] for c in party["contacts"]] == ["vng@example.org", "a.devries@example.org"]
        assert party["contacts"][0]["language"] == "en" and party["language"] == "en"
        (rec,) = [r for r in site.app.queries.history(KB) if r["trigger"] == "update_contacts"]
        assert rec["party"] == "vng" and rec["actor"] == "Secretariaat CE" and rec["reason"] == "nieuwe contactpersoon"
        assert rec["data"]["contacts"]["before"] == [{"name": "M. Veeningen", "email": "vng@example.org",
                                                      "language": "nl"}]
        assert site.app.queries.verify()["intact"]
        text = site.text(f"/history?process={KB}")
        assert "a.devries@example.org" in site.get(f"/history?process={KB}").text and "Contactpersonen" in text
        forbidden = site.post(path, {"name.0": "X", "email.0": "x@example.org"}, who="vng")
        assert forbidden.status_code == 403
    finally:
        site.app.store.dispose()


def test_a_failed_message_is_sent_again_by_the_secretariat_only(tmp_path) -> None:
    site = Pages(tmp_path)
    try:
        (failed,) = site.app.queries.outbox("failed")
        page = site.get("/outbox?status=failed")
        assert f'action="/outbox/{failed["id"]}/resend"' in page.text
        assert "mailbox unavailable" in page.text and "mislukt" in Visible.text(page.text)
        assert 'action="/outbox/' not in site.get("/outbox?status=failed", "auditor").text
        assert site.get("/outbox", "vng").status_code == 403
        resent = site.post(f"/outbox/{failed['id']}/resend", {})
        assert resent.status_code == 303 and resent.headers["location"] == f"/outbox?resent={failed['id']}"
        row = next(r for r in site.app.queries.outbox() if r["id"] == failed["id"])
        assert row["status"] == "pending" and row["attempts"] == 0
        again = site.post(f"/outbox/{failed['id']}/resend", {})
        assert again.status_code == 409            # only a failed message is sent again
        assert any(r["trigger"] == "resend" for r in site.app.queries.refusals())
    finally:
        site.app.store.dispose()


def test_search_finds_agreements_parties_and_records(pages: Pages) -> None:
    text = pages.text("/search?q=Apeldoorn")
    assert "Gemeente Apeldoorn" in text and "Intekening van een decentrale overheid vastleggen" in text
    parties = pages.text("/search?q=waterschappen")
    assert "Unie van Waterschappen" in parties
    # a confidential note (Art. 5.9) is found by those who may read it, and by nobody else
    assert "Vastleggingen (1)" in pages.text("/search?q=Begrotingstekort", who="secretariat")
    assert "Vastleggingen (1)" in pages.text("/search?q=Begrotingstekort", who="ipo")
    hidden = pages.get("/search?q=Begrotingstekort", who="vng").text
    assert "Vastleggingen (0)" in Visible.text(hidden) and 'id="found"' not in hidden


def test_the_pdf_report_opens_and_holds_the_records(pages: Pages, tmp_path) -> None:
    for tool in ("pdftoppm", "pdftotext"):
        assert shutil.which(tool), f"{tool} is missing (apt-get install poppler-utils; .ci/run installs it)"
    response = pages.get(f"/processes/{KB}/report.pdf", "auditor")
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(response.content)
    assert response.content.startswith(b"%PDF-")
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page")],
                   check=True, timeout=60)
    rendered = list(tmp_path.glob("page*.png"))
    assert rendered and rendered[0].stat().st_size > 10_000
    artifacts = Path(__file__).resolve().parents[2] / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    shutil.copy(rendered[0], artifacts / "report-page-1.png")
    shutil.copy(pdf, artifacts / "report.pdf")
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    records = list(pages.app.queries.history(KB))
    flat = " ".join(text.split())
    assert "Krachtenbundeling Rijk-Regio Circulaire Economie 2025-2026" in flat and "Stcrt. 2025, 11512" in flat
    assert f"Keten intact: {len(records)} vastleggingen" in flat
    for rec in records:
        assert rec["hash"][:20] in text.replace("\n", "").replace(" ", ""), rec["seq"]
    assert "Escalatie naar de verantwoordelijke partij en het secretariaat" in flat
    assert pages.get(f"/processes/{KB}/report.pdf", None).status_code == 303     # signed in only
