"""The log's service (engine/log.py) on the memory store, the same ports the SQL stores give: the sequencer takes
records in seq order and signs a checkpoint when the tree grew; every record has an inclusion proof and every pair
of checkpoints a consistency proof that the independent verifier accepts; the mail carries the latest checkpoint
and a confirmation its receipt; the periodic checkpoint mail goes to every current party; the key is created once,
beside the config, and never replaced."""
from __future__ import annotations

import json

import pytest

from convenant import verify
from convenant.engine.errors import NotAllowed, NotFound
from convenant.engine.log import LogService
from tests.conftest import KB, on_backends

pytestmark = on_backends("memory")


def key_of(log: LogService) -> verify.VerifierKey:
    return verify.parse_vkey(log.public_key()["public_key"])


def test_the_sequencer_takes_every_record_once_in_seq_order_and_signs_when_the_tree_grew(harness, tmp_path):
    harness.signed()
    log = harness.service.log
    assert (tmp_path / "convenant-log.key").exists()             # the first checkpoint made the key, beside config
    first = log.sequence()
    assert first["appended"] == 4 and first["checkpoint"]          # the signatures, entered after the advance
    assert log.sequence() == {"appended": 0, "size": first["size"], "checkpoint": None}
    harness.fire(KB, "record_work_structure", ref="DO 1", on="2025-03-20")
    made = log.sequence()
    records = list(harness.reads.history())
    assert made["appended"] == 1 and made["size"] == len(records) and made["checkpoint"]["size"] == len(records)
    with harness.store.transaction() as tx:
        leaves = tx.leaves(0, 1000)
    assert [seq for _, seq, _ in leaves] == [r["seq"] for r in records]
    assert log.sequence()["checkpoint"] is None
    latest = log.checkpoint()
    assert verify.verify_checkpoint(latest["note"], key_of(log)).size == len(records)
    assert latest["note"].startswith("convenant.local/log\n")


def test_every_record_proves_inclusion_in_every_checkpoint_that_covers_it(harness):
    harness.signed()
    log = harness.service.log
    for i in range(3):
        harness.fire(KB, "add_note", sets={"text": f"note {i}"})
        log.sequence()
    key = key_of(log)
    cps = log.checkpoints()
    assert len(cps) >= 4
    for rec in harness.reads.history():
        for cp in cps:
            proof = None
            try:
                proof = log.prove(rec["seq"], cp["size"])
            except Exception:
                assert log.prove(rec["seq"])["leaf_index"] >= cp["size"]
                continue
            checked = verify.verify_checkpoint(proof["checkpoint"], key)
            verify.verify_inclusion(bytes.fromhex(proof["leaf_hash"]), proof["leaf_index"], checked.size,
                                    [bytes.fromhex(p) for p in proof["inclusion_proof"]], checked.root)
        receipt = log.receipt(rec["seq"])
        assert verify.verify_receipt(json.loads(json.dumps(receipt)), key)[0]["seq"] == rec["seq"]
    for a in cps:
        for b in cps:
            if a["size"] <= b["size"]:
                doc = log.consistency(a["size"], b["size"])
                verify.verify_consistency_proof(doc["old"], doc["new"], doc, key)
    with pytest.raises(NotFound):
        log.prove(10_000)


def test_the_export_is_what_the_verifier_reads(harness):
    harness.signed()
    log = harness.service.log
    doc = log.export(lambda rows: [{**r, "notifications": [], "confidential": False} for r in rows])
    report = verify.verify_log(json.loads(json.dumps(doc)), key_of(log))
    assert report.records == len(list(harness.reads.history())) == len(doc["records"])


def test_the_key_is_made_once_and_never_replaced(harness, tmp_path):
    log = harness.service.log
    with pytest.raises(NotFound):
        log.public_key()
    made = log.create_key()
    assert made["created"] and made["public_key"].startswith("convenant.local/log+")
    assert (tmp_path / "convenant-log.key").stat().st_mode & 0o777 == 0o600
    with pytest.raises(NotAllowed):
        log.create_key()
    assert log.public_key()["key_id"] == made["key_id"]


def test_the_mail_carries_the_checkpoint_and_a_confirmation_its_receipt(harness):
    harness.signed()
    log = harness.service.log
    notes = [n for n in harness.outbox() if n["kind"] == "confirmation"]
    confirmation = notes[-1]["payload"]
    harness.fire(KB, "add_note", sets={"text": "nog niet in het log"})
    seq = max(r["seq"] for r in harness.reads.history())
    witness = log.witness({**confirmation, "record_seq": seq})    # not in a checkpoint yet: sequenced first
    assert witness["receipt"]["record"]["seq"] == seq
    assert verify.verify_receipt(witness["receipt"], key_of(log))[0]["seq"] == seq
    assert witness["size"] == witness["receipt"]["tree_size"]
    reminder = log.witness({"template": "reminder"})
    assert "receipt" not in reminder and reminder["checkpoint"].endswith("\n")
    secret = harness.fire(KB, "add_note", sets={"text": "geheim", "confidential": "yes"})
    kept_back = log.witness({**confirmation, "record_seq": secret["seq"]})
    assert "receipt" not in kept_back and kept_back["receipt_on_request"] is True


def test_the_periodic_checkpoint_mail_goes_to_every_current_party(make_harness):
    h = make_harness(extra={"log": {"checkpoint_mail_days": 30}})
    h.signed()
    h.advance("2025-05-01T09:00:00+02:00")
    mails = [n for n in h.outbox() if n["kind"] == "checkpoint"]
    assert mails, "a checkpoint mail after 30 days"
    sizes = {n["payload"]["checkpoint_size"] for n in mails}
    parties = {n["to"] for n in mails if n["payload"]["checkpoint_size"] == max(sizes)}
    assert len(parties) >= 4 and not any("secretariaat" in p for p in parties)
    before = len(mails)
    h.advance("2025-05-15T09:00:00+02:00")                      # not 30 days since: no new round
    assert len([n for n in h.outbox() if n["kind"] == "checkpoint"]) == before
