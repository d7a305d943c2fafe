"""Issue 19's findings that a user meets at the edges, each first reproduced here: text that is not text, numbers
and dates out of range, files that are not what they claim, an unreachable database, unusable --out paths,
documents read before authorisation, NUL over HTTP. Every one is bad input (exit 2 / HTTP 400) naming the field,
or a clear one-line exit 1; never a traceback, and a refusal changes nothing."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import Cli

KB = "krachtenbundeling"


@pytest.fixture
def cli(tmp_path) -> Cli:
    c = Cli(tmp_path, f"sqlite:///{tmp_path / 'c.db'}")
    c.run("init", "--simulation", "--start", "2025-03-20T12:00:00+01:00")
    c.run("agreements", "create", "--example", KB)
    return c


def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# -- finding 4 and 10: text that is not text, on the command line ------------------------------------------------
@pytest.mark.parametrize("args,field", [
    (("tokens", "create", "--name", "t\udcff", "--role", "auditor"), "--name"),
    (("tokens", "create", "--name", "t\0", "--role", "auditor"), "--name"),
    (("trigger", KB, "open_sign\udcffing", "--actor", "a", "--role", "secretariat"), "TRIGGER"),
    (("show", "krachtenbundeling\0"), "PROCESS_ID"),
    (("show", "krachten\udcffbundeling"), "PROCESS_ID"),
    (("trigger", KB, "open_signing", "--actor", "a", "--role", "secretariat", "--reason", "x\x07"), "--reason"),
])
def test_text_that_is_not_text_is_bad_input_naming_the_field(cli, args, field) -> None:
    before = cli.snapshot()
    res = cli.run(*args, expect=2)
    assert field in one_line(res.err)
    assert cli.snapshot() == before


def test_a_lone_surrogate_in_argv_is_refused_before_click(monkeypatch, capsys) -> None:
    from convenant.app import cli as cli_module
    monkeypatch.setattr("sys.argv", ["convenant", "tokens", "create", "--name", "t\udcff", "--role", "auditor"])
    with pytest.raises(SystemExit) as stop:
        cli_module.main()
    assert stop.value.code == 2
    assert "--name" in one_line(capsys.readouterr().err)


# -- finding 5: numbers and dates out of range -------------------------------------------------------------------
def test_a_start_past_the_last_representable_moment_is_bad_input(tmp_path) -> None:
    c = Cli(tmp_path, f"sqlite:///{tmp_path / 'c.db'}")
    res = c.run("init", "--simulation", "--start", "9999-12-31T23:59:59-01:00", expect=2)
    assert "start" in one_line(res.err)


@pytest.mark.parametrize("table,key,value", [
    ("decisions", "extension_opens_days_before", "9223372036854775808"),
    ("progress", "report_interval_days", "100000000000000000000"),
    ("escalation", "after_days", "[0, 14, 99999999999]"),
    ("reminders", "publication", "[99999999]"),
    ("mail", "retry_lifetime_days", "1e300"),
    ("documents", "max_bytes", "0"),
])
def test_out_of_range_settings_are_refused_naming_the_key(tmp_path, table, key, value) -> None:
    c = Cli(tmp_path, f"sqlite:///{tmp_path / 'c.db'}")
    text = c.config.read_text()
    c.config.write_text(text + f"\n[{table}]\n{key} = {value}\n" if f"[{table}]" not in text
                        else text.replace(f"[{table}]", f"[{table}]\n{key} = {value}", 1))
    res = c.run("agreements", "list", expect=2)
    assert f"{table}.{key}" in one_line(res.err)


# -- finding 6: files that are not what they claim ----------------------------------------------------------------
def data_file(folder: Path, text: str | bytes, name: str = "data.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def test_a_data_file_that_is_not_utf8_is_bad_input(cli, tmp_path) -> None:
    path = data_file(tmp_path / "d", b'id = "x\xff"\n')
    res = cli.run("agreements", "create", "--workflow", KB, "--file", str(path), expect=2)
    assert "--file" in one_line(res.err) and "UTF-8" in res.err


def test_a_config_file_that_is_not_utf8_is_bad_input(tmp_path) -> None:
    c = Cli(tmp_path, f"sqlite:///{tmp_path / 'c.db'}")
    c.config.write_bytes(c.config.read_bytes() + b"\n# caf\xe9\n")
    res = c.run("agreements", "list", expect=2)
    assert "config.toml" in one_line(res.err) and "UTF-8" in res.err


@pytest.mark.parametrize("themes_file,why", [
    ("../../../../etc/passwd", "outside"), ("missing.toml", "does not exist"), ("/etc/passwd", "relative"),
    ("x" * 300 + ".toml", "longer than")])
def test_a_themes_file_must_be_a_file_inside_the_data_files_folder(cli, tmp_path, themes_file, why) -> None:
    path = data_file(tmp_path / "d" / "e", f'id = "other"\nthemes_file = "{themes_file}"\n')
    res = cli.run("agreements", "create", "--workflow", KB, "--file", str(path), expect=2)
    assert "themes_file" in one_line(res.err) and why in res.err
    assert [a["id"] for a in cli.run("agreements", "list").data] == [KB]


def test_a_file_name_longer_than_the_system_allows_is_bad_input(cli, tmp_path) -> None:
    res = cli.run("agreements", "create", "--workflow", KB, "--file", str(tmp_path / ("y" * 300)), expect=2)
    assert "--file" in one_line(res.err)


# -- finding 7: an unreachable database --------------------------------------------------------------------------
def test_an_unreachable_database_is_one_line_naming_it(tmp_path) -> None:
    c = Cli(tmp_path, "postgresql+psycopg://postgres:secret@127.0.0.1:1/nowhere")
    res = c.run("agreements", "list", expect=1)
    line = one_line(res.err)
    assert "127.0.0.1:1/nowhere" in line and "refused" in line.lower() and "secret" not in line


# -- finding 8: audit export --out -----------------------------------------------------------------------------
@pytest.mark.parametrize("out", ["/nonexistent-dir/x.csv", "{tmp}/c.db/x.csv", "{tmp}", "{tmp}/" + "z" * 300])
def test_an_unusable_out_path_is_bad_input_and_nothing_is_claimed(cli, tmp_path, out) -> None:
    res = cli.run("audit", "export", "--format", "csv", "--out", out.format(tmp=tmp_path), expect=2)
    assert "--out" in res.err and "exported" not in res.err and "Traceback" not in res.err


def test_audit_export_out_writes_the_file(cli, tmp_path) -> None:
    out = tmp_path / "export.csv"
    res = cli.run("audit", "export", "--format", "csv", "--out", str(out))
    assert "exported to" in res.err and out.read_text(encoding="utf-8").startswith("seq,")


# -- finding 9: documents are read after authorisation, only regular files, bounded ---------------------------
def amendment_ready(cli: Cli) -> None:
    cli.trigger(KB, "open_signing")
    for party in ("ienw", "ipo", "uvw", "vng"):
        cli.trigger(KB, "sign", party=party)


def test_an_auditor_is_refused_before_the_document_is_read(cli) -> None:
    amendment_ready(cli)
    before = cli.snapshot()
    res = cli.trigger(KB, "request_amendment", role="auditor", ref="brief 1", sets=("document=/dev/zero",),
                      expect=3)
    assert "auditor" in one_line(res.err)
    assert cli.snapshot() == before


def test_a_device_or_a_too_large_document_is_bad_input(cli, tmp_path) -> None:
    amendment_ready(cli)
    big = tmp_path / "big.pdf"
    big.write_bytes(b"x" * 2048)
    cli.config.write_text(cli.config.read_text() + "\n[documents]\nmax_bytes = 1024\n")
    before = cli.snapshot()
    for path, why in (("/dev/zero", "not a regular file"), (str(big), "larger than 1024"),
                      (str(tmp_path / "gone.pdf"), "does not exist")):
        res = cli.trigger(KB, "request_amendment", party="ipo", ref="brief 1", sets=(f"document={path}",),
                          expect=2)
        assert "document" in one_line(res.err) and why in res.err
    assert cli.snapshot() == before
    small = tmp_path / "small.pdf"
    small.write_bytes(b"%PDF-1.4 wording")
    cli.trigger(KB, "request_amendment", party="ipo", ref="brief 1", sets=(f"document={small}",))


# -- finding 4 and 10 over HTTP -------------------------------------------------------------------------------
@pytest.fixture
def api(tmp_path):
    from tests.e2e.test_api import Api
    return Api(tmp_path)


@pytest.mark.parametrize("path", [f"/api/v1/processes/{KB}%00", f"/api/v1/processes/{KB}%00/history",
                                  f"/api/v1/processes/{KB}%ED%A0%80", "/api/v1/deadlines?within=%00"])
def test_nul_and_broken_text_in_the_path_is_400(api, path) -> None:
    response = api.get(path)
    assert response.status_code in (400, 404), response.text
    assert response.json()["error"] in ("bad_input", "not_found")


@pytest.mark.parametrize("body,field", [
    ({"data": {"text": "\ud800"}}, "data.text"), ({"data": {"\ud800": "x"}}, "data"),
    ({"reason": "a\u0000b"}, "reason"), ({"ref": "\udcff"}, "ref")])
def test_broken_text_in_a_json_body_is_400_naming_the_field(api, body, field) -> None:
    import json
    before = api.get(f"/api/v1/processes/{KB}/history").json()
    response = api.client.post(f"/api/v1/processes/{KB}/triggers/open_signing",
                               content=json.dumps(body).encode(), headers={**api.h("secretariat"),
                                                                            "Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert field in (response.json().get("field") or "") + response.json()["reason"]
    assert api.get(f"/api/v1/processes/{KB}/history").json() == before


def test_an_unexpected_fault_is_500_with_a_correlation_id_logged(api, monkeypatch, caplog) -> None:
    def broken(*_a, **_k):
        raise ZeroDivisionError("boom")
    from fastapi.testclient import TestClient
    monkeypatch.setattr(api.app.queries, "show", broken)
    client = TestClient(api.web, raise_server_exceptions=False)
    response = client.get(f"/api/v1/processes/{KB}", headers=api.h("secretariat"))
    assert response.status_code == 500
    cid = response.json()["correlation_id"]
    assert any(cid in r.getMessage() for r in caplog.records)


def test_an_unexpected_fault_on_the_command_line_is_exit_1_one_line(cli, monkeypatch) -> None:
    from convenant.engine.queries import Queries

    def broken(*_a, **_k):
        raise ZeroDivisionError("boom")
    monkeypatch.setattr(Queries, "list_agreements", broken)
    res = cli.run("agreements", "list", expect=1)
    assert "internal error" in one_line(res.err) and "ZeroDivisionError" in res.err


def test_nul_is_bad_input_on_postgresql_too(pg_url, tmp_path) -> None:
    c = Cli(tmp_path, pg_url)
    c.run("init")
    c.run("agreements", "create", "--example", KB)
    for args in (("show", "krachtenbundeling\0"), ("history", "x\0"),
                 ("trigger", KB, "open_signing", "--actor", "a\0", "--role", "secretariat")):
        res = c.run(*args, expect=2)
        one_line(res.err)
    assert os.environ.get("CONVENANT_TEST_PG_URL", "set") is not None
