"""convenant-verify (convenant/verify.py) on files, as an auditor runs it: exported logs, receipts and
consistency proofs made with the engine's tree and signing (engine/merkle.py, engine/signing.py), then tampered
with in every way the issue names. Exit 0 valid, 3 not valid, 2 bad input."""
from __future__ import annotations

import ast
import copy
import datetime as dt
import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from convenant import verify
from convenant.engine import signing
from convenant.engine.merkle import MerkleLog
from convenant.verify import GENESIS, canonical_json, main, record_leaf_hash

ORIGIN = "secretariaat.example.org/krachtenbundeling"
PUBLISHED = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"the published key").digest())
FRESH = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"a fresh key").digest())
START = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC)

# (process, trigger, role, party, data params); seq follows the order; two agreements, one child process
ACTS: list[tuple[str, str, str, str | None, dict[str, Any]]] = [
    ("krachtenbundeling", "open_signing", "secretariat", None, {}),
    ("stedendriehoek", "open_signing", "secretariat", None, {}),
    ("krachtenbundeling", "sign", "party", "ienw", {}),
    ("krachtenbundeling", "sign", "party", "bzk", {}),
    ("stedendriehoek", "sign", "party", "apeldoorn", {}),
    ("krachtenbundeling", "sign", "party", "ipo", {"note": "ondertekend te Den Haag – ‘met voorbehoud’"}),
    ("krachtenbundeling", "publish", "party", "ienw", {}),
    ("krachtenbundeling", "request_amendment", "party", "vng", {"change": "Art. 3.4 lid 2"}),
    ("krachtenbundeling/amendment-1", "consent", "party", "ienw", {}),
    ("krachtenbundeling", "sign", "secretariat", "ipo", {}),          # corrects seq 6 (below)
    ("stedendriehoek", "report_progress", "secretariat", None, {"theme": "vth", "status": "on_track"}),
    ("krachtenbundeling/amendment-1", "consent", "party", "bzk", {"confidential": "yes", "text": "intern"}),
]
CORRECTS = {10: 6}
CHECKPOINTS = (4, 8, 12)


def chain_hash(fields: dict[str, Any], prev: str) -> str:
    """Stands in for the database's chain formula (the verifier only checks the links)."""
    return hashlib.sha256((prev + "\n").encode() + canonical_json(fields)).hexdigest()


class Log:
    """An installation's log: records chained per agreement, a tree, and signed checkpoints."""

    def __init__(self, key: Ed25519PrivateKey = PUBLISHED, edit: dict[int, dict[str, Any]] | None = None,
                 checkpoints: tuple[int, ...] = CHECKPOINTS) -> None:
        self.key, self.tree = key, MerkleLog()
        self.records: list[dict[str, Any]] = []
        self.notes: dict[int, str] = {}
        heads: dict[str, str] = {}
        for seq, (process, trigger, role, party, params) in enumerate(ACTS, 1):
            record: dict[str, Any] = {"seq": seq, "process": process, "trigger": trigger, "source": "draft", "dest": "signing",
                      "actor": "J. de Vries", "role": role, "party": party, "effective": f"2025-03-{seq:02d}",
                      "recorded_at": (START + dt.timedelta(days=seq)).isoformat(), "article": "Art. 5.1",
                      "ref": f"brief-{seq}", "reason": None, "data": {"params": dict(params)},
                      "corrects": CORRECTS.get(seq)}
            record.update((edit or {}).get(seq, {}))
            agreement = process.split("/")[0]
            record["prev_hash"] = heads.get(agreement, GENESIS)
            record["hash"] = heads[agreement] = chain_hash(record, record["prev_hash"])
            self.records.append(record)
            self.tree.append(record_leaf_hash(record))
            if seq in checkpoints:
                self.notes[seq] = signing.sign_checkpoint(key, ORIGIN, seq, self.tree.root(),
                                                          START + dt.timedelta(days=seq, hours=1))

    def export(self) -> dict[str, Any]:
        corrected_by = {v: k for k, v in CORRECTS.items()}
        rows = [{**copy.deepcopy(r), "leaf_index": i, "leaf_hash": self.tree.leaves[i].hex(), "corrected_by": corrected_by.get(r["seq"]),
                 "notifications": [{"to": "ienw@example.org", "status": "sent", "attempts": 1}],
                 "confidential": r["data"]["params"].get("confidential") == "yes"}
                for i, r in enumerate(self.records)]
        return {"format": "convenant-log-v1", "origin": ORIGIN, "records": rows,
                "checkpoints": [{"size": size, "root": self.tree.root(size).hex(), "note": note}
                                for size, note in sorted(self.notes.items())]}

    def receipt(self, seq: int, size: int = CHECKPOINTS[-1]) -> dict[str, Any]:
        index = seq - 1
        return {"format": "convenant-receipt-v1", "record": self.export()["records"][index], "leaf_index": index,
                "leaf_hash": self.tree.leaves[index].hex(), "tree_size": size,
                "inclusion_proof": [h.hex() for h in self.tree.inclusion_proof(index, size)],
                "checkpoint": self.notes[size]}

    def consistency(self, size1: int, size2: int) -> dict[str, Any]:
        return {"from": size1, "to": size2, "proof": [h.hex() for h in self.tree.consistency_proof(size1, size2)]}


LOG = Log()
VKEY = signing.vkey(ORIGIN, PUBLISHED)


def write(tmp_path: Path, name: str, content: Any) -> str:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content if isinstance(content, str) else json.dumps(content, ensure_ascii=False),
                        encoding="utf-8")
    return str(path)


def run(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def check_log(tmp_path, capsys, doc, *kept: str, key: str = VKEY) -> tuple[int, str]:
    args = ["log", write(tmp_path, "export.json", doc), "--key", key]
    for i, note in enumerate(kept):
        args += ["--checkpoint", write(tmp_path, f"kept-{i}.txt", note)]
    return run(capsys, *args)


def recompute_leaves(doc: dict[str, Any]) -> dict[str, Any]:
    for i, r in enumerate(doc["records"]):
        r["leaf_index"], r["leaf_hash"] = i, record_leaf_hash(r).hex()
    return doc


# -- valid ------------------------------------------------------------------------------------------------
def test_a_valid_log_with_kept_checkpoints(tmp_path, capsys):
    code, out = check_log(tmp_path, capsys, LOG.export(), LOG.notes[4], LOG.notes[8])
    assert code == 0, out
    assert "valid: 12 records" in out and "3 checkpoints" in out and "2 kept checkpoints" in out
    assert "2025-03-13T10:00:00+00:00" in out                                  # the latest checkpoint's time


def test_an_empty_log(tmp_path, capsys):
    empty = signing.sign_checkpoint(PUBLISHED, ORIGIN, 0, verify.EMPTY_ROOT)
    doc = {"records": [], "checkpoints": [{"note": empty}]}
    code, out = check_log(tmp_path, capsys, doc, empty)
    assert code == 0 and "valid: 0 records" in out, out
    code, out = check_log(tmp_path, capsys, doc, LOG.notes[4])
    assert code == 3 and "covers 4 records but the log holds 0" in out
    wrong = signing.sign_checkpoint(PUBLISHED, ORIGIN, 0, LOG.tree.root(4))
    code, out = check_log(tmp_path, capsys, {"records": [], "checkpoints": [{"note": wrong}]})
    assert code == 3 and "does not match an empty log" in out


def test_the_key_as_text_as_a_file_and_as_keys_show_json(tmp_path, capsys):
    export = write(tmp_path, "export.json", LOG.export())
    key_file = write(tmp_path, "key.pub", VKEY + "\n")
    shown = write(tmp_path, "key.json", {"public_key": VKEY, "key_id": f"{verify.parse_vkey(VKEY).key_id:08x}"})
    for key in (VKEY, key_file, shown):
        assert run(capsys, "log", export, "--key", key)[0] == 0


def test_every_receipt_verifies(tmp_path, capsys):
    for size in CHECKPOINTS:
        for seq in range(1, size + 1):
            code, out = run(capsys, "receipt", write(tmp_path, "r.json", LOG.receipt(seq, size)), "--key", VKEY)
            assert code == 0, out
            assert f"record seq {seq} ({ACTS[seq - 1][0]} {ACTS[seq - 1][1]})" in out and f"size {size}" in out


def test_consistency_between_kept_checkpoints(tmp_path, capsys):
    for old, new in ((4, 8), (4, 12), (8, 12), (12, 12)):
        code, out = run(capsys, "consistency", write(tmp_path, "old.txt", LOG.notes[old]),
                        write(tmp_path, "new.txt", LOG.notes[new]),
                        "--proof", write(tmp_path, "proof.json", LOG.consistency(old, new)), "--key", VKEY)
        assert code == 0, out
        assert f"size {new} extends the log at size {old}" in out


def test_note_files_saved_with_crlf_line_ends(tmp_path, capsys):
    crlf = LOG.notes[4].replace("\n", "\r\n").encode()
    code, out = run(capsys, "log", write(tmp_path, "e.json", LOG.export()), "--key", VKEY,
                    "--checkpoint", write(tmp_path, "mail.txt", crlf))
    assert code == 0, out


def test_a_checkpoint_kept_as_the_json_of_audit_checkpoint(tmp_path, capsys):
    shown = write(tmp_path, "cp.json", {"size": 8, "root": LOG.tree.root(8).hex(), "note": LOG.notes[8]})
    code, out = run(capsys, "log", write(tmp_path, "e.json", LOG.export()), "--key", VKEY, "--checkpoint", shown)
    assert code == 0 and "1 kept checkpoints" in out, out
    code, out = run(capsys, "consistency", shown, write(tmp_path, "new.txt", LOG.notes[12]),
                    "--proof", write(tmp_path, "p.json", LOG.consistency(8, 12)), "--key", VKEY)
    assert code == 0, out
    code, out = run(capsys, "log", write(tmp_path, "e.json", LOG.export()), "--key", VKEY,
                    "--checkpoint", write(tmp_path, "bad.json", {"size": 8}))
    assert code == 2 and "bad.json.note: missing" in out


def test_a_redacted_record_is_bound_by_its_leaf_hash_only(tmp_path, capsys):
    doc = LOG.export()
    hidden = doc["records"][11]
    hidden["data"]["params"]["text"] = "[vertrouwelijk - Art. 5.9]"
    hidden["redacted"] = True
    code, out = check_log(tmp_path, capsys, doc)
    assert code == 0, out
    assert "not checked (redacted for this reader" in out and "seq 12" in out
    hidden["leaf_hash"] = "ab" * 32                                            # but the leaf is still bound
    code, out = check_log(tmp_path, capsys, doc)
    assert code == 3 and "does not match the records" in out


def test_the_console_script_module(tmp_path):
    export = write(tmp_path, "export.json", LOG.export())
    ok = subprocess.run([sys.executable, "-m", "convenant.verify", "log", export, "--key", VKEY],
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and ok.stdout.startswith("valid:"), ok.stderr
    doc = LOG.export()
    doc["records"][0]["actor"] = "someone else"
    bad = subprocess.run([sys.executable, "-m", "convenant.verify", "log", write(tmp_path, "bad.json", doc),
                          "--key", VKEY], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 3 and "record seq 1 (leaf 0)" in bad.stderr


# -- tampering: exit 3, naming what is wrong --------------------------------------------------------------
def test_editing_any_committed_field_of_any_record(tmp_path, capsys):
    fields = [k for k in LOG.records[0] if k not in ("seq",)]
    for index in range(len(LOG.records)):
        for field in fields:
            doc = LOG.export()
            record = doc["records"][index]
            record[field] = {"params": {"x": "y"}} if field == "data" else f"{record[field]}-changed"
            code, out = check_log(tmp_path, capsys, doc)
            assert code == 3, (index, field, out)
            assert f"record seq {index + 1} (leaf {index}): its content does not match its leaf hash" in out
    doc = LOG.export()
    doc["records"][7]["data"]["params"]["change"] = "Art. 3.4 lid 3"             # deep inside the data
    code, out = check_log(tmp_path, capsys, doc)
    assert code == 3 and "record seq 8 (leaf 7)" in out
    doc = LOG.export()
    doc["records"][4]["seq"] = 99
    code, out = check_log(tmp_path, capsys, doc)
    assert code == 3 and "record seq 99 (leaf 4)" in out


def test_an_edit_with_its_leaf_hash_recomputed(tmp_path, capsys):
    doc = LOG.export()
    doc["records"][5]["ref"] = "brief-rewritten"
    code, out = check_log(tmp_path, capsys, recompute_leaves(doc))
    assert code == 3
    assert "checkpoints[1] (size 8) does not match the records: of the first 8 (up to seq 8) one was changed" in out
    assert "the first 4 match" in out and "checkpoints[0] (size 4)" in out


@pytest.mark.parametrize("how", ["delete", "delete-renumbered", "insert", "insert-renumbered", "reorder",
                                 "reorder-renumbered", "duplicate"])
def test_deleting_inserting_or_reordering_records(tmp_path, capsys, how):
    doc = LOG.export()
    records = doc["records"]
    if how.startswith("delete"):
        del records[3]
    elif how.startswith("insert"):
        extra = copy.deepcopy(records[2])
        extra.update(seq=40, actor="smuggled in")
        extra["leaf_hash"] = record_leaf_hash(extra).hex()
        records.insert(3, extra)
    elif how.startswith("reorder"):
        records[2], records[3] = records[3], records[2]
    else:
        records.insert(6, copy.deepcopy(records[5]))
    if how.endswith("renumbered"):
        recompute_leaves(doc)
    code, out = check_log(tmp_path, capsys, doc)
    assert code == 3, out
    assert "record seq" in out or "does not match the records" in out


def test_records_cut_from_the_end_are_seen_only_by_whoever_kept_a_later_checkpoint(tmp_path, capsys):
    doc = LOG.export()
    doc["records"] = doc["records"][:8]
    doc["checkpoints"] = doc["checkpoints"][:2]
    code, out = check_log(tmp_path, capsys, doc)
    assert code == 3 and "record seq 6: corrected_by names seq 10, which does not correct it" in out
    doc["records"][5]["corrected_by"] = None                           # as an export made at size 8 shows it
    assert check_log(tmp_path, capsys, doc)[0] == 0                  # a consistent prefix, on its own
    code, out = check_log(tmp_path, capsys, doc, LOG.notes[12])
    assert code == 3 and "covers 12 records but the log holds 8: records at the end were removed" in out
    doc = LOG.export()
    doc["records"] = doc["records"][:10]                               # checkpoint 12 kept in the export
    code, out = check_log(tmp_path, capsys, doc)
    assert code == 3 and "covers 12 records but the log holds 10" in out


def test_records_not_covered_by_a_checkpoint(tmp_path, capsys):
    doc = LOG.export()
    doc["checkpoints"] = doc["checkpoints"][:2]
    code, out = check_log(tmp_path, capsys, doc)
    assert code == 3 and "records from leaf 8 on (seq 9) are covered by no signed checkpoint" in out
    doc["checkpoints"] = []
    code, out = check_log(tmp_path, capsys, doc)
    assert code == 3 and "no signed checkpoint" in out


def test_a_rewritten_log_resigned_with_a_fresh_key(tmp_path, capsys):
    """The operator rewrites record 3, recomputes every later hash, the tree and every checkpoint, and signs
    them with a fresh key; the auditor holds the published key and a checkpoint from an earlier mail."""
    forged = Log(key=FRESH, edit={3: {"party": "bzk", "ref": "brief-3-antedated"}})
    assert forged.records[3]["prev_hash"] != LOG.records[3]["prev_hash"]      # later hashes did change
    code, out = check_log(tmp_path, capsys, forged.export(), LOG.notes[4])
    assert code == 3 and "not signed by the published key" in out
    code, out = check_log(tmp_path, capsys, forged.export(), LOG.notes[4], key=signing.vkey(ORIGIN, FRESH))
    assert code == 3 and "your checkpoint" in out and "not signed by the published key" in out


def test_a_rewritten_log_resigned_with_the_real_key(tmp_path, capsys):
    """Whoever holds the installation's key can re-sign a rewritten log: a checkpoint kept from earlier shows it."""
    forged = Log(edit={3: {"ref": "brief-3-antedated"}})
    assert check_log(tmp_path, capsys, forged.export())[0] == 0       # consistent in itself
    code, out = check_log(tmp_path, capsys, forged.export(), LOG.notes[8])
    assert code == 3 and "your checkpoint" in out and "(size 8) does not match the records" in out
    code, out = check_log(tmp_path, capsys, forged.export(), LOG.notes[4], LOG.notes[12])
    assert code == 3 and "kept-0.txt (size 4) does not match the records: of the first 4 (up to seq 4)" in out
    code, out = run(capsys, "consistency", write(tmp_path, "old.txt", LOG.notes[4]),
                    write(tmp_path, "new.txt", forged.notes[12]),
                    "--proof", write(tmp_path, "p.json", forged.consistency(4, 12)), "--key", VKEY)
    assert code == 3 and "does not show that the log at size 12 extends the log at size 4" in out


def test_tampered_checkpoints_in_the_export(tmp_path, capsys):
    doc = LOG.export()
    doc["checkpoints"][1]["note"] = doc["checkpoints"][1]["note"].replace("\n8\n", "\n7\n")
    code, out = check_log(tmp_path, capsys, doc)
    assert code == 3 and "checkpoints[1]" in out and "does not verify" in out
    doc = LOG.export()
    doc["checkpoints"][1]["root"] = doc["checkpoints"][2]["root"]
    code, out = check_log(tmp_path, capsys, doc)
    assert code == 3 and "differs from its signed note" in out
    doc = LOG.export()
    doc["checkpoints"][0]["note"] = signing.sign_checkpoint(PUBLISHED, "another.example.org/log", 4,
                                                            LOG.tree.root(4), name=ORIGIN)
    code, out = check_log(tmp_path, capsys, doc)
    assert code == 3 and "is of another log" in out


def test_corrected_by_is_checked_against_the_committed_corrects(tmp_path, capsys):
    doc = LOG.export()
    doc["records"][5]["corrected_by"] = None
    code, out = check_log(tmp_path, capsys, doc)
    assert code == 3 and "record seq 6: it is corrected by seq 10 but says it is not" in out
    doc = LOG.export()
    doc["records"][2]["corrected_by"] = 11
    code, out = check_log(tmp_path, capsys, doc)
    assert code == 3 and "record seq 3: corrected_by names seq 11, which does not correct it" in out


def test_a_broken_chain_link(tmp_path, capsys):
    doc = LOG.export()
    doc["records"][8]["prev_hash"] = "cd" * 32
    code, out = check_log(tmp_path, capsys, recompute_leaves(doc))
    assert code == 3 and "record seq 9 (leaf 8): its prev_hash names no earlier record" in out
    doc = LOG.export()
    doc["records"][4]["prev_hash"] = doc["records"][0]["hash"]        # a fork: seq 1 already followed by seq 3
    code, out = check_log(tmp_path, capsys, recompute_leaves(doc))
    assert code == 3 and "record seq 1 already has a successor (seq 3)" in out


def test_tampered_receipts(tmp_path, capsys):
    def check(receipt: dict[str, Any]) -> tuple[int, str]:
        return run(capsys, "receipt", write(tmp_path, "receipt.json", receipt), "--key", VKEY)

    receipt = LOG.receipt(6)
    receipt["record"]["effective"] = "2025-02-28"
    code, out = check(receipt)
    assert code == 3 and "record seq 6: its content does not match the receipt's leaf hash" in out
    receipt = LOG.receipt(6)
    receipt["record"]["effective"] = "2025-02-28"
    del receipt["leaf_hash"]
    code, out = check(receipt)
    assert code == 3 and "is not shown at leaf 5" in out
    receipt = LOG.receipt(6)
    receipt["leaf_index"] = 6
    assert check(receipt)[0] == 3
    receipt = LOG.receipt(6)
    receipt["inclusion_proof"][1] = "00" * 32
    assert check(receipt)[0] == 3
    receipt = LOG.receipt(6)
    receipt["inclusion_proof"].pop()
    assert check(receipt)[0] == 3
    receipt = LOG.receipt(6)
    receipt["checkpoint"] = Log(key=FRESH).notes[12]
    code, out = check(receipt)
    assert code == 3 and "the receipt's checkpoint: not signed by the published key" in out
    receipt = LOG.receipt(6)
    receipt["checkpoint"] = LOG.notes[8]
    code, out = check(receipt)
    assert code == 3 and "tree size 12 but its checkpoint is of size 8" in out
    receipt = LOG.receipt(10, 12)
    receipt.update(checkpoint=LOG.notes[8], tree_size=8)                       # a record the checkpoint lacks
    code, out = check(receipt)
    assert code == 3 and "outside a tree of 8 leaves" in out
    receipt = LOG.receipt(12)
    receipt["record"]["redacted"] = True
    code, out = check(receipt)
    assert code == 3 and "redacted" in out


def test_tampered_consistency_proofs(tmp_path, capsys):
    def check(old: str, new: str, proof: Any, key: str = VKEY) -> tuple[int, str]:
        return run(capsys, "consistency", write(tmp_path, "old.txt", old), write(tmp_path, "new.txt", new),
                   "--proof", write(tmp_path, "proof.json", proof), "--key", key)

    code, out = check(LOG.notes[12], LOG.notes[4], LOG.consistency(4, 12))
    assert code == 3 and "proof.json.from is 4 but the checkpoint is of size 12" in out
    code, out = check(LOG.notes[12], LOG.notes[4], {"proof": LOG.consistency(4, 12)["proof"]})
    assert code == 3 and "the log shrank" in out
    bad = LOG.consistency(4, 12)
    bad["proof"][0] = "11" * 32
    assert check(LOG.notes[4], LOG.notes[12], bad)[0] == 3
    bad = LOG.consistency(4, 12)
    bad["proof"].append("11" * 32)
    code, out = check(LOG.notes[4], LOG.notes[12], bad)
    assert code == 3 and "too long" in out
    code, out = check(LOG.notes[4], Log(key=FRESH).notes[12], LOG.consistency(4, 12))
    assert code == 3 and "new.txt: not signed by the published key" in out
    other = signing.sign_checkpoint(PUBLISHED, "another.example.org/log", 12, LOG.tree.root(12), name=ORIGIN)
    code, out = check(LOG.notes[4], other, LOG.consistency(4, 12))
    assert code == 3 and "different logs" in out


# -- bad input: exit 2, naming the file and the field -----------------------------------------------------
def _without(doc: dict[str, Any], *path: Any) -> dict[str, Any]:
    target = doc
    for step in path[:-1]:
        target = target[step]
    del target[path[-1]]
    return doc


BAD_EXPORTS: list[tuple[str, Any, str]] = [
    ("not-json", b"{\"records\": [", "not JSON"),
    ("not-utf8", b"\xff\xfe{}", "not UTF-8"),
    ("a-list", [], "expected a JSON object"),
    ("no-records", _without(LOG.export(), "records"), "records: missing"),
    ("records-not-a-list", {**LOG.export(), "records": {}}, "records: expected list"),
    ("no-seq", _without(LOG.export(), "records", 1, "seq"), "records[1].seq: missing"),
    ("bool-seq", {**LOG.export(), "records": [{**LOG.export()["records"][0], "seq": True}]}, "records[0].seq"),
    ("bad-leaf-hash", {**LOG.export(), "records": [{**r, "leaf_hash": "xyz"} for r in LOG.export()["records"]]},
     "records[0].leaf_hash: not a SHA-256 hash"),
    ("no-hash", _without(LOG.export(), "records", 2, "hash"), "records[2].hash: missing"),
    ("no-note", _without(LOG.export(), "checkpoints", 0, "note"), "checkpoints[0].note: missing"),
    ("garbage-note", {**LOG.export(), "checkpoints": [{"note": "hello"}]}, "not a signed note"),
    ("nan", b'{"records": [], "checkpoints": [], "x": NaN}', "NaN is not a JSON value"),
    ("format", {**LOG.export(), "format": "something-else"}, "format: 'something-else' is not"),
    ("lone-surrogate", json.dumps({**LOG.export(), "records": [{**LOG.export()["records"][0], "reason": "\ud800"}]}),
     "records[0]: not serialisable as canonical JSON"),
    ("deep", "[" * 100_000 + "]" * 100_000, "nested too deeply"),
]


@pytest.mark.parametrize("content,message", [(c, m) for _, c, m in BAD_EXPORTS], ids=[n for n, _, _ in BAD_EXPORTS])
def test_garbage_exports(tmp_path, capsys, content, message):
    path = write(tmp_path, "export.json", content)
    code, out = run(capsys, "log", path, "--key", VKEY)
    assert code == 2, out
    assert message in out and "export.json" in out


def test_other_bad_input(tmp_path, capsys):
    export = write(tmp_path, "export.json", LOG.export())
    code, out = run(capsys, "log", str(tmp_path / "missing.json"), "--key", VKEY)
    assert code == 2 and "missing.json: cannot read" in out
    code, out = run(capsys, "log", export, "--key", "not a key")
    assert code == 2 and "--key" in out
    code, out = run(capsys, "log", export, "--key", write(tmp_path, "k.json", {"key_id": "x"}))
    assert code == 2 and "--key" in out
    code, out = run(capsys, "log", export, "--key", VKEY, "--checkpoint", write(tmp_path, "mail.txt", "hello\n"))
    assert code == 2 and "mail.txt" in out
    receipt = LOG.receipt(3)
    del receipt["inclusion_proof"]
    code, out = run(capsys, "receipt", write(tmp_path, "r.json", receipt), "--key", VKEY)
    assert code == 2 and "r.json.inclusion_proof: missing" in out
    receipt = LOG.receipt(3)
    receipt["inclusion_proof"][1] = " ".join(receipt["inclusion_proof"][1][i:i + 2] for i in range(0, 44, 2))[:64]
    code, out = run(capsys, "receipt", write(tmp_path, "r.json", receipt), "--key", VKEY)
    assert code == 2 and "r.json.inclusion_proof[1]: not a SHA-256 hash" in out      # 64 characters, not 32 bytes
    receipt = LOG.receipt(3)
    receipt["inclusion_proof"][0] = 7
    code, out = run(capsys, "receipt", write(tmp_path, "r.json", receipt), "--key", VKEY)
    assert code == 2 and "r.json.inclusion_proof[0]: not a SHA-256 hash" in out
    code, out = run(capsys, "consistency", write(tmp_path, "o.txt", LOG.notes[4]),
                    write(tmp_path, "n.txt", LOG.notes[8]), "--proof", write(tmp_path, "p.json", b"[1,"), "--key",
                    VKEY)
    assert code == 2 and "p.json: not JSON" in out
    code, out = run(capsys, "consistency", write(tmp_path, "o.txt", "garbage"),
                    write(tmp_path, "n.txt", LOG.notes[8]), "--proof", write(tmp_path, "p.json", {"proof": []}),
                    "--key", VKEY)
    assert code == 2 and "o.txt" in out
    with pytest.raises(SystemExit) as exit_info:                   # argparse: a missing --key
        main(["log", export])
    assert exit_info.value.code == 2


# -- the verifier stands alone ----------------------------------------------------------------------------
def test_the_verifier_imports_only_the_standard_library_and_cryptography():
    """And rfc3161-client, imported only to check a time-stamp token (issue 14's trusted time)."""
    source = Path(verify.__file__).read_text(encoding="utf-8")
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "no relative imports"
            imported.add((node.module or "").split(".")[0])
    assert "cryptography" in imported and "convenant" not in imported
    outside = {name for name in imported if name not in sys.stdlib_module_names and name != "cryptography"}
    assert outside <= {"rfc3161_client"}, outside
    top_level = {alias.name for node in ast.parse(source).body if isinstance(node, ast.Import | ast.ImportFrom)
                 for alias in node.names} | {node.module for node in ast.parse(source).body
                                              if isinstance(node, ast.ImportFrom)}
    assert "rfc3161_client" not in top_level, "imported where a token is checked, not on every run"
