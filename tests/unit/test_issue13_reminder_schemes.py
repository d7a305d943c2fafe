"""Reminder schemes that take effect (issue 13): a definition version's own `[reminders]`, an adopted amendment's
(`request_amendment --set reminders=KIND --set days=LIST`), and which one wins: the agreement's amended scheme >
its definition version's > config.toml's [reminders] > the built-in default. Hand-computed: the extension decision
of version 1 is due 1 July 2026; config.toml's scheme [30, 14, 7, 1] reminds on 1, 17, 24 and 30 June at 08:00
(CEST); an amended [60, 21] on 2 May and 10 June. Version 2 moves it to 1 September 2026 with its own [30, 14, 7]:
2, 18 and 25 August (no longer the 31st)."""
from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from convenant.engine.config import Settings
from convenant.engine.deadlines import AMENDED_REMINDERS, carry_step, plan, scheme
from convenant.engine.errors import BadInput
from convenant.engine.explain import explain
from convenant.engine.queries import Queries
from convenant.engine.whatif import Fork
from tests.conftest import KB, Harness, on_backends

pytestmark = on_backends("memory")

CONFIG_JUNE = ["2026-06-01T08:00:00+02:00", "2026-06-17T08:00:00+02:00", "2026-06-24T08:00:00+02:00",
               "2026-06-30T08:00:00+02:00"]


def fork() -> Fork:
    from convenant.storage.memory import MemoryReadModels, MemoryStore
    store = MemoryStore()
    return Fork(store=store, outbox=store.outbox, reads=MemoryReadModels(store), load=store.load)


def adopt(h: Harness, sets: dict[str, str]) -> str:
    amendment = h.fire(KB, "request_amendment", role="party", party="ipo", ref="IPO/2025/14", sets=sets)["created"]
    for party in ("ienw", "uvw", "vng"):
        h.fire(amendment, "consent", role="party", party=party, ref=f"{party}/instemming")
    assert h.show(amendment)["state"] == "adopted"
    return amendment


def why(h: Harness, kind: str) -> dict[str, Any]:
    return explain(Queries(h.reads, h.service), KB, kind)


def installation_source(h: Harness, kind: str) -> str:
    return "config" if kind in h.settings.reminders else "default"


# -- precedence, as a pure function ----------------------------------------------------------------------
def test_precedence_amendment_over_definition_over_config_over_default(harness):
    wf = harness.service.workflow(KB).at_version(2)
    assert wf is not None
    bare = Settings()
    assert scheme("progress_report", bare).as_dict() == {"days": [14], "source": "default"}
    configured = Settings(reminders={"extension_decision": [45, 3], "progress_report": [5]})
    assert scheme("extension_decision", configured).as_dict() == {"days": [45, 3], "source": "config"}
    assert scheme("extension_decision", configured, wf).as_dict() == {
        "days": [30, 14, 7], "source": "definition", "version": 2, "article": "Art. 5.4"}
    assert scheme("progress_report", configured, wf).as_dict() == {"days": [5], "source": "config"}
    amended = {AMENDED_REMINDERS: {"extension_decision": {"days": [60, 21], "amendment": "x/amendment-1"}}}
    assert scheme("extension_decision", configured, wf, amended).as_dict() == {
        "days": [60, 21], "source": "amendment", "amendment": "x/amendment-1"}
    assert scheme("end", configured, wf, amended).source == "default"


def test_a_deadline_in_its_ladder_keeps_its_place_when_the_scheme_changes(store_backend):
    s = Settings()
    created = dt.datetime(2026, 1, 1, 9, tzinfo=dt.UTC)
    before = plan("extension_decision", dt.date(2026, 7, 1), created, s, offsets=[30, 14, 7, 1])
    after = plan("extension_decision", dt.date(2026, 7, 1), created, s, offsets=[60])
    first_rung = [st.index for st in before if st.kind == "escalation"][0]
    assert after[carry_step(before, after, first_rung, created)].kind == "escalation"
    assert after[carry_step(before, after, first_rung, created)].level == 0
    # still ahead of its reminders: the new scheme's first one not yet past
    now = dt.datetime(2026, 5, 10, 9, tzinfo=dt.UTC)
    nxt = after[carry_step(before, after, 0, now)]
    assert nxt.kind == "missed", "60 days before 1 July lay before 10 May: no reminder left, next the miss"


# -- the definition version's scheme -----------------------------------------------------------------------
def test_migrating_to_version_2_plans_the_versions_reminders_and_explain_says_so(harness):
    h = harness.active()
    h.advance("2025-10-01T10:00:00+02:00")
    assert why(h, "extension_decision")["reminders"] == {
        "days": [30, 14, 7, 1], "source": installation_source(h, "extension_decision")}
    dry = h.service.migrate(KB, 2, dry_run=True)
    changes = {d["after"]["kind"]: d for d in dry["deadlines"]}
    ext = changes["extension_decision"]
    assert ext["reminders_withdrawn"] == CONFIG_JUNE
    assert ext["reminders_due"] == ["2026-08-02T08:00:00+02:00", "2026-08-18T08:00:00+02:00",
                                    "2026-08-25T08:00:00+02:00"], "version 2: 30, 14, 7 days; not the 31st"
    assert changes["evaluation"]["reminders_due"] == ["2026-06-01T08:00:00+02:00", "2026-06-17T08:00:00+02:00"]
    done = h.service.migrate(KB, 2)
    assert h.deadline("extension_decision")["next_reminder"] == "2026-08-02T08:00:00+02:00"
    explained = why(h, "extension_decision")
    assert explained["reminders"] == {"days": [30, 14, 7], "source": "definition", "version": 2,
                                      "article": "Art. 5.4"}
    assert [s["at"] for s in explained["schedule"] if s["kind"] == "reminder"] == ext["reminders_due"]
    assert explained["moved_by"] == {"seq": done["seq"], "trigger": "migrate", "from": 1, "to": 2,
                                     "record": f"migrate on {h.records('migrate')[0]['effective']}"}
    h.advance("2026-08-31T10:00:00+02:00")
    sent = {m["key"].split("|")[2] for m in h.outbox() if m["key"].split("|")[1].startswith("extension_decision#")}
    assert sent == {"r30", "r14", "r7"}, "the reminders of version 2's scheme, none the day before (r1)"


# -- the amendment's scheme ------------------------------------------------------------------------------------
def test_an_adopted_amendment_sets_the_scheme_and_re_plans_the_open_deadline(harness):
    h = harness.active()
    h.advance("2025-10-01T10:00:00+02:00")
    was = why(h, "extension_decision")["reminders"]
    amendment = adopt(h, {"change": "Art. 5.4: herinneren twee maanden en drie weken vooraf",
                          "reminders": "extension_decision", "days": "21, 60"})
    (applied,) = h.records("apply_amendment")
    assert applied["data"]["migration"] == {
        "amendment": amendment,
        "before": {"reminders": {"kind": "extension_decision", **was}},
        "after": {"reminders": {"kind": "extension_decision", "days": [60, 21], "source": "amendment",
                                "amendment": amendment, "reminders_withdrawn": CONFIG_JUNE,
                                "reminders_due": ["2026-05-02T08:00:00+02:00", "2026-06-10T08:00:00+02:00"]}}}
    assert h.show()["facts"][AMENDED_REMINDERS] == {"extension_decision": {"days": [60, 21],
                                                                           "amendment": amendment}}
    ext = h.deadline("extension_decision")
    assert (ext["due"], ext["next_reminder"]) == ("2026-07-01", "2026-05-02T08:00:00+02:00")
    assert why(h, "extension_decision")["reminders"] == {
        "days": [60, 21], "source": "amendment", "amendment": amendment, "seq": applied["seq"],
        "record": f"apply_amendment on {applied['effective']}"}
    assert "moved_by" not in why(h, "extension_decision"), "the scheme changed, not the date"
    assert h.verify()["intact"] is True
    h.advance("2026-05-03T10:00:00+02:00")
    assert h.deadline("extension_decision")["next_reminder"] == "2026-06-10T08:00:00+02:00"


def test_the_amended_scheme_wins_over_the_version_it_migrates_to(harness):
    h = harness.active()
    h.advance("2025-10-01T10:00:00+02:00")
    amendment = adopt(h, {"change": "Art. 5.4: herinneren", "reminders": "extension_decision", "days": "60,21"})
    dry = h.service.migrate(KB, 2, dry_run=True)
    (ext,) = [d for d in dry["deadlines"] if d["after"]["kind"] == "extension_decision"]
    assert ext["reminders_withdrawn"] == ["2026-05-02T08:00:00+02:00", "2026-06-10T08:00:00+02:00"]
    assert ext["reminders_due"] == ["2026-07-03T08:00:00+02:00", "2026-08-11T08:00:00+02:00"]  # 60, 21 before 1 Sep
    h.service.migrate(KB, 2)
    assert why(h, "extension_decision")["reminders"]["source"] == "amendment"
    assert why(h, "extension_decision")["reminders"]["amendment"] == amendment
    assert why(h, "evaluation")["reminders"]["source"] == "definition"


def test_explain_credits_a_deadline_moved_by_an_amendment_to_its_record(harness):
    h = harness.active()
    h.advance("2025-10-01T10:00:00+02:00")
    amendment = adopt(h, {"change": "Art. 5.4: uiterlijk 1 oktober", "deadline": "extension_decision",
                          "due": "2026-10-01"})
    (applied,) = h.records("apply_amendment")
    explained = why(h, "extension_decision")
    assert explained["moved_by"] == {"seq": applied["seq"], "trigger": "apply_amendment", "amendment": amendment,
                                     "record": f"apply_amendment on {applied['effective']}"}
    assert explained["inputs"][0]["what"] == "opened_by", "the act that opened it is still named"
    assert explained["inputs"][0]["seq"] < applied["seq"]


@pytest.mark.parametrize(("sets", "field"), [
    ({"reminders": "nonsense", "days": "28,14"}, "reminders"),
    ({"reminders": "amendment_response", "days": "28,14"}, "reminders"),   # a child's, not the agreement's
    ({"reminders": "extension_decision", "days": "28;14"}, "days"),
    ({"reminders": "extension_decision", "days": "-3"}, "days"),
    ({"reminders": "extension_decision", "days": "40000"}, "days"),
    ({"reminders": "extension_decision"}, "days"),
    ({"days": "28,14"}, "reminders"),
])
def test_a_bad_scheme_is_refused_naming_the_field_and_changes_nothing(harness, sets, field):
    h = harness.active()
    before = h.snapshot()
    with pytest.raises(BadInput) as info:
        h.fire(KB, "request_amendment", role="party", party="ipo", ref="IPO/2025/15",
               sets={"change": "herinneringen", **sets})
    assert info.value.field == field and info.value.exit_code == 2
    assert h.snapshot() == before


def test_none_means_no_reminders(harness):
    h = harness.active()
    adopt(h, {"change": "geen herinneringen", "reminders": "extension_decision", "days": "none"})
    assert h.deadline("extension_decision")["next_reminder"] is None
    assert [s for s in why(h, "extension_decision")["schedule"] if s["kind"] == "reminder"] == []
    assert why(h, "extension_decision")["reminders"]["days"] == []


# -- kept as a fact: corrections and audit replay reproduce it ----------------------------------------------
def test_audit_replay_is_equal_and_a_correction_keeps_the_scheme(harness):
    from convenant.engine.corrections import correct
    from convenant.engine.replay import replay

    h = harness.active()
    h.advance("2025-10-01T10:00:00+02:00")
    amendment = adopt(h, {"change": "Art. 5.4: herinneren", "reminders": "extension_decision", "days": "60,21"})
    replayed = replay(h.service, Queries(h.reads, h.service), fork)
    assert replayed["equal"] is True, replayed["differences"]
    (publish,) = h.records("publish")
    correct(h.service, h.reads, fork, KB, publish["seq"], sets={"ref": "Stcrt. 2025, 11513"}, withdraw=False,
            who={"actor": "Secretariaat CE", "role": "secretariat", "reason": "tikfout in de referentie"})
    assert h.show()["facts"][AMENDED_REMINDERS]["extension_decision"] == {"days": [60, 21], "amendment": amendment}
    assert h.deadline("extension_decision")["next_reminder"] == "2026-05-02T08:00:00+02:00"
    replayed = replay(h.service, Queries(h.reads, h.service), fork)
    assert replayed["equal"] is True, replayed["differences"]
    assert h.verify()["intact"] is True


@pytest.mark.parametrize(("scheme_of", "field"), [
    ({"nope": {"days": [3], "article": "Art. 5.4"}}, "reminders.nope"),
    ({"end": {"days": [3], "article": " "}}, "reminders.end.article"),
    ({"end": {"days": [-3], "article": "Art. 5.3"}}, "reminders"),
])
def test_a_definitions_scheme_names_a_kind_it_has_and_its_article(store_backend, scheme_of, field):
    import tomllib

    from convenant.engine.loading import parse_definition
    from convenant.workflows import HERE

    source = HERE / "versions" / "krachtenbundeling.v2.toml"
    raw = tomllib.loads(source.read_text(encoding="utf-8"))
    raw["reminders"] = scheme_of
    with pytest.raises(BadInput) as info:
        parse_definition(raw, str(source))
    assert (info.value.field or "").startswith(field)


def test_a_deadline_whose_date_stays_gets_the_target_versions_reminders(harness):
    """A version whose scheme differs for a deadline it keeps at its date (here: the end, 1 January 2027, reminded
    60 and 30 days before instead of config.toml's 30): the diff's `reminders` change, and the row re-planned."""
    from convenant.engine.definitions import ReminderScheme

    h = harness.active()
    h.advance("2025-10-01T10:00:00+02:00")
    main = h.service.workflows[KB]
    second = main.at_version(2)
    assert second is not None
    mine, other = main.model_copy(), second.model_copy(update={"reminders": {
        **second.reminders, "end": ReminderScheme(days=[60, 30], article="Art. 5.3")}})
    mine.attach_versions({2: other})
    h.service.workflows = {**h.service.workflows, KB: mine}
    was = why(h, "end")["reminders"]
    dry = h.service.migrate(KB, 2, dry_run=True)
    (end,) = [d for d in dry["deadlines"] if d["after"]["kind"] == "end"]
    assert (end["change"], end["before"], end["after"]) == ("reminders", end["after"], {
        "kind": "end", "due": "2027-01-01", "status": "open"})
    assert end["reminders"] == {"before": was, "after": {"days": [60, 30], "source": "definition", "version": 2,
                                                         "article": "Art. 5.3"}}
    assert end["reminders_due"] == ["2026-11-02T08:00:00+01:00"]          # 60 days before 1 January 2027
    assert "reminders_withdrawn" not in end, "30 days before (2 December) stays"
    h.service.migrate(KB, 2)
    assert h.deadline("end")["next_step_at"] == "2026-11-02T08:00:00+01:00"
    assert why(h, "end")["reminders"]["source"] == "definition"
