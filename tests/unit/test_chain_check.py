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
    row = chained_row(record("open_signing"), None)
    assert row["seq"] == 1 and row["prev_hash"] == GENESIS and row["data"] == "{}"
    # a stored chain is only checkable while this stays the same: the release's databases hold such hashes
    assert row["hash"] == "0f3f15bc314857108708c0367fd581f281cbf722dd5f83ee9e1d3fc79e812f06"


def test_each_row_chains_to_the_head_before_it_and_the_chain_checks_out():
    rows: list[dict] = []
    for i, trigger in enumerate(["open_signing", "sign", "sign"]):
        head = {"seq": rows[-1]["seq"], "hash": rows[-1]["hash"]} if rows else None
        rows.append(chained_row(record(trigger, party=None if i == 0 else f"p{i}", data={"z": 1, "a": [i]}), head))
    assert [r["seq"] for r in rows] == [1, 2, 3] and rows[2]["prev_hash"] == rows[1]["hash"]
    assert rows[1]["data"] == '{"a":[1],"z":1}'                      # canonical JSON: sorted keys, no spaces
    assert check_chain(rows, head_of(rows))["intact"] is True
