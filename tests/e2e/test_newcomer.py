"""A new user's first mistakes: each gets the exit code of INTERFACE.md, a message saying what to do, and
changes nothing."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.conftest import Cli, signed
from tests.e2e.test_readme import installed_command

KB = "krachtenbundeling"


def test_a_token_for_an_unknown_party_lists_the_party_ids(cli):
    signed(cli)
    res = cli.run("tokens", "create", "--name", "vng-token", "--role", "party", "--party", "VNG", expect=2)
    assert res.data["field"] == "party"
    assert "'VNG'" in res.data["message"] and "did you mean 'vng'" in res.data["message"]
    for party in ("ienw", "ez", "vro", "ipo", "uvw", "vng"):
        assert party in res.data["message"]
    assert cli.run("tokens", "list").data == []
    cli.run("tokens", "create", "--name", "vng-token", "--role", "party", "--party", "vng")


def test_a_token_for_a_party_before_any_agreement_says_to_create_it_first(cli):
    cli.run("init")
    res = cli.run("tokens", "create", "--name", "t", "--role", "party", "--party", "vng", expect=2)
    assert "create the agreement first" in res.data["message"]
    assert cli.run("tokens", "list").data == []


def test_simulation_on_a_real_clock_database_with_agreements_is_refused_at_once(cli):
    cli.run("init")
    cli.run("agreements", "create", "--example", "krachtenbundeling")
    res = cli.run("init", "--simulation", "--start", "2025-03-01T09:00:00+01:00", expect=3)
    assert "real clock" in res.data["message"] and "its own database" in res.data["message"]
    assert "busy" not in res.data["message"]
    assert cli.run("clock").data["simulated"] is False
    assert cli.show()["state"] == "draft"


def test_an_unknown_config_section_or_key_names_it_and_the_nearest_known_one(tmp_path):
    c = Cli(tmp_path, f"sqlite:///{tmp_path / 'c.db'}")
    good = c.config.read_text()
    c.config.write_text(good.replace("[database]", "[databse]"))
    res = c.run("init", expect=2)
    assert res.data["field"] == "databse" and "did you mean 'database'" in res.data["message"]
    c.config.write_text(good.replace("sender =", "sendr ="))
    res = c.run("init", expect=2)
    assert res.data["field"] == "mail.sendr" and "did you mean 'sender'" in res.data["message"]
    assert not (tmp_path / "c.db").exists()


def test_a_represented_party_is_told_to_act_through_its_representative(cli):
    signed(cli)
    before = cli.snapshot()
    res = cli.trigger(KB, "request_amendment", role="party", party="ez", ref="EZ/1", expect=3)
    assert "through its representative ienw" in res.data["message"]
    assert res.data["article"].startswith("Partijen (aanhef)")
    assert cli.snapshot() == before


def test_json_is_accepted_after_the_subcommand(cli):
    signed(cli)
    from convenant.app.cli import cli as command
    res = cli.runner.invoke(command, ["history", KB, "--json", "--config", str(cli.config)],
                            catch_exceptions=False)
    assert res.exit_code == 0, res.output
    import json
    records = json.loads(res.stdout)
    assert records[0]["seq"] == 1 and records[0]["process"] == KB


def test_init_in_an_empty_folder_writes_a_commented_config(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "CONVENANT_CONFIG"}
    proc = subprocess.run([installed_command(), "init"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    written = (tmp_path / "config.toml").read_text()
    assert "wrote" in proc.stdout and "config.toml" in proc.stdout
    assert written.startswith("# convenant configuration") and "[database]" in written
    assert (tmp_path / "var" / "convenant.db").exists()
    again = subprocess.run([installed_command(), "init"], cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=120)
    assert again.returncode == 0 and "wrote" not in again.stdout
    assert (tmp_path / "config.toml").read_text() == written


def test_serve_on_a_port_in_use_says_so(cli):
    cli.run("init")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "convenant.app.cli", "--config", str(cli.config), "serve",
                               "--port", str(port)], capture_output=True, text=True, timeout=60,
                              cwd=Path(cli.root))
    assert proc.returncode == 1
    assert f"127.0.0.1:{port}" in proc.stderr and "in use" in proc.stderr
    assert "Traceback" not in proc.stderr
