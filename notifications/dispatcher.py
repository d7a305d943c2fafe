"""Drains the outbox apart from the commands that filled it, so a slow mail server never holds a transaction.
A temporary failure (a 4xx answer, a refused or dropped connection, a maildir that cannot be written) is retried
with growing back-off on the engine's clock until the message is `[mail] retry_lifetime_days` old (default 5, as
mail servers keep a message); a permanent refusal (5xx) fails at once. Either way the message is kept, marked
failed with the reason, and the secretariat is told (a `delivery_failed` message)."""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from convenant.engine.model import Notification
from convenant.notifications.render import message_id, render_message, render_subject
from convenant.notifications.transports import PermanentFailure, TemporaryFailure, Transport

log = logging.getLogger(__name__)


class RetryPolicy:
    """When a temporarily failed message is tried again: after base * 2^(n-1) seconds, at most `max_delay`
    apart, and never after its lifetime since it was queued (or queued anew: `outbox resend`, the Outbox page);
    None when the lifetime is over (give up)."""

    def __init__(self, *, base_seconds: int = 300, max_seconds: int = 3600, lifetime_days: float = 5,
                 lease: dt.timedelta = dt.timedelta(minutes=10)) -> None:
        self.base = dt.timedelta(seconds=base_seconds)
        self.max_delay = dt.timedelta(seconds=max_seconds)
        self.lifetime = dt.timedelta(days=lifetime_days)
        self.lease = lease

    def next_attempt(self, attempts: int, queued_at: dt.datetime, now: dt.datetime) -> dt.datetime | None:
        expires = queued_at + self.lifetime
        if now >= expires:
            return None
        delay = self.base * 2 ** min(max(attempts - 1, 0), 30)
        return min(now + min(delay, self.max_delay), expires)

    def lifetime_text(self) -> str:
        days = self.lifetime / dt.timedelta(days=1)
        return f"{days:g} day{'s' if days != 1 else ''}"


class Dispatcher:
    def __init__(self, repo: Any, transport: Transport, *, sender: str, retry: RetryPolicy | None = None,
                 batch_size: int = 100, tz: dt.tzinfo | None = None,
                 secretariat: Callable[[str], list[dict[str, str]]] | None = None,
                 witness: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None) -> None:
        self.repo = repo
        # the log's part of each mail (engine/log.py LogService.witness): the latest checkpoint, a receipt
        self.witness = witness
        self.transport = transport
        self.sender = sender
        self.retry = retry or RetryPolicy()
        self.batch_size = batch_size
        self.tz = tz
        self.secretariat = secretariat
        self.lease = self.retry.lease

    def __call__(self, now: dt.datetime) -> int:
        return self.dispatch(now)

    def dispatch(self, now: dt.datetime) -> int:
        """Send everything due at `now`; returns the number of messages delivered."""
        sent = 0
        while True:
            rows = self.repo.claim(now, self.batch_size, self.lease)
            if not rows:
                return sent
            for row in rows:
                sent += self._one(row, now)

    def _one(self, row: Any, now: dt.datetime) -> int:
        local_now = now.astimezone(self.tz) if self.tz else now
        try:
            log = self.witness(row.payload) if self.witness is not None else None
            msg = render_message(row.payload, sender=self.sender, now=local_now, log=log)
        except (ValueError, KeyError) as exc:  # a payload that cannot become a message will never be sent
            self._fail(row, f"cannot render: {exc}", now)
            return 0
        try:
            self.transport.send(msg)
        except PermanentFailure as exc:
            self._fail(row, f"refused: {exc}", now)
            return 0
        except (TemporaryFailure, OSError) as exc:
            retry_at = self.retry.next_attempt(row.attempts, row.created_at or now, now)
            if retry_at is None:
                self._fail(row, f"gave up after {row.attempts} attempts in {self.retry.lifetime_text()}: {exc}",
                           now)
            else:
                self.repo.mark_retry(row.id, retry_at, str(exc))
            return 0
        self.repo.mark_sent(row.id, now, msg["Message-ID"] or message_id(row.key))
        return 1

    def _fail(self, row: Any, error: str, now: dt.datetime) -> None:
        log.warning("outbox %s to %s failed: %s", row.id, row.to_addr, error)
        alerts: list[Notification] = []
        if self.secretariat is not None and row.kind != "delivery_failed":
            for contact in self.secretariat(row.root_id):
                payload = {**{k: row.payload.get(k) for k in ("agreement_id", "agreement_title", "process_id",
                                                               "article", "deadlines")},
                           "template": "delivery_failed", "lang": contact.get("language", "nl"),
                           "to_name": contact["name"], "to_addr": contact["email"], "failed_to": row.to_addr,
                           "text": error, "record_seq": row.payload.get("record_seq")}
                payload["key"] = f"{row.key}|failed|{contact['email'].lower()}"
                alerts.append(Notification(key=payload["key"], process_id=row.process_id, root_id=row.root_id,
                                           to_addr=contact["email"], to_name=contact["name"],
                                           subject=render_subject(payload), payload=payload,
                                           kind="delivery_failed"))
        self.repo.mark_failed(row.id, error, alerts, now)
