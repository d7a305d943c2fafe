"""The history as it leaves the house: the fields of one transition record (INTERFACE.md's `history`) and its CSV
form, one column a field and a header row. `convenant history --format csv`, `convenant audit export` and the
HTTP/page exports all write it here, so the columns cannot drift apart."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

# In this order; a record may carry more (its notifications, a correction's links): the CSV leaves those out.
HISTORY_FIELDS: tuple[str, ...] = ("seq", "process", "trigger", "source", "dest", "actor", "role", "party",
                                   "effective", "recorded_at", "article", "ref", "reason", "hash")


def csv_chunks(records: Iterable[Mapping[str, Any]], *, rows_per_chunk: int = 200) -> Iterator[str]:
    """The records as CSV text (lines end in LF; encode as UTF-8), the header first, yielded every
    `rows_per_chunk` rows so that a long history streams instead of sitting in memory whole. A missing or None
    field is an empty cell."""
    if rows_per_chunk < 1:
        raise ValueError("rows_per_chunk must be at least 1")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=HISTORY_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for i, record in enumerate(records, start=1):
        writer.writerow(record)
        if i % rows_per_chunk == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


def to_csv(records: Iterable[Mapping[str, Any]]) -> str:
    """The whole CSV at once, for a command that prints it."""
    return "".join(csv_chunks(records))
