"""Rendering: what a party reads, what its calendar imports, and what no payload can do to the headers."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest
from freezegun import freeze_time

from convenant.notifications.render import (
    TEMPLATES,
    long_date,
    message_bytes,
    message_id,
    render_message,
    render_subject,
)

AMS = ZoneInfo("Europe/Amsterdam")
NOW = datetime(2025, 3, 27, 9, 0, tzinfo=AMS)
SENDER = "Secretariaat CE <secretariaat@example.org>"
TITLE = "Convenant Krachtenbundeling circulaire economie"
SECRET = "GEHEIM-mededingingsgevoelig-5.9"


def payload(**changes: Any) -> dict[str, Any]:
    """A reminder for the real publication deadline (signed 20 March 2025, due 3 April 2025)."""
    base: dict[str, Any] = {
        "template": "reminder",
        "lang": "nl",
        "to_name": "C.A. Jansen",
        "to_addr": "jansen@ienw.example.nl",
        "key": "krachtenbundeling/publication/reminder/7/ienw",
        "agreement_id": "krachtenbundeling",
        "agreement_title": TITLE,
        "process_id": "krachtenbundeling",
        "article": "Art. 5.5",
        "expected": {
            "nl": "De Staatssecretaris van IenW publiceert het convenant in de Staatscourant.",
            "en": "The State Secretary for Infrastructure and Water Management publishes the agreement.",
        },
        "days_left": 7,
        "trigger": "publish",
        "state": "signed",
        "ref": "",
        "confidential_notes": [SECRET, {"text": SECRET}],
        "deadlines": [
            {
                "kind": "publication",
                "title": {"nl": "Publicatie in de Staatscourant", "en": "Publication in the Government Gazette"},
                "due": "2025-04-03",
                "article": "Art. 5.5",
                "status": "open",
                "uid": "krachtenbundeling-publication@convenant.local",
            }
        ],
    }
    base.update(changes)
    return base


def render(**changes: Any) -> EmailMessage:
    return render_message(payload(**changes), sender=SENDER, now=NOW)


def parsed(msg: EmailMessage) -> EmailMessage:
    """What a receiving mail client sees: the wire bytes parsed back."""
    back = email.message_from_bytes(message_bytes(msg), policy=email.policy.default)
    assert isinstance(back, EmailMessage)
    return back


def body(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


def calendars(msg: EmailMessage) -> list[tuple[EmailMessage, icalendar.Calendar]]:
    return [
        (part, icalendar.Calendar.from_ical(part.get_payload(decode=True)))
        for part in msg.walk()
        if part.get_content_type() == "text/calendar"
    ]


def test_dutch_subject_names_deadline_due_date_agreement_and_article() -> None:
    subject = render_subject(payload())
    assert subject.startswith("Herinnering")
    for words in ("Publicatie in de Staatscourant", "3 april 2025", TITLE, "Art. 5.5"):
        assert words in subject


def test_dutch_body_says_what_is_expected_of_whom_and_when() -> None:
    msg = parsed(render())
    text = body(msg)
    assert text.startswith("Geachte C.A. Jansen,")
    assert "Over 7 dagen, op 3 april 2025" in text
    assert "De Staatssecretaris van IenW publiceert het convenant in de Staatscourant." in text
    assert TITLE in text and "Art. 5.5" in text
    assert msg["Content-Language"] == "nl"
    assert msg["Subject"] == render_subject(payload())


def test_english_subject_and_body() -> None:
    msg = parsed(render(lang="en"))
    text = body(msg)
    assert msg["Subject"].startswith("Reminder: Publication in the Government Gazette due 3 April 2025")
    assert "is due in 7 days, on 3 April 2025" in text
    assert "The State Secretary for Infrastructure and Water Management publishes the agreement." in text
    assert text.startswith("Dear C.A. Jansen,")
    assert msg["Content-Language"] == "en"


def test_unknown_language_falls_back_to_dutch() -> None:
    msg = parsed(render(lang="fr"))
    assert msg["Content-Language"] == "nl"
    assert "3 april 2025" in body(msg)


@pytest.mark.parametrize("lang", ["nl", "en"])
@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_every_template_names_agreement_and_article(template: str, lang: str) -> None:
    msg = parsed(render(template=template, lang=lang, level=2, level_name="Directeurenoverleg CE overheden"))
    text = body(msg)
    assert msg["Subject"] and "\n" not in msg["Subject"]
    assert TITLE in text and "Art. 5.5" in text
    assert ("3 april 2025" if lang == "nl" else "3 April 2025") in text


@pytest.mark.parametrize("lang", ["nl", "en"])
@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_every_template_renders_a_minimal_payload(template: str, lang: str) -> None:
    minimal = {"template": template, "lang": lang, "to_addr": "a@example.nl", "key": "k"}
    msg = parsed(render_message(minimal, sender=SENDER, now=NOW))
    assert msg["Subject"] and not msg["Subject"].endswith("-")
    assert msg["To"] == "a@example.nl"
    assert calendars(msg) == []


def test_escalation_names_the_forum_and_level() -> None:
    p = payload(template="escalation", level=2, level_name="Directeurenoverleg CE overheden")
    assert "Directeurenoverleg CE overheden" in render_subject(p)
    assert "escalatieniveau 2" in body(render_message(p, sender=SENDER, now=NOW))


def test_deadline_title_given_as_plain_string_and_no_deadlines_at_all() -> None:
    plain = payload(deadlines=[dict(payload()["deadlines"][0], title="Werkafspraken")])
    assert "Werkafspraken" in render_subject(plain)
    msg = parsed(render(template="progress_escalation", deadlines=[], theme="Inkoop", level=1,
                        level_name="Werkgroep Inkoop"))
    assert msg.get_content_type() == "multipart/mixed"
    assert calendars(msg) == []
    assert "Inkoop" in msg["Subject"] and "Werkgroep Inkoop" in body(msg)


def test_unknown_template_and_bad_due_date_are_refused_naming_the_field() -> None:
    with pytest.raises(ValueError, match="template"):
        render_subject(payload(template="nonsense"))
    with pytest.raises(ValueError, match=r"deadlines\[0\]\.due"):
        render_subject(payload(deadlines=[{"kind": "x", "due": "3 april"}]))
    with pytest.raises(ValueError, match="to_addr"):
        render(to_addr="not an address")


@pytest.mark.parametrize(
    ("day", "lang", "words"),
    [
        (date(2025, 4, 3), "nl", "3 april 2025"),
        (date(2025, 4, 3), "en", "3 April 2025"),
        (date(2026, 7, 1), "nl", "1 juli 2026"),
        (date(2025, 5, 31), "en", "31 May 2025"),
        ("2027-01-01", "nl", "1 januari 2027"),
    ],
)
def test_dates_in_words(day: date | str, lang: str, words: str) -> None:
    assert long_date(day, lang) == words


def test_one_all_day_calendar_event_per_deadline() -> None:
    work_structure = {
        "kind": "work_structure",
        "title": {"nl": "Nadere afspraken over de werkstructuur", "en": "Work structure agreements"},
        "due": "2025-05-31",
        "article": "Art. 2.6",
        "status": "open",
        "uid": "krachtenbundeling-work_structure@convenant.local",
        "sequence": 3,
    }
    msg = parsed(render(deadlines=[payload()["deadlines"][0], work_structure]))
    found = calendars(msg)
    assert [part.get_filename() for part, _ in found] == ["publication.ics", "work_structure.ics"]
    for part, cal in found:
        assert part.get_param("method") == "PUBLISH"
        assert part.get_content_disposition() == "attachment"
        assert cal["VERSION"] == "2.0" and cal["PRODID"] and cal["METHOD"] == "PUBLISH"
    (_, publication), (_, work) = found
    event = publication.walk("VEVENT")
    assert len(event) == 1
    event = event[0]
    start = event["DTSTART"].dt
    assert type(start) is date and start == date(2025, 4, 3)
    assert event["DTEND"].dt == date(2025, 4, 4)
    assert event["UID"] == "krachtenbundeling-publication@convenant.local"
    assert event["SEQUENCE"] == 0
    assert event["DTSTAMP"].dt == NOW
    assert "Publicatie in de Staatscourant" in event["SUMMARY"]
    assert "3 april 2025" in event["DESCRIPTION"] and "Art. 5.5" in event["DESCRIPTION"]
    assert work.walk("VEVENT")[0]["DTSTART"].dt == date(2025, 5, 31)
    assert work.walk("VEVENT")[0]["SEQUENCE"] == 3


def test_calendar_file_itself_has_crlf_lines() -> None:
    ((part, _),) = calendars(parsed(render()))
    raw = part.get_payload(decode=True)
    assert b"DTSTART;VALUE=DATE:20250403\r\n" in raw
    assert re.search(rb"(?<!\r)\n", raw) is None


def test_date_header_is_the_engines_clock_not_the_machines() -> None:
    virtual_now = datetime(2026, 6, 30, 23, 30, tzinfo=AMS)
    with freeze_time("2030-01-01 12:00:00"):
        msg = parsed(render_message(payload(), sender=SENDER, now=virtual_now))
    assert msg["Date"] == format_datetime(virtual_now)
    assert parsedate_to_datetime(msg["Date"]) == virtual_now


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        render_message(payload(), sender=SENDER, now=datetime(2025, 3, 27, 9, 0))


def test_message_id_is_stable_per_key_and_unique_across_keys() -> None:
    first = render()["Message-ID"]
    later = render_message(payload(), sender=SENDER, now=NOW + timedelta(days=3))["Message-ID"]
    other = render(key="krachtenbundeling/publication/reminder/1/ienw")["Message-ID"]
    assert first == later == message_id(payload()["key"])
    assert first != other
    assert re.fullmatch(r"<[0-9a-f]{32}@convenant\.local>", first)
    custom = render_message(payload(), sender=SENDER, now=NOW, message_id_domain="mail.example.nl")
    assert custom["Message-ID"].endswith("@mail.example.nl>")


def test_headers() -> None:
    msg = parsed(render())
    assert msg["From"] == SENDER
    assert msg["To"] == '"C.A. Jansen" <jansen@ienw.example.nl>'
    assert msg.get_content_type() == "multipart/mixed"
    text_part = msg.get_body(("plain",))
    assert text_part is not None and text_part.get_content_charset() == "utf-8"


def test_wire_bytes_use_crlf_only() -> None:
    raw = message_bytes(render(text="Eerste regel\nTweede regel\rDerde regel"))
    assert b"\r\n" in raw
    assert re.search(rb"(?<!\r)\n", raw) is None
    assert re.search(rb"\r(?!\n)", raw) is None


INJECTION = "X\r\nBcc: x@y"


@pytest.mark.parametrize(
    "changes",
    [
        {"ref": INJECTION, "template": "confirmation"},
        {"to_name": INJECTION},
        {"agreement_title": INJECTION},
        {"level_name": INJECTION, "template": "escalation"},
        {"theme": INJECTION, "template": "progress_escalation"},
        {"trigger": INJECTION, "template": "confirmation"},
        {"ref": "X\nBcc: x@y\n\nbody", "template": "confirmation", "to_name": "A\rBcc: x@y"},
        {"agreement_title": "X\u2028Bcc: x@y", "ref": "X\x85Bcc: x@y", "template": "confirmation"},
    ],
)
def test_user_text_never_adds_a_header(changes: dict[str, Any]) -> None:
    msg = render(**changes)
    raw = message_bytes(msg)
    back = email.message_from_bytes(raw, policy=email.policy.default)
    assert back["Bcc"] is None
    assert "bcc" not in {name.lower() for name in back.keys()}
    assert not re.search(rb"^bcc:", raw, flags=re.IGNORECASE | re.MULTILINE)
    assert [addr.addr_spec for addr in back["To"].addresses] == ["jansen@ienw.example.nl"]
    assert "\n" not in back["Subject"] and "\r" not in back["Subject"]


def test_an_address_with_a_line_break_is_refused_not_sent() -> None:
    with pytest.raises(ValueError, match="to_addr"):
        render(to_addr="jansen@ienw.example.nl\r\nBcc: x@y")


def test_ref_stays_on_one_line_in_the_body() -> None:
    text = body(parsed(render(template="confirmation", ref="Stcrt. 2025,\r\n11512")))
    assert "Kenmerk: Stcrt. 2025, 11512\n" in text


def test_user_text_is_not_evaluated_as_a_template() -> None:
    msg = parsed(render(template="confirmation", ref="{{ 7 * 7 }} {% raw %}"))
    assert "{{ 7 * 7 }} {% raw %}" in msg["Subject"]


def test_confidential_notes_never_leave() -> None:
    for template in sorted(TEMPLATES):
        for lang in ("nl", "en"):
            msg = render(template=template, lang=lang)
            raw = message_bytes(msg)
            assert SECRET.encode() not in raw
            whole = parsed(msg)
            assert all(
                SECRET not in str(part.get_payload(decode=True) or b"", "utf-8")
                for part in whole.walk()
                if not part.is_multipart()
            )


def test_non_ascii_names_survive_the_round_trip() -> None:
    msg = parsed(render(to_name="Ms. Zoë Ørsted", agreement_title="Samenwerking Regio Stedendriehoek – coöperatie"))
    assert msg["To"].addresses[0].display_name == "Ms. Zoë Ørsted"
    assert "coöperatie" in msg["Subject"]
    assert "coöperatie" in body(msg)
    assert re.search(rb"[^\x00-\x7f]", message_bytes(render(to_name="Zoë"))) is None


def test_dtstamp_is_utc() -> None:
    ((_, cal),) = calendars(parsed(render()))
    stamp = cal.walk("VEVENT")[0]["DTSTAMP"].dt
    assert stamp.utcoffset() == timedelta(0) and stamp == NOW.astimezone(UTC)


@pytest.mark.parametrize("template", sorted(TEMPLATES))
@pytest.mark.parametrize("lang", ["nl", "en"])
def test_a_cached_subject_is_the_subject_rendered_afresh(template: str, lang: str) -> None:
    """render_subject renders a subject once per set of values it reads; it must equal a fresh rendering of the
    whole context, and payloads that differ in what it reads (here the title) must not share one."""
    from convenant.notifications import render as r

    variants = [payload(template=template, lang=lang),
                payload(template=template, lang=lang, level=2, level_name={"nl": "BO", "en": "BO"},
                        theme="ruimte", failed_to="x@example.org", trigger_label={"nl": "Tekenen", "en": "Sign"},
                        ref="IENW/BSK-2025/1"),
                payload(template=template, lang=lang, agreement_title="Ander convenant", article="Art. 9",
                        deadlines=[{"kind": "end", "title": {"nl": "Einde"}, "due": "2026-01-02",
                                    "article": "Art. 8", "uid": "a@b"}]),
                payload(template=template, lang=lang, deadlines=[])]
    for p in variants:
        rendered = r._render(p, body=False)
        template_obj = r._template(template, lang)
        fresh = r._TRAILING_SEPARATOR.sub("", r.one_line(r._block(template_obj, "subject", rendered.context)))
        assert render_subject(p) == rendered.subject == fresh
    assert render_subject(variants[0]) != render_subject(payload(template=template, lang=lang, agreement_title="B"))
    # what the subject does not read (recipient, uid, days left) shares the cached rendering
    other = payload(template=template, lang=lang, to_name="X", to_addr="x@example.org", days_left=1,
                    deadlines=[{**payload()["deadlines"][0], "uid": "other@convenant"}])
    assert render_subject(other) == render_subject(payload(template=template, lang=lang))
