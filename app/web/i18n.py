"""The pages' side of translation (convenant.i18n is the mechanism): the page templates' Jinja2 environment, and the
labels of values the engine stores as words — roles, a trigger's parameters, option values — as msgids of the
catalogs. A definition's own label, where it gives one, comes first (convenant.i18n.localized)."""
from __future__ import annotations

import datetime as dt
from typing import Any

from jinja2 import pass_context

from convenant import i18n
from convenant.i18n import DEFAULT_LANG, LANGS, N_, format_date, format_datetime, gettext, localized

__all__ = ["DEFAULT_LANG", "FORM_EXPIRED", "LANGS", "LANGUAGE_NAMES", "error_title", "install", "option_label",
           "other_language", "param_label", "role_label", "value_label"]

# Each language by its own name, on the link that switches to it: the same on every page, so not translated.
LANGUAGE_NAMES = {"nl": "Nederlands", "en": "English"}

ROLES = {"secretariat": N_("secretariat"), "party": N_("party"), "auditor": N_("auditor (read only)"),
         "administrator": N_("administrator")}

PARAMS = {
    "extend": N_("Extend?"), "new_end": N_("New end date"), "change": N_("Proposed wording"),
    "subject": N_("Subject"), "government": N_("Government"), "layer": N_("Layer"), "theme": N_("Theme"),
    "commitments": N_("Commitments (numbers, like 1,3)"), "status": N_("Progress"), "text": N_("Progress note"),
    "continue": N_("Continue?"), "step": N_("Step"), "body": N_("Body that advises or decides"),
    "accede_name": N_("Acceding government"), "accede_group": N_("Group of the acceding government"),
    "accede_represented_by": N_("Acceding government represented by"), "leave": N_("Party that leaves"),
    "name": N_("Name"), "focus_points": N_("Focus points (at most three)"), "decision": N_("Decision"),
}

OPTIONS = {
    "yes": N_("yes"), "no": N_("no"), "on_track": N_("on track"), "stalled": N_("stalled"),
    "province": N_("province"), "water_board": N_("water board"), "municipality": N_("municipality"),
    "consent": N_("consent"), "refuse": N_("refusal"), "adopted": N_("adopted"), "rejected": N_("rejected"),
    "extended": N_("extended"), "not_extended": N_("not extended"), "continued": N_("continued"),
    "ended": N_("ended"), "end": N_("end"), "advice": N_("advice"), "decision": N_("decision"),
    "continue": N_("continue"), "expand": N_("expand"), "scale_down": N_("scale down"),
}


# An outbox message's status and kind, for people.
MAIL_STATUS = {"pending": N_("waiting to be sent"), "sent": N_("sent"), "failed": N_("failed")}
MAIL_KINDS = {"reminder": N_("reminder"), "escalation": N_("escalation"), "confirmation": N_("confirmation"),
              "delivery_failed": N_("delivery failed"), "notice": N_("notice"),
              "progress_escalation": N_("escalation")}


def mail_label(table: dict[str, str], value: Any, lang: str) -> str:
    msgid = table.get(str(value))
    return gettext(msgid, lang) if msgid else gettext("notification", lang)


# The title of an error page or box, by the kind of ConvenantError.
ERRORS = {"bad_input": N_("Bad input"), "not_allowed": N_("Not allowed"), "not_found": N_("Not found"),
          "conflict": N_("Changed meanwhile"), "error": N_("Error")}
FORM_EXPIRED = N_("The form has expired; reload the page.")


def error_title(kind: str, lang: str) -> str:
    return gettext(ERRORS.get(kind, ERRORS["error"]), lang)


def other_language(lang: str) -> str:
    """The language the pages' switch offers: the next one of LANGS."""
    return LANGS[(LANGS.index(lang) + 1) % len(LANGS)] if lang in LANGS else DEFAULT_LANG


def role_label(role: str, lang: str) -> str:
    msgid = ROLES.get(role)
    return gettext(msgid, lang) if msgid else role


def param_label(name: str, spec_label: Any, lang: str) -> str:
    """The definition's label of a trigger parameter, else the catalog's, else the parameter's name."""
    if spec_label:
        return localized(spec_label, lang, name)
    msgid = PARAMS.get(name)
    return gettext(msgid, lang) if msgid else name


def option_label(value: Any, lang: str) -> str:
    msgid = OPTIONS.get(str(value))
    return gettext(msgid, lang) if msgid else str(value)


def value_label(value: Any, lang: str) -> str:
    """A value an act carried, for people: a date in words, an option by its label, anything else as it is."""
    text = str(value)
    if len(text) == 10 and text[4:5] == "-" and text[7:8] == "-":
        try:
            return format_date(text, lang)
        except ValueError:
            return text
    return option_label(text, lang)


def install(env: Any) -> None:
    """The page templates' environment: the catalogs with trimmed `{% trans %}` blocks (convenant.i18n.install)
    and the filters `role`, `option`, `param` and `value` in the page's language (the context's `lang`)."""
    i18n.install(env, trimmed=True)

    def in_lang(label: Any) -> Any:
        return pass_context(lambda ctx, value: label(value, ctx.get("lang")))

    @pass_context
    def moment(ctx: Any, value: Any, empty: str = "—") -> str:
        """A moment the database keeps without its zone (UTC), in local time."""
        if not value:
            return empty
        when = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        return format_datetime(when, ctx.get("lang"), ctx.get("tz"))

    env.filters.update(role=in_lang(role_label), option=in_lang(option_label), value=in_lang(value_label),
                       param=pass_context(lambda ctx, name: param_label(name, None, ctx.get("lang"))),
                       mail_status=pass_context(lambda ctx, v: mail_label(MAIL_STATUS, v, ctx.get("lang"))),
                       mail_kind=pass_context(lambda ctx, v: mail_label(MAIL_KINDS, v, ctx.get("lang"))),
                       moment=moment)
    env.globals["language_names"] = LANGUAGE_NAMES
