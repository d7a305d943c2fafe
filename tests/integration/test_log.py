"""The verifiable log from outside, on SQLite and PostgreSQL (issue 14).

Whoever administers the database can change any row. These tests do what such a person would - edit any field
of a record, delete, insert or reorder records, rewrite a record and recompute every later hash, every leaf and
every checkpoint (with the installation's key, or with a fresh one) - and check that the independent verifier
(`convenant-verify`), given only the published public key and a checkpoint a party kept from an earlier email,
finds each one; and that `audit verify` names the record. `audit replay` finds a `processes` or `deadlines` row
edited without a record. A receipt from a confirmation email checks with no database at all."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from convenant import verify
from convenant.storage.store import hashed_fields, make_engine, record_hash
from tests.conftest import Cli, signed

KB = "krachtenbundeling"


# -- the scene: two agreements, acts recorded, mail sent, a checkpoint kept by a party -----------------------
def attachment(message: Any, name: str) -> bytes | None:
    for part in message.walk():
        if part.get_filename() == name:
            return part.get_payload(decode=True)
    return None


class Scene:
    def __init__(self, c: Cli, url: str) -> None:
        self.c, self.url, self.dir = c, url, c.root
        self.key = self.dir / "published-key.json"
        self.key.write_text(json.dumps(c.run("keys", "show").data), encoding="utf-8")
        self.kept = self.dir / "kept-checkpoint.txt"
        notes = [attachment(m, "checkpoint.txt") for m in c.messages()]
        notes = [n for n in notes if n]
        assert notes, "every mail carries the latest checkpoint"
        self.kept.write_bytes(max(notes, key=lambda n: int(n.decode().split("\n")[1])))
        self.kept_size = int(self.kept.read_text().split("\n")[1])

    def engine(self) -> sa.Engine:
        return make_engine(self.url)

    def sql(self, *statements: str, **params: Any) -> None:
        engine = self.engine()
        try:
            with engine.begin() as conn:
                for s in statements:
                    conn.execute(sa.text(s), params)
        finally:
            engine.dispose()

    def rows(self, query: str, **params: Any) -> list[dict[str, Any]]:
        engine = self.engine()
        try:
            with engine.connect() as conn:
                return [dict(r) for r in conn.execute(sa.text(query), params).mappings()]
        finally:
            engine.dispose()

    def export(self, name: str = "export.json") -> Path:
        path = self.dir / name
        self.c.run("audit", "export", "--format", "json", "--out", str(path))
        return path

    def verifier(self, *args: str) -> int:
        return verify.main([*args])

    def check(self, export: Path | None = None, key: Path | None = None, kept: bool = True) -> int:
        export = export or self.export()
        args = ["log", str(export), "--key", str(key or self.key)]
        return self.verifier(*args, *(["--checkpoint", str(self.kept)] if kept else []))


@pytest.fixture
def scene(cli_any: Cli, db_url: str) -> Scene:
    c = signed(cli_any)                                             # records 1-6, confirmations queued
    c.run("agreements", "create", "--example", KB, "--id", "other")
    c.trigger("other", "open_signing")
    c.advance("2025-03-25T10:00:00+01:00")                          # mail out, with checkpoints
    c.trigger(KB, "publish", ref="Stcrt. 2025, 11512", on="2025-03-25")
    c.advance("2025-04-01T09:00:00+02:00")                          # activate; later records
    c.trigger("other", "sign", role="party", party="ipo", actor="namens ipo", on="2025-04-01")
    c.run("audit", "checkpoint")
    return Scene(c, db_url)


def test_an_untouched_log_verifies_with_the_published_key_and_the_kept_checkpoint(scene):
    assert scene.c.run("audit", "verify").data["intact"] is True
    assert scene.check() == 0
    export = json.loads(scene.export().read_text())
    assert [r["leaf_index"] for r in export["records"]] == list(range(len(export["records"])))
    assert [r["seq"] for r in export["records"]] == sorted(r["seq"] for r in export["records"])
    roots = {r["process"].split("/")[0] for r in export["records"]}
    assert roots == {KB, "other"}
    # each agreement's records chain to its own previous record: other's first one starts at the genesis hash
    first_other = next(r for r in export["records"] if r["process"] == "other")
    assert first_other["prev_hash"] == "0" * 64
    by_hash = {r["hash"]: r for r in export["records"]}
    for r in export["records"]:
        if r["prev_hash"] != "0" * 64:
            assert by_hash[r["prev_hash"]]["process"].split("/")[0] == r["process"].split("/")[0]


FIELDS = {"process": "'other'", "trigger": "'sign_up'", "source": "'draft'", "dest": "'ended'",
          "actor": "'iemand anders'", "role": "'auditor'", "party": "'vng'", "effective": "'2025-03-19'",
          "recorded_at": "'2025-03-19T09:00:00+01:00'", "article": "'Art. 9.9'", "ref": "'vervalst'",
          "reason": "'nooit gebeurd'", "data": """'{"params":{"extend":"yes"}}'""", "prev_hash": f"'{'1' * 64}'",
          "hash": f"'{'2' * 64}'", "corrects": "2"}


def test_an_edit_of_any_field_of_any_record_is_found(scene):
    target = scene.rows("select * from records where process = :p and trigger = 'sign' order by seq", p=KB)[1]
    assert target["seq"] <= scene.kept_size                           # covered by the party's checkpoint
    for field, value in FIELDS.items():
        scene.sql(f"update records set {field} = {value} where seq = :s", s=target["seq"])
        assert scene.check() == 3, field
        assert scene.check(kept=False) == 3, field                      # the export's own checkpoints see it too
        verdict = scene.c.run("audit", "verify", expect=3)
        assert json.loads(verdict.out)["first_bad"] == target["seq"], field
        scene.sql(f"update records set {field} = :v where seq = :s", v=target[field], s=target["seq"])
    assert scene.check() == 0 and scene.c.run("audit", "verify").code == 0


def test_a_deleted_an_inserted_and_a_reordered_record_are_found(scene):
    rows = scene.rows("select * from records order by seq")
    victim = rows[3]
    scene.sql("delete from records where seq = :s", s=victim["seq"])
    assert scene.check() == 3
    assert json.loads(scene.c.run("audit", "verify", expect=3).out)["first_bad"] == victim["seq"]
    columns = ", ".join(victim)
    scene.sql(f"insert into records ({columns}) values ({', '.join(':' + k for k in victim)})", **victim)
    assert scene.check() == 0

    a, b = rows[4]["seq"], rows[5]["seq"]
    scene.sql("update records set seq = -1 where seq = :a", "update records set seq = :a where seq = :b",
              "update records set seq = :b where seq = -1", a=a, b=b)
    assert scene.check() == 3
    assert json.loads(scene.c.run("audit", "verify", expect=3).out)["first_bad"] == a
    scene.sql("update records set seq = -1 where seq = :a", "update records set seq = :a where seq = :b",
              "update records set seq = :b where seq = -1", a=a, b=b)
    assert scene.check() == 0

    # a record slipped in between two logged ones, the later ones renumbered to make room
    k = rows[2]["seq"]
    fake = {**rows[2], "seq": k + 1, "reason": "ingevoegd"}
    scene.sql("update records set seq = -(seq + 1) where seq > :k", "update records set seq = -seq where seq < 0",
              f"insert into records ({columns}) values ({', '.join(':' + c for c in fake)})", k=k,
              **{c: v for c, v in fake.items() if c != "k"})
    assert scene.check() == 3
    assert json.loads(scene.c.run("audit", "verify", expect=3).out)["first_bad"] == k + 1


def rewrite_history(scene: Scene, seq: int, **changes: Any) -> None:
    """What an administrator with a plan would do: change a record, recompute its hash and every later hash of its
    agreement's chain (and the chain head), throw the log away and let the sequencer build and sign it anew."""
    target = scene.rows("select * from records where seq = :s", s=seq)[0]
    chain = scene.rows("select * from records where root = :r and seq >= :s order by seq", r=target["root"], s=seq)
    prev = target["prev_hash"]
    engine = scene.engine()
    with engine.begin() as conn:
        for row in chain:
            row = {**row, **(changes if row["seq"] == seq else {}), "prev_hash": prev}
            row["hash"] = prev = record_hash(hashed_fields(row), prev)
            conn.execute(sa.text("update records set reason = :reason, prev_hash = :prev_hash, hash = :hash "
                                 "where seq = :seq"), row)
        conn.execute(sa.text("update chain_heads set hash = :h where root = :r"), {"h": prev, "r": target["root"]})
        for table in ("log_leaves", "log_subtrees", "log_checkpoints", "log_state"):
            conn.execute(sa.text(f"delete from {table}"))
    engine.dispose()


def test_a_rewritten_history_resigned_with_the_installations_key_is_found_by_the_kept_checkpoint(scene):
    seq = scene.rows("select seq from records where trigger = 'sign' order by seq")[0]["seq"]
    rewrite_history(scene, seq, reason="ondertekend onder voorbehoud")
    scene.c.run("audit", "checkpoint")                                   # the sequencer signs the new log
    assert scene.c.run("audit", "verify").data["intact"] is True       # the database agrees with itself now
    assert scene.check(kept=False) == 0                                 # and so does the export, taken alone
    assert scene.check() == 3                                           # but not with what the party was shown


def test_a_rewritten_history_signed_with_a_fresh_key_is_found(scene):
    seq = scene.rows("select seq from records where trigger = 'sign' order by seq")[0]["seq"]
    rewrite_history(scene, seq, reason="ondertekend onder voorbehoud")
    key_file = scene.dir / "convenant-log.key"
    shutil.move(key_file, scene.dir / "old.key")
    scene.c.run("audit", "checkpoint")                                   # the first checkpoint makes a new key
    assert key_file.exists()
    assert scene.check(kept=False) == 3                                 # not signed by the published key
    fresh = scene.dir / "fresh-key.json"
    fresh.write_text(json.dumps(scene.c.run("keys", "show").data))
    assert scene.check(key=fresh, kept=False) == 0                      # consistent under its own key...
    assert scene.check(key=fresh) == 3                                  # ...which did not sign what was mailed


def test_consistency_proofs_between_every_pair_of_checkpoints(scene):
    sizes = [c["size"] for c in json.loads(scene.export().read_text())["checkpoints"]]
    assert len(sizes) >= 3
    for i, old in enumerate(sizes):
        for new in sizes[i:]:
            doc = scene.c.run("audit", "consistency", "--from", str(old), "--to", str(new)).data
            (scene.dir / "old.txt").write_text(doc["old"])
            (scene.dir / "new.txt").write_text(doc["new"])
            (scene.dir / "proof.json").write_text(json.dumps(doc))
            assert scene.verifier("consistency", str(scene.dir / "old.txt"), str(scene.dir / "new.txt"),
                                  "--proof", str(scene.dir / "proof.json"), "--key", str(scene.key)) == 0
    doc["proof"] = doc["proof"][::-1] or ["00" * 32]
    (scene.dir / "proof.json").write_text(json.dumps(doc))
    if sizes[0] != sizes[-1]:
        (scene.dir / "old.txt").write_text(scene.c.run("audit", "consistency", "--from", str(sizes[0]), "--to",
                                                       str(sizes[-1])).data["old"])
        doc = scene.c.run("audit", "consistency", "--from", str(sizes[0]), "--to", str(sizes[-1])).data
        (scene.dir / "new.txt").write_text(doc["new"])
        (scene.dir / "proof.json").write_text(json.dumps({**doc, "proof": ["00" * 32] * len(doc["proof"])}))
        assert scene.verifier("consistency", str(scene.dir / "old.txt"), str(scene.dir / "new.txt"), "--proof",
                              str(scene.dir / "proof.json"), "--key", str(scene.key)) == 3


def test_inclusion_proofs_and_receipts_of_every_record(scene):
    for rec in json.loads(scene.export().read_text())["records"]:
        proof = scene.c.run("audit", "prove", "--seq", str(rec["seq"])).data
        assert proof["leaf_index"] == rec["leaf_index"] and proof["leaf_hash"] == rec["leaf_hash"]
        out = scene.dir / f"receipt-{rec['seq']}.json"
        scene.c.run("audit", "receipt", str(rec["seq"]), "--out", str(out))
        assert scene.verifier("receipt", str(out), "--key", str(scene.key)) == 0
    scene.c.run("audit", "prove", "--seq", "99999", expect=4)
    first = json.loads(scene.export().read_text())["checkpoints"][0]["size"]
    scene.c.run("audit", "prove", "--seq", "1", "--checkpoint", str(first))


# -- audit replay: state follows from the history --------------------------------------------------------------
EDITS = [("update processes set state = 'ended' where id = :p", "state"),
         ("update deadlines set due = '2025-12-31' where process_id = :p and kind = 'work_structure'",
          "deadline work_structure: due"),
         ("update deadlines set status = 'met' where process_id = :p and kind = 'work_structure'",
          "deadline work_structure: status")]


def test_replay_finds_processes_and_deadlines_rows_edited_without_a_record(scene):
    assert scene.c.run("audit", "replay").data["equal"] is True
    for statement, field in EDITS:
        before = scene.rows("select * from processes where id = :p", p=KB)[0]
        deadlines = scene.rows("select * from deadlines where process_id = :p order by id", p=KB)
        scene.sql(statement, p=KB)
        res = scene.c.run("audit", "replay", expect=3)
        found = json.loads(res.out)["differences"]
        assert any(d["process"] == KB and d["field"] == field for d in found), (field, found)
        assert f"{KB}: {field}" in res.err
        assert scene.c.run("audit", "verify").code == 0             # the history itself is untouched
        scene.sql("update processes set state = :state where id = :id", **before)
        for d in deadlines:
            scene.sql("update deadlines set due = :due, status = :status where id = :id", **d)
    # the agreement's facts (its data column) edited by hand: the end date
    row = scene.rows("select id, data from processes where id = :p", p=KB)[0]
    data = json.loads(row["data"]) if isinstance(row["data"], str) else row["data"]
    data["facts"]["ends_on"] = "2030-01-01"
    scene.sql("update processes set data = :d where id = :p", d=json.dumps(data), p=KB)
    found = json.loads(scene.c.run("audit", "replay", expect=3).out)["differences"]
    assert any(d["field"] == "data.facts.ends_on" and d["stored"] == "2030-01-01" for d in found), found


# -- a party's receipt, checked with nothing but the published key ---------------------------------------------
def test_a_receipt_from_a_confirmation_email_checks_with_no_database(tmp_path):
    (tmp_path / "office").mkdir()
    c = signed(Cli(tmp_path / "office", f"sqlite:///{tmp_path / 'office' / 'convenant.db'}"))
    c.advance("2025-03-21T09:00:00+01:00")
    key = c.run("keys", "show").data["public_key"]
    confirmations = [m for m in c.messages() if attachment(m, "receipt.json")]
    assert confirmations, "a confirmation carries its record's receipt"
    mail = next(m for m in confirmations if json.loads(attachment(m, "receipt.json"))["record"]["party"] == "ipo")
    party = tmp_path / "party"                                      # the party's own machine: the mail and the key
    party.mkdir()
    (party / "receipt.json").write_bytes(attachment(mail, "receipt.json"))
    (party / "checkpoint.txt").write_bytes(attachment(mail, "checkpoint.txt"))
    assert mail["Convenant-Checkpoint"].split()[1] == (party / "checkpoint.txt").read_text().split("\n")[1]
    shutil.rmtree(tmp_path / "office")                               # no database, no installation
    assert verify.main(["receipt", str(party / "receipt.json"), "--key", key]) == 0
    receipt = json.loads((party / "receipt.json").read_text())
    assert receipt["record"]["trigger"] == "sign" and receipt["record"]["party"] == "ipo"
    receipt["record"]["effective"] = "2025-03-01"                  # the act's date, changed afterwards
    (party / "forged.json").write_text(json.dumps(receipt))
    assert verify.main(["receipt", str(party / "forged.json"), "--key", key]) == 3
