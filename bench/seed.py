"""Many agreements with a due reminder, fast: one agreement goes through the engine (created, signing opened,
signed), then its process row and its publication deadline are copied in bulk. The copies are what the engine
would have written for agreements signed on the same day, so a sweep over them does real work: each one's next
reminder is due at the same moment, to the responsible party and the secretariat.

Used by the benchmark and by the worker tests (tests/integration/test_workers.py)."""
from __future__ import annotations

import contextlib
import datetime as dt
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from convenant.engine.clock import UTC
from convenant.storage import tables as t

PG_ADMIN_URL = os.environ.get("CONVENANT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
START = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
SIGNED_ON = "2025-03-01"
CHUNK = 5000


@dataclass
class Seeded:
    ids: list[str]                 # process ids, the template first
    due_at: dt.datetime            # when every seeded reminder falls due (the clock is set there)
    step: int                      # the deadline step each one is at before the sweep
    next_at: dt.datetime           # where each one's next step lies after the sweep
    recipients: int                # notifications one reminder queues


def open_app(url: str, workdir: Path, *, batch_size: int | None = None):
    """An App on `url` as `convenant` would build it from a config.toml with these settings."""
    from convenant.app.bootstrap import build
    from convenant.app.bootstrap import config_from_dict as settings_from_dict

    raw: dict[str, Any] = {"database": {"url": url}, "mail": {"transport": "maildir", "path": str(workdir / "mail")}}
    if batch_size:
        raw["scheduler"] = {"batch_size": batch_size}
    return build(settings=settings_from_dict(raw, base_dir=workdir))


def make_app(url: str, workdir: Path, *, batch_size: int | None = None):
    """An App on `url`, migrated, on a virtual clock at START."""
    app = open_app(url, workdir, batch_size=batch_size)
    app.store.migrate()
    set_clock(app, START)
    return app


def set_clock(app, at: dt.datetime) -> None:
    with app.store.transaction() as tx:
        tx.set_meta("clock_mode", "simulation")
        tx.set_meta("clock_now", at.astimezone(UTC).isoformat())


@contextlib.contextmanager
def pg_database(admin_url: str = PG_ADMIN_URL) -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards."""
    name = f"convenant_b_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def example_data(app) -> dict[str, Any]:
    from convenant import workflows
    from convenant.engine.agreements import read_data_file

    return read_data_file(workflows.example_file(app.service.workflow("krachtenbundeling")))


def signed_agreement(app, pid: str) -> None:
    """Through the engine: created, signing opened, signed by the four signatories on SIGNED_ON."""
    s = app.service
    s.create_agreement("krachtenbundeling", example_data(app), pid=pid)
    s.fire(pid, "open_signing", actor="Secretariaat", role="secretariat")
    for party in ("ienw", "ipo", "uvw", "vng"):
        s.fire(pid, "sign", actor=f"namens {party}", role="party", party=party, on=SIGNED_ON)


def seed_agreements(app, n: int, *, prefix: str = "bench") -> Seeded:
    """`n` signed agreements whose publication reminder falls due at one moment; the clock is set there."""
    from convenant.engine.deadlines import plan, step_at
    from convenant.engine.notify import deadline_notifications

    template = f"{prefix}-{0:06d}"
    signed_agreement(app, template)
    store, service = app.store, app.service
    with store.transaction() as tx:
        proc_row = dict(tx.conn.execute(sa.select(t.processes).where(t.processes.c.id == template))
                        .mappings().one())
        dl_row = dict(tx.conn.execute(sa.select(t.deadlines).where(t.deadlines.c.process_id == template,
                                                                   t.deadlines.c.kind == "publication"))
                      .mappings().one())
        # only the publication deadline takes part: the template's others wait for later
        tx.conn.execute(t.deadlines.update().where(t.deadlines.c.process_id == template,
                                                   t.deadlines.c.kind != "publication").values(next_at=None))
        tx.conn.execute(t.processes.update().where(t.processes.c.id == template).values(next_auto_at=None))
        deadline = tx.get_deadline(dl_row["id"])
        proc = tx.get_process(template)
    steps = plan(deadline.kind, deadline.due, deadline.created_at, service.settings, moment=deadline.moment)
    step = step_at(steps, deadline.step)
    following = step_at(steps, deadline.step + 1)
    assert step is not None and step.kind == "reminder" and following is not None
    wf = service.workflow(proc.workflow)
    recipients = len(deadline_notifications(service, wf, (proc, proc), deadline, step, step.moment))
    ids = [template] + [f"{prefix}-{i:06d}" for i in range(1, n)]
    proc_row.update(next_auto_at=None)
    dl_row.pop("id")
    with store.transaction() as tx:
        for start in range(1, n, CHUNK):
            chunk = ids[start:start + CHUNK]
            tx.conn.execute(t.processes.insert(), [{**proc_row, "id": i, "root_id": i} for i in chunk])
            tx.conn.execute(t.deadlines.insert(), [{**dl_row, "process_id": i, "root_id": i} for i in chunk])
    if store.is_postgres:
        with store.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text("ANALYZE"))
    set_clock(app, step.moment)
    return Seeded(ids=ids, due_at=step.moment, step=deadline.step, next_at=following.moment,
                  recipients=recipients)


def sweep_outcome(app, seeded: Seeded) -> dict[str, int]:
    """What a sweep left: deadlines advanced exactly one step, still due, and outbox rows (unique keys)."""
    with app.store.reading() as conn:
        d = t.deadlines.c
        advanced = conn.execute(sa.select(sa.func.count()).where(
            d.kind == "publication", d.step == seeded.step + 1,
            d.next_at == seeded.next_at.astimezone(UTC).replace(tzinfo=None))).scalar()
        untouched = conn.execute(sa.select(sa.func.count()).where(
            d.kind == "publication", d.step == seeded.step)).scalar()
        other = conn.execute(sa.select(sa.func.count()).where(
            d.kind == "publication", d.step.not_in([seeded.step, seeded.step + 1]))).scalar()
        reminders = t.outbox.c.kind == "reminder"
        rows = conn.execute(sa.select(sa.func.count()).where(reminders)).scalar()
        keys = conn.execute(sa.select(sa.func.count(sa.distinct(t.outbox.c.key))).where(reminders)).scalar()
    return {"advanced": advanced, "untouched": untouched, "other": other, "outbox": rows, "keys": keys}


def due_snapshot(app, seeded: Seeded) -> dict[str, Any]:
    """The seeded publication deadlines' step and next moment before a sweep (they are all the template's)."""
    with app.store.reading() as conn:
        row = conn.execute(sa.select(t.deadlines.c.step, t.deadlines.c.next_at).where(
            t.deadlines.c.process_id == seeded.ids[0], t.deadlines.c.kind == "publication")).one()
    return {"step": row.step, "next_at": row.next_at}


def reset_due(app, snapshot: dict[str, Any]) -> None:
    """Undo a sweep over seeded agreements: every publication deadline back at its step, the outbox empty (a
    reminder writes nothing else); then VACUUM ANALYZE (PostgreSQL) or a WAL checkpoint (SQLite), so that each
    round starts from the same tables."""
    store = app.store
    with store.engine.begin() as conn:
        conn.execute(t.deadlines.update().where(t.deadlines.c.kind == "publication").values(**snapshot))
        conn.execute(t.outbox.delete())
    if store.is_postgres:
        with store.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.execute(sa.text("VACUUM ANALYZE deadlines"))
            conn.execute(sa.text("VACUUM ANALYZE outbox"))
    else:
        import sqlite3
        raw = sqlite3.connect(store.engine.url.database or "", timeout=60)
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        raw.close()
