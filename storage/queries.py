"""The read side: listings, the history stream and the chain check. Histories are streamed in pages of rows,
never loaded whole, so a long history stays cheap in memory."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Any

import sqlalchemy as sa

from convenant.engine.model import Deadline, Process
from convenant.storage import tables as t
from convenant.storage.store import (
    SqlStore,
    _deadline,
    _process,
    aware,
    check_chain,
    record_view,
    references_on,
)

PAGE = 1000


def list_roots(store: SqlStore) -> list[Any]:
    with store.reading() as conn:
        rows = conn.execute(sa.select(t.processes).where(t.processes.c.parent_id.is_(None))
                            .order_by(t.processes.c.id)).mappings()
        return [_process(r, references_on(conn)) for r in rows]


def list_deadlines(store: SqlStore, *, statuses: tuple[str, ...] | None, due_until: dt.date | None = None,
                   root_id: str | None = None) -> list[Deadline]:
    stmt = sa.select(t.deadlines)
    if statuses:
        stmt = stmt.where(t.deadlines.c.status.in_(statuses))
    if due_until is not None:
        stmt = stmt.where(t.deadlines.c.due <= due_until)
    if root_id is not None:
        stmt = stmt.where(t.deadlines.c.root_id == root_id)
    stmt = stmt.order_by(t.deadlines.c.due, t.deadlines.c.id)
    with store.reading() as conn:
        return [_deadline(r) for r in conn.execute(stmt).mappings()]


# the record that corrects a record (the latest, where it was corrected more than once): read with the page itself
_CORRECTOR = t.records.alias("corrector")
_CORRECTED_BY = (sa.select(sa.func.max(_CORRECTOR.c.seq)).where(_CORRECTOR.c.corrects == t.records.c.seq)
                 .scalar_subquery().label("corrected_by"))


def history(store: SqlStore, process_id: str | None = None, *, include_children: bool = True,
            party: str | None = None, since: str | None = None, until: str | None = None
            ) -> Iterator[dict[str, Any]]:
    """Records in recording order, in pages (keyset on seq).

    A process with its children is `root = :p OR process = :p`, but that is asked as one of its two halves, so
    that each page walks an index ((root, seq) or (process, seq)) instead of the whole table (PostgreSQL plans the
    OR as a walk of the primary key that filters out every other agreement's records). One half always holds the
    whole answer: if `p` is an agreement, every record with `process = p` has `root = p`; if it is a child, no
    record has `root = p`. So the agreement's half is asked first, and the child's only when the first page of
    the agreement's half is empty (with any filter too: the child's half of an agreement is within its own)."""
    last = 0
    column = None
    if process_id is not None:
        column = t.records.c.root if include_children else t.records.c.process
    while True:
        stmt = sa.select(t.records, _CORRECTED_BY).where(t.records.c.seq > last)
        if column is not None:
            stmt = stmt.where(column == process_id)
        if party:
            stmt = stmt.where(t.records.c.party == party)
        if since:
            stmt = stmt.where(t.records.c.effective >= since)
        if until:
            stmt = stmt.where(t.records.c.effective <= until)
        with store.reading() as conn:
            rows = conn.execute(stmt.order_by(t.records.c.seq).limit(PAGE)).mappings().all()
        if not rows:
            if last == 0 and column is t.records.c.root:
                column = t.records.c.process           # not an agreement: a child's own records
                continue
            return
        for row in rows:
            yield {**record_view(row), "corrected_by": row["corrected_by"]}
        last = rows[-1]["seq"]


def verify_chain(store: SqlStore) -> dict[str, Any]:
    """Recompute every hash in order (storage.store.check_chain), reading the records page by page."""
    def pages() -> Iterator[Any]:
        last = 0
        while True:
            with store.reading() as conn:
                rows = conn.execute(sa.select(t.records).where(t.records.c.seq > last)
                                    .order_by(t.records.c.seq).limit(PAGE)).mappings().all()
            if not rows:
                return
            yield from rows
            last = rows[-1]["seq"]

    def head() -> Any:
        with store.reading() as conn:
            return conn.execute(sa.select(t.chain_head)).mappings().first()

    def heads() -> list[Any]:
        with store.reading() as conn:
            return list(conn.execute(sa.select(t.chain_heads).order_by(t.chain_heads.c.root)).mappings())

    return check_chain(pages(), head, heads)


def refusals(store: SqlStore, limit: int = 200) -> list[dict[str, Any]]:
    with store.reading() as conn:
        rows = conn.execute(sa.select(t.refusals).order_by(t.refusals.c.id.desc()).limit(limit)).mappings()
        return [{**dict(r), "at": aware(r["at"]).isoformat()} for r in rows]


# -- the ports (engine/ports.py) over the functions above -----------------------------------------------
class SqlReadModels:
    """`ReadModels` on SQLAlchemy: listings and the keyset-paged history stream."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store

    def process(self, pid: str) -> Process | None:
        with self.store.reading() as conn:
            row = conn.execute(sa.select(t.processes).where(t.processes.c.id == pid)).mappings().first()
            return _process(row, references_on(conn)) if row else None

    def roots(self) -> list[Process]:
        return list_roots(self.store)

    def children(self, root_id: str) -> list[Process]:
        with self.store.reading() as conn:
            rows = conn.execute(sa.select(t.processes).where(t.processes.c.root_id == root_id,
                                                             t.processes.c.id != root_id)
                                .order_by(t.processes.c.created_at, t.processes.c.id)).mappings()
            return [_process(r, references_on(conn)) for r in rows]

    def deadlines(self, *, statuses: tuple[str, ...] | None, due_until: dt.date | None = None,
                  root_id: str | None = None) -> list[Deadline]:
        return list_deadlines(self.store, statuses=statuses, due_until=due_until, root_id=root_id)

    def history(self, process_id: str | None = None, *, include_children: bool = True, party: str | None = None,
                since: str | None = None, until: str | None = None) -> Iterator[dict[str, Any]]:
        return history(self.store, process_id, include_children=include_children, party=party, since=since,
                       until=until)

    def with_notifications(self, records: Iterable[dict[str, Any]], tz: dt.tzinfo) -> Iterator[dict[str, Any]]:
        from convenant.storage.outbox import with_notifications
        return with_notifications(self.store, records, tz=tz)

    def verify_chain(self) -> dict[str, Any]:
        return verify_chain(self.store)

    def refusals(self, limit: int = 200) -> list[dict[str, Any]]:
        return refusals(self.store, limit)

    def outbox(self, status: str | None = None, root_id: str | None = None) -> list[dict[str, Any]]:
        from convenant.storage.outbox import OutboxRepo
        return OutboxRepo(self.store).list(status, root_id)
