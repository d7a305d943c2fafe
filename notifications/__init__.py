"""Notifications: render the engine's outbox payloads into real emails and deliver them.

The engine queues JSON-able payloads (see `render.render_message`); this package turns one payload into an
RFC 5322 message with a Dutch or English plain-text body and an iCalendar attachment per deadline, and hands it
to a transport (a Maildir for development and simulations, SMTP in production).
"""

from __future__ import annotations

from convenant.notifications.render import (
    TEMPLATES,
    long_date,
    message_bytes,
    message_id,
    render_message,
    render_subject,
)
from convenant.notifications.transports import (
    MaildirTransport,
    PermanentFailure,
    SmtpTransport,
    TemporaryFailure,
    Transport,
    make_transport,
)

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
