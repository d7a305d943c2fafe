"""APScheduler wiring. The database decides what is due; APScheduler only wakes the worker at the next due
moment and at least every interval. Jobs carry no objects, only a name; a missed wake-up is harmless because
the next one finds the same rows (misfire grace is unlimited and runs coalesce)."""
from __future__ import annotations

import datetime as dt
import logging
import signal
import threading
from typing import Callable

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from engine.clock import UTC

log = logging.getLogger(__name__)


class Worker:
    def __init__(self, service, dispatch: Callable[[dt.datetime], int] | None, *, interval_seconds: int = 30,
                 batch: int = 500) -> None:
        self.service = service
        self.dispatch = dispatch
        self.interval = interval_seconds
        self.batch = batch
        self._lock = threading.Lock()
        self.scheduler: BackgroundScheduler | None = None

    def run_once(self, now: dt.datetime | None = None) -> int:
        """Run everything due now (in time order), then send the outbox. Never runs twice at once here; other
        workers are kept apart by the database."""
        with self._lock:
            done = 0
            while True:
                n = self.service.run_due(now, limit=self.batch)
                done += n
                if n < self.batch:
                    break
            if self.dispatch is not None:
                self.dispatch(now or self.service.now())
            return done

    def _tick(self) -> None:
        try:
            self.run_once()
        except Exception:  # a failing run must not stop the worker; the next wake-up retries
            log.exception("scheduler run failed")
        finally:
            self._plan_next()

    def _plan_next(self) -> None:
        if self.scheduler is None or not self.scheduler.running:
            return
        with self.service.store.transaction() as tx:
            wake = tx.next_wakeup()
            simulated, now = self.service.clock_info(tx)
        if wake is None or simulated:
            return
        wake = max(wake, now) + dt.timedelta(milliseconds=50)
        self.scheduler.add_job(self._tick, DateTrigger(run_date=wake), id="next-due", replace_existing=True,
                               misfire_grace_time=None, coalesce=True, max_instances=1)

    def start(self) -> BackgroundScheduler:
        self.scheduler = BackgroundScheduler(timezone=UTC, job_defaults={"misfire_grace_time": None,
                                                                          "coalesce": True, "max_instances": 1})
        self.scheduler.add_job(self._tick, IntervalTrigger(seconds=self.interval), id="safety-interval",
                               next_run_time=dt.datetime.now(UTC))
        self.scheduler.start()
        return self.scheduler

    def stop(self) -> None:
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=True)

    def run_forever(self) -> None:
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        self.start()
        log.info("scheduler running; interval %ss", self.interval)
        stop.wait()
        self.stop()
