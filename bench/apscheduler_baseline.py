"""The baseline for the reminder sweep: one APScheduler 3 date job per deadline in its SQLAlchemyJobStore, all
falling due at once (a burst, as when a reminder time arrives for many agreements). The jobs are written to the
job store in one transaction beforehand, in APScheduler's own pickled form, so that only firing is timed. The job
does nothing: this measures the rate at which APScheduler can fire jobs at all, and how many it drops with its
default misfire_grace_time (1 second)."""
from __future__ import annotations

import datetime as dt
import logging
import pickle
import threading
import time
from typing import Any

UTC = dt.UTC


def reminder_job(deadline_id: int) -> None:
    """Stands in for the work of one reminder; APScheduler calls it by its textual reference."""


def burst(url: str, jobs: int, *, lead_seconds: float = 1.0, timeout: float = 600) -> dict[str, Any]:
    from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED
    from apscheduler.jobstores.memory import MemoryJobStore
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    logging.getLogger("apscheduler").setLevel(logging.CRITICAL)  # one warning per dropped job otherwise
    store = SQLAlchemyJobStore(url=url)
    # build the jobs in memory, then write their pickled state in one transaction
    builder = BackgroundScheduler(jobstores={"default": MemoryJobStore()}, timezone=UTC)
    builder.start(paused=True)
    run_at = dt.datetime.now(UTC) + dt.timedelta(days=1)
    for i in range(jobs):
        builder.add_job("bench.apscheduler_baseline:reminder_job", "date", run_date=run_at, args=[i],
                        id=f"deadline-{i}")
    built = builder.get_jobs()
    builder.shutdown(wait=False)

    counts = {"fired": 0, "missed": 0, "error": 0}
    first_last: list[float] = []
    done = threading.Event()

    def listen(event) -> None:
        key = {EVENT_JOB_EXECUTED: "fired", EVENT_JOB_MISSED: "missed"}.get(event.code, "error")
        counts[key] += 1
        first_last.append(time.perf_counter())
        if sum(counts.values()) >= jobs:
            done.set()

    scheduler = BackgroundScheduler(jobstores={"default": store}, timezone=UTC)
    scheduler.add_listener(listen, EVENT_JOB_EXECUTED | EVENT_JOB_MISSED | EVENT_JOB_ERROR)
    scheduler.start(paused=True)  # creates the job table
    due = dt.datetime.now(UTC) + dt.timedelta(seconds=lead_seconds)
    rows = []
    for job in built:
        state = job.__getstate__()
        state["next_run_time"] = due
        state["trigger"].run_date = due
        rows.append({"id": job.id, "next_run_time": due.timestamp(),
                     "job_state": pickle.dumps(state, store.pickle_protocol)})
    with store.engine.begin() as conn:
        conn.execute(store.jobs_t.insert(), rows)
    wait = (due - dt.datetime.now(UTC)).total_seconds()
    if wait > 0:
        threading.Event().wait(wait)  # the burst falls due in the future; wait for its moment
    started = time.perf_counter()
    scheduler.resume()
    scheduler.wakeup()
    done.wait(timeout)
    seconds = (max(first_last) if first_last else time.perf_counter()) - started
    scheduler.shutdown(wait=True)
    with store.engine.begin() as conn:
        conn.execute(store.jobs_t.delete())
    store.engine.dispose()
    return {**counts, "jobs": jobs, "seconds": seconds, "fired_per_s": counts["fired"] / seconds if seconds else 0}
