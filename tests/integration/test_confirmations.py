"""Confirmations of recorded acts, the history's notification outcomes, and confidential notes (Art. 5.9).

Driven through the command line on a simulation database with the Maildir transport (tests/conftest.py)."""
from __future__ import annotations

import csv
import email
import email.policy
import io
from email.message import EmailMessage

import icalendar
import pytest

from tests.conftest import Cli, signed

KB = "krachtenbundeling"
SECRETARIAT = "secretariaat@example.org"
SECRET = "Vertrouwelijk-7f3a: gemeentefinanciën"


def mails(c: Cli) -> list[EmailMessage]:
    out = []
    for raw in c.messages():
        msg = email.message_from_bytes(raw.as_bytes(), policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        out.append(msg)
    return out


def record(c: Cli, trigger: str, party: str | None = None, *args: str) -> dict:
    (found,) = [r for r in c.run("history", KB, *args).data if r["trigger"] == trigger and r["party"] == party]
    return found


def uids(msg: EmailMessage) -> dict[str, str]:
    """kind of deadline (the attachment's name) -> the UID of its calendar event."""
    out = {}
    for part in msg.walk():
        if part.get_content_type() == "text/calendar":
            (event,) = icalendar.Calendar.from_ical(part.get_payload(decode=True)).walk("VEVENT")
            out[part.get_filename().removesuffix(".ics")] = str(event["UID"])
    return out


def test_an_act_is_confirmed_to_its_party_and_the_secretariat_in_its_own_transaction(cli: Cli) -> None:
    c = signed(cli)
    # queued by the command itself (a trigger sends nothing), joined to its record
    sign = record(c, "sign", "ipo")
    assert [(n["to"], n["status"], n["kind"], n["attempts"]) for n in sign["notifications"]] == [
        ("ipo@example.org", "pending", "confirmation", 0), (SECRETARIAT, "pending", "confirmation", 0)]
    assert [m["Subject"].split(" vastgelegd")[0] for m in mails(c)] == ["Bevestiging: Ondertekening openen"]
    c.advance("2025-03-20T12:01:00+01:00")
    sign = record(c, "sign", "ipo")
    assert [(n["status"], n["attempts"]) for n in sign["notifications"]] == [("sent", 1), ("sent", 1)]
    # sent at the first run after the act (the advance starts with what is due at 12:00), in local time
    assert [n["sent_at"] for n in sign["notifications"]] == ["2025-03-20T12:00:00+01:00"] * 2
    (to_ipo,) = [m for m in mails(c) if m["To"].addresses[0].addr_spec == "ipo@example.org"]
    assert to_ipo["Subject"].startswith("Bevestiging: Ondertekening vastleggen vastgelegd")
    assert "(Art. 5.3)" in to_ipo["Subject"]
    body = to_ipo.get_body(("plain",)).get_content()
    assert "Datum van de handeling: 20 maart 2025" in body
    assert "namens ipo namens Interprovinciaal Overleg" in body
    # the last signature opened four deadlines: each comes with its invitation, under the UID its reminders use
    (last,) = [m for m in mails(c) if m["To"].addresses[0].addr_spec == "vng@example.org"]
    assert set(uids(last)) == {"publication", "work_structure", "extension_decision", "end"}
    c.advance("2025-03-27T08:30:00+01:00")
    (reminder,) = [m for m in mails(c) if m["Subject"].startswith("Herinnering")
                   and m["To"].addresses[0].addr_spec == "ienw@example.org"]
    assert uids(reminder)["publication"] == uids(last)["publication"]
    # open_signing was the secretariat's own act: only the secretariat hears of it
    assert [n["to"] for n in record(c, "open_signing")["notifications"]] == [SECRETARIAT]


def test_an_escalation_shows_its_emails_beside_its_record(cli: Cli) -> None:
    c = signed(cli)                                     # never published: publication (3 April) is missed
    c.advance("2025-04-20T12:00:00+02:00")              # the responsible party and the secretariat, then the DO
    ladder = [r for r in c.history() if r["trigger"] == "escalate"]
    assert [{(n["to"], n["kind"], n["status"], n["attempts"]) for n in r["notifications"]} for r in ladder] == [
        {("ienw@example.org", "escalation", "sent", 1), (SECRETARIAT, "escalation", "sent", 1)},
        {("do@example.org", "escalation", "sent", 1)}]
    assert all(n["sent_at"] for r in ladder for n in r["notifications"])


def test_no_confirmations_for_late_entries_or_acts_of_the_engine(cli: Cli) -> None:
    c = cli
    c.run("init", "--simulation", "--start", "2025-03-01T09:00:00+01:00")
    c.run("agreements", "create", "--example", KB)
    c.advance("2025-03-28T12:00:00+01:00")
    c.trigger(KB, "open_signing", on="2025-03-01")                                    # 27 days ago
    c.trigger(KB, "sign", role="party", party="ienw", on="2025-03-20")                # 8 days ago
    c.trigger(KB, "sign", role="party", party="ipo", on="2025-03-21")                 # 7 days ago: the limit
    c.trigger(KB, "sign", role="party", party="uvw", on="2025-03-28")
    c.trigger(KB, "sign", role="party", party="vng", on="2025-03-28")
    c.trigger(KB, "publish", ref="Stcrt. 2025, 11512", on="2025-03-28")
    c.advance("2025-03-29T12:00:00+01:00")                                            # activate (the engine)
    seen = {(r["trigger"], r["party"]): {n["to"] for n in r["notifications"] if n["kind"] == "confirmation"}
            for r in c.history()}
    assert seen[("open_signing", None)] == set() and seen[("sign", "ienw")] == set()
    assert seen[("sign", "ipo")] == {"ipo@example.org", SECRETARIAT}
    assert seen[("sign", "vng")] == {"vng@example.org", SECRETARIAT}
    assert seen[("publish", None)] == {SECRETARIAT}
    assert seen[("activate", None)] == set() and seen[("create", None)] == set()
    assert {r["kind"] for r in c.run("outbox").data} == {"confirmation"}


def test_confirmations_can_be_switched_off(tmp_path) -> None:
    c = signed(Cli(tmp_path, f"sqlite:///{tmp_path / 'c.db'}", extra_config="confirmations = false\n"))
    c.advance("2025-03-21T12:00:00+01:00")
    assert c.run("outbox").data == [] and c.messages() == []


def test_a_refused_act_confirms_nothing(cli: Cli) -> None:
    c = signed(cli)
    before = c.run("outbox").data
    c.trigger(KB, "publish", role="party", party="vng", ref="Stcrt. 2025, 11512", expect=3)
    c.trigger(KB, "add_note", role="party", party="vng", sets=("text=x",), expect=3)
    c.trigger(KB, "add_note", sets=("text=x", "confidential=maybe"), expect=2)
    assert c.run("outbox").data == before


# -- confidential notes (Art. 5.9) -----------------------------------------------------------------------
def confidential_history(cli: Cli) -> Cli:
    c = signed(cli)
    c.run("trigger", KB, "add_note", "--actor", "Secretariaat CE", "--role", "secretariat", "--party", "vng",
          "--ref", f"ref {SECRET}", "--reason", f"reason {SECRET}", "--set", f"text={SECRET}",
          "--set", "document=Notitie gemeentefinanciën 2025", "--set", "confidential=yes")
    c.trigger(KB, "add_note", sets=("text=Openbare notitie: overleg gepland", "confidential=no"))
    c.advance("2025-03-20T13:00:00+01:00")
    return c


def test_confidential_notes_never_reach_an_email(cli: Cli) -> None:
    c = confidential_history(cli)
    note = record(c, "add_note", "vng")
    assert {n["to"] for n in note["notifications"]} == {"vng@example.org", SECRETARIAT}
    assert all(n["status"] == "sent" for n in note["notifications"])
    raw = [m.as_bytes() for m in c.messages()]
    assert len(raw) == len(c.run("outbox").data) > 0
    for data in raw:
        assert b"7f3a" not in data and "gemeentefinanciën".encode() not in data
        assert b"Openbare notitie" not in data, "no note text travels by email at all"
    (to_vng,) = [m for m in mails(c) if m["Subject"].startswith("Bevestiging: Notitie")
                 and m["To"].addresses[0].addr_spec == "vng@example.org"]
    assert "kenmerk" not in to_vng["Subject"]


@pytest.mark.parametrize(("args", "sees"), [
    ((), True),                                          # the operator: the secretariat
    (("--role", "secretariat"), True),
    (("--role", "auditor"), True),
    (("--role", "party", "--party", "vng"), True),       # entered for VNG: its own information
    (("--role", "party", "--party", "ipo"), False),
    (("--role", "party", "--party", "ez"), False),
])
def test_history_and_export_hide_confidential_notes_from_those_who_may_not_see_them(cli: Cli, args, sees) -> None:
    c = confidential_history(cli)
    note = record(c, "add_note", "vng", *args)
    assert note["confidential"] is True
    assert (SECRET in note["data"]["params"]["text"]) is sees
    assert (SECRET in note["ref"]) is sees and (SECRET in note["reason"]) is sees
    assert ("gemeentefinanciën" in note["data"]["params"]["document"]) is sees
    assert note["data"]["params"]["confidential"] == "yes"
    assert note["hash"] == record(c, "add_note", "vng")["hash"], "the record is the same; only the view differs"
    public = record(c, "add_note", None, *args)
    assert public["confidential"] is False and public["data"]["params"]["text"].startswith("Openbare notitie")
    for fmt in ("json", "csv"):
        out = c.run("audit", "export", "--format", fmt, *args).out
        assert (SECRET in out) is sees, fmt
        assert "Openbare notitie" in out or fmt == "csv"
    rows = list(csv.DictReader(io.StringIO(c.run("history", KB, "--format", "csv", *args).out)))
    (note_row,) = [r for r in rows if r["trigger"] == "add_note" and r["party"] == "vng"]
    assert (SECRET in note_row["ref"]) is sees
    assert c.run("audit", "verify").code == 0


def test_reading_as_a_party_names_a_known_party(cli: Cli) -> None:
    c = confidential_history(cli)
    c.run("history", KB, "--role", "party", expect=2)
    c.run("history", KB, "--role", "party", "--party", "nobody", expect=2)
    c.run("audit", "export", "--role", "party", "--party", "nobody", expect=2)
    c.run("history", KB, "--role", "mayor", expect=2)
    c.run("history", "nope", "--role", "party", "--party", "nobody", expect=4)
    # without --role party, --party still filters the acts of one party
    assert {r["party"] for r in c.run("history", KB, "--party", "vng").data} == {"vng"}


def test_the_join_is_done_per_page(cli: Cli) -> None:
    from convenant.app.bootstrap import build
    from convenant.storage.outbox import with_notifications
    from convenant.storage.queries import history

    c = confidential_history(cli)
    app = build(str(c.config))
    whole = list(with_notifications(app.store, history(app.store, KB)))
    assert [r["seq"] for r in list(with_notifications(app.store, history(app.store, KB), page=2))] == \
        [r["seq"] for r in whole]
    assert list(with_notifications(app.store, history(app.store, KB), page=2)) == whole
    assert sum(len(r["notifications"]) for r in whole) == len(c.run("outbox").data)
    app.store.dispose()


def test_the_http_api_reads_as_the_token_does(cli: Cli) -> None:
    """GET /api/v1/processes/{id}/history is what `history --json` is, read as the token's role and party."""
    from fastapi.testclient import TestClient

    from convenant.app.bootstrap import build
    from convenant.app.web.server import create_app

    c = confidential_history(cli)
    tokens = {who: c.run("tokens", "create", "--name", who, "--role", role, *(["--party", party] if party else []))
              .data["token"] for who, role, party in (("sec", "secretariat", None), ("aud", "auditor", None),
                                                     ("ipo", "party", "ipo"), ("vng", "party", "vng"))}
    app = build(str(c.config))
    client = TestClient(create_app(app, scheduler=False))
    try:
        for who, sees in (("sec", True), ("aud", True), ("ipo", False), ("vng", True)):
            res = client.get(f"/api/v1/processes/{KB}/history", headers={"Authorization": f"Bearer {tokens[who]}"})
            assert res.status_code == 200
            (note,) = [r for r in res.json() if r["trigger"] == "add_note" and r["party"] == "vng"]
            assert note["confidential"] is True and (SECRET in res.text) is sees, who
            assert note["notifications"] == record(c, "add_note", "vng")["notifications"]
    finally:
        app.store.dispose()
