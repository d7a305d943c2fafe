"""Email that arrives: the whole path from a command to a real SMTP server (aiosmtpd on a free loopback port).

The product is driven through its command line (`[mail] transport = "smtp"`) on a simulation database, so every
reminder, retry and back-off happens on the virtual clock; nothing sleeps. The server can refuse (4xx, 5xx), be
down for a while, or see the dispatcher die in the middle of a batch.
"""
from __future__ import annotations

import datetime as dt
import email
import email.policy
import socket
from collections import Counter
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import getaddresses, parsedate_to_datetime
from pathlib import Path
from typing import Any

import icalendar
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session

from tests.conftest import Cli

HOST = "127.0.0.1"
KB = "krachtenbundeling"
EXAMPLE = Path(__file__).resolve().parents[2] / "workflows" / "examples" / "krachtenbundeling.toml"
PARTIES = ("ienw", "ipo", "uvw", "vng")
# The example's contacts: ez and vro are reached through ienw, which signs for them.
CONTACTS = {"ienw@example.org", "ipo@example.org", "uvw@example.org", "vng@example.org"}
SECRETARIAT = "secretariaat@example.org"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class MailServer:
    """An SMTP server on one fixed port that can be stopped and started again, and told to refuse."""

    def __init__(self) -> None:
        self.port = free_port()
        self.envelopes: list[Envelope] = []
        self.data_replies: list[str] = []          # answers for the next DATA commands; then it accepts
        self.refuse_rcpt: dict[str, str] = {}      # address -> answer to RCPT TO
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self, hostname=HOST, port=self.port, server_hostname="mx.test")
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    async def handle_RCPT(self, server: Any, session: Session, envelope: Envelope, address: str,
                          options: list[str]) -> str:
        if address.lower() in self.refuse_rcpt:
            return self.refuse_rcpt[address.lower()]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        if self.data_replies:
            return self.data_replies.pop(0)
        self.envelopes.append(envelope)
        return "250 OK"

    def messages(self) -> list[tuple[Envelope, EmailMessage]]:
        out = []
        for env in self.envelopes:
            msg = email.message_from_bytes(env.original_content, policy=email.policy.default)
            assert isinstance(msg, EmailMessage)
            out.append((env, msg))
        return out

    def ids(self) -> Counter[str]:
        return Counter(str(msg["Message-ID"]) for _, msg in self.messages())


@pytest.fixture
def server() -> Iterator[MailServer]:
    srv = MailServer()
    srv.start()
    yield srv
    srv.stop()


def smtp_cli(root: Path, url: str, server: MailServer, extra_config: str = "") -> Cli:
    """The shared CLI driver, with its [mail] table switched to SMTP on the test server."""
    c = Cli(root, url, extra_config=extra_config)
    text = c.config.read_text()
    assert 'transport = "maildir"' in text
    c.config.write_text(text.replace(
        'transport = "maildir"',
        f'transport = "smtp"\nhost = "{HOST}"\nport = {server.port}\ntls = "none"\n'
        f"max_attempts = 6\nretry_base_seconds = 300"))
    return c


def signed_via_smtp(c: Cli, data_file: Path | None = None) -> Cli:
    """Enter the agreement, sign it on 20 March 2025 (12:00) and deliver the confirmations of those acts."""
    c.run("init", "--simulation", "--start", "2025-03-01T09:00:00+01:00")
    if data_file is None:
        c.run("agreements", "create", "--example", KB)
    else:
        c.run("agreements", "create", "--workflow", KB, "--file", str(data_file))
    c.trigger(KB, "open_signing")
    c.advance("2025-03-20T12:00:00+01:00")
    for party in PARTIES:
        c.trigger(KB, "sign", role="party", party=party, actor=f"namens {party}", on="2025-03-20")
    c.advance("2025-03-20T12:30:00+01:00")
    return c


def data_file_with_english_vng(folder: Path, *, vng_name: str | None = None) -> Path:
    """The example agreement, with VNG's contact preferring English (and, if given, another name for VNG)."""
    text = EXAMPLE.read_text(encoding="utf-8")
    # a referenced file stays inside the data file's folder (issue 19): the themes file is copied beside it
    (folder / "krachtenbundeling_themes.toml").write_bytes((EXAMPLE.parent / "krachtenbundeling_themes.toml")
                                                           .read_bytes())
    old = 'contacts = [{ name = "M. Veeningen", email = "vng@example.org" }]'
    assert old in text
    text = text.replace(old, 'contacts = [{ name = "M. Veeningen", email = "vng@example.org", language = "en" }]')
    if vng_name is not None:   # the party's name and its contact's name
        text = text.replace('name = "Vereniging van Nederlandse Gemeenten"', f"name = {vng_name}")
        text = text.replace('{ name = "M. Veeningen"', f"{{ name = {vng_name}")
    path = folder / "agreement.toml"
    path.write_text(text, encoding="utf-8")
    return path


def outbox(c: Cli, **filters: str) -> list[dict[str, Any]]:
    return [r for r in c.run("outbox").data if all(r.get(k) == v for k, v in filters.items())]


def reminders(server: MailServer) -> list[tuple[Envelope, EmailMessage]]:
    return [(env, msg) for env, msg in server.messages()
            if str(msg["Subject"]).startswith(("Herinnering", "Reminder"))]


def calendar_events(msg: EmailMessage) -> list[tuple[icalendar.Event, bytes]]:
    out = []
    for part in msg.walk():
        if part.get_content_type() == "text/calendar":
            raw = part.get_payload(decode=True)
            for event in icalendar.Calendar.from_ical(raw).walk("VEVENT"):
                out.append((event, raw))
    return out


# -- a simulated timeline ------------------------------------------------------------------------------
def test_reminders_of_a_timeline_arrive_with_recipients_language_and_calendar(tmp_path, server) -> None:
    c = signed_via_smtp(smtp_cli(tmp_path, f"sqlite:///{tmp_path / 'c.db'}", server),
                        data_file_with_english_vng(tmp_path))
    c.advance("2025-04-02T12:00:00+02:00")          # publication reminders 27 March (7 days) and 2 April (1 day)
    c.trigger(KB, "publish", ref="Stcrt. 2025, 11512", on="2025-04-02")
    c.advance("2025-05-30T12:00:00+02:00")          # work-structure reminders 17, 24 and 30 May
    assert outbox(c, status="pending") == [] and outbox(c, status="failed") == []

    by_kind: dict[str, list[tuple[Envelope, EmailMessage]]] = {}
    uid_of: dict[str, set[str]] = {}
    for env, msg in reminders(server):
        assert env.rcpt_tos == [addr for _, addr in getaddresses([str(msg["To"])])]   # one message a recipient
        assert env.mail_from == SECRETARIAT
        (ics,) = [p for p in msg.walk() if p.get_content_type() == "text/calendar"]
        ((event, raw),) = calendar_events(msg)
        kind = ics.get_filename().removesuffix(".ics")
        by_kind.setdefault(kind, []).append((env, msg))
        uid_of.setdefault(kind, set()).add(str(event["UID"]))
        assert b"DTSTART;VALUE=DATE:" in raw
    assert {"publication", "work_structure"} <= set(by_kind)
    # one stable UID per deadline, whatever the reminder or the recipient, so each replaces the one before
    assert len(uid_of["publication"]) == len(uid_of["work_structure"]) == 1
    assert uid_of["publication"] != uid_of["work_structure"]
    publication, work = by_kind["publication"], by_kind["work_structure"]
    # publication (Art. 5.5): IenW and the secretariat, 7 and 1 days before 3 April; 14 days before lay before entry
    assert sorted((parsedate_to_datetime(m["Date"]), e.rcpt_tos[0]) for e, m in publication) == [
        (dt.datetime(2025, 3, 27, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=1))), "ienw@example.org"),
        (dt.datetime(2025, 3, 27, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=1))), SECRETARIAT),
        (dt.datetime(2025, 4, 2, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))), "ienw@example.org"),
        (dt.datetime(2025, 4, 2, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))), SECRETARIAT),
    ]
    for _, msg in publication:
        assert msg["Subject"].startswith("Herinnering: Publicatie in de Staatscourant uiterlijk 3 april 2025")
        assert "(Art. 5.5)" in msg["Subject"]
        ((event, _),) = calendar_events(msg)
        assert event["DTSTART"].dt == dt.date(2025, 4, 3) and not isinstance(event["DTSTART"].dt, dt.datetime)

    # work structure (Art. 2.6): every party (ez and vro through ienw) and the secretariat, on three days
    days = Counter(parsedate_to_datetime(m["Date"]).date() for _, m in work)
    assert days == {dt.date(2025, 5, 17): 5, dt.date(2025, 5, 24): 5, dt.date(2025, 5, 30): 5}
    for day in days:
        assert {e.rcpt_tos[0] for e, m in work if parsedate_to_datetime(m["Date"]).date() == day} == \
            CONTACTS | {SECRETARIAT}
    for env, msg in work:
        ((event, _),) = calendar_events(msg)
        assert event["DTSTART"].dt == dt.date(2025, 5, 31)
        body = msg.get_body(("plain",)).get_content()
        if env.rcpt_tos == ["vng@example.org"]:          # prefers English
            assert msg["Content-Language"] == "en"
            assert msg["Subject"].startswith("Reminder: Further agreements on the work structure due 31 May 2025")
            assert body.startswith("Dear M. Veeningen,")
        else:
            assert msg["Content-Language"] == "nl"
            assert msg["Subject"].startswith("Herinnering: Nadere afspraken over de werkstructuur uiterlijk "
                                             "31 mei 2025")
            assert body.startswith("Geachte ")
        assert "(Art. 2.6)" in msg["Subject"]
    assert all(count == 1 for count in server.ids().values()), "every message has its own Message-ID"


# -- refusals, a server that is down, a dispatcher that dies ---------------------------------------------
def test_a_4xx_then_acceptance_delivers_each_message_once(tmp_path, db_url, server) -> None:
    c = signed_via_smtp(smtp_cli(tmp_path, db_url, server))
    before = len(server.envelopes)
    server.data_replies = ["451 4.3.0 try again later"] * 2        # both reminders of 27 March, once each
    c.advance("2025-03-27T08:00:00+01:00")
    pending = outbox(c, status="pending")
    assert {r["to"] for r in pending} == {"ienw@example.org", SECRETARIAT}
    assert all(r["attempts"] == 1 and "451" in r["last_error"] for r in pending)
    assert all(r["next_attempt_at"] == "2025-03-27T08:05:00+01:00" for r in pending)
    c.advance("2025-03-27T09:00:00+01:00")
    sent = [r for r in outbox(c, status="sent") if r["id"] in {p["id"] for p in pending}]
    assert len(sent) == 2 and all(r["attempts"] == 2 for r in sent)
    assert len(server.envelopes) == before + 2
    ids = server.ids()
    assert all(ids[r["message_id"]] == 1 for r in sent), "delivered exactly once"


def test_a_server_down_for_a_while_is_retried_with_growing_back_off(tmp_path, server) -> None:
    c = signed_via_smtp(smtp_cli(tmp_path, f"sqlite:///{tmp_path / 'c.db'}", server))
    server.stop()
    moments = ["2025-03-27T08:00:00+01:00", "2025-03-27T08:05:00+01:00", "2025-03-27T08:15:00+01:00",
               "2025-03-27T08:35:00+01:00"]
    seen = []
    for moment in moments:
        c.advance(moment)
        (row, _) = pending = outbox(c, status="pending")
        assert len(pending) == 2 and "Connection refused" in (row["last_error"] or "")
        seen.append((row["attempts"], row["next_attempt_at"]))
    # 5, 10, 20, 40 minutes ([mail] retry_base_seconds = 300, doubled each time), on the virtual clock
    assert seen == [(1, "2025-03-27T08:05:00+01:00"), (2, "2025-03-27T08:15:00+01:00"),
                    (3, "2025-03-27T08:35:00+01:00"), (4, "2025-03-27T09:15:00+01:00")]
    server.start()
    c.advance("2025-03-27T09:14:00+01:00")
    assert len(outbox(c, status="pending")) == 2, "not before its moment"
    c.advance("2025-03-27T09:15:00+01:00")
    assert outbox(c, status="pending") == []
    got = reminders(server)
    assert sorted(e.rcpt_tos[0] for e, _ in got) == ["ienw@example.org", SECRETARIAT]
    assert {parsedate_to_datetime(m["Date"]) for _, m in got} == {
        dt.datetime(2025, 3, 27, 9, 15, tzinfo=dt.timezone(dt.timedelta(hours=1)))}
    assert all(r["attempts"] == 5 for r in outbox(c, kind="reminder"))


def test_a_permanent_refusal_fails_and_tells_the_secretariat(tmp_path, server) -> None:
    server.refuse_rcpt["ipo@example.org"] = "550 5.1.1 no such mailbox"
    c = signed_via_smtp(smtp_cli(tmp_path, f"sqlite:///{tmp_path / 'c.db'}", server))
    (failed,) = outbox(c, status="failed")
    assert failed["to"] == "ipo@example.org" and failed["attempts"] == 1 and "550" in failed["last_error"]
    (alert,) = outbox(c, kind="delivery_failed")
    assert alert["to"] == SECRETARIAT and alert["status"] == "sent"
    (env, msg), = [(e, m) for e, m in server.messages() if str(m["Subject"]).startswith("Bericht niet afgeleverd")]
    assert env.rcpt_tos == [SECRETARIAT] and "ipo@example.org" in msg["Subject"]
    assert "550" in msg.get_body(("plain",)).get_content()
    # the history shows both beside the signature that caused them
    (sign_ipo,) = [r for r in c.history() if r["trigger"] == "sign" and r["party"] == "ipo"]
    assert sorted((n["to"], n["status"], n["kind"]) for n in sign_ipo["notifications"]) == [
        ("ipo@example.org", "failed", "confirmation"), (SECRETARIAT, "sent", "confirmation"),
        (SECRETARIAT, "sent", "delivery_failed")]


class DiesAfter:
    """A transport that hands the k-th message to the server and then dies before it can be marked sent."""

    def __init__(self, inner: Any, k: int, death: type[BaseException]) -> None:
        self.inner, self.k, self.death, self.sent = inner, k, death, 0

    def send(self, msg: EmailMessage) -> None:
        self.inner.send(msg)
        self.sent += 1
        if self.sent == self.k:
            raise self.death("killed in the middle of a batch")


@pytest.mark.parametrize("death", [SystemExit, KeyboardInterrupt])
def test_a_dispatcher_killed_mid_batch_loses_nothing_and_duplicates_at_most_one(tmp_path, db_url, server,
                                                                               death) -> None:
    from convenant.app.bootstrap import build
    from convenant.engine.clock import UTC

    c = signed_via_smtp(smtp_cli(tmp_path, db_url, server))
    c.trigger(KB, "publish", ref="Stcrt. 2025, 11512", on="2025-03-20")
    c.advance("2025-05-16T12:00:00+02:00")
    before = len(server.envelopes)

    app = build(str(c.config))
    dispatcher = app.dispatcher()
    dispatcher.transport = DiesAfter(dispatcher.transport, 3, death)
    with pytest.raises(death):   # the five work-structure reminders of 17 May are one batch
        app.service.advance_clock(dt.datetime(2025, 5, 17, 6, 0, tzinfo=UTC), dispatch=dispatcher)
    app.store.dispose()
    assert len(server.envelopes) == before + 3
    assert len(outbox(c, status="sent", kind="reminder")) == 2

    c.advance("2025-05-17T08:09:00+02:00")       # the dead worker's lease (10 minutes) still holds
    assert len(server.envelopes) == before + 3
    c.advance("2025-05-17T09:00:00+02:00")       # restarted: the lease has run out
    rows = outbox(c, kind="reminder")
    assert len(rows) == 5 and all(r["status"] == "sent" for r in rows), "nothing lost"
    ids = Counter(str(m["Message-ID"]) for _, m in server.messages()[before:])
    assert set(ids) == {r["message_id"] for r in rows}
    assert sorted(ids.values()) == [1, 1, 1, 1, 2], "only the message in flight went twice, same Message-ID"
    (twice,) = [r for r in rows if ids[r["message_id"]] == 2]
    assert twice["attempts"] == 2


# -- header injection ------------------------------------------------------------------------------------
EVIL = "evil@attacker.example"


def test_user_text_with_line_breaks_never_adds_a_header(tmp_path, server) -> None:
    data = data_file_with_english_vng(tmp_path, vng_name=f'"VNG\\r\\nBcc: {EVIL}"')
    c = smtp_cli(tmp_path, f"sqlite:///{tmp_path / 'c.db'}", server)
    c.run("init", "--simulation", "--start", "2025-03-19T09:00:00+01:00")
    c.run("agreements", "create", "--workflow", KB, "--file", str(data))
    c.trigger(KB, "open_signing")
    for party in PARTIES:
        c.trigger(KB, "sign", role="party", party=party, on="2025-03-19",
                  actor=f"Jansen\r\nBcc: {EVIL}\nX-Injected: 1")
    c.trigger(KB, "publish", ref=f"Stcrt. 2025, 11512\r\nBcc: {EVIL}\r\n\r\nbody", on="2025-03-19")
    c.trigger(KB, "raise_dispute", role="party", party="vng", ref=f"brief\nBcc: {EVIL}",
              sets=(f"subject=x\r\nBcc: {EVIL}",))
    c.advance("2025-03-19T10:00:00+01:00")
    got = server.messages()
    assert len(got) >= 10 and outbox(c, status="pending") == []
    assert any(EVIL in str(m["Subject"]) for _, m in got), "the text arrives, flattened into the subject"
    for env, msg in got:
        assert EVIL not in env.rcpt_tos and len(env.rcpt_tos) == 1
        assert msg.get_all("Bcc") is None and msg.get_all("X-Injected") is None
        assert sorted(set(msg.keys())) == sorted({"From", "To", "Subject", "Date", "Message-ID", "Auto-Submitted",
                                                  "MIME-Version", "Content-Type", "Content-Language",
                                                  "Convenant-Checkpoint"})   # the log's latest checkpoint
        head = env.original_content.split(b"\r\n\r\n", 1)[0]
        assert not any(line.lower().startswith((b"bcc", b"x-injected")) for line in head.split(b"\r\n"))
