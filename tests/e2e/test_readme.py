"""The README cannot drift from the product: its walk is run here line by line, as written, through the installed
`convenant` command, from an empty folder (the first `init` writes config.toml there)."""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
WALK = "## A walk through the main line"


def shell_blocks(text: str, heading: str) -> list[str]:
    """The ```sh blocks of the README section that starts with `heading`, up to the next `## ` heading."""
    start = text.index(heading)
    following = text.find("\n## ", start + len(heading))
    section = text[start:following if following != -1 else None]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.S)


def commands(block: str) -> list[list[str]]:
    """One argv per line, as a POSIX shell reads it: `\\` continues a line, `#` starts a comment."""
    joined = block.replace("\\\n", " ")
    return [argv for line in joined.splitlines() if (argv := shlex.split(line, comments=True))]


def installed_command() -> str:
    """The `convenant` of the environment running the tests (a venv's bin/ beside its python), else PATH's."""
    beside = Path(sys.executable).with_name("convenant")
    found = str(beside) if beside.exists() else shutil.which("convenant")
    if not found:
        pytest.fail("no installed `convenant` command: install the project (README, 'Test it')")
    return found


def json_of(exe: str, cwd: Path, env: dict[str, str], *args: str):
    """What the installed command prints with --json, run in `cwd`; it must succeed."""
    proc = subprocess.run([exe, "--json", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_readme_walk_runs_as_written(tmp_path):
    blocks = shell_blocks(README.read_text(encoding="utf-8"), WALK)
    assert blocks, "the README has no walk"
    walk = [argv for block in blocks for argv in commands(block)]
    assert all(argv[0] == "convenant" for argv in walk), "every line of the walk is a convenant command"
    exe = installed_command()
    env = {k: v for k, v in os.environ.items() if k != "CONVENANT_CONFIG"}
    for argv in walk:
        proc = subprocess.run([exe, *argv[1:]], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 0, f"README line failed: {shlex.join(argv)}\n{proc.stdout[-2000:]}\n" \
                                     f"{proc.stderr[-2000:]}"
    assert (tmp_path / "config.toml").exists(), "the first init writes config.toml in the empty folder"

    def data(*args: str):
        return json_of(exe, tmp_path, env, *args)

    doc = data("show", "krachtenbundeling")
    assert doc["state"] == "ended" and doc["effective_from"] == "2025-03-21" and doc["ends_on"] == "2027-01-01"
    status = {d["kind"]: d["status"] for d in doc["deadlines"]}
    assert status["publication"] == "met" and status["work_structure"] == "met"
    assert status["extension_decision"] == "met"
    path = [r["dest"] for r in data("history", "krachtenbundeling") if r["process"] == "krachtenbundeling"]
    states = list(dict.fromkeys(s for s in path if s))
    assert states == ["draft", "signing", "signed", "published", "active", "extension_decision", "expiring",
                      "ended"]
    assert data("audit", "verify")["intact"] is True
    assert list((tmp_path / "var" / "mail" / "new").iterdir()), "the walk's reminders went out as email"
