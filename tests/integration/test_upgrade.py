"""Upgrading a database the previous release wrote: tests/fixtures/release-0.1.0.db (made by
tests/fixtures/make_release_db.sh with release 0.1.0, every row in format 1) is copied, `convenant init` (alembic
upgrade head) runs on the copy through the command line, and every agreement reads back as that release showed
it (tests/fixtures/release-0.1.0.json: `agreements list`, `show` of every process, `history` of every agreement,
`deadlines --all`). Fields the new code adds may be extra; nothing may differ or go missing. The config is the
one the JSON was made with: a config.toml with only `[database] url`.

The same upgrade on PostgreSQL: the fixture's rows are loaded into a database at revision 0001, then upgraded."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from convenant.storage.store import make_engine
from tests.integration.test_migrations import alembic

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
RELEASE_DB = FIXTURES / "release-0.1.0.db"
RELEASE_JSON = json.loads((FIXTURES / "release-0.1.0.json").read_text(encoding="utf-8"))


# Triggers this release adds to the Krachtenbundeling (INTERFACE.md, "Change, proof and rehearsal"): an upgraded
# agreement may offer them beside everything it offered before, and nothing else new.
NEW_TRIGGERS = {"record_vth_implementation", "record_mandate"}


def missing_or_different(old: Any, new: Any, where: str = "") -> list[str]:
    """Where `new` lacks or changes something `old` has (keys `new` adds are allowed)."""
    if where.endswith(".allowed_triggers") and isinstance(new, list):
        extra = [t for t in new if t not in old]
        kept = [t for t in new if t in old]
        return [] if kept == old and set(extra) <= NEW_TRIGGERS else [f"{where}: {old!r} became {new!r}"]
    if isinstance(old, dict):
        if not isinstance(new, dict):
            return [f"{where or '.'}: {old!r} became {new!r}"]
        out = []
        for key, value in old.items():
            if key not in new:
                out.append(f"{where}.{key}: missing")
            else:
                out += missing_or_different(value, new[key], f"{where}.{key}")
        return out
    if isinstance(old, list):
        if not isinstance(new, list) or len(old) != len(new):
            return [f"{where or '.'}: {old!r} became {new!r}"]
        return [p for i, (a, b) in enumerate(zip(old, new, strict=True))
                for p in missing_or_different(a, b, f"{where}[{i}]")]
    return [] if old == new else [f"{where or '.'}: {old!r} became {new!r}"]


class Convenant:
    """The command line on a config.toml with only the database's url, always with --json."""

    def __init__(self, root: Path, url: str) -> None:
        self.config = root / "config.toml"
        self.config.write_text(f'[database]\nurl = "{url}"\n', encoding="utf-8")
        self.runner = CliRunner()

    def __call__(self, *args: str) -> Any:
        from convenant.app.cli import cli
        res = self.runner.invoke(cli, ["--config", str(self.config), "--json", *args], catch_exceptions=False)
        assert res.exit_code == 0, f"convenant {' '.join(args)} -> {res.exit_code}: {res.stdout}{res.stderr}"
        return json.loads(res.stdout)


def reads_back_as_the_release_showed(convenant: Convenant) -> None:
    problems = missing_or_different(RELEASE_JSON["agreements"], convenant("agreements", "list"), "agreements")
    for pid, shown in RELEASE_JSON["processes"].items():
        problems += missing_or_different(shown, convenant("show", pid), f"show {pid}")
    for pid, records in RELEASE_JSON["history"].items():
        problems += missing_or_different(records, convenant("history", pid), f"history {pid}")
    problems += missing_or_different(RELEASE_JSON["deadlines"], convenant("deadlines", "--all"), "deadlines")
    assert problems == []


def moved_over(url: str) -> None:
    """Every row in the current format; the reference data once per distinct content; the reports in the log."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            formats = dict(conn.execute(sa.text("select id, format from processes")).all())
            sizes = dict(conn.execute(sa.text("select id, data from processes")).all())
            references = conn.execute(sa.text("select count(*) from reference_data")).scalar()
            reports = conn.execute(sa.text("select subject, effective, data from process_log "
                                           "where process_id = 'krachtenbundeling' order by id")).all()
            outbox_formats = {f for (f,) in conn.execute(sa.text("select format from outbox"))}
    finally:
        engine.dispose()
    assert set(formats.values()) == {2} and len(formats) == 6
    assert references == 2                      # krachtenbundeling's and stedendriehoek's
    logged = sorted((r[0], str(r[1]), json.dumps(json.loads(r[2]) if isinstance(r[2], str) else r[2], sort_keys=True))
                    for r in reports)
    assert logged == [("inkoop", "2025-04-10", '{"status": "on_track", "text": null}'),
                      ("ruimte", "2025-04-10", '{"status": "stalled", "text": null}')]
    row = sizes["krachtenbundeling"]
    text = row if isinstance(row, str) else json.dumps(row)
    # no commitment texts, contacts or reports any more: 15.2 kB before
    assert "title_nl" not in text and "@example.org" not in text and "recorded_at" not in text and len(text) < 6000
    assert outbox_formats <= {1}


def test_a_release_0_1_0_database_upgrades_and_reads_back_equal(tmp_path):
    db = tmp_path / "upgraded.db"
    shutil.copy(RELEASE_DB, db)
    convenant = Convenant(tmp_path, f"sqlite:///{db}")
    convenant("init")
    moved_over(f"sqlite:///{db}")
    reads_back_as_the_release_showed(convenant)
    assert convenant("audit", "verify")["intact"] is True          # the history is untouched
    convenant("init")                                               # again: nothing to do, nothing changes
    reads_back_as_the_release_showed(convenant)


def test_the_upgraded_agreement_works_on(tmp_path):
    """After the upgrade the agreement is the engine's as any other: a report lands in the log, a sign-up sets
    its target, show names the themes from the reference data, the chain goes on."""
    db = tmp_path / "upgraded.db"
    shutil.copy(RELEASE_DB, db)
    convenant = Convenant(tmp_path, f"sqlite:///{db}")
    convenant("init")
    kb = "krachtenbundeling"
    convenant("trigger", kb, "report_progress", "--actor", "S", "--role", "secretariat",
              "--set", "theme=ruimte", "--set", "status=on_track")
    convenant("trigger", kb, "sign_up", "--actor", "S", "--role", "secretariat", "--set", "government=Gelderland",
              "--set", "layer=province", "--set", "theme=vth", "--set", "email=vth@gelderland.example.org")
    themes = {t["id"]: t for t in convenant("show", kb)["themes"]}
    assert themes["ruimte"]["escalation_level"] == 0 and themes["ruimte"]["status"] == "on_track"
    assert [s["government"] for s in themes["vth"]["sign_ups"]] == ["Utrecht", "Gelderland"]
    assert themes["vth"]["title"]["nl"] == "Vergunning, Toezicht en Handhaving" and themes["vth"]["commitments"] == 4
    targets = {d["subject"]: d["due"] for d in convenant("show", kb)["deadlines"] if d["kind"] == "vth_target"}
    assert targets["Gelderland"] == "2026-12-31"
    engine = make_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from process_log")).scalar() == 3
        assert conn.execute(sa.text("select count(*) from reference_data")).scalar() == 2
    engine.dispose()
    assert convenant("audit", "verify")["intact"] is True


@pytest.mark.postgres
def test_the_same_upgrade_on_postgresql(pg_url, tmp_path):
    """Revision 0001 on PostgreSQL, the fixture's rows copied in as the previous release wrote them, then
    `convenant init`."""
    target = make_engine(pg_url)
    source = sa.create_engine(f"sqlite:///{RELEASE_DB}")
    try:
        alembic(target, "upgrade", "0001")
        old, new = sa.MetaData(), sa.MetaData()
        old.reflect(source)
        new.reflect(target)
        with source.connect() as src, target.begin() as dst:
            for name in old.tables:
                if name == "alembic_version":
                    continue
                rows = [dict(r) for r in src.execute(sa.select(old.tables[name])).mappings()]
                if rows:
                    dst.execute(new.tables[name].insert(), rows)
                if "id" in new.tables[name].c and isinstance(new.tables[name].c.id.type, sa.Integer) and rows:
                    dst.execute(sa.text(f"select setval(pg_get_serial_sequence('{name}', 'id'), "
                                        f"(select max(id) from {name}))"))
    finally:
        source.dispose()
        target.dispose()
    convenant = Convenant(tmp_path, pg_url)
    convenant("init")
    moved_over(pg_url)
    reads_back_as_the_release_showed(convenant)
    assert convenant("audit", "verify")["intact"] is True


def test_downgrading_gives_the_previous_release_its_rows_back(tmp_path):
    """0002 down again: every row back in format 1 with all it held (the reference data and the reports inline
    again), and up once more the agreements read back equal."""
    db = tmp_path / "roundtrip.db"
    shutil.copy(RELEASE_DB, db)
    url = f"sqlite:///{db}"
    original = _rows(url)
    convenant = Convenant(tmp_path, url)
    convenant("init")
    engine = make_engine(url)
    try:
        alembic(engine, "downgrade", "0001")
    finally:
        engine.dispose()
    downgraded = _rows(url)
    assert set(downgraded) == set(original)
    for pid, data in original.items():
        assert missing_or_different(data, downgraded[pid], pid) == []
    convenant("init")
    reads_back_as_the_release_showed(convenant)


def _rows(url: str) -> dict[str, Any]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return {pid: json.loads(data) for pid, data in conn.execute(sa.text("select id, data from processes"))}
    finally:
        engine.dispose()
