"""What a user installs is what the checkout holds: every file the package reads (code, definitions, examples,
templates, static files, migrations, the default config) is in the built wheel, under the one name `convenant`.

CI builds the wheel once and names it in CONVENANT_WHEEL; elsewhere this test builds one itself (`pip wheel`)."""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Source folder -> where it is installed (pyproject.toml's [tool.setuptools.package-dir]).
MAPPED = {"convenant": "convenant", "engine": "convenant/engine", "storage": "convenant/storage",
          "notifications": "convenant/notifications", "workflows": "convenant/workflows", "app": "convenant/app"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    given = os.environ.get("CONVENANT_WHEEL")
    if given:
        return Path(given)
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(ROOT), "-w", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [built] = out.glob("convenant-*.whl")
    return built


def tracked_files() -> list[str]:
    """Every file git tracks under the package folders, but for convenant/'s links to those folders."""
    proc = subprocess.run(["git", "ls-files", "-s", *MAPPED], cwd=ROOT, capture_output=True, text=True, check=True)
    rows = [line.split(None, 3) for line in proc.stdout.splitlines() if line]
    return [path for mode, _obj, _stage, path in rows if not (mode == "120000" and (ROOT / path).is_dir())]


def installed_name(path: str) -> str:
    top, _, rest = path.partition("/")
    return f"{MAPPED[top]}/{rest}"


def test_the_wheel_holds_every_file_of_the_checkout(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    tracked = tracked_files()
    assert any(p.endswith(".toml") and p.startswith("workflows/examples/") for p in tracked)
    missing = [p for p in tracked if installed_name(p) not in names]
    assert missing == [], f"in git but not in the wheel: {missing}"
    assert "convenant/config.toml" in names
    data = zipfile.ZipFile(wheel).read("convenant/config.toml").decode()
    assert data == (ROOT / "config.toml").read_text(encoding="utf-8")


def test_the_wheel_installs_nothing_outside_convenant(wheel):
    tops = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert tops == {"convenant", next(t for t in tops if t.endswith(".dist-info"))}
    entry = zipfile.ZipFile(wheel).read(next(n for n in zipfile.ZipFile(wheel).namelist()
                                             if n.endswith("entry_points.txt"))).decode()
    assert "convenant = convenant.app.cli:main" in entry
