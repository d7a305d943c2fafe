"""storage/memory.py on its own: the guarantees of the SQL store that the service's behaviour rests on - a unit of
work commits whole or not at all, stale writes are conflicts, the history chains with the SQL store's hashes,
due work comes in time order, the outbox keeps one message per idempotency key, and JSON columns store what SQL
could store."""
from __future__ import annotations

import datetime as dt

import pytest

from convenant.engine.errors import BadInput, Conflict, NotAllowed
from convenant.engine.model import Deadline, Facts, Notification, Process, Record
from convenant.storage.memory import IntegrityError, MemoryReadModels, MemoryStore, MemoryTokens
from convenant.storage.store import GENESIS, hashed_fields, record_hash

UTC = dt.UTC
T0 = dt.datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def proc(pid: str = "a", **kw) -> Process:
    root = kw.pop("root_id", pid)
    return Process(id=pid, workflow="krachtenbundeling", ptype=kw.pop("ptype", "agreement"),
                   state=kw.pop("state", "draft"), facts=Facts(kw.pop("facts", {})),
                   created_at=kw.pop("created_at", T0), root_id=root, **kw)


def deadline(pid: str = "a", kind: str = "publication", **kw) -> Deadline:
    return Deadline(process_id=pid, root_id=kw.pop("root_id", pid), kind=kind, due=dt.date(2025, 4, 3),
                    article="Art. 5.5", rule="r", created_at=T0, **kw)


def record(pid: str = "a", trigger: str = "create") -> Record:
    return Record(process=pid, root=pid, trigger=trigger, source=None, dest="draft", actor="s", role="secretariat",
                  party=None, effective="2025-03-01", recorded_at="2025-03-01T09:00:00+01:00", article="Art. 5.3",
                  data={"n": 1})


def note(key: str, pid: str = "a") -> Notification:
    return Notification(key=key, process_id=pid, root_id=pid, to_addr="x@example.org", to_name="X", subject="s",
                        payload={"record_seq": 1, "template": "reminder"})


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


def test_an_exception_rolls_back_everything_the_unit_wrote(store):
    with store.transaction() as tx:
        tx.set_meta("clock_now", "2025-03-01T08:00:00+00:00")
        tx.insert_process(proc("kept"), T0)
        tx.append_record(record("kept"))
    before = MemoryReadModels(store)
    with pytest.raises(NotAllowed), store.transaction() as tx:
        tx.set_meta("clock_now", "2030-01-01T00:00:00+00:00")
        tx.insert_process(proc("b"), T0)
        tx.insert_deadline(deadline("b"))
        tx.append_record(record("b"))
        tx.enqueue([note("k1", "b")], T0)
        p = tx.get_process("kept")
        assert p is not None
        p.state = "signing"
        tx.update_process(p, T0)
        # inside the unit of work its own writes are read back
        assert tx.get_process("b") is not None and len(tx.deadlines_of("b")) == 1
        assert tx.meta("clock_now") == "2030-01-01T00:00:00+00:00"
        raise NotAllowed("refused")
    with store.transaction() as tx:
        assert tx.get_process("b") is None and tx.deadlines_of("b") == []
        assert tx.meta("clock_now") == "2025-03-01T08:00:00+00:00"
        kept = tx.get_process("kept")
        assert kept is not None and (kept.state, kept.version) == ("draft", 1)
        assert tx.next_mail_at(T0 + dt.timedelta(days=1)) is None
    assert [r["seq"] for r in before.history()] == [1]
    assert before.outbox() == [] and before.verify_chain()["intact"] is True
    # the chain goes on from the committed head: the rolled-back record left no gap
    with store.transaction() as tx:
        assert tx.append_record(record("kept", "open_signing")).seq == 2


def test_a_write_over_a_version_someone_moved_on_is_a_conflict(store):
    with store.transaction() as tx:
        tx.insert_process(proc(), T0)
    with store.transaction() as tx:
        mine = tx.get_process("a")
    with store.transaction() as tx:
        theirs = tx.get_process("a")
        assert theirs is not None
        theirs.state = "signing"
        tx.update_process(theirs, T0)
        assert theirs.version == 2
    assert mine is not None and mine.version == 1
    mine.state = "ended"
    with pytest.raises(Conflict), store.transaction() as tx:
        tx.update_process(mine, T0)
    with store.transaction() as tx:
        now = tx.get_process("a")
        assert now is not None and (now.state, now.version) == ("signing", 2)
        with pytest.raises(IntegrityError):
            tx.insert_process(proc(), T0)


def test_a_unit_that_commits_under_an_open_one_makes_the_outer_commit_a_conflict(store):
    with store.transaction() as tx:
        tx.insert_process(proc(), T0)
    with pytest.raises(Conflict), store.transaction() as outer:
        outer.set_meta("x", "outer")
        with store.transaction() as inner:
            assert inner.meta("x") is None            # not committed yet: not seen
            inner.set_meta("x", "inner")
    with store.transaction() as tx:
        assert tx.meta("x") == "inner"


def test_reads_hand_out_copies_and_json_columns_store_what_sql_could(store):
    with store.transaction() as tx:
        tx.insert_process(proc(facts={"pair": (1, 2)}), T0)
    with store.transaction() as tx:
        p = tx.get_process("a")
        assert p is not None and p.facts["pair"] == [1, 2]        # a tuple comes back as JSON's list
        p.facts["changed"] = True                                # not written: not stored
    with store.transaction() as tx:
        again = tx.get_process("a")
        assert again is not None and "changed" not in again.facts
        with pytest.raises(TypeError):
            tx.insert_process(proc("d", facts={"on": dt.date(2025, 3, 1)}), T0)


def test_the_chain_uses_the_sql_stores_hashes_and_verification_finds_tampering(store):
    with store.transaction() as tx:
        recs = [tx.append_record(record(trigger=f"t{i}")) for i in range(5)]
    assert [r.seq for r in recs] == [1, 2, 3, 4, 5]
    assert recs[0].prev_hash == GENESIS and recs[1].prev_hash == recs[0].hash
    rows = list(MemoryReadModels(store).history())
    row = {**rows[2], "root": "a", "data": '{"n":1}', "format": 2}
    assert record_hash(hashed_fields(row), rows[1]["hash"]) == rows[2]["hash"]
    reads = MemoryReadModels(store)
    assert reads.verify_chain() == {"intact": True, "records": 5, "head": recs[-1].hash}

    def broken(*changes: tuple[int, dict]) -> dict:
        fresh = MemoryStore()
        with fresh.transaction() as tx:
            for i in range(5):
                tx.append_record(record(trigger=f"t{i}"))
        for seq, values in changes:
            fresh.tamper(seq, **values)
        return MemoryReadModels(fresh).verify_chain()

    assert broken((4, {"reason": "nooit getekend"}))["first_bad"] == 4
    assert broken((3, {"effective": "2025-02-28"}))["first_bad"] == 3
    # a removed record: the next one of its agreement no longer links (seq is not gap-free on PostgreSQL)
    removed = broken((3, {"seq": None}))
    assert removed["first_bad"] == 4 and "removed" in removed["problem"]
    assert broken((5, {"seq": None}))["first_bad"] == 5            # a removed tail: the chain head says 5
    assert broken((3, {"seq": -1}), (4, {"seq": 3}), (-1, {"seq": 4}))["first_bad"] == 3   # reordered


def test_due_work_in_time_order_processes_first_at_the_same_moment(store):
    at = T0 + dt.timedelta(days=3)
    with store.transaction() as tx:
        tx.insert_process(proc("b", next_auto_at=at), T0)
        tx.insert_process(proc("a", next_auto_at=at + dt.timedelta(hours=1)), T0)
        first = deadline("b", root_id="b", next_at=at)
        tx.insert_deadline(first)
        early = deadline("a", next_at=at - dt.timedelta(minutes=1))
        tx.insert_deadline(early)
        assert tx.earliest_write == at - dt.timedelta(minutes=1)
    with store.transaction() as tx:
        assert tx.earliest_write is None
        assert tx.next_due(at - dt.timedelta(minutes=2)) is None
        assert tx.next_due(at) == (at - dt.timedelta(minutes=1), "deadline", early.id)
        assert tx.claim_due(at + dt.timedelta(hours=2), 10) == [
            (at - dt.timedelta(minutes=1), "deadline", early.id), (at, "process", "b"), (at, "deadline", first.id),
            (at + dt.timedelta(hours=1), "process", "a")]
        assert tx.claim_due(at + dt.timedelta(hours=2), 2) == [(at - dt.timedelta(minutes=1), "deadline", early.id),
                                                               (at, "process", "b")]
        tx.prefetch(tx.claim_due(at, 2))
        d = tx.get_deadline(early.id, lock=True)
        assert d is not None
        d.next_at = None
        tx.update_deadline(d)
        assert tx.next_due(at) == (at, "process", "b")
        assert tx.next_wakeup() == at


def test_the_outbox_keeps_one_message_per_key_and_leases_what_it_hands_out(store):
    with store.transaction() as tx:
        assert tx.enqueue([note("k1"), note("k2")], T0) == 2
    with store.transaction() as tx:
        assert tx.enqueue([note("k1"), note("k3")], T0) == 1
    queue = store.outbox
    assert [r["key"] for r in queue.list()] == ["k1", "k2", "k3"]
    claimed = queue.claim(T0, 2, dt.timedelta(minutes=10))
    assert [(r.key, r.attempts) for r in claimed] == [("k1", 1), ("k2", 1)]
    assert [r.key for r in queue.claim(T0, 10, dt.timedelta(minutes=10))] == ["k3"]     # the others are leased
    assert queue.claim(T0 + dt.timedelta(minutes=5), 10, dt.timedelta(minutes=10)) == []
    queue.mark_sent(claimed[0].id, T0, "<m1@convenant>")
    queue.mark_retry(claimed[1].id, T0 + dt.timedelta(hours=1), "421 busy")
    queue.mark_failed(queue.list()[2]["id"], "550 no such user", [note("alert")], T0)
    rows = {r["key"]: r for r in queue.list()}
    assert (rows["k1"]["status"], rows["k1"]["message_id"], rows["k1"]["next_attempt_at"]) == ("sent",
                                                                                            "<m1@convenant>", None)
    assert (rows["k2"]["status"], rows["k2"]["last_error"]) == ("pending", "421 busy")
    assert (rows["k3"]["status"], rows["alert"]["status"]) == ("failed", "pending")
    with store.transaction() as tx:
        assert tx.next_mail_at(T0 + dt.timedelta(days=1)) == T0
    assert queue.for_records([1], UTC)[1][0] == {"to": "x@example.org", "status": "sent", "attempts": 1,
                                                 "kind": "reminder", "sent_at": "2025-03-01T08:00:00+00:00"}


def test_refusals_are_kept_apart_and_tokens_are_stored_hashed(store):
    store.log_refusal(T0, BadInput("bad", field="on"), process="a", trigger="sign", actor="x", role="party",
                      party="ipo")
    (row,) = MemoryReadModels(store).refusals()
    assert (row["code"], row["trigger"], row["party"], row["at"]) == (2, "sign", "ipo", "2025-03-01T08:00:00+00:00")
    tokens = MemoryTokens(store)
    secret = tokens.create("api", "party", "ipo", T0)
    assert tokens.find(secret)["party"] == "ipo" and tokens.find("cvn_nope") is None
    assert secret not in str(tokens.list())
    with pytest.raises(NotAllowed):
        tokens.create("api", "secretariat", None, T0)
    assert tokens.revoke("api", T0) is True and tokens.revoke("api", T0) is False
    assert tokens.find(secret) is None and tokens.list()[0]["revoked_at"] == "2025-03-01T08:00:00+00:00"


def test_load_keeps_versions_and_deadline_ids(store):
    p = proc(version=7)
    d = deadline(id=41)
    store.load([p], [d], {"clock_mode": "simulation", "clock_now": T0.isoformat(), "unset": None})
    with store.transaction() as tx:
        got = tx.get_process("a")
        assert got is not None and got.version == 7
        assert [x.id for x in tx.deadlines_of("a")] == [41]
        assert tx.meta("clock_mode") == "simulation" and tx.meta("unset") is None
        fresh = deadline()
        tx.insert_deadline(fresh)
        assert fresh.id == 42


def test_reference_data_once_per_content_and_the_log_beside_the_row(store):
    from convenant.engine.model import Contact, LogEntry, Reference

    def with_reference(pid: str) -> Process:
        p = proc(pid)
        p.reference = Reference(contacts={"ipo": [Contact(name="R.F. Douwstra", email="ipo@example.org")]})
        p.new_log = [LogEntry(kind="progress", effective=dt.date(2025, 4, 15), recorded_at=T0, subject="mkb",
                              data={"status": "on_track"})]
        return p

    with store.transaction() as tx:
        tx.insert_process(with_reference("a"), T0)
        tx.insert_process(with_reference("b"), T0)
    assert len(store._rows("reference_data")) == 1                      # one row for the same content
    with store.transaction() as tx:
        a = tx.get_process("a")
        assert a is not None and a.reference is not None and a.new_log == []
        assert a.reference.contacts["ipo"][0].email == "ipo@example.org"
        (entry,) = tx.log_of("a", "progress")
        assert (entry.subject, entry.effective, entry.data) == ("mkb", dt.date(2025, 4, 15), {"status": "on_track"})
        assert tx.log_of("a", "other") == [] and len(tx.log_of("b")) == 1
    with pytest.raises(Conflict), store.transaction() as tx:               # a rolled-back entry is not kept
        a.new_log = [LogEntry(kind="progress", effective=dt.date(2025, 5, 1), recorded_at=T0, subject="mkb")]
        tx.update_process(a, T0)
        assert len(tx.log_of("a")) == 2
        raise Conflict("meanwhile")
    with store.transaction() as tx:
        assert len(tx.log_of("a")) == 1
