"""The Maildir transport and building a transport from the `[mail]` config table."""

from __future__ import annotations

import mailbox
import re
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from convenant.notifications.render import render_message
from convenant.notifications.transports import (
    MaildirTransport,
    SmtpTransport,
    TemporaryFailure,
    make_transport,
)

NOW = datetime(2025, 3, 27, 9, 0, tzinfo=ZoneInfo("Europe/Amsterdam"))
PAYLOAD = {
    "template": "reminder",
    "lang": "nl",
    "to_name": "R.F. Douwstra",
    "to_addr": "douwstra@ipo.example.nl",
    "key": "krachtenbundeling/publication/reminder/7/ipo",
    "agreement_title": "Convenant Krachtenbundeling circulaire economie",
    "process_id": "krachtenbundeling",
    "article": "Art. 5.5",
    "days_left": 7,
    "deadlines": [
        {"kind": "publication", "title": {"nl": "Publicatie in de Staatscourant"}, "due": "2025-04-03",
         "article": "Art. 5.5", "status": "open", "uid": "krachtenbundeling-publication@convenant.local"}
    ],
}


def message() -> EmailMessage:
    return render_message(PAYLOAD, sender="secretariaat@example.org", now=NOW)


def test_maildir_is_created_on_first_send_and_holds_the_message(tmp_path: Path) -> None:
    path = tmp_path / "var" / "mail"
    transport = MaildirTransport(path)
    assert not path.exists()
    transport.send(message())
    assert all((path / sub).is_dir() for sub in ("cur", "new", "tmp"))
    stored = list(mailbox.Maildir(str(path), create=False))
    assert len(stored) == 1
    (msg,) = stored
    assert msg["Message-ID"] == message()["Message-ID"]
    assert msg["Date"] == "Thu, 27 Mar 2025 09:00:00 +0100"
    assert [part.get_filename() for part in msg.walk() if part.get_content_type() == "text/calendar"] == [
        "publication.ics"
    ]
    # A Maildir file holds local line endings; CRLF is only for the wire.
    (file,) = (path / "new").iterdir()
    assert re.search(rb"\r\n", file.read_bytes().split(b"\n\n", 1)[0]) is None


def test_maildir_folder_that_exists_but_is_empty_gets_its_subfolders(tmp_path: Path) -> None:
    MaildirTransport(tmp_path).send(message())
    MaildirTransport(tmp_path).send(message())
    assert len(list(mailbox.Maildir(str(tmp_path), create=False))) == 2


def test_maildir_that_cannot_be_written_is_a_temporary_failure(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(TemporaryFailure, match="maildir"):
        MaildirTransport(blocker / "mail").send(message())


def test_make_maildir_transport(tmp_path: Path) -> None:
    transport = make_transport({"transport": "maildir", "path": "var/mail", "host": "ignored"}, base_dir=tmp_path)
    assert isinstance(transport, MaildirTransport) and transport.path == tmp_path / "var" / "mail"
    absolute = make_transport({"transport": "maildir", "path": str(tmp_path / "m")}, base_dir="/elsewhere")
    assert isinstance(absolute, MaildirTransport) and absolute.path == tmp_path / "m"
    default = make_transport({})
    assert isinstance(default, MaildirTransport) and default.path == Path("var/mail")


def test_make_smtp_transport_reads_the_password_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVENANT_TEST_SMTP_PASSWORD", "s3cret")
    transport = make_transport(
        {"transport": "smtp", "host": "smtp.example.nl", "port": 587, "tls": "starttls",
         "username": "secretariaat", "password_env": "CONVENANT_TEST_SMTP_PASSWORD", "path": "ignored"}
    )
    assert isinstance(transport, SmtpTransport)
    assert (transport.host, transport.port, transport.tls, transport.username) == (
        "smtp.example.nl", 587, "starttls", "secretariaat"
    )
    assert transport._password == "s3cret"
    assert "s3cret" not in repr(transport)


def test_make_smtp_transport_default_ports() -> None:
    for tls, port in (("none", 25), ("starttls", 587), ("ssl", 465)):
        transport = make_transport({"transport": "smtp", "host": "smtp.example.nl", "tls": tls})
        assert isinstance(transport, SmtpTransport) and transport.port == port


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"transport": "smtp", "host": "h", "password_env": "CONVENANT_TEST_SURELY_UNSET"}, "mail.password_env"),
        ({"transport": "smtp", "host": "h", "username": "u"}, "mail.password_env"),
        ({"transport": "smtp", "port": 25}, "mail.host"),
        ({"transport": "smtp", "host": "h", "tls": "tls1.3"}, "mail.tls"),
        ({"transport": "smtp", "host": "h", "port": "twenty-five"}, "mail.port"),
        ({"transport": "pigeon"}, "mail.transport"),
    ],
)
def test_bad_mail_config_names_the_field(
    config: dict[str, object], field: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CONVENANT_TEST_SURELY_UNSET", raising=False)
    with pytest.raises(ValueError, match=re.escape(field)):
        make_transport(config)
