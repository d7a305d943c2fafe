"""The history's CSV form (engine/history.py), which `history --format csv`, `audit export` and the web exports
all write: INTERFACE.md's fields as columns, in order, with a header row."""
from __future__ import annotations

import csv
import io

import pytest

from convenant.engine.history import HISTORY_FIELDS, csv_chunks, to_csv

INTERFACE_FIELDS = ["seq", "process", "trigger", "source", "dest", "actor", "role", "party", "effective",
                    "recorded_at", "article", "ref", "reason", "hash"]


def record(seq: int, **over) -> dict:
    return {"seq": seq, "process": "krachtenbundeling", "trigger": "sign", "source": "signing", "dest": "signing",
            "actor": "Secretariaat CE", "role": "secretariat", "party": "ipo", "effective": "2025-03-20",
            "recorded_at": "2025-03-20T12:00:00+01:00", "article": "Art. 5.3", "ref": None, "reason": None,
            "hash": "ab" * 32, **over}


def test_the_columns_are_interface_md_history_fields_in_order():
    assert list(HISTORY_FIELDS) == INTERFACE_FIELDS
    assert to_csv([]) == ",".join(INTERFACE_FIELDS) + "\n"          # a header row even for no records


def test_a_record_reads_back_field_by_field_and_what_is_not_a_field_stays_out():
    rows = [record(1, ref="Brief 2025/17, bijlage \"A\"", notifications=[{"to": "ipo@example.org"}]),
            record(2, reason="regel 1\nregel 2", party=None)]
    back = list(csv.DictReader(io.StringIO(to_csv(rows))))
    assert list(back[0]) == INTERFACE_FIELDS                          # no notifications column
    assert back[0]["ref"] == 'Brief 2025/17, bijlage "A"' and back[0]["seq"] == "1"
    assert back[1]["reason"] == "regel 1\nregel 2" and back[1]["party"] == ""   # None is an empty cell


def test_a_field_the_record_lacks_is_an_empty_cell_and_text_stays_unicode():
    (row,) = csv.DictReader(io.StringIO(to_csv([{"seq": 3, "actor": "Gemeente Súdwest-Fryslân"}])))
    assert row["actor"] == "Gemeente Súdwest-Fryslân" and row["hash"] == "" and row["seq"] == "3"


def test_a_long_history_streams_in_chunks_that_add_up_to_the_whole():
    rows = [record(i) for i in range(1, 8)]
    chunks = list(csv_chunks(iter(rows), rows_per_chunk=3))
    assert len(chunks) == 3 and chunks[0].startswith("seq,process,")
    assert chunks[0].count("\n") == 4                                 # the header and the first three rows
    assert "".join(chunks) == to_csv(rows)


def test_the_chunk_size_must_be_positive():
    with pytest.raises(ValueError):
        list(csv_chunks([], rows_per_chunk=0))
