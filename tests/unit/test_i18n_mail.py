"""Every kind of mail, in every branch of its template, rendered in Dutch shows no English msgid and in English no
Dutch translation; and every sentence the mail templates hold is rendered by one of these payloads, so the check
covers them all."""
from __future__ import annotations

import re
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest
from babel.messages.extract import extract_from_dir

from convenant import i18n
from convenant.notifications.render import TEMPLATES, render_message
from tests.unit.test_i18n_catalog import foreign_words

NOW = datetime(2025, 3, 27, 9, 0, tzinfo=ZoneInfo("Europe/Amsterdam"))
TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "notifications" / "templates"

DEADLINE = {"kind": "publication", "due": "2025-04-03", "article": "Art. 5.5", "status": "open", "uid": "p@convenant",
            "title": {"nl": "Publicatie in de Staatscourant", "en": "Publication in the Government Gazette"}}
WORK = {"kind": "work_structure", "due": "2025-05-31", "article": "Art. 2.6", "status": "met", "uid": "w@convenant",
        "title": {"nl": "Nadere afspraken over de werkstructuur", "en": "Further agreements on the work structure"}}

# Each a variation of one part of the payload, so that together they walk every branch of every template.
VARIANTS: list[dict[str, Any]] = [
    {},
    {"deadlines": [DEADLINE, WORK]},
    {"deadlines": []},
    {"deadlines": [], "article": ""},
    {"deadlines": [dict(DEADLINE, article="")]},
    {"days_left": 0}, {"days_left": 1}, {"days_left": None},
    {"level": None}, {"level_name": None}, {"level": None, "level_name": None},
    {"theme": None}, {"failed_to": None}, {"text": None}, {"ref": ""}, {"to_name": ""}, {"expected": None},
    {"actor": ""}, {"party_name": None}, {"actor": "", "party_name": None}, {"state": None},
    {"trigger_label": None, "trigger": ""}, {"effective": None}, {"process_id": ""},
]
# What the verifiable log adds to a mail (engine/log.py LogService.witness): the checkpoint, a receipt or not.
NOTE = "convenant.example.org/log\n3\nAAAA\n\n— convenant.example.org/log AAAA\n"
LOG = {"checkpoint": NOTE, "size": 3, "root": "ab" * 32, "origin": "convenant.example.org/log"}
VARIANTS += [{"_log": LOG}, {"_log": {**LOG, "seq": 5, "receipt": {"record": {}}}},
             {"_log": {**LOG, "seq": 5, "receipt_on_request": True}}]


def payload(template: str, lang: str, **changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "template": template, "lang": lang, "key": f"k/{template}", "to_name": "C.A. Jansen",
        "to_addr": "jansen@ienw.example.nl", "agreement_id": "krachtenbundeling", "process_id": "krachtenbundeling",
        # data in both languages, as definitions and agreements carry it
        "agreement_title": {"nl": "Krachtenbundeling circulaire economie",
                            "en": "Joining forces on the circular economy"}[lang],
        "article": "Art. 5.5", "days_left": 7, "level": 2, "ref": "IENW/BSK-2025/1", "actor": "C.A. Jansen",
        "level_name": {"nl": "het Directeurenoverleg", "en": "the directors' consultation"},
        "expected": {"nl": "IenW publiceert het convenant.", "en": "IenW publishes the agreement."},
        "theme": {"nl": "Inkoop", "en": "Procurement"}, "failed_to": "ipo@example.org",
        "text": {"nl": "Postvak vol", "en": "Mailbox full"}, "trigger": "sign",
        "trigger_label": {"nl": "Ondertekening vastleggen", "en": "Record a signature"},
        "state": {"nl": "Ondertekend", "en": "Signed"}, "party_name": {"nl": "IPO", "en": "IPO"},
        "effective": "2025-03-20", "deadlines": [DEADLINE],
        "checkpoint_size": 3, "checkpoint_root": "ab" * 32, "checkpoint_time": "2025-03-27T09:00:00+01:00",
    }
    base.update(changes)
    return base


def readable(msg) -> str:
    """Everything of a message a person reads: subject, body, and each calendar event's summary and description."""
    parts = [str(msg["Subject"]), str(msg.get_body(("plain",)).get_content())]
    for part in msg.walk():
        if part.get_content_type() == "text/calendar":
            for event in icalendar.Calendar.from_ical(part.get_payload(decode=True)).walk("VEVENT"):
                parts += [str(event["SUMMARY"]), str(event["DESCRIPTION"])]
    return "\n".join(parts)


@cache
def rendered(lang: str) -> dict[tuple[str, int], str]:
    return {(template, i): readable(render_message(payload(template, lang, **{k: v for k, v in changes.items()
                                                                         if k != "_log"}),
                                                   sender="s@example.org", now=NOW, log=changes.get("_log")))
            for template in sorted(TEMPLATES) for i, changes in enumerate(VARIANTS)}


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_no_mail_shows_words_of_the_other_language(lang: str) -> None:
    leaks = {key: found for key, text in rendered(lang).items() if (found := foreign_words(text, lang))}
    assert leaks == {}


def test_dutch_mail_writes_dates_in_dutch_words_and_english_in_english() -> None:
    dutch, english = rendered("nl"), rendered("en")
    assert all("3 april 2025" in text for (template, i), text in dutch.items() if not VARIANTS[i].get("deadlines") == [])
    assert all("3 April 2025" in text for (template, i), text in english.items()
               if not VARIANTS[i].get("deadlines") == [])
    assert "20 maart 2025" in dutch[("confirmation", 0)] and "20 March 2025" in english[("confirmation", 0)]
    assert not any(re.search(r"\b2025-0[345]-\d\d\b", text) for text in [*dutch.values(), *english.values()])


def _sentences(lang: str) -> list[str]:
    """Each message of the mail templates in `lang` (both forms of a plural one)."""
    method_map = [("**.j2", "jinja2")]
    options = {"**.j2": {"trim_blocks": "true", "lstrip_blocks": "true"}}
    translations = i18n.translations(lang)
    found = []
    for _, _, message, _, _ in extract_from_dir(str(TEMPLATE_DIR), method_map, options):
        if isinstance(message, tuple):
            found += [translations.ngettext(message[0], message[1], n) for n in (1, 2)]
        else:
            found.append(translations.gettext(message))
    return sorted(set(found))


def _pattern(translation: str) -> re.Pattern[str]:
    literal = re.split(r"%\([a-z_]+\)[sd]", translation.replace("%%", "%"))
    return re.compile(".+?".join(re.escape(part) for part in literal), re.S)


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_these_payloads_render_every_sentence_of_the_mail_templates(lang: str) -> None:
    """So the check above has seen each one: a template branch no payload reaches would go unchecked."""
    text = "\n".join(rendered(lang).values())
    sentences = _sentences(lang)
    assert len(sentences) > 50
    assert [s for s in sentences if not _pattern(s).search(text)] == []
