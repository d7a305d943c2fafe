"""The agreement page's "why this date?" rows and the secretariat's "what if?" form (issue 16), without a browser
(TestClient): each deadline shows its article, rule, inputs with their record and the calendar steps, in Dutch and
with ?lang=en in English; the form is there for the secretariat only; its result page shows the states,
deadlines, mails and the difference; the database is the same, byte for byte, after it; a refusal says which
act and field, a missing CSRF token or another role is refused."""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from convenant.app.web.auth import SESSION_COOKIE
from tests.browser.conftest import KB, running_agreement
from tests.integration.test_whatif_cli import fingerprint

PEOPLE = {"secretariat": ("Secretariaat CE", "secretariaat-ce@example.org", "secretariat", None),
          "auditor": ("Auditdienst Rijk", "adr@example.org", "auditor", None),
          "vng": ("M. Veeningen", "m.veeningen@example.org", "party", "vng")}


def text_of(html: str) -> str:
    """The visible words of a page: no tags, no scripts, entities decoded, whitespace collapsed."""
    import html as h
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return " ".join(h.unescape(re.sub(r"<[^>]+>", " ", body)).split())


class Site:
    def __init__(self, tmp_path: Path) -> None:
        from convenant.app.web.server import create_app

        self.db = tmp_path / "convenant.db"
        self.mail = tmp_path / "mail"
        self.app, _ = running_agreement(tmp_path)
        self.sessions = {}
        for who, (name, email, role, party) in PEOPLE.items():
            self.app.accounts.add_user(name, email, role, party)
            self.sessions[who] = self.app.accounts.open_session(email, "password")
        self.client = TestClient(create_app(self.app, scheduler=False), follow_redirects=False)

    def get(self, path: str, who: str = "secretariat"):
        self.client.cookies.clear()
        self.client.cookies.set(SESSION_COOKIE, self.sessions[who])
        return self.client.get(path)

    def csrf(self, who: str = "secretariat") -> str:
        page = self.get(f"/processes/{KB}", who)
        return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)

    def rehearse(self, data: dict, who: str = "secretariat", lang: str = ""):
        csrf = self.csrf(who)
        return self.client.post(f"/processes/{KB}/whatif" + (f"?lang={lang}" if lang else ""),
                                data={"csrf": csrf, **data})

    def checksum(self) -> tuple[str, str]:
        return hashlib.sha256(self.db.read_bytes()).hexdigest(), fingerprint(f"sqlite:///{self.db}")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Site:
    s = Site(tmp_path_factory.mktemp("rehearsal"))
    yield s
    s.app.store.dispose()


def why_rows(html: str) -> dict[str, str]:
    """Each explanation row's visible text, by the deadline kind it explains."""
    return {m[1]: text_of(m[2]) for m in re.finditer(r'<details class="why" id="[^"]+" data-kind="([^"]+)">(.*?)'
                                                     r'</details>', html, flags=re.S)}


def test_every_deadline_row_explains_its_date_in_dutch(site: Site) -> None:
    page = site.get(f"/processes/{KB}")
    assert page.status_code == 200
    rows = why_rows(page.text)
    shown = re.findall(r'<tr class="utrecht-table__row(?: row-missed)?"><td class="utrecht-table__cell" '
                       r'data-label="Termijn">', page.text)
    assert len(rows) >= 3 and page.text.count('class="why"') == len(shown)
    sign = max(r["seq"] for r in site.app.queries.history(KB) if r["trigger"] == "sign")
    publication = rows["publication"]
    assert "Waarom deze datum?" in publication and "Artikel Art. 5.5" in publication
    assert "Regel van de definitie (Art. 5.5): laatste ondertekening + 14 dagen." in publication
    assert (f"laatste ondertekening: 20 maart 2025 (vastlegging {sign}: Ondertekening vastleggen door Vereniging "
            f"van Nederlandse Gemeenten op 20 maart 2025)") in publication
    assert "20 maart 2025 + 14 dagen = 3 april 2025." in publication
    assert "3 april 2025 is een donderdag; de termijn telt kalenderdagen" in publication
    assert "27 maart 2025, 08:00 · Herinnering: 7 dag(en) vóór de vervaldatum" in publication
    assert ("18 april 2025, 00:00 · Escalatie (Directeurenoverleg CE overheden (DO)): escalatieniveau 2, 14 dag(en) "
            "nadat de termijn is verstreken") in publication
    assert "Regel van de definitie (Art. 2.6): de vaste datum 31 mei 2025." in rows["work_structure"]
    assert "31 mei 2025 is een zaterdag" in rows["work_structure"]
    # the seq of each input is in the markup too, for who reads it
    assert f'data-seq="{sign}"' in page.text
    # no English and no ISO dates for people in the Dutch rows
    for kind, text in rows.items():
        assert not re.search(r"\b20\d\d-\d\d-\d\d\b", text), kind
        for english in ("Why this date", "due", "Rule of the definition", "days", "before the due date", "by vng"):
            assert not re.search(rf"(?<![\w.]){re.escape(english)}(?!\w)", text), (kind, english)


def test_the_explanations_in_english(site: Site) -> None:
    rows = why_rows(site.get(f"/processes/{KB}?lang=en").text)
    publication = rows["publication"]
    assert "Why this date?" in publication
    assert "Rule of the definition (Art. 5.5): last signature + 14 days." in publication
    assert "20 March 2025 + 14 days = 3 April 2025." in publication
    assert "Reminder: 7 day(s) before the due date" in publication
    assert "3 April 2025 is a Thursday" in publication
    site.get(f"/processes/{KB}?lang=nl")     # the language cookie back to Dutch for the other tests


def test_the_form_is_for_the_secretariat_only(site: Site) -> None:
    sec = site.get(f"/processes/{KB}").text
    assert 'id="whatif-form"' in sec and 'action="/processes/krachtenbundeling/whatif"' in sec
    assert 'name="act.0.trigger"' in sec and 'name="act.0.party"' in sec and 'name="act.0.on"' in sec
    assert 'name="act.0.set"' in sec and 'name="until"' in sec and "Wat als?" in sec
    assert '<option value="give_notice">' in sec and '<option value="vote_continuation">' in sec
    for who in ("vng", "auditor"):
        page = site.get(f"/processes/{KB}", who)
        assert page.status_code == 200 and "whatif" not in page.text, who
    # and the route itself: a party or an auditor is refused, and so is a post without the session's CSRF token
    for who in ("vng", "auditor"):
        res = site.rehearse({"act.0.trigger": "give_notice", "act.0.party": "vng", "until": "2025-09-30"}, who)
        assert res.status_code == 403, who
    site.get(f"/processes/{KB}")
    res = site.client.post(f"/processes/{KB}/whatif", data={"csrf": "forged", "act.0.trigger": "give_notice",
                                                              "until": "2025-09-30"})
    assert res.status_code == 403


def test_the_result_page_shows_what_follows_and_writes_nothing(site: Site) -> None:
    before = site.checksum()
    outbox = site.app.queries.outbox()
    maildir = sorted(p.name for p in site.mail.rglob("*") if p.is_file())
    res = site.rehearse({"act.0.trigger": "give_notice", "act.0.party": "vng", "act.0.on": "2025-07-01",
                         "act.0.ref": "VNG/2025/9", "act.1.trigger": "", "until": "2025-09-30"})
    assert res.status_code == 200, res.text[:2000]
    text = text_of(res.text)
    assert "Een proef op een kopie: er is niets vastgelegd en geen e-mail verstuurd." in text
    assert "Opzegging vastleggen · Vereniging van Nederlandse Gemeenten · 1 juli 2025" in text
    states = re.search(r'<table[^>]*id="whatif-states".*?</table>', res.text, flags=re.S)[0]
    assert "krachtenbundeling/termination-1 Opgezegd (opzegtermijn loopt) 1 juli 2025" in text_of(states)
    assert "Besluit over voortzetting 2 augustus 2025" in text_of(states)    # notice takes effect 1 August + 1
    deadlines = text_of(re.search(r'<table[^>]*id="whatif-deadlines".*?</table>', res.text, flags=re.S)[0])
    assert "Opzegtermijn 1 augustus 2025 voldaan nieuw" in deadlines
    assert "Besluit over voortzetting 30 augustus 2025" in deadlines
    mails = text_of(re.search(r'<table[^>]*id="whatif-mails".*?</table>', res.text, flags=re.S)[0])
    assert "Herinnering: Opzegtermijn uiterlijk 1 augustus 2025" in mails
    difference = text_of(re.search(r'<div id="whatif-difference">.*?</div>', res.text, flags=re.S)[0])
    assert "erbij: krachtenbundeling/termination-1 · Opgezegd (opzegtermijn loopt) · 1 juli 2025" in difference
    assert "Opzegtermijn: geen → 1 augustus 2025 (voldaan)" in difference
    assert re.search(r"E-mail: [1-9]\d* meer, 0 minder\.", difference)
    # the form again, with what was entered
    assert '<option value="give_notice" selected>' in res.text and 'value="2025-07-01"' in res.text
    # English on request
    english = text_of(site.rehearse({"act.0.trigger": "give_notice", "act.0.party": "vng", "act.0.on": "2025-07-01",
                                     "until": "2025-09-30"}, lang="en").text)
    assert "A rehearsal on a copy: nothing was recorded and no mail was sent." in english
    assert "Notice period: none → 1 August 2025 (met)" in english
    site.get(f"/processes/{KB}?lang=nl")
    assert site.checksum() == before
    assert site.app.queries.outbox() == outbox
    assert sorted(p.name for p in site.mail.rglob("*") if p.is_file()) == maildir      # no mail sent
    assert not any(c["id"].startswith(f"{KB}/termination") for c in site.app.queries.show(KB)["children"])


def test_a_refused_rehearsal_says_which_act_and_field(site: Site) -> None:
    before = site.checksum()
    bad_date = site.rehearse({"act.0.trigger": "give_notice", "act.0.party": "vng", "act.0.on": "2025-13-01",
                              "until": "2025-09-30"})
    assert bad_date.status_code == 400
    said = text_of(re.search(r'<p class="field-error" id="whatif-error".*?</p>', bad_date.text, flags=re.S)[0])
    assert said.startswith("Ongeldige invoer (handeling 1): ") and "Datum van de handeling" in said
    bad_set = site.rehearse({"act.1.trigger": "vote_continuation", "act.1.party": "ipo", "act.1.set": "continue",
                             "until": "2025-09-30"})
    assert bad_set.status_code == 400 and "(handeling 2)" in text_of(bad_set.text)
    nothing = site.rehearse({"until": "2025-09-30"})
    assert nothing.status_code == 400 and "(handeling 1)" in text_of(nothing.text)
    no_until = site.rehearse({"act.0.trigger": "give_notice", "act.0.party": "vng", "until": ""})
    assert no_until.status_code == 400 and "Doorrekenen tot en met" in text_of(no_until.text)
    refused = site.rehearse({"act.0.trigger": "consent", "act.0.party": "ienw", "act.0.ref": "X",
                             "until": "2025-09-30"})
    assert refused.status_code in (403, 409) and "(handeling 1)" in text_of(refused.text)
    assert site.checksum() == before


def test_no_words_of_the_other_language_in_the_explanations_and_the_form(site: Site) -> None:
    """The catalogs' telltales (tests/unit/test_i18n_catalog.py) in what this issue adds to the page: the
    explanation rows and the form, in Dutch and in English; the data (party names) left out."""
    from tests.unit.test_i18n_catalog import foreign_words
    root = site.app.queries.process(KB)
    wf = site.app.service.workflow(root.workflow)
    titles = [t for spec in wf.processes.values() for x in (spec.title, *(tr.title for tr in spec.triggers))
              for t in x.values()]        # the definition's own words (proper names like Bestuurlijk Overleg)
    data = sorted([root.title or "", *(p.name for p in root.parties.values()), *titles], key=len, reverse=True)
    for lang in ("nl", "en"):
        html = site.get(f"/processes/{KB}?lang={lang}").text
        parts = [text_of(m) for m in re.findall(r'<details class="why".*?</details>', html, flags=re.S)]
        parts.append(text_of(re.search(r'<section class="card whatif".*?</section>', html, flags=re.S)[0]))
        for text in parts:
            for value in data:
                text = text.replace(value, " ")
            assert foreign_words(text, lang) == [], (lang, text[:300])
    site.get(f"/processes/{KB}?lang=nl")
