"""Refusals in words for people who never saw the command line. The engine's messages name the flags of the
command line (`--set status=... is required for report_progress`) and its own ids, in English, because the
command line and the API are their readers; the pages say the same thing in the page's language, with the form's
labels, the parties' names, dates in words and the article. Each known message has a pattern here; one that has
none still gets a sentence in the page's language from the error's kind, field and article, never the English."""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from convenant.app.web.i18n import option_label
from convenant.engine.errors import ConvenantError
from convenant.i18n import N_, format_date, gettext

# What an act's date may not precede (a trigger's not_before facts), in words.
FACTS = {"last_signature": N_("the last signature"), "requested_on": N_("the request"),
         "notice_on": N_("the notice"), "extension_opened_on": N_("the opening of the extension decision")}

Labels = Callable[[str], str]       # a field's name -> its label on the form
Names = Callable[[str], str]        # a party id (or anything else) -> the name people know


def _date(text: str, lang: str) -> str:
    try:
        return format_date(text, lang)
    except ValueError:
        return text


# (pattern, msgid, how the groups become the msgid's parameters)
def _rules() -> list[tuple[re.Pattern[str], str, Callable[[re.Match[str], str, Labels, Names], dict[str, str]]]]:
    d = _date
    return [
        (re.compile(r"--set (\w+)=\.\.\. or --set (.+?)=\.\.\. is required"), N_("Fill in “%(field)s” or “%(other)s”."),
         lambda m, lang, label, name: {"field": label(m[1]), "other": label(m[2].split(" / ")[0])}),
        (re.compile(r"--set (\w+)=\.\.\. is required with the first '(\w+)'"),
         N_("Fill in “%(field)s”: the first “%(answer)s” must give it."),
         lambda m, lang, label, name: {"field": label(m[1]), "answer": option_label(m[2], lang)}),
        (re.compile(r"--set (\w+)=\.\.\. is required"), N_("Fill in “%(field)s”."),
         lambda m, lang, label, name: {"field": label(m[1])}),
        (re.compile(r"--party is required"), N_("Choose the party this act is for."), lambda m, lang, label, name: {}),
        (re.compile(r"--ref is required"),
         N_("Fill in the reference: the letter, decision or Staatscourant publication this act rests on."),
         lambda m, lang, label, name: {}),
        (re.compile(r"--on (\S+) is after today \((\S+)"),
         N_("The date of the act (%(on)s) lies after today (%(today)s)."),
         lambda m, lang, label, name: {"on": d(m[1], lang), "today": d(m[2], lang)}),
        (re.compile(r"--on (\S+) is before ([\w ]+) \((\S+)\)"),
         N_("The date of the act (%(on)s) lies before %(what)s (%(limit)s), which this act depends on."),
         lambda m, lang, label, name: {"on": d(m[1], lang), "limit": d(m[3], lang),
                                       "what": gettext(FACTS.get(m[2].replace(" ", "_"), m[2]), lang)}),
        (re.compile(r"^(\w+): '.*' is not a valid date"), N_("“%(field)s” is not a date."),
         lambda m, lang, label, name: {"field": label(m[1])}),
        (re.compile(r"^(\w+)='.*' is not one of"), N_("Choose one of the options for “%(field)s”."),
         lambda m, lang, label, name: {"field": label(m[1])}),
        (re.compile(r"^(\w+) is longer than (\d+) characters"), N_("“%(field)s” is longer than %(max)s characters."),
         lambda m, lang, label, name: {"field": label(m[1]), "max": m[2]}),
        (re.compile(r"^(\w+): .* is not a whole number"), N_("“%(field)s” must be a whole number."),
         lambda m, lang, label, name: {"field": label(m[1])}),
        (re.compile(r"^(\w+): at most (\d+) items"), N_("“%(field)s” takes at most %(max)s items."),
         lambda m, lang, label, name: {"field": label(m[1]), "max": m[2]}),
        (re.compile(r"commitments are numbers"), N_("Give the commitments as numbers, like 1,3."),
         lambda m, lang, label, name: {}),
        (re.compile(r"commitments: theme (\w+) has no commitment"),
         N_("The theme %(theme)s has no commitment with that number."),
         lambda m, lang, label, name: {"theme": name("theme:" + m[1])}),
        (re.compile(r"^(\w+): .* is not an email address"), N_("“%(field)s” is not an email address."),
         lambda m, lang, label, name: {"field": label(m[1])}),
        (re.compile(r"^(\S+) signed already on (\S+)"), N_("%(party)s signed already, on %(date)s."),
         lambda m, lang, label, name: {"party": name(m[1]), "date": d(m[2], lang)}),
        (re.compile(r"^(\S+) answered already \((\w+) on (\S+)\)"),
         N_("%(party)s answered already (%(answer)s, on %(date)s)."),
         lambda m, lang, label, name: {"party": name(m[1]), "answer": option_label(m[2], lang), "date": d(m[3], lang)}),
        (re.compile(r"^(\S+) has an open (\w+) already: (\S+)"),
         N_("%(party)s has an open procedure of this kind already (%(process)s)."),
         lambda m, lang, label, name: {"party": name(m[1]), "process": m[3]}),
        (re.compile(r"^too late: this was possible only before (\S+)"),
         N_("Too late: this was possible only before %(date)s."),
         lambda m, lang, label, name: {"date": d(m[1], lang)}),
        (re.compile(r"^(\S+) withdrew on (\S+) and has no say"),
         N_("%(party)s withdrew on %(date)s and has no say any more."),
         lambda m, lang, label, name: {"party": name(m[1]), "date": d(m[2], lang)}),
        (re.compile(r"^(\w+) was set to (\S+) by an earlier vote"),
         N_("An earlier vote set “%(field)s” to %(value)s; a later vote may only repeat it."),
         lambda m, lang, label, name: {"field": label(m[1]), "value": d(m[2], lang)}),
        (re.compile(r"^(\S+) acts only through its representative (\S+)"),
         N_("%(party)s acts only through its representative %(representative)s: record this act for "
            "%(representative)s (it counts for %(party)s)."),
         lambda m, lang, label, name: {"party": name(m[1]), "representative": name(m[2])}),
        (re.compile(r"^the role (\w+) may not"), N_("Your role may not record this act."),
         lambda m, lang, label, name: {}),
        (re.compile(r"^only (.+?) \(or the secretariat on its behalf\) may"),
         N_("Only %(who)s (or the secretariat on its behalf) may record this act."),
         lambda m, lang, label, name: {"who": ", ".join(name(p.strip()) for p in m[1].split(","))}),
        (re.compile(r"^only (\S+) may (\w+) this"), N_("Only %(party)s may record this act."),
         lambda m, lang, label, name: {"party": name(m[1])}),
        (re.compile(r"^a (.+?) may sign up only for (.+?), "),
         N_("This kind of government may sign up only for %(themes)s."),
         lambda m, lang, label, name: {"themes": ", ".join(name("theme:" + t) for t in m[2].split(" and "))}),
        (re.compile(r"^(.+) has signed up for (\w+) already"), N_("%(government)s has signed up for %(theme)s already."),
         lambda m, lang, label, name: {"government": m[1], "theme": name("theme:" + m[2])}),
        (re.compile(r"^(.+) has no sign-up for (\w+)"), N_("%(government)s has no sign-up for %(theme)s."),
         lambda m, lang, label, name: {"government": m[1], "theme": name("theme:" + m[2])}),
        (re.compile(r"^the (\w+) decision is not open"), N_("This decision is not open."),
         lambda m, lang, label, name: {}),
        (re.compile(r"^(\S+) has no say in this decision"), N_("%(party)s has no say in this decision (withdrawn)."),
         lambda m, lang, label, name: {"party": name(m[1])}),
        (re.compile(r"^unknown trigger '(\w+)'"), N_("“%(trigger)s” is not an act of this process."),
         lambda m, lang, label, name: {"trigger": m[1]}),
        (re.compile(r"is not allowed in state"), N_("This act is not possible in the current state."),
         lambda m, lang, label, name: {}),
        (re.compile(r"happens automatically"), N_("This happens automatically; nobody records it by hand."),
         lambda m, lang, label, name: {}),
        (re.compile(r"^auditors read"), N_("As an auditor you read everything and change nothing."),
         lambda m, lang, label, name: {}),
        (re.compile(r"is at version \d+, not \d+|was changed by someone else meanwhile"),
         N_("Someone else changed this process meanwhile; look at its new state and try again."),
         lambda m, lang, label, name: {}),
    ]


RULES = _rules()
FALLBACK = {"bad_input": N_("“%(field)s” is not filled in correctly."),
            "bad_input_nofield": N_("Something in the form is not filled in correctly."),
            "not_allowed": N_("This act is not allowed now."),
            "not_found": N_("This process does not exist."),
            "conflict": N_("Someone else changed this process meanwhile; look at its new state and try again."),
            "error": N_("Something went wrong; nothing was recorded.")}


def humane(exc: ConvenantError, lang: str, label: Labels, name: Names) -> str:
    """The refusal as a sentence in `lang`, with the article it rests on."""
    text = None
    for pattern, msgid, params in RULES:
        found = pattern.search(exc.message)
        if found:
            text = gettext(msgid, lang, **params(found, lang, label, name))
            break
    if text is None:
        if exc.kind == "bad_input":
            text = gettext(FALLBACK["bad_input"], lang, field=label(exc.field)) if exc.field else \
                gettext(FALLBACK["bad_input_nofield"], lang)
        else:
            text = gettext(FALLBACK.get(exc.kind, FALLBACK["error"]), lang)
    if exc.article and exc.article not in text:
        text += f" ({exc.article})"
    return text


def namer(names: dict[str, str], extra: Callable[[str], str] | None = None) -> Names:
    """Party ids to names; 'theme:ID' through `extra` (a theme's title)."""
    def name(value: str) -> str:
        if value.startswith("theme:"):
            return extra(value[6:]) if extra else value[6:]
        return names.get(value, value)
    return name


def field_labels(forms: list[dict[str, Any]], trigger: str, lang: str) -> Labels:
    """A field's label on the trigger's form ('param.status' and 'status' alike)."""
    labels: dict[str, str] = {}
    for form in forms:
        if form["trigger"] != trigger:
            continue
        for fld in form["fields"]:
            labels[fld["name"]] = fld["label"]
            labels[fld.get("key") or fld["name"]] = fld["label"]
    fixed = {"on": gettext("Date of the act", lang), "ref": gettext("Reference", lang),
             "party": gettext("Party", lang), "reason": gettext("Reason", lang)}

    def label(field: str | None) -> str:
        if not field:
            return ""
        return labels.get(field) or fixed.get(field) or labels.get(f"param.{field}") or field
    return label
