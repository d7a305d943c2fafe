"""The tamper-evident chain as both stores write and check it: storage.store.chained_row builds a record's row
(its hash over its content and the previous hash), storage.store.check_chain judges a chain - an edited, a removed,
a reordered record and a removed tail are each found, naming the first bad one."""
from __future__ import annotations

import json

from convenant.engine.model import Record
from convenant.storage.store import GENESIS, chained_row, check_chain, hashed_fields, record_hash, record_view


def chain(n: int) -> list[dict]:
    rows, prev = [], GENESIS
    for seq in range(1, n + 1):
        row = {"seq": seq, "process": "krachtenbundeling", "root": "krachtenbundeling", "trigger": "sign",
               "source": "signing", "dest": "signing", "actor": "Secretariaat CE", "role": "secretariat",
               "party": f"p{seq}", "effective": "2025-03-20", "recorded_at": "2025-03-20T11:00:00+00:00",
               "article": "Art. 5.3", "ref": None, "reason": None, "data": json.dumps({"n": seq}), "format": 1,
               "prev_hash": prev}
        row["hash"] = prev = record_hash(hashed_fields(row), prev)
        rows.append(row)
    return rows


def head_of(rows: list[dict]):
    return lambda: {"seq": rows[-1]["seq"], "hash": rows[-1]["hash"]} if rows else None


def test_an_intact_chain_and_an_empty_one():
    rows = chain(4)
    assert check_chain(rows, head_of(rows)) == {"intact": True, "records": 4, "head": rows[-1]["hash"]}
    assert check_chain([], lambda: None) == {"intact": True, "records": 0, "head": GENESIS}


def test_an_edited_record_is_found_by_its_hash():
    rows = chain(4)
    rows[2] = {**rows[2], "party": "vng"}
    verdict = check_chain(rows, head_of(rows))
    assert verdict["intact"] is False and verdict["first_bad"] == 3 and "edited" in verdict["problem"]
    assert verdict["records"] == 2


def test_a_removed_or_reordered_record_breaks_the_sequence():
    rows = chain(4)
    verdict = check_chain(rows[:1] + rows[2:], head_of(rows))
    assert verdict["first_bad"] == 2 and "record 2 is missing" in verdict["problem"]
    swapped = [rows[0], rows[2], rows[1], rows[3]]
    assert check_chain(swapped, head_of(rows))["first_bad"] == 2


def test_a_relinked_record_is_found_by_its_link():
    rows = chain(3)
    rows[1] = {**rows[1], "prev_hash": "f" * 64}
    assert "link to the previous record" in check_chain(rows, head_of(rows))["problem"]


def test_a_removed_tail_is_found_by_the_head_read_after_the_records():
    rows = chain(5)
    seen: list[int] = []

    def records():
        for row in rows[:3]:
            seen.append(row["seq"])
            yield row

    def head():
        assert seen == [1, 2, 3], "the head is read once the records are through"
        return {"seq": 5, "hash": rows[-1]["hash"]}

    verdict = check_chain(records(), head)
    assert verdict == {"intact": False, "records": 3, "first_bad": 4,
                       "problem": "the chain head says 5 records but 3 were found (records removed at the end)"}


def test_the_history_view_of_a_row():
    (row,) = chain(1)
    view = record_view(row)
    assert view["data"] == {"n": 1} and view["prev_hash"] == GENESIS and view["hash"] == row["hash"]
    assert "root" not in view and "format" not in view


def record(trigger: str, **over) -> Record:
    fields = {"process": "krachtenbundeling", "root": "krachtenbundeling", "trigger": trigger, "source": "draft",
              "dest": "signing", "actor": "Secretariaat CE", "role": "secretariat", "party": None,
              "effective": "2025-03-20", "recorded_at": "2025-03-20T11:00:00+00:00", "article": "Art. 5.3", **over}
    return Record(**fields)


def test_the_first_row_follows_the_genesis_hash_and_its_hash_never_changes():
    row = chained_row(record("open_signing"), None, fmt=1)
    assert row["seq"] == 1 and row["prev_hash"] == GENESIS and row["data"] == "{}"
    # a stored chain is only checkable while this stays the same: the release's databases hold such hashes
    assert row["hash"] == "0f3f15bc314857108708c0367fd581f281cbf722dd5f83ee9e1d3fc79e812f06"
    # format 2 (per-agreement chains) also commits to the record it corrects
    row = chained_row(record("open_signing"), None, seq=7)
    assert row["seq"] == 7 and row["format"] == 2 and row["corrects"] is None and row["prev_hash"] == GENESIS
    assert row["hash"] == record_hash({**hashed_fields({**row, "format": 1}), "format": 2, "corrects": None}, GENESIS)


def v2_chain(roots: list[str]) -> list[dict]:
    """Format-2 records of several agreements, interleaved in seq order, each chained to its agreement's last."""
    rows: list[dict] = []
    heads: dict[str, dict] = {}
    for seq, root in enumerate(roots, 1):
        row = chained_row(record("sign", process=root, root=root, party=f"p{seq}"), heads.get(root), seq=seq * 2)
        heads[root] = row
        rows.append(row)
    return rows


def heads_of(rows: list[dict]):
    def read() -> list[dict]:
        out: dict[str, dict] = {}
        for r in rows:
            n = out.get(r["root"], {"records": 0})["records"]
            out[r["root"]] = {"root": r["root"], "seq": r["seq"], "hash": r["hash"], "records": n + 1}
        return list(out.values())
    return read


def test_agreements_chain_apart_and_each_chain_is_checked():
    rows = v2_chain(["a", "b", "a", "b", "a"])
    assert rows[2]["prev_hash"] == rows[0]["hash"] and rows[3]["prev_hash"] == rows[1]["hash"]
    assert rows[1]["prev_hash"] == GENESIS                            # b's first record starts b's chain
    assert check_chain(rows, lambda: None, heads_of(rows))["intact"] is True   # seq may have gaps (PostgreSQL)
    edited = [*rows[:3], {**rows[3], "actor": "iemand"}, rows[4]]
    verdict = check_chain(edited, lambda: None, heads_of(rows))
    assert verdict["first_bad"] == rows[3]["seq"] and "edited" in verdict["problem"]
    removed = rows[:2] + rows[3:]                                      # a's second record
    verdict = check_chain(removed, lambda: None, heads_of(rows))
    assert verdict["first_bad"] == rows[4]["seq"] and "agreement a" in verdict["problem"]
    verdict = check_chain(rows[:4], lambda: None, heads_of(rows))      # a's last record removed
    assert verdict["intact"] is False and verdict["first_bad"] == rows[4]["seq"] and "removed at the end" in \
        verdict["problem"]


def test_format_1_records_keep_their_global_chain_before_the_per_agreement_ones():
    legacy = chain(3)
    new = v2_chain(["krachtenbundeling", "other"])
    new = [{**r, "seq": 3 + i + 1} for i, r in enumerate(new)]
    new = [chained_row(record("sign", process=r["process"], root=r["root"], party=r["party"]), None, seq=r["seq"])
           for r in new]
    rows = legacy + new
    assert check_chain(rows, head_of(legacy), heads_of(new))["intact"] is True
    verdict = check_chain(legacy[1:] + new, head_of(legacy), heads_of(new))
    assert verdict["first_bad"] == 1 and "record 1 is missing" in verdict["problem"]


def test_each_row_chains_to_the_head_before_it_and_the_chain_checks_out():
    rows: list[dict] = []
    for i, trigger in enumerate(["open_signing", "sign", "sign"]):
        head = {"seq": rows[-1]["seq"], "hash": rows[-1]["hash"]} if rows else None
        rows.append(chained_row(record(trigger, party=None if i == 0 else f"p{i}", data={"z": 1, "a": [i]}), head,
                                fmt=1))
    assert [r["seq"] for r in rows] == [1, 2, 3] and rows[2]["prev_hash"] == rows[1]["hash"]
    assert rows[1]["data"] == '{"a":[1],"z":1}'                      # canonical JSON: sorted keys, no spaces
    assert check_chain(rows, head_of(rows))["intact"] is True
