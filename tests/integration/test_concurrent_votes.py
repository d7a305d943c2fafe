"""Parties answering the same amendment at the same moment (Art. 5.8), on SQLite and PostgreSQL: every answer
is counted exactly once. A writer that loses the race gets a Conflict (exit 5) and nothing of it is written;
its retry counts. The history chain stays intact."""
from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from convenant.app.bootstrap import build
from convenant.engine.errors import Conflict
from convenant.storage import store as store_module
from tests.conftest import Cli, active

K = "krachtenbundeling"
CONVENANT = str(Path(sys.executable).parent / "convenant")


def open_amendment(c: Cli) -> str:
    active(c)
    c.advance("2026-02-02T10:00:00+01:00")
    res = c.trigger(K, "request_amendment", role="party", party="ipo", ref="IPO/2026/1",
                    sets=("change=Art. 4.5: a third commitment for Ketens",))
    return res.data["created"]


def assert_counted_once(c: Cli, a: str, answered: list[str]) -> None:
    doc = c.show(a)
    dec = doc["decisions"][0]
    assert sorted(dec["answers"]) == sorted(["ipo", *answered])
    consents = [h["party"] for h in c.history(a) if h["trigger"] == "consent"]
    assert sorted(consents) == sorted(answered)                       # one record per party, no more
    if len(answered) == 3:
        assert doc["state"] == "adopted"
        assert [v["amendment"] for v in c.show()["text_versions"]] == [None, a]   # adopted exactly once
    assert c.run("audit", "verify").data["intact"] is True


def test_concurrent_cli_processes_each_count_once(tmp_path, db_url):
    """Three `convenant trigger` processes started together; a loser (exit 5) runs again."""
    c = Cli(tmp_path, db_url)
    a = open_amendment(c)
    parties = ["ienw", "uvw", "vng"]

    def start(p: str) -> subprocess.Popen:
        return subprocess.Popen([CONVENANT, "--config", str(c.config), "--json", "trigger", a, "consent",
                                 "--actor", f"namens {p}", "--role", "party", "--party", p, "--ref", f"{p}/2026/9"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    running = {p: start(p) for p in parties}
    codes: dict[str, list[int]] = {p: [] for p in parties}
    while running:
        for p, proc in list(running.items()):
            out, err = proc.communicate(timeout=120)
            codes[p].append(proc.returncode)
            assert proc.returncode in (0, 5), (p, out, err)
            del running[p]
            if proc.returncode == 5:
                assert '"conflict"' in out
                running[p] = start(p)
    assert all(history[-1] == 0 for history in codes.values())
    assert_counted_once(c, a, parties)


def test_threads_through_the_service_at_the_same_moment(tmp_path, db_url):
    """Two threads released together by a barrier, each firing through Service on the same database."""
    c = Cli(tmp_path, db_url)
    a = open_amendment(c)
    app = build(str(c.config))
    barrier = threading.Barrier(2)
    conflicts: list[str] = []
    errors: list[BaseException] = []

    def answer(p: str) -> None:
        try:
            barrier.wait(timeout=30)
            for _ in range(5):
                try:
                    app.service.fire(a, "consent", actor=f"namens {p}", role="party", party=p, ref=f"{p}/t")
                    return
                except Conflict:
                    conflicts.append(p)
            raise AssertionError(f"{p}: five conflicts in a row")
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=answer, args=(p,)) for p in ("ienw", "uvw")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert_counted_once(c, a, ["ienw", "uvw"])
    app.store.dispose()


def test_the_loser_of_a_forced_race_gets_a_conflict_and_its_retry_counts(tmp_path, pg_url, monkeypatch):
    """On PostgreSQL both transactions read the amendment before either writes (held at a barrier): one
    commits, the other's versioned update finds the row changed - a Conflict that writes nothing - and the
    retry counts. (SQLite serialises writers with BEGIN IMMEDIATE, so there this race cannot even start.)"""
    c = Cli(tmp_path, pg_url)
    a = open_amendment(c)
    app = build(str(c.config))
    barrier = threading.Barrier(2)
    local = threading.local()
    original = store_module.Tx.get_process

    def held_read(self, pid, *, lock=False):
        got = original(self, pid, lock=lock)
        if pid == a and getattr(local, "hold", False):
            local.hold = False
            barrier.wait(timeout=30)          # both have read the same version now
        return got

    monkeypatch.setattr(store_module.Tx, "get_process", held_read)
    outcomes: dict[str, list[str]] = {}
    errors: list[BaseException] = []

    def answer(p: str) -> None:
        local.hold = True
        outcomes[p] = []
        try:
            for _ in range(3):
                try:
                    app.service.fire(a, "consent", actor=f"namens {p}", role="party", party=p, ref=f"{p}/r")
                    outcomes[p].append("done")
                    return
                except Conflict as exc:
                    assert exc.exit_code == 5
                    outcomes[p].append("conflict")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=answer, args=(p,)) for p in ("ienw", "vng")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert sorted(outcomes.values()) == [["conflict", "done"], ["done"]], outcomes
    assert_counted_once(c, a, ["ienw", "vng"])
    app.store.dispose()
