"""Turn an outbox payload into an email: Dutch or English text, one .ics per deadline.

One set of templates serves both languages: their text is English msgids translated through the gettext catalogs
(`convenant.i18n`, `convenant/locale`) into the payload's `lang`, and dates are written by Babel.

The payload is plain JSON written by the engine when it queued the notification, so rendering is a pure function
of (payload, sender, now): rendering the same payload twice gives the same message, with the same Message-ID, which
is what lets a retried or duplicated delivery be recognised downstream.

Everything that came from a user (titles, names, letter references, free text) is reduced to single lines before
it reaches a template, and the subject is flattened once more after rendering: no payload can add a header.
Confidential notes (Art. 5.9) are never read from the payload at all.
"""

from __future__ import annotations

import email.policy
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, TemplateNotFound, nodes

from convenant import i18n
from convenant.notifications.ics import DeadlineEvent, deadline_calendar

__all__ = [
    "DEFAULT_LANG",
    "LANGS",
    "TEMPLATES",
    "long_date",
    "message_bytes",
    "message_id",
    "one_line",
    "render_message",
    "render_subject",
]

TEMPLATES = frozenset(
    {"reminder", "missed", "escalation", "confirmation", "delivery_failed", "progress_escalation", "checkpoint"}
)
LANGS = i18n.LANGS
DEFAULT_LANG = i18n.DEFAULT_LANG
TEMPLATE_DIR = Path(__file__).parent / "templates"

# C0/C1 controls and the Unicode line/paragraph separators: any of them could end a header line somewhere.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_LINE_BREAK = re.compile(r"\r\n|[\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
# A subject whose last part (usually the agreement title) is empty would otherwise end in " -".
_TRAILING_SEPARATOR = re.compile(r"(?:\s+[-\u2013])+\s*$")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_-]+")
_DOMAIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")


def one_line(value: Any) -> str:
    """Collapse a user-supplied value to one line: line breaks and control characters become single spaces."""
    if value is None:
        return ""
    return " ".join(_CONTROL.sub(" ", str(value)).split())


def _paragraphs(value: Any) -> str:
    """Free text keeps its line breaks (normalised to LF) in the body, but loses every other control character."""
    if value is None:
        return ""
    lines = [one_line(line) for line in _LINE_BREAK.split(str(value))]
    return "\n".join(lines).strip("\n")


def long_date(value: date | str, lang: str = DEFAULT_LANG) -> str:
    """A date as a civil servant writes it: '3 april 2025' in Dutch, '3 April 2025' in English."""
    return i18n.format_date(value, lang)


def message_id(key: str, domain: str = "convenant.local") -> str:
    """A Message-ID derived from the idempotency key, so a re-sent duplicate carries the same id."""
    if not key:
        raise ValueError("payload field 'key' is required for the Message-ID")
    if not _DOMAIN.match(domain):
        raise ValueError(f"message_id_domain {domain!r} is not a valid domain")
    return f"<{hashlib.sha256(key.encode('utf-8')).hexdigest()[:32]}@{domain}>"


def _localized(value: Any, lang: str) -> str:
    """A {'nl': ..., 'en': ...} text of the payload in the wanted language (i18n.localized), on one line."""
    return one_line(i18n.localized(value, lang))


@dataclass(frozen=True)
class DeadlineView:
    """One deadline as templates and the calendar see it: already localised and flattened."""

    kind: str
    title: str
    due: date
    due_words: str
    article: str
    status: str
    status_words: str
    uid: str
    sequence: int


def _deadlines(payload: Mapping[str, Any], lang: str) -> list[DeadlineView]:
    raw = payload.get("deadlines") or []
    if not isinstance(raw, Sequence) or isinstance(raw, (str, bytes)):
        raise ValueError("payload field 'deadlines' must be a list")
    views = []
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping):
            raise ValueError(f"payload field 'deadlines[{i}]' must be an object")
        try:
            due = date.fromisoformat(str(item["due"]))
        except (KeyError, ValueError) as exc:
            raise ValueError(f"payload field 'deadlines[{i}].due' must be a date YYYY-MM-DD") from exc
        kind = one_line(item.get("kind")) or "deadline"
        status = one_line(item.get("status")) or "open"
        uid = one_line(item.get("uid")) or _fallback_uid(payload, kind)
        views.append(
            DeadlineView(
                kind=kind,
                title=_localized(item.get("title"), lang) or kind,
                due=due,
                due_words=long_date(due, lang),
                article=one_line(item.get("article")) or one_line(payload.get("article")),
                status=status,
                status_words=i18n.deadline_status(status, lang),
                uid=uid,
                sequence=_int(item.get("sequence", payload.get("sequence")), f"deadlines[{i}].sequence") or 0,
            )
        )
    return views


def _fallback_uid(payload: Mapping[str, Any], kind: str) -> str:
    """Only for payloads without a uid: stable per process and deadline kind, so updates replace the event."""
    seed = f"{one_line(payload.get('process_id'))}/{kind}"
    return f"{hashlib.sha256(seed.encode('utf-8')).hexdigest()[:32]}@convenant"


def _int(value: Any, field: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"payload field '{field}' must be an integer") from exc


@lru_cache(maxsize=1)
def _environment() -> Environment:
    """Plain-text templates: no HTML escaping, and a typo in a template fails loudly instead of printing nothing.
    Their words come from the catalogs, in the language of the context's `lang`."""
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=False,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    i18n.install(env)
    env.filters["long_date"] = long_date
    return env


@lru_cache(maxsize=64)
def _template(name: str, lang: str = DEFAULT_LANG) -> Template:
    """The template of that name, looked up once per process (the loader would otherwise stat the file for every
    message). Every language shares it: `lang` chooses nothing here, the context's `lang` picks the words."""
    return _environment().get_template(f"{name}.txt.j2")


def _block(template: Template, name: str, context: Mapping[str, Any]) -> str:
    return "".join(template.blocks[name](template.new_context(dict(context))))


@lru_cache(maxsize=64)
def _subject_names(template_name: str) -> tuple[tuple[str, tuple[str, ...] | None], ...]:
    """What a template's subject block reads, as (name, attributes): attributes where the block only tests the
    value and reads those attributes of it (`deadline.title if deadline`), None where it uses the value itself.
    A subject is a function of these alone."""
    env = _environment()
    source, _, _ = env.loader.get_source(env, template_name)  # type: ignore[union-attr]
    block = next(b for b in env.parse(source).find_all(nodes.Block) if b.name == "subject")
    narrow = {id(g.node) for g in block.find_all(nodes.Getattr)}
    narrow |= {id(c.test) for c in (*block.find_all(nodes.If), *block.find_all(nodes.CondExpr))}
    attrs: dict[str, set[str]] = {}
    for g in block.find_all(nodes.Getattr):
        if isinstance(g.node, nodes.Name):
            attrs.setdefault(g.node.name, set()).add(g.attr)
    names = list(block.find_all(nodes.Name))
    whole = {n.name for n in names if id(n) not in narrow}
    return tuple(sorted((name, None if name in whole or not attrs.get(name) else tuple(sorted(attrs[name])))
                        for name in {n.name for n in names}))


@lru_cache(maxsize=4096)
def _subject(template_name: str, lang: str, values: tuple[tuple[str, Any], ...]) -> str:
    """The subject block rendered once per language and distinct set of values it reads (the sweep sends the same
    reminder subject to many recipients): rendering a Jinja block costs more than everything else a subject needs."""
    context = {name: SimpleNamespace(**dict(value[1])) if isinstance(value, tuple) and value[:1] == (_ATTRS,)
               else value for name, value in values}
    context["lang"] = lang
    return _TRAILING_SEPARATOR.sub("", one_line(_block(_template_by_name(template_name), "subject", context)))


_ATTRS = object()  # marks a value given to the subject block as the attributes it reads


@lru_cache(maxsize=64)
def _template_by_name(template_name: str) -> Template:
    return _environment().get_template(template_name)


def _subject_values(template_name: str, context: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    out = []
    for name, attrs in _subject_names(template_name):
        if name not in context:
            continue
        value = context[name]
        if attrs is not None and value is not None:
            value = (_ATTRS, tuple((a, getattr(value, a)) for a in attrs))
        out.append((name, tuple(value) if isinstance(value, list) else value))
    return tuple(out)


@dataclass(frozen=True)
class Rendered:
    """The localised parts of one message; `lang` is the language actually used after any fallback."""

    lang: str
    subject: str
    body: str
    deadlines: list[DeadlineView]
    context: dict[str, Any]


def _render(payload: Mapping[str, Any], *, body: bool = True, log: Mapping[str, Any] | None = None) -> Rendered:
    name = str(payload.get("template", ""))
    if name not in TEMPLATES:
        raise ValueError(f"payload field 'template' must be one of {sorted(TEMPLATES)}, not {name!r}")
    lang = i18n.language(payload.get("lang"))  # an unknown language is Dutch
    try:
        template = _template(name, lang)
    except TemplateNotFound as exc:
        raise ValueError(f"no template for {name!r}") from exc
    deadlines = _deadlines(payload, lang)
    context: dict[str, Any] = {
        "lang": lang,
        "to_name": one_line(payload.get("to_name")),
        "to_addr": one_line(payload.get("to_addr")),
        "agreement_id": one_line(payload.get("agreement_id")),
        "agreement_title": one_line(payload.get("agreement_title")) or one_line(payload.get("agreement_id")),
        "process_id": one_line(payload.get("process_id")),
        "article": one_line(payload.get("article")),
        "level": _int(payload.get("level"), "level"),
        "level_name": _localized(payload.get("level_name"), lang),
        "expected": _localized(payload.get("expected"), lang),
        "text": _paragraphs(_localized_text(payload.get("text"), lang)),
        "days_left": _int(payload.get("days_left"), "days_left"),
        "trigger": one_line(payload.get("trigger")),
        "action": _localized(payload.get("trigger_label"), lang) or one_line(payload.get("trigger")),
        "state": _localized(payload.get("state"), lang),
        "actor": one_line(payload.get("actor")),
        "party_name": _localized(payload.get("party_name"), lang),
        "effective": _date_words(payload.get("effective"), lang, "effective"),
        "ref": one_line(payload.get("ref")),
        "theme": _localized(payload.get("theme"), lang),
        "failed_to": one_line(payload.get("failed_to")),
        "deadlines": deadlines,
        "deadline": deadlines[0] if deadlines else None,
        # the periodic checkpoint mail (template "checkpoint"), and what the log adds to every mail (render_message)
        "checkpoint_size": _int(payload.get("checkpoint_size"), "checkpoint_size"),
        "checkpoint_root": one_line(payload.get("checkpoint_root")),
        "checkpoint_time": _moment_words(payload.get("checkpoint_time"), lang),
        "log_size": _int((log or {}).get("size"), "log.size"),
        "log_receipt": bool((log or {}).get("receipt")),
        "log_receipt_on_request": bool((log or {}).get("receipt_on_request")),
        "log_seq": _int((log or {}).get("seq"), "log.seq"),
    }
    # Flattened again whatever the template did. The subject templates separate parts with an ASCII hyphen:
    # the stdlib folds a long header before a non-ASCII word with a doubled space, so fewer of those is better.
    subject = _subject(template.name, lang, _subject_values(template.name, context))
    text = template.render(context) if body else ""  # the outbox's subject line needs no body
    return Rendered(lang=lang, subject=subject, body=text, deadlines=deadlines, context=context)


def _date_words(value: Any, lang: str, field: str) -> str:
    if value is None or value == "":
        return ""
    try:
        return long_date(str(value), lang)
    except ValueError as exc:
        raise ValueError(f"payload field '{field}' must be a date YYYY-MM-DD") from exc


def _moment_words(value: Any, lang: str) -> str:
    if value is None or value == "":
        return ""
    try:
        return i18n.format_datetime(str(value), lang)
    except ValueError as exc:
        raise ValueError("payload field 'checkpoint_time' must be an ISO date-time") from exc


def _localized_text(value: Any, lang: str) -> Any:
    """Free text may be given per language like titles, but keeps its paragraphs."""
    return i18n.localized(value, lang) if isinstance(value, Mapping) else value


def render_subject(payload: Mapping[str, Any]) -> str:
    """The subject line alone, for the outbox listing; it never contains a line break."""
    return _render(payload, body=False).subject


def _calendar(deadline: DeadlineView, context: Mapping[str, Any], now: datetime) -> bytes:
    """One all-day VEVENT per deadline; its UID is the deadline's, so a later SEQUENCE updates the same event."""
    template = _template("_calendar", str(context["lang"]))
    ctx = {**context, "deadline": deadline}
    event = DeadlineEvent(uid=deadline.uid, due=deadline.due, summary=one_line(_block(template, "summary", ctx)),
                          description=_block(template, "description", ctx).strip(), status=deadline.status,
                          sequence=deadline.sequence, categories=(deadline.article,))
    return deadline_calendar([event], now=now)


def render_message(
    payload: Mapping[str, Any],
    *,
    sender: str,
    now: datetime,
    message_id_domain: str = "convenant.local",
    log: Mapping[str, Any] | None = None,
) -> EmailMessage:
    """Build the complete message for one recipient.

    `now` is the engine's clock (virtual in a simulation); it becomes the Date header and the DTSTAMP, so the
    message says when the engine sent it, not when the test or the machine ran.

    `log` is what the verifiable log adds (engine/log.py `LogService.witness`): the latest signed checkpoint, as
    the header `Convenant-Checkpoint` (origin, size, root) and the attachment `checkpoint.txt` (the signed note,
    what a party keeps as a witness), and for a confirmation the offline receipt of its record, `receipt.json`.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    to_addr = one_line(payload.get("to_addr"))
    try:
        Address(addr_spec=to_addr)
    except (ValueError, IndexError, TypeError) as exc:
        raise ValueError(f"payload field 'to_addr' is not an email address: {to_addr!r}") from exc
    rendered = _render(payload, log=log)

    msg = EmailMessage(policy=email.policy.default)
    msg["From"] = one_line(sender)
    msg["To"] = formataddr((rendered.context["to_name"], to_addr))
    msg["Subject"] = rendered.subject
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id(str(payload.get("key") or ""), message_id_domain)
    # RFC 3834: tells out-of-office responders not to answer an automatic notice.
    msg["Auto-Submitted"] = "auto-generated"
    # Quoted-printable keeps the body 7-bit, so no server needs 8BITMIME to carry "geëscaleerd".
    msg.set_content(
        rendered.body, charset="utf-8", cte="quoted-printable", headers=[f"Content-Language: {rendered.lang}"]
    )
    msg.make_mixed()
    for deadline in rendered.deadlines:
        # Bytes, not str: the email package would rewrite a text part's CRLF, and RFC 5545 requires CRLF.
        msg.add_attachment(
            _calendar(deadline, rendered.context, now),
            maintype="text",
            subtype="calendar",
            filename=f"{_SAFE_NAME.sub('_', deadline.kind)}.ics",
            params={"method": "PUBLISH", "charset": "utf-8"},
        )
    _attach_log(msg, log)
    # After make_mixed, which moves every Content-* header of the top level down into the text part.
    msg["Content-Language"] = rendered.lang
    return msg


def _attach_log(msg: EmailMessage, log: Mapping[str, Any] | None) -> None:
    """The checkpoint (header and checkpoint.txt) and the receipt (receipt.json) of the verifiable log."""
    note = (log or {}).get("checkpoint")
    if not isinstance(note, str) or not note:
        return
    msg["Convenant-Checkpoint"] = one_line(f"{log.get('origin', '')} {log.get('size', '')} "  # type: ignore[union-attr]
                                           f"{log.get('root', '')}")  # type: ignore[union-attr]
    # Bytes, so that the signed text reaches the reader exactly (the verifier also reads CRLF line ends as LF).
    msg.add_attachment(note.encode("utf-8"), maintype="text", subtype="plain", filename="checkpoint.txt",
                       params={"charset": "utf-8"})
    receipt = (log or {}).get("receipt")
    if receipt:
        import json
        msg.add_attachment(json.dumps(receipt, ensure_ascii=False, indent=2).encode("utf-8"),
                           maintype="application", subtype="json", filename="receipt.json")


def message_bytes(msg: EmailMessage) -> bytes:
    """The wire form: CRLF line endings throughout, as SMTP requires (servers refuse bare LF)."""
    return msg.as_bytes(policy=email.policy.SMTP)
