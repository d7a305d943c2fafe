"""The history export in the CLI's formats, streamed, for the API and the pages (the read models themselves are
the service layer's: engine/queries.py)."""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

HISTORY_COLUMNS = ["seq", "process", "trigger", "source", "dest", "actor", "role", "party", "effective",
                   "recorded_at", "article", "ref", "reason", "hash"]


def as_csv(rows) -> Iterator[str]:
    """UTF-8 CSV, one column per history field and a header row (as `audit export --format csv`)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=HISTORY_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for i, row in enumerate(rows):
        writer.writerow(row)
        if i % 200 == 199:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


def as_json(rows) -> Iterator[str]:
    """A JSON list streamed record by record, so a long history never sits in memory whole."""
    yield "["
    first = True
    for row in rows:
        yield ("" if first else ",") + "\n" + json.dumps(row, ensure_ascii=False)
        first = False
    yield "\n]\n"
