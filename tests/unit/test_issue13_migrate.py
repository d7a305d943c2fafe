"""`convenant migrate` on the memory store (engine/migrate.py): a running agreement and its children move to another
version of their definition as one recorded migration. The shipped Krachtenbundeling version 2
(workflows/versions/krachtenbundeling.v2.toml) decides on extension four months before the end instead of on 1 July
2026, adds an `evaluation` deadline six months before the end, and names `expiring` `winding_down`; its way back
gives an open evaluation no place. Dates below are computed by hand from the example: ends_on 2027-01-01, so the
extension deadline moves from 2026-07-01 to 2026-09-01 (4 calendar months before) and the evaluation falls on
2026-07-01 (6 before); the extension decision opens by itself 90 days before its deadline ([decisions]
extension_opens_days_before): 2026-04-02 under version 1, 2026-06-03 under version 2."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from convenant.engine.errors import BadInput, NotAllowed, NotFound
from tests.conftest import KB, Harness, on_backends

pytestmark = on_backends("memory")

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"


def dues(h: Harness, pid: str = KB) -> dict[str, tuple[str, str]]:
    return {d["kind"]: (d["due"], d["status"]) for d in h.show(pid)["deadlines"] if d["kind"] != "progress_report"}


def with_open_amendment(h: Harness) -> str:
    h.active()
    h.advance("2025-10-01T10:00:00+02:00")
    return h.fire(KB, "request_amendment", role="party", party="ipo", ref="IPO/2025/9",
                  sets={"change": "Art. 4: een zevende thema"})["created"]


def test_dry_run_then_the_real_migration(harness):
    h = harness
    amendment = with_open_amendment(h)
    before = h.snapshot()
    dry = h.service.migrate(KB, "2", dry_run=True, reason="versie 2 van de definitie")
    assert h.snapshot() == before, "a dry run writes nothing"
    assert (dry["from"], dry["to"], dry["seq"], dry["dry_run"], dry["article"]) == (1, 2, None, True, "Art. 5.8")
    assert {s["process"]: (s["before"], s["after"]) for s in dry["states"]} == {
        KB: ("active", "active"), amendment: ("open", "open")}
    changes = {(d["process"], d["after"]["kind"]): d for d in dry["deadlines"]}
    assert set(changes) == {(KB, "evaluation"), (KB, "extension_decision")}
    ext = changes[(KB, "extension_decision")]
    assert (ext["change"], ext["before"]["due"], ext["after"]["due"]) == ("moved", "2026-07-01", "2026-09-01")
    assert ext["reminders_withdrawn"][0] == "2026-06-01T08:00:00+02:00"      # 30 days before 1 July
    assert ext["reminders_due"][0] == "2026-08-02T08:00:00+02:00"            # 30 days before 1 September
    evaluation = changes[(KB, "evaluation")]
    assert (evaluation["change"], evaluation["before"], evaluation["after"]) == (
        "added", None, {"kind": "evaluation", "due": "2026-07-01", "status": "open"})

    done = h.service.migrate(KB, 2, reason="versie 2 van de definitie")
    assert done["seq"] is not None and {k: v for k, v in done.items() if k not in ("seq", "dry_run")} == {
        k: v for k, v in dry.items() if k not in ("seq", "dry_run")}
    (record,) = h.records("migrate")
    assert (record["seq"], record["source"], record["dest"], record["article"], record["reason"]) == (
        done["seq"], "active", "active", "Art. 5.8", "versie 2 van de definitie")
    assert (record["data"]["from"], record["data"]["to"]) == (1, 2)
    assert record["data"]["diff"]["deadlines"] == done["deadlines"]
    assert h.show()["definition_version"] == 2 and h.show(amendment)["definition_version"] == 2
    assert dues(h)["extension_decision"] == ("2026-09-01", "open")
    assert dues(h)["evaluation"] == ("2026-07-01", "open")
    assert "record_evaluation" in h.show()["allowed_triggers"]
    assert h.verify()["intact"] is True
    # the children move with it: a child opened now runs under version 2 as well
    later = h.fire(KB, "give_notice", role="party", party="uvw", ref="UvW/2025/4")["created"]
    assert h.show(later)["definition_version"] == 2


def test_derived_moments_follow_the_new_version(harness):
    h = harness
    h.active()
    h.service.migrate(KB, 2)
    h.advance("2026-05-01T10:00:00+02:00")
    assert h.show()["state"] == "active", "version 1 would have opened the extension decision on 2026-04-02"
    h.advance("2026-06-03T00:30:00+02:00")
    assert h.show()["state"] == "extension_decision"
    h.fire(KB, "record_evaluation", ref="Evaluatierapport 2026", on="2026-06-03")
    assert dues(h)["evaluation"] == ("2026-07-01", "met")
    h.fire(KB, "vote_extension", role="party", party="ipo", sets={"extend": "no"})
    assert h.show()["state"] == "winding_down"          # version 2's name for version 1's `expiring`
    # and back to version 1: the evaluation is met, so nothing lacks a place; winding_down is expiring again
    back = h.service.migrate(KB, "1")
    assert {s["process"]: (s["before"], s["after"], s["mapped"]) for s in back["states"]} == {
        KB: ("winding_down", "expiring", True)}
    assert h.show()["state"] == "expiring" and h.show()["definition_version"] == 1
    assert [r["trigger"] for r in h.history()].count("migrate") == 2
    assert h.verify()["intact"] is True


def test_a_mapping_that_leaves_an_open_deadline_without_a_place_is_refused(harness):
    h = harness
    h.active()
    h.service.migrate(KB, 2)
    before = h.snapshot()
    logged = len(h.reads.refusals(10_000))
    with pytest.raises(NotAllowed) as info:
        h.service.migrate(KB, 1, dry_run=True)
    assert "open deadline 'evaluation' (due 2026-07-01) has no place in version 1" in str(info.value)
    assert info.value.article == "Art. 5.8"
    with pytest.raises(NotAllowed):
        h.service.migrate(KB, 1)
    assert h.snapshot() == before, "a refused migration changes nothing"
    refusals = h.reads.refusals(10_000)
    assert len(refusals) == logged + 2 and refusals[0]["trigger"] == "migrate"


def _definitions_with_a_third_version(tmp_path: Path, migration: str, change: Any = None) -> dict:
    """The shipped definition, with a version 3 beside it: version 2's text, reached from version 1 by `migration`."""
    from convenant.engine.loading import load_definition

    folder = tmp_path / "defs"
    shutil.copytree(WORKFLOWS / "examples", folder / "examples")
    (folder / "versions").mkdir(parents=True)
    main = (WORKFLOWS / "krachtenbundeling.toml").read_text(encoding="utf-8")
    (folder / "krachtenbundeling.toml").write_text(main.split("\n[[migrations]]\n")[0], encoding="utf-8")
    v2 = (WORKFLOWS / "versions" / "krachtenbundeling.v2.toml").read_text(encoding="utf-8")
    v3 = v2.replace("\nversion = 2\n", "\nversion = 3\n").split("\n[[migrations]]\n")[0]
    v3 = (change(v3) if change else v3) + migration
    (folder / "versions" / "krachtenbundeling.v3.toml").write_text(v3, encoding="utf-8")
    wf = load_definition(folder / "krachtenbundeling.toml")
    return {"krachtenbundeling": wf}


def test_a_state_without_a_place_is_refused_naming_it(harness, tmp_path):
    h = harness
    h.service.workflows = _definitions_with_a_third_version(tmp_path, """
[[migrations]]
from = 1
article = "Art. 5.8"
[migrations.processes.agreement]
add = ["evaluation"]
""")
    h.active()
    h.fire(KB, "open_extension_decision")
    h.fire(KB, "vote_extension", role="party", party="vng", sets={"extend": "no"})
    assert h.show()["state"] == "expiring"
    with pytest.raises(NotAllowed) as info:
        h.service.migrate(KB, 3)
    assert "state 'expiring' has no place in version 3" in str(info.value)
    # version 2, which maps it, is not known to this set of definitions: exit 2 naming --to
    with pytest.raises(BadInput) as bad:
        h.service.migrate(KB, 2)
    assert bad.value.field == "to" and "versions are 1, 3" in str(bad.value)


def test_the_loader_checks_a_migration_table(store_backend, tmp_path):
    with pytest.raises(BadInput) as info:
        _definitions_with_a_third_version(tmp_path, """
[[migrations]]
from = 1
article = "Art. 5.8"
[migrations.processes.agreement]
states = { expiring = "afgelopen" }
""")
    assert info.value.field == "migrations[0].processes.agreement.states.expiring"
    assert "version 3 has no state 'afgelopen'" in str(info.value)


def test_refusals_in_the_order_of_the_interface(harness):
    h = harness
    amendment = with_open_amendment(h)
    for to in ("twee", "0", ""):
        with pytest.raises(BadInput) as info:
            h.service.migrate("nope", to)          # the arguments are judged before the process is looked up
        assert info.value.field == "to"
    with pytest.raises(NotFound):
        h.service.migrate("nope", 2)
    with pytest.raises(BadInput) as info:
        h.service.migrate(KB, 9)
    assert info.value.field == "to"
    with pytest.raises(NotAllowed) as forbidden:
        h.service.migrate(KB, 2, role="auditor", actor="Auditdienst")
    assert forbidden.value.exit_code == 3
    with pytest.raises(NotAllowed, match="migrate the agreement"):
        h.service.migrate(amendment, 2)
    with pytest.raises(NotAllowed, match="already"):
        h.service.migrate(KB, 1)
    assert h.records("migrate") == []


def test_an_ended_agreement_is_not_migrated(harness):
    h = harness
    h.active()
    h.advance("2027-01-01T00:30:00+01:00")
    assert h.show()["state"] == "ended"
    with pytest.raises(NotAllowed, match="ended"):
        h.service.migrate(KB, 2)


def test_a_correction_after_a_migration_keeps_it(harness):
    """The correction rebuilds the agreement from its history, the migration entered again at its moment."""
    from convenant.engine.corrections import correct
    from convenant.engine.whatif import Fork
    from convenant.storage.memory import MemoryReadModels, MemoryStore

    def fork() -> Fork:
        store = MemoryStore()
        return Fork(store=store, outbox=store.outbox, reads=MemoryReadModels(store), load=store.load)

    h = harness
    h.active()
    h.advance("2025-05-01T10:00:00+02:00")
    h.service.migrate(KB, 2)
    (publish,) = h.records("publish")
    out = correct(h.service, h.reads, fork, KB, publish["seq"], sets={"ref": "Stcrt. 2025, 11513"}, withdraw=False,
                  who={"actor": "Secretariaat CE", "role": "secretariat", "reason": "nummer verkeerd overgenomen"})
    assert out["changes"][0] == {"what": f"seq {publish['seq']}: ref", "before": "Stcrt. 2025, 11512",
                                 "after": "Stcrt. 2025, 11513"}
    assert not any("definition" in c["what"] or "evaluation" in c["what"] for c in out["changes"])
    assert h.show()["definition_version"] == 2 and dues(h)["evaluation"] == ("2026-07-01", "open")
    assert h.show()["publication_ref"] == "Stcrt. 2025, 11513"
    with pytest.raises(NotAllowed, match="migrating back"):
        correct(h.service, h.reads, fork, KB, h.records("migrate")[0]["seq"], sets={"on": "2025-05-01"},
                withdraw=False, who={"actor": "S", "role": "secretariat", "reason": "r"})
    assert h.verify()["intact"] is True


def test_a_missed_deadline_the_new_version_gives_a_later_date_is_awaited_again(harness):
    h = harness
    h.active()
    h.advance("2026-07-15T10:00:00+02:00")
    assert dues(h)["extension_decision"] == ("2026-07-01", "missed")
    done = h.service.migrate(KB, 2)
    (ext,) = [d for d in done["deadlines"] if d["after"]["kind"] == "extension_decision"]
    assert (ext["before"]["status"], ext["after"]) == (
        "missed", {"kind": "extension_decision", "due": "2026-09-01", "status": "open"})
    evaluation = [d for d in done["deadlines"] if d["after"]["kind"] == "evaluation"]
    assert evaluation[0]["after"]["due"] == "2026-07-01"           # added, its date already past: missed at once
    h.advance("2026-07-16T10:00:00+02:00")
    assert dues(h)["evaluation"] == ("2026-07-01", "missed")
    assert dues(h)["extension_decision"] == ("2026-09-01", "open")
    h.fire(KB, "vote_extension", role="party", party="ipo", sets={"extend": "no"})
    assert dues(h)["extension_decision"] == ("2026-09-01", "met")
    assert h.show()["state"] == "winding_down"


def test_a_deadline_kind_renamed_and_one_cancelled(harness, tmp_path):
    """A version 3 that names the work-structure deadline `werkstructuur`: mapped, it keeps its row (renamed);
    listed under `cancel` instead, it is cancelled."""
    defs = _definitions_with_a_third_version(tmp_path, """
[[migrations]]
from = 1
article = "Art. 5.8"
[migrations.processes.agreement]
states = { expiring = "winding_down" }
deadlines = { work_structure = "werkstructuur" }
""", change=lambda text: text.replace('"work_structure"', '"werkstructuur"'))
    h = harness
    h.service.workflows = defs
    h.active()
    done = h.service.migrate(KB, 3)
    (renamed,) = [d for d in done["deadlines"] if d["change"] == "renamed"]
    assert (renamed["before"]["kind"], renamed["after"]["kind"], renamed["after"]["due"]) == (
        "work_structure", "werkstructuur", "2025-05-31")
    assert dues(h)["werkstructuur"] == ("2025-05-31", "open") and "work_structure" not in dues(h)
    h.fire(KB, "record_work_structure", ref="Verslag DO")
    assert dues(h)["werkstructuur"] == ("2025-05-31", "met")


def test_a_deadline_the_table_cancels(harness, tmp_path):
    h = harness
    h.service.workflows = _definitions_with_a_third_version(tmp_path, """
[[migrations]]
from = 1
article = "Art. 5.8"
[migrations.processes.agreement]
states = { expiring = "winding_down" }
cancel = ["work_structure"]
""")
    h.active()
    done = h.service.migrate(KB, 3)
    (gone,) = [d for d in done["deadlines"] if d["change"] == "cancelled"]
    assert (gone["before"], gone["after"]["status"]) == (
        {"kind": "work_structure", "due": "2025-05-31", "status": "open"}, "cancelled")
    assert dues(h)["work_structure"] == ("2025-05-31", "cancelled")
    assert h.verify()["intact"] is True
