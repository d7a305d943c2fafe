"""Notifications: render the engine's outbox payloads into real emails and deliver them.

The engine queues JSON-able payloads (see `render.render_message`); this package turns one payload into an
RFC 5322 message with a Dutch or English plain-text body and an iCalendar attachment per deadline, and hands it
to a transport (a Maildir for development and simulations, SMTP in production).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

# Loaded on first use (PEP 562), not when the package is: rendering pulls in Jinja2 and icalendar, which a command
# that sends no mail (`convenant show`) should not pay for; `from convenant.notifications import X` still works.
_WHERE = {name: "render" for name in ("TEMPLATES", "long_date", "message_bytes", "message_id", "render_message",
                                      "render_subject")}
_WHERE.update({name: "transports" for name in ("MaildirTransport", "PermanentFailure", "SmtpTransport",
                                               "TemporaryFailure", "Transport", "make_transport")})


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "TEMPLATES",
    "MaildirTransport",
    "PermanentFailure",
    "SmtpTransport",
    "TemporaryFailure",
    "Transport",
    "long_date",
    "make_transport",
    "message_bytes",
    "message_id",
    "render_message",
    "render_subject",
]
