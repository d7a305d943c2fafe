"""One scheduler process sweeping what is due: `python -m bench.sweep URL WORKDIR` runs the Worker's own loop
(engine/scheduler.py, mail dispatch left out: it is a separate concern with its own pace) and prints one JSON line:
steps run, seconds, and the process's peak resident memory."""
from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path


def main(url: str, workdir: str) -> None:
    from convenant.engine.scheduler import Worker

    from bench.seed import open_app

    app = open_app(url, Path(workdir))
    worker = Worker(app.service, None, interval_seconds=app.settings.scheduler.interval_seconds,
                    batch=app.settings.scheduler.batch_size)
    started = time.perf_counter()
    ran = worker.run_once()
    seconds = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    print(json.dumps({"ran": ran, "seconds": seconds, "peak_rss_mb": peak_kb / 1024}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
