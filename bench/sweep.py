"""One scheduler process sweeping what is due: `python -m bench.sweep URL WORKDIR` calls the product's
`Service.run_due` once (what `convenant scheduler --once` runs, mail dispatch left out: sending is a separate
concern with its own pace) and prints one JSON line: steps run, wall and CPU seconds of the sweep, and the
process's peak resident memory (which includes the interpreter and everything imported)."""
from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path


def main(url: str, workdir: str) -> None:
    from bench.seed import open_app

    app = open_app(url, Path(workdir))
    with app.store.engine.connect():
        pass  # connected before the clock starts
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    ran = app.service.run_due()
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime - usage0.ru_utime - usage0.ru_stime
    print(json.dumps({"ran": ran, "seconds": seconds, "cpu": cpu, "peak_rss_mb": usage.ru_maxrss / 1024}))
    app.store.dispose()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
