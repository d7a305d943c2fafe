"""Read models the API and the pages share: the agreements overview, deadlines and history, each filtered to
what the principal may see, and the history export in the CLI's formats."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from typing import Any

from convenant.app.web.auth import Principal, may_see, root_of
from convenant.engine.dates import parse_date
from convenant.engine.errors import BadInput
from convenant.engine.views import deadline_view
from convenant.engine.views import show as show_view
from convenant.storage.queries import history as history_stream
from convenant.storage.queries import list_deadlines, list_roots

HISTORY_COLUMNS = ["seq", "process", "trigger", "source", "dest", "actor", "role", "party", "effective",
                   "recorded_at", "article", "ref", "reason", "hash"]


def visible_roots(service, principal: Principal) -> list[Any]:
    return [r for r in list_roots(service.store) if may_see(principal, r)]


def agreements(service, principal: Principal) -> list[dict[str, Any]]:
    """One row per agreement: the fields of `agreements list --json`, plus open decisions and missed deadlines."""
    rows = []
    for root in visible_roots(service, principal):
        doc = show_view(service, root.id, principal.role, principal.party)
        deadlines = doc["deadlines"] + [d for c in doc["children"] for d in c["deadlines"]]
        open_ = sorted((d for d in deadlines if d["status"] == "open"), key=lambda d: (d["due"], d["process"]))
        decisions = [{**dec, "process": doc["id"]} for dec in doc["decisions"]] + \
            [{**dec, "process": c["id"]} for c in doc["children"] if not c["final"] for dec in c["decisions"]]
        nxt = open_[0] if open_ else None
        rows.append({
            "id": root.id, "workflow": root.workflow, "state": root.state, "state_title": doc["state_title"],
            "title": root.data.get("title"), "effective_from": doc["effective_from"], "ends_on": doc["ends_on"],
            "next_deadline": {"kind": nxt["kind"], "due": nxt["due"], "process": nxt["process"]} if nxt else None,
            "open_decisions": [{"process": d["process"], "name": d["name"], "article": d["article"]}
                               for d in decisions if not d["outcome"]],
            "missed_deadlines": [{"process": d["process"], "kind": d["kind"], "due": d["due"]}
                                 for d in deadlines if d["status"] == "missed"],
            "version": doc["version"]})
    return rows


def deadlines(service, principal: Principal, *, within: int | None = None, show_all: bool = False,
              include_missed: bool = False) -> list[dict[str, Any]]:
    """Open deadlines soonest first (`deadlines --json`); `include_missed` adds missed ones not met yet."""
    until = service.today() + dt.timedelta(days=within) if within is not None else None
    statuses = None if show_all else (("open", "missed") if include_missed else ("open",))
    seen = {r.id: r for r in list_roots(service.store)}
    out = []
    for d in list_deadlines(service.store, statuses=statuses, due_until=until):
        root = seen.get(d.root_id)
        if root is None or not may_see(principal, root):
            continue
        if include_missed and not show_all and d.status == "missed" and d.met_on is not None:
            continue
        out.append({**deadline_view(service, d), "id": d.id})
    return out


def check_date(value: str | None, field: str) -> str | None:
    if value is None or value == "":
        return None
    try:
        return parse_date(value, field).isoformat()
    except ValueError as exc:
        raise BadInput(str(exc), field=field) from None


def records(service, principal: Principal, *, process: str | None = None, party: str | None = None,
            since: str | None = None, until: str | None = None) -> Iterator[dict[str, Any]]:
    """The history stream (recording order), limited to the principal's agreements. The filters are checked
    here, at once; the rows are read lazily, page by page."""
    since, until = check_date(since, "since"), check_date(until, "until")
    include_children = True
    if process is not None:
        with service.store.transaction() as tx:
            proc = tx.get_process(process)
        include_children = proc is not None and proc.parent_id is None
    allowed = {r.id for r in visible_roots(service, principal)} if principal.role == "party" else None
    rows = history_stream(service.store, process, include_children=include_children, party=party or None,
                          since=since, until=until)
    rows = (rec for rec in rows if allowed is None or root_of(rec["process"]) in allowed)
    # As `history --json`: each record's notifications, and confidential notes hidden from whoever may not
    # read them (Art. 5.9, engine/confidential.py) - a party token reads as that party.
    from convenant.engine.confidential import redact
    from convenant.storage.outbox import with_notifications
    return (redact(rec, principal.role, principal.party)
            for rec in with_notifications(service.store, rows, tz=service.tz))


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
