"""The SMTP transport against a real SMTP server (aiosmtpd) on 127.0.0.1: delivery, refusals, TLS.

No network and no sleeping: every server listens on a free local port, and the only wait is one short socket
timeout in the test that is about timeouts.
"""

from __future__ import annotations

import email
import email.policy
import shutil
import socket
import ssl
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from convenant.notifications.render import message_bytes, render_message
from convenant.notifications.transports import PermanentFailure, SmtpTransport, TemporaryFailure

HOST = "127.0.0.1"
NOW = datetime(2025, 3, 27, 9, 0, tzinfo=ZoneInfo("Europe/Amsterdam"))
PAYLOAD = {
    "template": "reminder",
    "lang": "nl",
    "to_name": "M. Veeningen",
    "to_addr": "veeningen@vng.example.nl",
    "key": "krachtenbundeling/publication/reminder/7/vng",
    "agreement_title": "Convenant Krachtenbundeling circulaire economie",
    "process_id": "krachtenbundeling",
    "article": "Art. 5.5",
    "days_left": 7,
    "text": ".\nA line that is only a dot must survive SMTP dot-stuffing.\n.",
    "deadlines": [
        {"kind": "publication", "title": {"nl": "Publicatie in de Staatscourant"}, "due": "2025-04-03",
         "article": "Art. 5.5", "status": "open", "uid": "krachtenbundeling-publication@convenant.local"}
    ],
}


def message() -> EmailMessage:
    return render_message(PAYLOAD, sender="Secretariaat CE <secretariaat@example.org>", now=NOW)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Recorder:
    """Accepts everything and keeps what arrived."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 OK"


@dataclass
class Refuse:
    """Answers one SMTP command with a fixed reply, as a real server refusing the message would."""

    command: str
    reply: str

    async def handle_MAIL(self, server: Any, session: Session, envelope: Envelope, address: str,
                          options: list[str]) -> str:
        if self.command == "MAIL":
            return self.reply
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Session, envelope: Envelope, address: str,
                          options: list[str]) -> str:
        if self.command == "RCPT":
            return self.reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        return self.reply if self.command == "DATA" else "250 OK"


ServerFactory = Callable[..., int]


@pytest.fixture
def smtp_server() -> Iterator[ServerFactory]:
    """Start aiosmtpd controllers on free ports; all are stopped after the test."""
    started: list[Controller] = []

    def start(handler: object, **kwargs: Any) -> int:
        port = free_port()
        controller = Controller(handler, hostname=HOST, port=port, server_hostname="mx.test", **kwargs)
        controller.start()
        started.append(controller)
        return port

    yield start
    for controller in started:
        controller.stop()


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(self.cert), str(self.key))
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for 127.0.0.1, made locally (trustme if installed, else the openssl tool)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    try:
        import trustme  # type: ignore[import-not-found]
    except ImportError:
        openssl = shutil.which("openssl")
        if openssl is None:
            pytest.skip("no trustme package and no openssl tool to make a self-signed certificate")
        done = subprocess.run(
            [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN={HOST}",
             "-addext", f"subjectAltName=IP:{HOST},DNS:localhost"],
            capture_output=True, timeout=60, check=False,
        )
        if done.returncode != 0:
            pytest.skip(f"openssl could not make a certificate: {done.stderr.decode(errors='replace')[:200]}")
    else:
        authority = trustme.CA()
        issued = authority.issue_cert(HOST, "localhost")
        issued.cert_chain_pems[0].write_to_path(str(cert))
        issued.private_key_pem.write_to_path(str(key))
        authority.cert_pem.write_to_path(str(cert), append=True)
    return Certificate(cert, key)


def assert_intact(envelope: Envelope, sent: EmailMessage) -> None:
    assert envelope.mail_from == "secretariaat@example.org"
    assert envelope.rcpt_tos == ["veeningen@vng.example.nl"]
    raw = envelope.original_content
    assert isinstance(raw, bytes)
    assert raw.rstrip(b"\r\n") == message_bytes(sent).rstrip(b"\r\n")
    got = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(got, EmailMessage)
    for header in ("Message-ID", "Date", "Subject", "To", "From", "Content-Language"):
        assert got[header] == sent[header]
    text = got.get_body(("plain",))
    assert text is not None
    assert "\r\n.\r\nA line that is only a dot" in str(text.get_content())
    (ics,) = [part for part in got.walk() if part.get_content_type() == "text/calendar"]
    assert ics.get_filename() == "publication.ics"
    event = icalendar.Calendar.from_ical(ics.get_payload(decode=True)).walk("VEVENT")[0]
    assert event["DTSTART"].dt == date(2025, 4, 3)
    assert event["UID"] == "krachtenbundeling-publication@convenant.local"


def test_plain_smtp_delivers_the_message_intact(smtp_server: ServerFactory) -> None:
    recorder = Recorder()
    port = smtp_server(recorder)
    sent = message()
    SmtpTransport(HOST, port, "none", timeout=5, local_hostname="convenant.test").send(sent)
    (envelope,) = recorder.envelopes
    assert_intact(envelope, sent)


@pytest.mark.parametrize("command", ["MAIL", "RCPT", "DATA"])
def test_4xx_is_a_temporary_failure(smtp_server: ServerFactory, command: str) -> None:
    port = smtp_server(Refuse(command, "451 try later"))
    with pytest.raises(TemporaryFailure, match="451"):
        SmtpTransport(HOST, port, "none", timeout=5, local_hostname="convenant.test").send(message())


@pytest.mark.parametrize(("command", "reply"), [("MAIL", "553 sender not allowed"),
                                                 ("RCPT", "550 no such user"),
                                                 ("DATA", "554 rejected as spam")])
def test_5xx_is_a_permanent_failure(smtp_server: ServerFactory, command: str, reply: str) -> None:
    port = smtp_server(Refuse(command, reply))
    with pytest.raises(PermanentFailure, match=reply.split()[0]):
        SmtpTransport(HOST, port, "none", timeout=5, local_hostname="convenant.test").send(message())


def test_nothing_listening_is_a_temporary_failure() -> None:
    port = free_port()
    with pytest.raises(TemporaryFailure):
        SmtpTransport(HOST, port, "none", timeout=5, local_hostname="convenant.test").send(message())


def test_a_server_that_never_answers_is_a_temporary_failure() -> None:
    # The kernel completes the connection from the backlog; nobody ever sends the 220 greeting.
    with socket.create_server((HOST, 0)) as silent:
        port = silent.getsockname()[1]
        with pytest.raises(TemporaryFailure):
            SmtpTransport(HOST, port, "none", timeout=0.2, local_hostname="convenant.test").send(message())


def test_implicit_tls(smtp_server: ServerFactory, certificate: Certificate) -> None:
    recorder = Recorder()
    port = smtp_server(recorder, ssl_context=certificate.server_context())
    sent = message()
    SmtpTransport(HOST, port, "ssl", timeout=5, ssl_context=certificate.client_context(),
                  local_hostname="convenant.test").send(sent)
    (envelope,) = recorder.envelopes
    assert_intact(envelope, sent)


def test_starttls_with_login(smtp_server: ServerFactory, certificate: Certificate) -> None:
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(server: Any, session: Session, envelope: Envelope, mechanism: str,
                      auth_data: Any) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        logins.append((auth_data.login, auth_data.password))
        # handled=False: let aiosmtpd answer 535 itself on failure.
        return AuthResult(success=auth_data.password == b"s3cret", handled=False)

    recorder = Recorder()
    port = smtp_server(recorder, tls_context=certificate.server_context(), require_starttls=True,
                       auth_required=True, authenticator=authenticator)
    sent = message()
    SmtpTransport(HOST, port, "starttls", "secretariaat", "s3cret", timeout=5,
                  ssl_context=certificate.client_context(), local_hostname="convenant.test").send(sent)
    (envelope,) = recorder.envelopes
    assert_intact(envelope, sent)
    assert logins == [(b"secretariaat", b"s3cret")]

    with pytest.raises(PermanentFailure, match="535"):
        SmtpTransport(HOST, port, "starttls", "secretariaat", "wrong", timeout=5,
                      ssl_context=certificate.client_context(), local_hostname="convenant.test").send(sent)
    assert len(recorder.envelopes) == 1


def test_starttls_against_a_server_without_it_is_permanent(smtp_server: ServerFactory) -> None:
    port = smtp_server(Recorder())
    with pytest.raises(PermanentFailure, match="STARTTLS"):
        SmtpTransport(HOST, port, "starttls", timeout=5, local_hostname="convenant.test").send(message())


def test_an_untrusted_certificate_is_permanent(smtp_server: ServerFactory, certificate: Certificate) -> None:
    recorder = Recorder()
    port = smtp_server(recorder, ssl_context=certificate.server_context())
    # The system's trust store does not know our self-signed certificate.
    with pytest.raises(PermanentFailure, match="certificate"):
        SmtpTransport(HOST, port, "ssl", timeout=5, local_hostname="convenant.test").send(message())
    assert recorder.envelopes == []
