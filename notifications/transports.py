"""Deliver rendered messages: into a Maildir (development, simulations, tests) or over SMTP.

A transport only says how a delivery failed; the outbox dispatcher decides what to do about it. A
`TemporaryFailure` (a 4xx answer, a refused connection, a timeout) is worth retrying later; a `PermanentFailure`
(a 5xx answer, a rejected certificate) will fail the same way again and should be reported to the secretariat.
"""

from __future__ import annotations

import mailbox
import os
import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path
from typing import Any, Literal, Protocol

from convenant.notifications.render import message_bytes

__all__ = [
    "MaildirTransport",
    "PermanentFailure",
    "SmtpTransport",
    "TemporaryFailure",
    "Transport",
    "make_transport",
]

TlsMode = Literal["none", "starttls", "ssl"]
TLS_MODES: tuple[str, ...] = ("none", "starttls", "ssl")
DEFAULT_PORTS = {"none": 25, "starttls": 587, "ssl": 465}
DEFAULT_MAILDIR = "var/mail"


class TemporaryFailure(Exception):
    """Delivery failed for now; the same message may succeed on a later attempt."""


class PermanentFailure(Exception):
    """Delivery failed for good; retrying the same message will not help."""


class Transport(Protocol):
    """What the outbox dispatcher needs from a transport."""

    def send(self, msg: EmailMessage) -> None: ...


class MaildirTransport:
    """Writes each message as one file in `path/new`, where mail clients and tests can read it."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"MaildirTransport({str(self.path)!r})"

    def _maildir(self) -> mailbox.Maildir:
        # Created on first use, not at construction, so wiring the app never touches the disk. mailbox.Maildir
        # only creates cur/new/tmp when the top folder is new, so make all of them ourselves.
        for sub in ("cur", "new", "tmp"):
            (self.path / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
        return mailbox.Maildir(str(self.path), create=False)

    def send(self, msg: EmailMessage) -> None:
        try:
            # Bytes in the message's own policy (LF line endings), which is what Maildir files hold.
            self._maildir().add(msg.as_bytes())
        except OSError as exc:
            raise TemporaryFailure(f"cannot write to maildir {self.path}: {exc}") from exc


class SmtpTransport:
    """Sends over SMTP, one connection per message, so a broken connection never poisons the next delivery."""

    def __init__(
        self,
        host: str,
        port: int | None = None,
        tls: TlsMode = "none",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30,
        *,
        ssl_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
    ) -> None:
        if tls not in TLS_MODES:
            raise ValueError(f"mail.tls must be one of {', '.join(TLS_MODES)}, not {tls!r}")
        if username and password is None:
            raise ValueError("mail.username is set but no password was given (mail.password_env)")
        self.host = host
        self.port = DEFAULT_PORTS[tls] if port is None else int(port)
        self.tls: TlsMode = tls
        self.username = username
        self._password = password
        self.timeout = timeout
        self.ssl_context = ssl_context
        self.local_hostname = local_hostname

    def __repr__(self) -> str:  # never shows the password
        return f"SmtpTransport(host={self.host!r}, port={self.port}, tls={self.tls!r}, username={self.username!r})"

    def _context(self) -> ssl.SSLContext:
        return self.ssl_context or ssl.create_default_context()

    def _connect(self) -> smtplib.SMTP:
        if self.tls == "ssl":
            return smtplib.SMTP_SSL(
                self.host, self.port, local_hostname=self.local_hostname, timeout=self.timeout,
                context=self._context(),
            )
        return smtplib.SMTP(self.host, self.port, local_hostname=self.local_hostname, timeout=self.timeout)

    def send(self, msg: EmailMessage) -> None:
        sender = _envelope_sender(msg)
        recipients = _envelope_recipients(msg)
        data = message_bytes(msg)
        try:
            with self._connect() as smtp:
                if self.tls == "starttls":
                    smtp.starttls(context=self._context())
                if self.username:
                    smtp.login(self.username, self._password or "")
                refused = smtp.sendmail(sender, recipients, data)
        except smtplib.SMTPRecipientsRefused as exc:
            raise _from_codes(
                [code for code, _ in exc.recipients.values()], f"recipients refused: {_describe(exc.recipients)}"
            ) from exc
        except smtplib.SMTPResponseException as exc:
            # Covers a refused sender, refused data, failed login and a greeting other than 220.
            text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
            raise _from_codes([exc.smtp_code], f"{type(exc).__name__}: {exc.smtp_code} {text}") from exc
        except smtplib.SMTPNotSupportedError as exc:
            # The server lacks STARTTLS or AUTH: a configuration mismatch that retrying will not cure.
            raise PermanentFailure(f"{self.host}:{self.port}: {exc}") from exc
        except ssl.SSLCertVerificationError as exc:
            raise PermanentFailure(f"{self.host}:{self.port}: certificate not accepted: {exc}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            # Refused connections, timeouts, resets, DNS trouble, dropped connections: try again later.
            raise TemporaryFailure(f"{self.host}:{self.port}: {type(exc).__name__}: {exc}") from exc
        if refused:
            # Only reached with several recipients of which some were accepted; the outbox sends one per message.
            raise _from_codes([code for code, _ in refused.values()], f"recipients refused: {_describe(refused)}")


def _from_codes(codes: list[int], message: str) -> TemporaryFailure | PermanentFailure:
    """5xx on every count is permanent; anything else (4xx, odd codes) may pass later."""
    if codes and all(500 <= code <= 599 for code in codes):
        return PermanentFailure(message)
    return TemporaryFailure(message)


def _describe(refused: Mapping[str, tuple[int, bytes]]) -> str:
    return "; ".join(
        f"{addr}: {code} {text.decode('utf-8', 'replace') if isinstance(text, bytes) else text}"
        for addr, (code, text) in refused.items()
    )


def _envelope_sender(msg: EmailMessage) -> str:
    addresses = getaddresses([str(msg.get("From", ""))])
    if not addresses or not addresses[0][1]:
        raise PermanentFailure("message has no From address")
    return addresses[0][1]


def _envelope_recipients(msg: EmailMessage) -> list[str]:
    headers = [str(value) for field in ("To", "Cc") for value in msg.get_all(field, [])]
    recipients = [addr for _, addr in getaddresses(headers) if addr]
    if not recipients:
        raise PermanentFailure("message has no recipient")
    return recipients


def make_transport(mail_config: Mapping[str, Any], *, base_dir: str | os.PathLike[str] | None = None) -> Transport:
    """Build the transport named by the `[mail]` table of config.toml.

    Keys of the transport that is not chosen are ignored. A relative Maildir path is taken relative to
    `base_dir` (the config file's folder, say) when given, else to the working directory.
    """
    kind = mail_config.get("transport", "maildir")
    if kind == "maildir":
        path = Path(str(mail_config.get("path") or DEFAULT_MAILDIR))
        if base_dir is not None and not path.is_absolute():
            path = Path(base_dir) / path
        return MaildirTransport(path)
    if kind == "smtp":
        host = mail_config.get("host")
        if not host or not isinstance(host, str):
            raise ValueError("mail.host is required for the smtp transport")
        tls = mail_config.get("tls", "none")
        if tls not in TLS_MODES:
            raise ValueError(f"mail.tls must be one of {', '.join(TLS_MODES)}, not {tls!r}")
        port = mail_config.get("port")
        if port is not None and (isinstance(port, bool) or not str(port).isdigit() or not 0 < int(port) < 65536):
            raise ValueError(f"mail.port must be a port number, not {port!r}")
        password: str | None = None
        password_env = mail_config.get("password_env")
        if password_env:
            if password_env not in os.environ:
                raise ValueError(f"mail.password_env names {password_env!r}, which is not set in the environment")
            password = os.environ[password_env]
        username = mail_config.get("username") or None
        if username and password is None:
            raise ValueError("mail.password_env is required when mail.username is set")
        timeout = mail_config.get("timeout", 30)
        return SmtpTransport(
            host, int(port) if port is not None else None, tls, username, password, float(timeout)
        )
    raise ValueError(f"mail.transport must be 'maildir' or 'smtp', not {kind!r}")
