"""Issue 19, finding 3, from outside: an SMTP server that is first down (its port closed), then answers 4xx, then
drops the connection in the middle of DATA, then accepts. With the virtual clock driving the dispatcher's retries
(`clock advance`; nothing sleeps), every message arrives exactly once (Message-IDs counted at the server), none is
marked failed and nothing is lost from the outbox. A 5xx answer fails at once, and the secretariat is told.

Also `[mail] retry_lifetime_days` counted from a resend: a message the secretariat sends again gets a fresh
lifetime, not the remainder of the one it had when it was first queued."""
from __future__ import annotations

import socket
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_delivery import (
    HOST,
    KB,
    PARTIES,
    SECRETARIAT,
    MailServer,
    outbox,
    smtp_cli,
)


class DropsMidData:
    """Speaks SMTP on the port up to DATA, reads part of the message and closes the connection."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.dropped = 0
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((HOST, port))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            with conn:
                self._session(conn)

    def _session(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        reader = conn.makefile("rb")
        conn.sendall(b"220 mx.test ESMTP\r\n")
        for line in reader:
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                conn.sendall(b"250-mx.test\r\n250 8BITMIME\r\n")
            elif verb in (b"MAIL", b"RCPT", b"RSET", b"NOOP"):
                conn.sendall(b"250 OK\r\n")
            elif verb == b"DATA":
                conn.sendall(b"354 go ahead\r\n")
                reader.read(64)                      # a little of the message, then the line goes dead
                self.dropped += 1
                conn.shutdown(socket.SHUT_RDWR)
                return
            else:
                conn.sendall(b"221 bye\r\n")
                return

    def stop(self) -> None:
        self.running = False
        self.thread.join()
        self.sock.close()


class Outage:
    """One port, four behaviours in turn: down, 4xx, dropped mid-DATA, accepting."""

    def __init__(self) -> None:
        self.server = MailServer()       # aiosmtpd, not started: the port is closed
        self.port = self.server.port
        self.refused_4xx = 0
        self.dropper: DropsMidData | None = None

    def answer_4xx(self) -> None:
        self.server.data_replies = ["451 4.3.0 mailbox busy, try again later"] * 1000
        self.server.start()

    def drop_mid_data(self) -> None:
        self.refused_4xx = 1000 - len(self.server.data_replies)
        self.server.stop()
        self.dropper = DropsMidData(self.port)

    def accept(self) -> None:
        assert self.dropper is not None
        self.dropper.stop()
        self.server.data_replies = []
        self.server.start()

    def close(self) -> None:
        if self.dropper is not None and self.dropper.running:
            self.dropper.stop()
        self.server.stop()


@pytest.fixture
def outage() -> Iterator[Outage]:
    o = Outage()
    yield o
    o.close()


def signed_during_the_outage(tmp_path: Path, outage: Outage):
    c = smtp_cli(tmp_path, f"sqlite:///{tmp_path / 'c.db'}", outage.server)
    c.run("init", "--simulation", "--start", "2025-03-20T12:00:00+01:00")
    c.run("agreements", "create", "--example", KB)
    c.trigger(KB, "open_signing")
    for party in PARTIES:
        c.trigger(KB, "sign", role="party", party=party, actor=f"namens {party}", on="2025-03-20")
    return c


def test_down_then_4xx_then_dropped_mid_data_then_accepting_delivers_every_message_once(tmp_path, outage) -> None:
    c = signed_during_the_outage(tmp_path, outage)
    queued = outbox(c)
    assert len(queued) >= 8 and all(r["status"] == "pending" for r in queued)

    c.advance("2025-03-20T13:00:00+01:00")                        # an hour with the port closed
    assert all("refused" in (r["last_error"] or "").lower() for r in outbox(c, status="pending"))
    outage.answer_4xx()
    c.advance("2025-03-20T13:30:00+01:00")                        # half an hour of 451
    assert all("451" in (r["last_error"] or "") for r in outbox(c, status="pending"))
    outage.drop_mid_data()
    c.advance("2025-03-20T15:00:00+01:00")                        # connections dropped in the middle of DATA
    assert outage.refused_4xx > 0 and outage.dropper is not None and outage.dropper.dropped > 0
    assert all("Disconnected" in (r["last_error"] or "") or "reset" in (r["last_error"] or "").lower()
               or "closed" in (r["last_error"] or "").lower() for r in outbox(c, status="pending")), \
        [r["last_error"] for r in outbox(c, status="pending")]
    assert outbox(c, status="failed") == [] and outbox(c, status="sent") == []

    outage.accept()
    c.advance("2025-03-21T12:00:00+01:00")
    rows = outbox(c)
    assert {r["id"] for r in rows} >= {r["id"] for r in queued}, "nothing lost from the outbox"
    assert [r for r in rows if r["status"] != "sent"] == [], "every message delivered, none failed"
    assert all(r["attempts"] >= 4 for r in rows if r["id"] in {q["id"] for q in queued})
    ids = outage.server.ids()
    assert set(ids) == {r["message_id"] for r in rows}
    assert set(ids.values()) == {1}, "each Message-ID arrived exactly once"
    assert not any(r["kind"] == "delivery_failed" for r in rows)


def test_a_5xx_fails_at_once_and_the_secretariat_is_told(tmp_path, outage) -> None:
    c = signed_during_the_outage(tmp_path, outage)
    c.advance("2025-03-20T12:30:00+01:00")                        # down: retried, not failed
    assert outbox(c, status="failed") == []
    outage.server.refuse_rcpt["ipo@example.org"] = "550 5.1.1 no such mailbox"
    outage.server.start()
    c.advance("2025-03-20T13:30:00+01:00")
    (failed,) = outbox(c, status="failed")
    assert failed["to"] == "ipo@example.org" and "550" in failed["last_error"]
    attempts_when_failed = failed["attempts"]
    (alert,) = outbox(c, kind="delivery_failed")
    assert alert["to"] == SECRETARIAT and alert["status"] == "sent"
    got = [m for _, m in outage.server.messages() if str(m["Message-ID"]) == alert["message_id"]]
    assert len(got) == 1 and "ipo@example.org" in str(got[0]["Subject"])
    c.advance("2025-03-27T13:30:00+01:00")                        # a week on: not tried again
    (still,) = [r for r in outbox(c) if r["id"] == failed["id"]]
    assert still["status"] == "failed" and still["attempts"] == attempts_when_failed
    assert [r["to"] for r in outbox(c) if r["status"] != "sent"] == ["ipo@example.org"]


# -- the retry lifetime counts from a resend --------------------------------------------------------------------
def lifetime_cli(tmp_path: Path, outage: Outage):
    c = smtp_cli(tmp_path, f"sqlite:///{tmp_path / 'c.db'}", outage.server)
    text = c.config.read_text().replace("retry_base_seconds = 300",
                                        "retry_base_seconds = 300\nretry_max_seconds = 3600\nretry_lifetime_days = 1")
    c.config.write_text(text)
    return c


def resend(c, row_id: int) -> dict[str, Any]:
    """`convenant outbox resend ID`, as the pages' Outbox does."""
    data = c.run("outbox", "resend", str(row_id), "--actor", "Secretariaat CE").data
    assert isinstance(data, dict)
    return data


def test_a_resent_message_gets_a_fresh_lifetime(tmp_path, outage) -> None:
    c = lifetime_cli(tmp_path, outage)
    c.run("init", "--simulation", "--start", "2025-03-20T09:00:00+01:00")
    c.run("agreements", "create", "--example", KB)
    c.trigger(KB, "open_signing")
    c.trigger(KB, "sign", role="party", party="ipo", actor="R.F. Douwstra", on="2025-03-20")
    mine = [r for r in outbox(c) if r["to"] == "ipo@example.org"]
    assert len(mine) == 1
    row = mine[0]

    c.advance("2025-03-21T09:30:00+01:00")                        # down for a day and more: the lifetime is over
    (gone,) = [r for r in outbox(c) if r["id"] == row["id"]]
    assert gone["status"] == "failed" and "gave up" in gone["last_error"]

    c.advance("2025-03-25T09:00:00+01:00")                        # four days later the secretariat sends it again
    before = c.run("outbox").data
    refused = c.run("outbox", "resend", str(row["id"]), "--actor", "A. Uditor", "--role", "auditor", expect=3)
    assert refused.data["forbidden"] is True
    assert c.run("outbox", "resend", "999", "--actor", "Secretariaat CE", expect=4).data["error"] == "not_found"
    assert c.run("outbox").data == before, "a refused resend changes nothing"
    assert resend(c, row["id"]) == {"id": row["id"], "status": "pending"}
    c.advance("2025-03-25T12:00:00+01:00")                        # still down, three hours into its new day
    (again,) = [r for r in outbox(c) if r["id"] == row["id"]]
    assert again["status"] == "pending", "a fresh lifetime from the resend, not the one used up on 21 March"
    assert again["attempts"] >= 3 and "refused" in again["last_error"].lower()

    c.advance("2025-03-26T09:00:01+01:00")                        # a day after the resend it is given up again
    (over,) = [r for r in outbox(c) if r["id"] == row["id"]]
    assert over["status"] == "failed" and "gave up" in over["last_error"]

    outage.server.start()                                         # sent once more, and now it arrives once
    resend(c, row["id"])
    c.advance("2025-03-26T10:00:00+01:00")
    (sent,) = [r for r in outbox(c) if r["id"] == row["id"]]
    assert sent["status"] == "sent"
    assert c.run("outbox", "resend", str(row["id"]), "--actor", "Secretariaat CE", expect=3).data["forbidden"] is False
    assert Counter(str(m["Message-ID"]) for _, m in outage.server.messages())[sent["message_id"]] == 1
