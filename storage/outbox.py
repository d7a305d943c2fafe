"""The outbox as the dispatcher sees it: claim due rows with a lease, then mark them sent, retried or failed.
A row is claimed by moving its next attempt past a lease, so no transaction stays open while mail is sent; a
dispatcher that dies after sending leaves the row to be sent again once the lease ends (the same Message-ID)."""
from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from convenant.engine.upcast import upcast_payload
from convenant.storage import tables as t
from convenant.storage.store import SqlStore, aware, naive


@dataclass
class OutboxRow:
    id: int
    key: str
    process_id: str
    root_id: str
    to_addr: str
    to_name: str
    subject: str
    payload: dict[str, Any]
    attempts: int
    kind: str
    created_at: dt.datetime | None = None   # when it was queued (UTC): the dispatcher's retry lifetime counts from it


class OutboxRepo:
    def __init__(self, store: SqlStore) -> None:
        self.store = store

    def claim(self, now: dt.datetime, limit: int, lease: dt.timedelta) -> list[OutboxRow]:
        with self.store.transaction() as tx:
            stmt = (sa.select(t.outbox).where(t.outbox.c.status == "pending",
                                             t.outbox.c.next_attempt_at <= naive(now))
                    .order_by(t.outbox.c.next_attempt_at, t.outbox.c.id).limit(limit))
            if self.store.is_postgres:
                stmt = stmt.with_for_update(skip_locked=True)
            rows = tx.conn.execute(stmt).mappings().all()
            if rows:
                tx.conn.execute(t.outbox.update().where(t.outbox.c.id.in_([r["id"] for r in rows]))
                                .values(next_attempt_at=naive(now + lease), attempts=t.outbox.c.attempts + 1))
        # a payload queued by an older release is read in the format notifications/ renders (engine/upcast.py)
        return [OutboxRow(id=r["id"], key=r["key"], process_id=r["process_id"], root_id=r["root_id"],
                          to_addr=r["to_addr"], to_name=r["to_name"], subject=r["subject"],
                          payload=upcast_payload(r["format"], r["payload"]), attempts=r["attempts"] + 1,
                          kind=r["kind"], created_at=aware(r["created_at"])) for r in rows]

    def mark_sent(self, row_id: int, now: dt.datetime, message_id: str) -> None:
        with self.store.transaction() as tx:
            tx.conn.execute(t.outbox.update().where(t.outbox.c.id == row_id).values(
                status="sent", sent_at=naive(now), next_attempt_at=None, message_id=message_id, last_error=None))

    def mark_retry(self, row_id: int, at: dt.datetime, error: str) -> None:
        with self.store.transaction() as tx:
            tx.conn.execute(t.outbox.update().where(t.outbox.c.id == row_id).values(
                next_attempt_at=naive(at), last_error=error[:1000]))

    def mark_failed(self, row_id: int, error: str, alert: list | None = None, now: dt.datetime | None = None
                    ) -> None:
        """Give up on one message and, in the same transaction, queue the alert to the secretariat."""
        with self.store.transaction() as tx:
            tx.conn.execute(t.outbox.update().where(t.outbox.c.id == row_id).values(
                status="failed", next_attempt_at=None, last_error=error[:1000]))
            if alert:
                if now is None:
                    raise ValueError("an alert is queued at a time: pass now")
                tx.enqueue(alert, now)

    def list(self, status: str | None = None, root_id: str | None = None) -> builtins.list[dict[str, Any]]:
        stmt = sa.select(t.outbox).order_by(t.outbox.c.id)
        if status:
            stmt = stmt.where(t.outbox.c.status == status)
        if root_id:
            stmt = stmt.where(t.outbox.c.root_id == root_id)
        with self.store.reading() as conn:
            return [dict(r) for r in conn.execute(stmt).mappings()]

    def for_records(self, seqs: builtins.list[int], tz: dt.tzinfo | None = None
                    ) -> dict[int, builtins.list[dict[str, Any]]]:
        if not seqs:
            return {}
        with self.store.reading() as conn:
            rows = conn.execute(sa.select(t.outbox.c.record_seq, t.outbox.c.to_addr, t.outbox.c.status,
                                          t.outbox.c.sent_at, t.outbox.c.attempts, t.outbox.c.kind)
                                .where(t.outbox.c.record_seq.in_(seqs)).order_by(t.outbox.c.id)).mappings()
            out: dict[int, builtins.list[dict[str, Any]]] = {}
            zone = tz or dt.UTC
            for r in rows:
                sent = aware(r["sent_at"]).astimezone(zone).isoformat(timespec="seconds") if r["sent_at"] else None
                out.setdefault(r["record_seq"], []).append({"to": r["to_addr"], "status": r["status"],
                                                            "attempts": r["attempts"], "kind": r["kind"],
                                                            "sent_at": sent})
            return out


def with_notifications(store: SqlStore, records: Iterable[dict[str, Any]], page: int = 500,
                       tz: dt.tzinfo | None = None) -> Iterator[dict[str, Any]]:
    """Attach to each history record the notifications it caused (`notifications`: to, status, attempts,
    sent_at), joined on outbox.record_seq with one query per page of records, so the history keeps streaming."""
    repo = OutboxRepo(store)
    batch: list[dict[str, Any]] = []
    for record in records:
        batch.append(record)
        if len(batch) >= page:
            yield from _joined(repo, batch, tz)
            batch = []
    yield from _joined(repo, batch, tz)


def _joined(repo: OutboxRepo, batch: list[dict[str, Any]], tz: dt.tzinfo | None) -> Iterator[dict[str, Any]]:
    found = repo.for_records([r["seq"] for r in batch], tz)
    for record in batch:
        yield {**record, "notifications": found.get(record["seq"], [])}
