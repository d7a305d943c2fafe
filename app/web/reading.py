"""The history export as a streamed JSON list, for the API and the pages (its CSV form is engine/history.py's,
shared with the CLI; the read models themselves are the service layer's: engine/queries.py)."""
from __future__ import annotations

import json
from collections.abc import Iterator


def as_json(rows) -> Iterator[str]:
    """A JSON list streamed record by record, so a long history never sits in memory whole."""
    yield "["
    first = True
    for row in rows:
        yield ("" if first else ",") + "\n" + json.dumps(row, ensure_ascii=False)
        first = False
    yield "\n]\n"
