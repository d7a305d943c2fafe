"""`convenant show` starts fast because it imports only what a read needs (issue 15, P3): it renders no mail, so
no Jinja2, icalendar or dispatcher; it counts no working days, so no holidays package. Checked in a real process
(no timing): the command runs, then its sys.modules is inspected."""
from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import Cli

# what `show` must not import: the mail renderer and its libraries, the holidays calendar
HEAVY = ("jinja2", "icalendar", "holidays", "convenant.notifications.render", "convenant.notifications.ics",
         "convenant.notifications.dispatcher", "convenant.notifications.transports")

PROBE = """
import contextlib, io, json, sys
sys.argv = ["convenant", "--config", sys.argv[1], "--json", "show", "krachtenbundeling"]
from convenant.app.cli import main
out = io.StringIO()
code = 0
try:
    with contextlib.redirect_stdout(out):
        main()
except SystemExit as exc:
    code = exc.code or 0
print(json.dumps({"code": code, "doc": json.loads(out.getvalue() or "null"), "modules": sorted(sys.modules)}))
"""


def test_show_imports_no_mail_renderer_and_no_holiday_calendar(tmp_path):
    c = Cli(tmp_path, f"sqlite:///{tmp_path / 'convenant.db'}")
    c.run("init")
    c.run("agreements", "create", "--example", "krachtenbundeling")
    proc = subprocess.run([sys.executable, "-c", PROBE, str(c.config)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    assert found["code"] == 0
    assert found["doc"]["id"] == "krachtenbundeling" and found["doc"]["state"] == "draft"
    modules = set(found["modules"])
    assert "convenant.app.bootstrap" in modules and "sqlalchemy" in modules   # the probe did run the command
    loaded = [m for m in HEAVY if m in modules]
    assert loaded == [], f"convenant show imported {loaded}"


def test_the_renderer_is_still_there_when_mail_is_sent():
    """The lazy names of convenant.notifications resolve to the real functions."""
    from convenant import notifications
    from convenant.notifications import render
    assert notifications.render_subject is render.render_subject
    assert callable(notifications.make_transport)
