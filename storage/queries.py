"""The read side: listings, the history stream and the chain check. Histories are streamed in pages of rows,
never loaded whole, so a long history stays cheap in memory."""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets
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
    naive,
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


# -- API tokens ---------------------------------------------------------------------------------------
def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(store: SqlStore, name: str, role: str, party: str | None, now: dt.datetime) -> str:
    token = "cvn_" + secrets.token_urlsafe(32)
    with store.transaction() as tx:
        exists = tx.conn.execute(sa.select(t.tokens.c.id).where(t.tokens.c.name == name)).first()
        if exists:
            from convenant.engine.errors import NotAllowed
            raise NotAllowed(f"a token named {name!r} exists already; revoke it first")
        tx.conn.execute(t.tokens.insert().values(name=name, role=role, party=party, hash=token_hash(token),
                                                 created_at=naive(now)))
    return token


def list_tokens(store: SqlStore) -> list[dict[str, Any]]:
    with store.reading() as conn:
        rows = conn.execute(sa.select(t.tokens.c.name, t.tokens.c.role, t.tokens.c.party, t.tokens.c.created_at,
                                      t.tokens.c.revoked_at).order_by(t.tokens.c.name)).mappings()
        return [{"name": r["name"], "role": r["role"], "party": r["party"],
                 "created_at": aware(r["created_at"]).isoformat(),
                 "revoked_at": aware(r["revoked_at"]).isoformat() if r["revoked_at"] else None} for r in rows]


def revoke_token(store: SqlStore, name: str, now: dt.datetime) -> bool:
    with store.transaction() as tx:
        result = tx.conn.execute(t.tokens.update().where(t.tokens.c.name == name, t.tokens.c.revoked_at.is_(None))
                                 .values(revoked_at=naive(now)))
        return result.rowcount == 1


def find_token(store: SqlStore, token: str) -> dict[str, Any] | None:
    with store.reading() as conn:
        row = conn.execute(sa.select(t.tokens).where(t.tokens.c.hash == token_hash(token),
                                                     t.tokens.c.revoked_at.is_(None))).mappings().first()
        return dict(row) if row else None


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


class SqlTokens:
    """`TokenStore` on SQLAlchemy (tokens are stored as their SHA-256)."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store

    def create(self, name: str, role: str, party: str | None, now: dt.datetime) -> str:
        return create_token(self.store, name, role, party, now)

    def list(self) -> list[dict[str, Any]]:
        return list_tokens(self.store)

    def revoke(self, name: str, now: dt.datetime) -> bool:
        return revoke_token(self.store, name, now)

    def find(self, token: str) -> dict[str, Any] | None:
        return find_token(self.store, token)
