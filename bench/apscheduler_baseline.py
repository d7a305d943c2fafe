"""The baseline of the reminder sweep: APScheduler 3 with one date job per deadline in its SQLAlchemyJobStore, all
due at once, every job with `misfire_grace_time=None` (without it APScheduler drops the jobs it reaches more than
a second late and counts only the lucky ones). The job does nothing: this is the rate at which APScheduler fires
jobs at all.

Two steps, each a process of its own so that the second one's peak memory is the scheduler's:
`python -m bench.apscheduler_baseline prepare URL N` writes N jobs in APScheduler's own pickled form into the job
store in one transaction, due now; `python -m bench.apscheduler_baseline run URL N` starts a BackgroundScheduler
on that store, waits until all N have been executed (or missed, or failed), and prints one JSON line: counts,
wall and CPU seconds from start to the last job, jobs left in the store, peak resident memory."""
from __future__ import annotations

import datetime as dt
import json
import logging
import pickle
import resource
import sys
import threading
import time
from typing import Any

UTC = dt.UTC


def reminder_job(deadline_id: int) -> None:
    """Stands in for the work of one reminder; APScheduler calls it by its textual reference."""


def prepare(url: str, jobs: int) -> None:
    from apscheduler.jobstores.memory import MemoryJobStore
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    store = SQLAlchemyJobStore(url=url)
    builder = BackgroundScheduler(jobstores={"default": MemoryJobStore()}, timezone=UTC)
    builder.start(paused=True)
    later = dt.datetime.now(UTC) + dt.timedelta(days=1)
    for i in range(jobs):
        builder.add_job("bench.apscheduler_baseline:reminder_job", "date", run_date=later, args=[i],
                        id=f"deadline-{i}", misfire_grace_time=None)
    built = builder.get_jobs()
    builder.shutdown(wait=False)
    # create the job table the way the scheduler does, then write every job due now
    creator = BackgroundScheduler(jobstores={"default": store}, timezone=UTC)
    creator.start(paused=True)
    due = dt.datetime.now(UTC)
    rows = []
    for job in built:
        state = job.__getstate__()
        state["next_run_time"] = due
        state["trigger"].run_date = due
        rows.append({"id": job.id, "next_run_time": due.timestamp(),
                     "job_state": pickle.dumps(state, store.pickle_protocol)})
    with store.engine.begin() as conn:
        conn.execute(store.jobs_t.delete())
        conn.execute(store.jobs_t.insert(), rows)
    creator.shutdown(wait=False)
    store.engine.dispose()
    print(json.dumps({"prepared": len(rows)}))


def run(url: str, jobs: int, timeout: float = 3600) -> dict[str, Any]:
    from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    logging.getLogger("apscheduler").setLevel(logging.CRITICAL)
    store = SQLAlchemyJobStore(url=url)
    counts = {"executed": 0, "missed": 0, "error": 0}
    last = [0.0]
    done = threading.Event()
    lock = threading.Lock()

    def listen(event) -> None:
        key = {EVENT_JOB_EXECUTED: "executed", EVENT_JOB_MISSED: "missed"}.get(event.code, "error")
        with lock:
            counts[key] += 1
            last[0] = time.perf_counter()
            if sum(counts.values()) >= jobs:
                done.set()

    scheduler = BackgroundScheduler(jobstores={"default": store}, timezone=UTC,
                                    job_defaults={"misfire_grace_time": None})
    scheduler.add_listener(listen, EVENT_JOB_EXECUTED | EVENT_JOB_MISSED | EVENT_JOB_ERROR)
    with store.engine.connect():
        pass
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    scheduler.start()
    finished = done.wait(timeout)
    seconds = (last[0] or time.perf_counter()) - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    scheduler.shutdown(wait=True)
    with store.engine.connect() as conn:
        from sqlalchemy import func, select
        left = conn.execute(select(func.count()).select_from(store.jobs_t)).scalar()
    store.engine.dispose()
    cpu = usage.ru_utime + usage.ru_stime - usage0.ru_utime - usage0.ru_stime
    return {**counts, "jobs": jobs, "finished": finished, "seconds": seconds, "cpu": cpu, "left_in_store": left,
            "peak_rss_mb": usage.ru_maxrss / 1024}


if __name__ == "__main__":
    mode, url, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "prepare":
        prepare(url, n)
    else:
        print(json.dumps(run(url, n)))
