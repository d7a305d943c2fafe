"""APScheduler wiring. The database decides what is due; APScheduler only wakes the worker at the next due
moment and at least every interval. Jobs carry no objects, only a name; a missed wake-up is harmless because
the next one finds the same rows (misfire grace is unlimited and runs coalesce).

Ticks run one at a time on a single pool thread, in the order APScheduler submits them, so `serve` can host the
worker beside the web server and tests can tell when a wake-up has been handled."""
from __future__ import annotations

import datetime as dt
import logging
import signal
import threading
from collections.abc import Callable

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from convenant.engine.clock import UTC, SystemClock, iso_moment

log = logging.getLogger(__name__)

SAFETY_JOB = "safety-interval"
WAKE_PREFIX = "wake-"


class Worker:
    def __init__(self, service, dispatch: Callable[[dt.datetime], int] | None, *, interval_seconds: int = 30,
                 batch: int = 500) -> None:
        self.service = service
        self.dispatch = dispatch
        self.interval = interval_seconds
        self.batch = batch
        self._lock = threading.Lock()        # one run at a time in this process
        self._life = threading.Lock()        # start/stop from any thread (serve's lifespan, signal handlers)
        self._wakes: dict[str, dt.datetime] = {}
        self.scheduler: BackgroundScheduler | None = None

    def run_once(self, now: dt.datetime | None = None) -> int:
        """Run everything due now (in time order), then send the outbox; log one line. Never runs twice at once
        here; other workers are kept apart by the database (row locks, idempotency keys)."""
        with self._lock:
            done = 0
            while True:
                n = self.service.run_due(now, limit=self.batch)
                done += n
                if n < self.batch:
                    break
            at = now or self.service.now()
            sent = self.dispatch(at) if self.dispatch is not None else 0
            log.info("run at %s: %d due step(s) run, %d message(s) sent", iso_moment(at, self.service.tz), done,
                     sent)
            return done

    def _tick(self) -> None:
        try:
            self.run_once()
        except Exception:  # a failing run must not stop the worker; the next wake-up retries
            log.exception("scheduler run failed")
        finally:
            try:
                self._plan_next()
            except Exception:  # the safety interval still wakes us
                log.exception("planning the next wake-up failed")

    def _plan_next(self) -> None:
        """One date job at the next due moment. Each wake-up has its own job id, so that APScheduler removing
        the date job that just ran never removes the one planned during that run."""
        scheduler = self.scheduler
        if scheduler is None or not scheduler.running:
            return
        with self.service.store.transaction() as tx:
            wake = tx.next_wakeup()
            simulated, now = self.service.clock_info(tx)
        if wake is None or simulated:
            return
        wake = max(wake, now) + dt.timedelta(milliseconds=50)
        job_id = WAKE_PREFIX + wake.isoformat()
        for stale, at in list(self._wakes.items()):
            if at > wake:  # planned for later than what is now the earliest: not needed any more
                try:
                    scheduler.remove_job(stale)
                except JobLookupError:
                    pass
                del self._wakes[stale]
            elif at <= now:
                del self._wakes[stale]  # ran already (a date job removes itself)
        scheduler.add_job(self._tick, DateTrigger(run_date=wake), id=job_id, name="next due moment",
                          replace_existing=True)
        self._wakes[job_id] = wake

    def next_wake(self) -> dt.datetime | None:
        """The next due moment this worker has asked APScheduler to wake it for (besides the safety interval)."""
        if self.scheduler is None or not self.scheduler.running:
            return None
        times = [j.next_run_time for j in self.scheduler.get_jobs()
                 if j.id.startswith(WAKE_PREFIX) and j.next_run_time is not None]
        return min(times).astimezone(UTC) if times else None

    @property
    def running(self) -> bool:
        return self.scheduler is not None and self.scheduler.running

    def start(self) -> BackgroundScheduler:
        """Start the background scheduler; it runs what is due at once. Calling it again while running does
        nothing, so the web server's start-up and a CLI command may both ask for it."""
        with self._life:
            if self.scheduler is not None and self.scheduler.running:
                return self.scheduler
            self._wakes = {}
            scheduler = BackgroundScheduler(
                timezone=UTC, executors={"default": ThreadPoolExecutor(max_workers=1)},
                job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1})
            scheduler.add_job(self._tick, IntervalTrigger(seconds=self.interval), id=SAFETY_JOB,
                              name="safety interval", next_run_time=SystemClock().now())
            self.scheduler = scheduler
            scheduler.start()
            return scheduler

    def stop(self) -> None:
        """Stop after the run in progress, if any; safe to call twice or before start."""
        with self._life:
            scheduler, self.scheduler = self.scheduler, None
            if scheduler is not None and scheduler.running:
                scheduler.shutdown(wait=True)

    def run_forever(self) -> None:
        """`convenant scheduler`: run until SIGINT or SIGTERM, then finish the current run and exit."""
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        self.start()
        log.info("scheduler running; interval %ss", self.interval)
        stop.wait()
        log.info("stopping")
        self.stop()
        log.info("stopped")
