"""Issue 19, finding 1: `agreements create` run at the same moment, as separate processes, on SQLite and
PostgreSQL - the first history record of an empty database included. Each ends in success, a conflict (exit 5)
or a refusal (exit 3: the id exists already); never exit 1, never a traceback. The chain stays intact."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import Cli

CONVENANT = str(Path(sys.executable).parent / "convenant")


def create_together(c: Cli, ids: list[str]) -> dict[str, tuple[int, str, str]]:
    procs = {f"{i}:{n}": subprocess.Popen([CONVENANT, "--config", str(c.config), "--json", "agreements", "create",
                                           "--example", "krachtenbundeling", "--id", pid],
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for n, (i, pid) in enumerate(enumerate(ids))}
    out = {}
    for key, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=180)
        out[key] = (proc.returncode, stdout, stderr)
    return out


def test_first_records_written_at_once_never_crash(tmp_path, db_url) -> None:
    c = Cli(tmp_path, db_url)
    c.run("init")
    ids = [f"kb-{n}" for n in range(8)]
    results = create_together(c, ids)
    for key, (code, stdout, stderr) in results.items():
        assert code in (0, 5), (key, code, stdout, stderr)
        assert "Traceback" not in stderr, stderr
    for key, (code, _, _) in results.items():      # a conflict's retry succeeds
        if code == 5:
            pid = ids[int(key.split(":")[0])]
            c.run("agreements", "create", "--example", "krachtenbundeling", "--id", pid)
    assert sorted(a["id"] for a in c.run("agreements", "list").data) == sorted(ids)
    assert c.run("audit", "verify").data["intact"] is True


def test_the_same_id_created_at_once_is_one_success_and_the_rest_refused(tmp_path, db_url) -> None:
    c = Cli(tmp_path, db_url)
    c.run("init")
    results = create_together(c, ["same"] * 6)
    codes = sorted(code for code, _, _ in results.values())
    assert codes.count(0) == 1 and set(codes) <= {0, 3, 5}, results
    assert all("Traceback" not in err for _, _, err in results.values())
    assert [a["id"] for a in c.run("agreements", "list").data] == ["same"]
    assert c.run("audit", "verify").data["intact"] is True
