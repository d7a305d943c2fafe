"""The one way convenant speaks Dutch (the default) or English, on pages and in mail.

Two kinds of text, one rule each:

- **Text written in code or templates** is an English message id, marked where it is written (`gettext(msg, lang)`,
  `N_()` in Python; `{% trans %}`, `_()` in Jinja2 templates) and translated through the gettext catalogs in
  `convenant/locale/{nl,en}/LC_MESSAGES/messages.po`, extracted and compiled with Babel (README, "Translation").
  An empty English translation means the message id as written.
- **Text that belongs to data** (a workflow definition's titles and labels, an agreement's theme titles, a body's
  name) is written in both languages beside the data, as a table `{ nl = "...", en = "..." }` (`Text`), because it
  changes with the definition, not with the code, and a definition must stay loadable on its own. `localized()` is
  the one helper that picks the language from such a table; `texts()` turns a message id into one, for payloads
  that are rendered later for recipients of either language.

Dates are written with Babel as a Dutch civil servant writes them ("21 maart 2025"), or in British English
("21 March 2025"); times in local time. Machine formats (JSON, CSV, .ics, mail headers) stay ISO 8601 and never
pass through here.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date as _babel_date
from babel.dates import format_time as _babel_time
from babel.dates import get_datetime_format
from babel.support import Translations

LANGS = ("nl", "en")
DEFAULT_LANG = "nl"
DOMAIN = "messages"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DEFAULT_TZ = ZoneInfo("Europe/Amsterdam")
# The CLDR locale behind each language: English dates are written day first, as in "21 March 2025".
_CLDR = {"nl": "nl_NL", "en": "en_GB"}

Text = dict[str, str]  # {"nl": ..., "en": ...}: text of a definition or an agreement, in both languages


def language(value: Any) -> str:
    """One of LANGS: the language asked for if it is one, Dutch otherwise."""
    return value if isinstance(value, str) and value in LANGS else DEFAULT_LANG


@lru_cache(maxsize=len(LANGS))
def translations(lang: str) -> Translations:
    """The compiled catalog of a language (read once). A missing catalog is an installation error, not a reason to
    show Dutch readers English."""
    path = LOCALE_DIR / language(lang) / "LC_MESSAGES" / f"{DOMAIN}.mo"
    with path.open("rb") as fh:
        return Translations(fh, domain=DOMAIN)


def _format(text: str, params: Mapping[str, Any]) -> str:
    return text % params if params else text


def gettext(message: str, lang: str, **params: Any) -> str:
    """`message` (an English msgid) in `lang`; `%(name)s` placeholders are filled from `params` after translation."""
    return _format(translations(language(lang)).gettext(message), params)


def N_(message: str) -> str:  # noqa: N802 - the name the extractor knows
    """Marks a msgid for extraction where it is only translated later, through a variable."""
    return message


def texts(message: str, **params: Any) -> Text:
    """A msgid in every language, for payloads rendered later in the recipient's language."""
    return {lang: gettext(message, lang, **params) for lang in LANGS}


def localized(value: Mapping[str, Any] | str | None, lang: str, fallback: str = "") -> str:
    """THE way to read a `{nl, en}` table of definition or agreement data: the wanted language, else Dutch, else
    any language given, else `fallback`. A plain string is the same in both languages."""
    if isinstance(value, Mapping):
        for candidate in (value.get(language(lang)), value.get(DEFAULT_LANG), *value.values()):
            if candidate:
                return str(candidate)
        return fallback
    return str(value) if value else fallback


def _as_date(value: dt.date | str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.datetime.fromisoformat(value).date() if len(value) > 10 else dt.date.fromisoformat(value)


def format_date(value: dt.date | str, lang: str) -> str:
    """'21 maart 2025' in Dutch, '21 March 2025' in English; `value` a date or an ISO date (ValueError if not)."""
    return _babel_date(_as_date(value), "long", locale=_CLDR[language(lang)])


def format_datetime(value: dt.datetime | str, lang: str, tz: dt.tzinfo | None = None) -> str:
    """A moment in local time (`tz`, Europe/Amsterdam by default): '21 maart 2025, 10:05'. A naive value is taken
    to be local time already."""
    moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)
    zone = tz or DEFAULT_TZ
    local = moment.astimezone(zone) if moment.tzinfo else moment.replace(tzinfo=zone)
    cldr = _CLDR[language(lang)]
    pattern = str(get_datetime_format("long", locale=cldr)).replace("'", "")
    return (pattern.replace("{0}", _babel_time(local, "short", tzinfo=zone, locale=cldr))
            .replace("{1}", _babel_date(local.date(), "long", locale=cldr)))


# The engine's own words for a deadline's status, which people read on pages and in mail.
DEADLINE_STATUS = {"open": N_("open"), "met": N_("met"), "missed": N_("missed"), "cancelled": N_("cancelled")}


def deadline_status(status: str, lang: str) -> str:
    msgid = DEADLINE_STATUS.get(status)
    return gettext(msgid, lang) if msgid else status


# -- Jinja2 ---------------------------------------------------------------------------------------------------------
def install(env: Any, *, trimmed: bool = False) -> None:
    """Give a Jinja2 environment the catalogs: `{% trans %}`, `_()`, `gettext()`, `ngettext()`, `pgettext()` in the
    language of the template variable `lang`, and the filters `date`, `datetime`, `text` and `deadline_status`. One
    environment serves every language; `trimmed` collapses the whitespace of `{% trans %}` blocks (pages, not
    mail, whose line breaks are part of the text). `tz`, if the context has it, is the zone of `datetime`."""
    from jinja2 import pass_context

    @pass_context
    def _gettext(ctx: Any, message: str) -> str:
        return translations(language(ctx.get("lang"))).gettext(message)

    @pass_context
    def _ngettext(ctx: Any, singular: str, plural: str, n: int) -> str:
        return translations(language(ctx.get("lang"))).ngettext(singular, plural, n)

    @pass_context
    def _pgettext(ctx: Any, context: str, message: str) -> str:
        return str(translations(language(ctx.get("lang"))).pgettext(context, message))

    @pass_context
    def _npgettext(ctx: Any, context: str, singular: str, plural: str, n: int) -> str:
        return translations(language(ctx.get("lang"))).npgettext(context, singular, plural, n)

    @pass_context
    def _date(ctx: Any, value: Any, empty: str = "—") -> str:
        return format_date(value, ctx.get("lang")) if value else empty

    @pass_context
    def _datetime(ctx: Any, value: Any, empty: str = "—") -> str:
        return format_datetime(value, ctx.get("lang"), ctx.get("tz")) if value else empty

    @pass_context
    def _text(ctx: Any, value: Any, fallback: str = "") -> str:
        return localized(value, ctx.get("lang"), fallback)

    @pass_context
    def _status(ctx: Any, value: str) -> str:
        return deadline_status(value, ctx.get("lang"))

    env.add_extension("jinja2.ext.i18n")
    env.policies["ext.i18n.trimmed"] = trimmed
    env.install_gettext_callables(_gettext, _ngettext, newstyle=True, pgettext=_pgettext, npgettext=_npgettext)
    env.filters.update(date=_date, datetime=_datetime, text=_text, deadline_status=_status)
