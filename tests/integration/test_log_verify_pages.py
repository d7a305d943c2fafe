"""audit verify checks the log's leaves page by page against the records between them (issue 15: batched, and a
page in O(n log n)); it still finds a record slipped between two leaves after the log took them in."""
from __future__ import annotations

import sqlalchemy as sa

from convenant.storage import tables as t
from convenant.storage.store import GENESIS, hashed_fields, record_hash
from tests.conftest import KB, Harness

REPORT = {"theme": "ruimte", "status": "on_track"}


def test_a_record_slipped_between_two_leaves_is_named(tmp_path):
    h = Harness(f"sqlite:///{tmp_path / 'slip.db'}", tmp_path)
    try:
        h.active()
        h.fire(KB, "report_progress", sets=REPORT)
        with h.store.engine.begin() as conn:      # a placeholder makes the next seq jump, then goes
            row = dict(conn.execute(sa.select(t.records).order_by(t.records.c.seq.desc()).limit(1)).mappings().one())
            conn.execute(t.records.insert(), {**row, "seq": 1_000, "root": "placeholder", "process": "placeholder"})
        h.fire(KB, "report_progress", sets=REPORT)
        with h.store.engine.begin() as conn:
            conn.execute(t.records.delete().where(t.records.c.seq == 1_000))
        h.service.log.sequence()
        assert h.service.log.verify()["intact"]
        assert {r["seq"] for r in h.history()} >= {row["seq"], 1_001}

        ghost = {**row, "seq": 500, "root": "ghost", "process": "ghost", "prev_hash": GENESIS}
        ghost["hash"] = record_hash(hashed_fields(ghost), GENESIS)     # a well-formed record of a chain of its own
        with h.store.engine.begin() as conn:
            conn.execute(t.records.insert(), ghost)
        found = h.service.log.verify()
        assert not found["intact"]
        assert found["first_bad"] == 500
        assert "record 500 is in no leaf of the log, though record 1001 after it is" in found["problem"]
    finally:
        h.close()
