"""The one translation mechanism: the catalogs are complete and current, the helpers pick and write what a reader
of either language expects. Also the check the mail and page tests use: which English msgids (or Dutch
translations) a text still shows."""
from __future__ import annotations

import datetime as dt
import re
import shlex
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from jinja2 import Environment

from convenant import i18n

ROOT = Path(__file__).resolve().parents[2]
LOCALE = ROOT / "convenant" / "locale"
FIX = "see README.md, section Translation: pybabel extract, update, compile"


@cache
def catalog(lang: str) -> Catalog:
    with (LOCALE / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return read_po(fh, locale=lang)


def messages(lang: str) -> list:
    return [m for m in catalog(lang) if m.id]


def _key(value: str | tuple | list) -> str | tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else value


def _forms(value: str | tuple) -> list[str]:
    return list(value) if isinstance(value, (tuple, list)) else [value]


_PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]")
_EDGES = " \t.,:;!?()\"'–-—"


def _fragments(text: str) -> list[str]:
    """The literal words of a message, between its placeholders and line breaks."""
    parts = (p.strip(_EDGES) for chunk in _PLACEHOLDER.split(text) for p in chunk.split("\n"))
    return [p for p in parts if sum(ch.isalpha() for ch in p) >= 2]


@cache
def _vocabulary(lang: str) -> frozenset[str]:
    """Every word the catalog writes in `lang`: the msgids for English, the translations for Dutch."""
    texts = [form for m in messages("nl") for form in _forms(m.id if lang == "en" else m.string)]
    return frozenset(word for text in texts for word in re.findall(r"\w+", _PLACEHOLDER.sub(" ", text)))


@cache
def telltales(lang: str) -> tuple[tuple[str, str], ...]:
    """(fragment, msgid) pairs that betray a text as not written in `lang`: for Dutch, the English words of every
    msgid whose Dutch translation differs; for English, the Dutch words of every translation. A fragment the
    language itself writes somewhere betrays nothing: "record" in "Keten intact: 7 records", the Dutch word "met"
    beside the English status "met", "Status" in both."""
    own = _vocabulary(lang)
    out = []
    for m in messages("nl"):
        for fragment in (f for form in _forms(m.id if lang == "nl" else m.string) for f in _fragments(form)):
            if not set(re.findall(r"\w+", fragment)) <= own:
                out.append((fragment, m.id if isinstance(m.id, str) else m.id[0]))
    return tuple(dict.fromkeys(out))


def foreign_words(text: str, lang: str) -> list[tuple[str, str]]:
    """The telltales of the other language found in `text`, as whole words and with their case."""
    return [(fragment, msgid) for fragment, msgid in telltales(lang)
            if re.search(rf"(?<!\w){re.escape(fragment)}(?!\w)", text)]


# -- the catalogs ---------------------------------------------------------------------------------------------------
def test_every_msgid_has_a_dutch_translation() -> None:
    untranslated = [m.id for m in messages("nl") if m.fuzzy or not all(_forms(m.string))]
    assert untranslated == [], f"Dutch msgstr missing or fuzzy ({FIX})"
    assert len(messages("nl")) > 150


def test_translations_keep_the_placeholders_of_their_msgid() -> None:
    for lang in ("nl", "en"):
        problems = [(m.id, [str(e) for e in errors]) for m, errors in catalog(lang).check()]
        assert problems == []
    for m in messages("nl"):
        for msgid, msgstr in zip(_forms(m.id), _forms(m.string), strict=False):
            assert sorted(_PLACEHOLDER.findall(msgid)) == sorted(_PLACEHOLDER.findall(msgstr)), m.id


def test_english_catalog_has_the_same_msgids_as_the_dutch() -> None:
    assert {(m.id, m.context) for m in messages("en")} == {(m.id, m.context) for m in messages("nl")}


def test_catalogs_hold_exactly_the_messages_of_code_and_templates() -> None:
    """What `pybabel extract -F babel.cfg` finds now is what the .po files translate: nothing new is left
    untranslated, nothing removed lingers."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    found = {(message, context) for _, _, message, _, context in extract_from_dir(str(ROOT), method_map, options_map)}
    held = {(m.id, m.context) for m in messages("nl")}
    assert sorted(map(str, found - held)) == [], f"new messages not in the catalogs ({FIX})"
    assert sorted(map(str, held - found)) == [], f"messages no longer used ({FIX})"


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_compiled_catalog_is_current_with_its_po_file(lang: str) -> None:
    """The .mo files are committed (the wheel and a fresh checkout need no compile step); they must say what the
    .po says."""
    with (LOCALE / lang / "LC_MESSAGES" / "messages.mo").open("rb") as fh:
        compiled = {(_key(m.id), m.context): _key(m.string) for m in read_mo(fh) if m.id}
    expected = {(_key(m.id), m.context): _key(m.string) for m in messages(lang)
                if all(_forms(m.string)) and not m.fuzzy}
    # An entry that says its msgid changes nothing (compile writes untranslated plurals that way).
    assert _changes(compiled) == _changes(expected), f"run pybabel compile ({FIX})"
    if lang == "nl":
        assert len(_changes(compiled)) > 150


def _changes(entries: dict) -> dict:
    return {key: string for key, string in entries.items() if string != key[0]}


def test_the_check_finds_english_in_dutch_and_dutch_in_english() -> None:
    assert foreign_words("Geachte heer, mevrouw, Termijn verstreken", "nl") == []
    assert ("Kind regards", "Kind regards,") in foreign_words("Met vriendelijke groet,\nKind regards,", "nl")
    assert ("Met vriendelijke groet", "Kind regards,") in foreign_words("Met vriendelijke groet,", "en")
    assert foreign_words("Chain intact: 7 records", "en") == []      # "record" is a word of both
    assert foreign_words("Toestandsdiagram met de huidige status", "nl") == []   # "met" is Dutch too
    assert ("Deadline missed", "Deadline missed - %(agreement)s%(article)s") in foreign_words("Deadline missed", "nl")
    assert foreign_words("Recordings", "nl") == []                   # whole words only


# -- picking and writing ---------------------------------------------------------------------------------------------
def test_gettext_translates_and_fills_placeholders() -> None:
    assert i18n.gettext("Overview", "nl") == "Overzicht"
    assert i18n.gettext("Overview", "en") == "Overview"
    assert i18n.gettext("Dear %(name)s,", "nl", name="C.A. Jansen") == "Geachte C.A. Jansen,"
    assert i18n.gettext("Overview", "fr") == "Overzicht"            # an unknown language is Dutch
    assert i18n.gettext("not in any catalog", "nl") == "not in any catalog"


def test_texts_is_a_msgid_in_every_language() -> None:
    assert i18n.texts("working group %(theme)s", theme="Inkoop") == {"nl": "werkgroep Inkoop",
                                                                     "en": "working group Inkoop"}


def test_localized_is_the_one_way_to_read_definition_text() -> None:
    title = {"nl": "Ondertekening", "en": "Signing"}
    assert i18n.localized(title, "nl") == "Ondertekening"
    assert i18n.localized(title, "en") == "Signing"
    assert i18n.localized({"nl": "Alleen Nederlands"}, "en") == "Alleen Nederlands"
    assert i18n.localized({"en": "Only English"}, "nl") == "Only English"
    assert i18n.localized({}, "nl", "fallback") == "fallback"
    assert i18n.localized(None, "en", "sign") == "sign"
    assert i18n.localized("plain", "en") == "plain"


@pytest.mark.parametrize(("value", "lang", "words"), [
    ("2025-03-21", "nl", "21 maart 2025"),
    ("2025-03-21", "en", "21 March 2025"),
    (dt.date(2026, 7, 1), "nl", "1 juli 2026"),
    (dt.date(2027, 1, 1), "en", "1 January 2027"),
    (dt.datetime(2025, 5, 31, 23, 30, tzinfo=dt.UTC), "nl", "31 mei 2025"),
])
def test_dates_in_words(value, lang: str, words: str) -> None:
    assert i18n.format_date(value, lang) == words


def test_an_impossible_date_is_refused() -> None:
    with pytest.raises(ValueError):
        i18n.format_date("2025-02-30", "nl")


@pytest.mark.parametrize(("moment", "lang", "words"), [
    ("2025-03-21T09:05:00+00:00", "nl", "21 maart 2025, 10:05"),        # winter time: UTC+1
    ("2025-06-30T22:30:00+00:00", "nl", "1 juli 2025, 00:30"),           # summer time: UTC+2, the next day
    ("2025-06-30T22:30:00+00:00", "en", "1 July 2025, 00:30"),
    (dt.datetime(2025, 10, 26, 1, 30, tzinfo=dt.UTC), "nl", "26 oktober 2025, 02:30"),  # after the change back
])
def test_moments_in_local_time(moment, lang: str, words: str) -> None:
    assert i18n.format_datetime(moment, lang) == words


def test_moments_in_another_zone_and_naive_moments() -> None:
    assert i18n.format_datetime("2025-03-21T09:05:00+00:00", "en", ZoneInfo("Europe/London")) == \
        "21 March 2025, 09:05"
    assert i18n.format_datetime(dt.datetime(2025, 3, 21, 9, 5), "nl") == "21 maart 2025, 09:05"


def test_deadline_status_words() -> None:
    assert [i18n.deadline_status(s, "nl") for s in ("open", "met", "missed", "cancelled")] == \
        ["open", "voldaan", "verstreken", "vervallen"]
    assert i18n.deadline_status("met", "en") == "met"
    assert i18n.deadline_status("unheard_of", "nl") == "unheard_of"


def test_one_jinja_environment_speaks_the_language_of_its_context() -> None:
    env = Environment(autoescape=True)
    i18n.install(env, trimmed=True)
    template = env.from_string(
        "{% trans %}Sign\n   in{% endtrans %} · {{ _('Dear %(name)s,', name=who) }} · "
        "{{ ngettext('Deadline:', 'Deadlines:', n) }} · {{ day|date }} · {{ at|datetime }} · {{ title|text }} · "
        "{{ 'missed'|deadline_status }} · {{ none|date }}")
    context = {"who": "<b>Zoë</b>", "n": 2, "day": "2025-04-03", "at": "2025-04-03T06:00:00+00:00",
               "title": {"nl": "Publicatie", "en": "Publication"}, "none": None}
    assert template.render(lang="nl", **context) == (
        "Inloggen · Geachte &lt;b&gt;Zoë&lt;/b&gt;, · Termijnen: · 3 april 2025 · 3 april 2025, 08:00 · "
        "Publicatie · verstreken · —")
    assert template.render(lang="en", **context).startswith("Sign in · Dear &lt;b&gt;Zoë&lt;/b&gt;, · Deadlines:")
    assert "3 April 2025, 08:00 · Publication · missed" in template.render(lang="en", **context)
    assert "Inloggen" in template.render(**context)                    # no language given: Dutch


def test_the_readme_commands_reproduce_the_catalogs(tmp_path: Path) -> None:
    """README.md, section Translation, run as written on a copy of the sources: the catalogs come out as committed
    (apart from the extraction date), so the commands are the ones that made them."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("\n## Translation\n")
    section = readme[start:readme.index("\n## ", start + 5)]
    (block,) = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
    lines = [line for line in block.replace("\\\n", " ").splitlines() if line.strip() and not line.startswith("#")]
    assert [shlex.split(line)[:2] for line in lines] == [["pybabel", "extract"], ["pybabel", "update"],
                                                          ["pybabel", "compile"]]
    for folder in ("app", "engine", "notifications", "storage", "convenant"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "babel.cfg", tmp_path / "babel.cfg")
    pybabel = str(Path(sys.executable).with_name("pybabel"))
    for line in lines:
        subprocess.run([pybabel, *shlex.split(line)[1:]], cwd=tmp_path, check=True, capture_output=True)

    def same(path: Path) -> bytes:   # the extraction date and Babel's version may differ
        return re.sub(rb'"(POT-Creation-Date|Generated-By): [^"]*"', b"", path.read_bytes())

    def compiled(path: Path) -> dict:
        with path.open("rb") as fh:
            return {(_key(m.id), m.context): _key(m.string) for m in read_mo(fh) if m.id}
    made = tmp_path / "convenant" / "locale"
    for name in ("messages.pot", "nl/LC_MESSAGES/messages.po", "en/LC_MESSAGES/messages.po"):
        assert same(made / name) == same(LOCALE / name), f"{name} is not current ({FIX})"
    for lang in ("nl", "en"):
        name = f"{lang}/LC_MESSAGES/messages.mo"
        assert compiled(made / name) == compiled(LOCALE / name), f"{name} is not current ({FIX})"
