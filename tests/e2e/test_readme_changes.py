"""The README's "Correct and migrate, step by step" block, run line by line as written through the installed
`convenant` command from an empty folder (as tests/e2e/test_readme.py runs the walk); a line whose comment says
`exit 3` must be refused so. Then the outcome is checked against the dates the README promises."""
from __future__ import annotations

import os
import shlex
import subprocess

from tests.e2e.test_readme import README, installed_command, json_of, shell_blocks

HEADING = "### Correct and migrate, step by step"


def test_readme_correct_and_migrate_run_as_written(tmp_path):
    blocks = shell_blocks(README.read_text(encoding="utf-8"), HEADING)
    assert len(blocks) == 1, "one block under the heading"
    lines = [line for line in blocks[0].replace("\\\n", " ").splitlines() if line.strip()]
    exe = installed_command()
    env = {k: v for k, v in os.environ.items() if k != "CONVENANT_CONFIG"}
    refused = 0
    for line in lines:
        argv = shlex.split(line, comments=True)
        assert argv[0] == "convenant"
        expected = 3 if "# exit 3" in line else 0
        refused += expected == 3
        proc = subprocess.run([exe, *argv[1:]], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == expected, f"README line: {line}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    assert refused == 1

    def data(*args: str):
        return json_of(exe, tmp_path, env, *args)

    doc = data("show", "krachtenbundeling")
    assert doc["effective_from"] == "2025-03-21" and doc["definition_version"] == 1
    dues = {d["kind"]: (d["due"], d["status"]) for d in doc["deadlines"] if d["subject"] is None}
    assert dues["publication"] == ("2025-04-03", "missed")
    assert dues["extension_decision"] == ("2026-07-01", "open")       # version 1's rule again
    assert dues["evaluation"] == ("2026-08-15", "met")                # kept as history after the way back
    history = data("history", "krachtenbundeling")
    (correction,) = [r for r in history if r["trigger"] == "correct"]
    assert correction["corrects"] == 6
    assert [(r["data"]["from"], r["data"]["to"]) for r in history if r["trigger"] == "migrate"] == [(1, 2), (2, 1)]
    assert data("audit", "verify")["intact"] is True
