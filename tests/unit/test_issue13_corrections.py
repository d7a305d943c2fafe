"""Issue 13 (C): corrections. A wrongly entered act is corrected (or withdrawn) by a new record naming it; what
follows from it is recomputed by rebuilding the agreement from its history with the act as it should have been
(engine/corrections.py), checked against hand-computed dates (DOMAIN.md's timeline: signatures 20 March 2025, in
force 21 March, publication due 3 April = 20 March + 14 days)."""
from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convenant.engine.corrections import as_recorded_on, correct
from convenant.engine.errors import BadInput, NotAllowed, NotFound
from convenant.engine.whatif import Fork
from tests.conftest import KB, MAIN_SIGNERS, STCRT, Harness

WHO = {"actor": "Secretariaat CE", "role": "secretariat", "reason": "tikfout in de datum"}


def fork() -> Fork:
    from convenant.storage.memory import MemoryReadModels, MemoryStore
    store = MemoryStore()
    return Fork(store=store, outbox=store.outbox, reads=MemoryReadModels(store), load=store.load)


def fix(h: Harness, seq: int, dry_run: bool = False, withdraw: bool = False, **sets: str) -> dict[str, Any]:
    return correct(h.service, h.reads, fork, KB, seq, sets=sets, withdraw=withdraw, who=WHO, dry_run=dry_run)


def seq_of(h: Harness, trigger: str, party: str | None = None) -> int:
    return [r["seq"] for r in h.records(trigger) if (party is None or r["party"] == party)
            and "opened_by" not in r["data"]][-1]


def kinds(h: Harness) -> dict[str, tuple[str, str]]:
    return {d["kind"]: (d["due"], str(d["status"])) for d in h.show()["deadlines"] if d["subject"] is None}


def state_of(h: Harness) -> tuple[Any, ...]:
    """What must be equal between a history corrected and the same history entered right."""
    pids = [q.id for r in h.reads.roots() for q in (r, *h.reads.children(r.id))]
    shown = []
    for pid in pids:
        doc = h.show(pid)
        shown.append({k: v for k, v in doc.items() if k not in ("version", "clock")})
    deadlines = sorted((d.process_id, d.kind, d.subject or "", d.due.isoformat(), str(d.status), d.met_on)
                       for d in h.reads.deadlines(statuses=None))
    return tuple(map(repr, shown)), deadlines


def signed_with(h: Harness, vng_on: str) -> Harness:
    """Three signatures on 2 March 2025; VNG signs on 20 March, entered that day with the date `vng_on`."""
    h.create()
    h.fire(KB, "open_signing")
    h.advance("2025-03-02T12:00:00+01:00")
    for party in ("ienw", "ipo", "uvw"):
        h.fire(KB, "sign", role="party", party=party, actor=MAIN_SIGNERS[party], on="2025-03-02")
    h.advance("2025-03-20T12:00:00+01:00")
    h.fire(KB, "sign", role="party", party="vng", actor=MAIN_SIGNERS["vng"], on=vng_on)
    return h


@pytest.fixture
def h(tmp_path):
    made = Harness("memory", tmp_path)
    yield made
    made.close()


def test_a_signature_date_corrected_moves_effective_from_and_every_deadline_on_it(h):
    signed_with(h, "2025-03-02")
    assert h.show()["effective_from"] == "2025-03-03"
    assert kinds(h)["publication"] == ("2025-03-16", "open")        # 2 March + 14 days, already past
    h.advance("2025-03-20T12:30:00+01:00")
    assert kinds(h)["publication"] == ("2025-03-16", "missed")
    seq = seq_of(h, "sign", "vng")
    before = h.snapshot()
    dry = fix(h, seq, dry_run=True, on="2025-03-20")
    assert h.snapshot() == before                                  # a dry run writes nothing
    assert dry["seq"] is None and dry["corrects"] == seq
    whats = {c["what"]: c for c in dry["changes"]}
    assert whats[f"seq {seq}: on"] == {"what": f"seq {seq}: on", "before": "2025-03-02", "after": "2025-03-20"}
    pub = whats[f"{KB}: deadline publication"]
    assert (pub["before"], pub["after"]) == ({"due": "2025-03-16", "status": "missed"},
                                             {"due": "2025-04-03", "status": "open"})
    assert pub["reminders_due"]
    assert whats[f"{KB}: data.facts.effective_from"]["after"] == "2025-03-21"
    done = fix(h, seq, on="2025-03-20")
    assert done["changes"] == dry["changes"] and done["seq"] > seq
    doc = h.show()
    assert (doc["effective_from"], doc["state"]) == ("2025-03-21", "signed")
    assert kinds(h)["publication"] == ("2025-04-03", "open")
    history = {r["seq"]: r for r in h.history()}
    assert history[seq]["effective"] == "2025-03-02"                # the original stays untouched
    assert history[seq]["corrected_by"] == done["seq"]
    assert history[done["seq"]]["corrects"] == seq and history[done["seq"]]["trigger"] == "correct"
    assert h.verify()["intact"] is True
    # and it equals the same history entered right
    right = Harness("memory", h.settings.base_dir / "right")
    signed_with(right, "2025-03-20")
    assert state_of(h) == state_of(right)
    right.close()


def test_a_publication_reference_and_date_corrected(h):
    h.signed()
    h.advance("2025-03-25T10:00:00+01:00")
    h.fire(KB, "publish", ref="Stcrt. 2025, 99999", on="2025-03-24")
    seq = seq_of(h, "publish")
    done = fix(h, seq, ref=STCRT, on="2025-03-25")
    doc = h.show()
    assert (doc["publication_ref"], doc["published_on"]) == (STCRT, "2025-03-25")
    assert kinds(h)["publication"] == ("2025-04-03", "met")
    assert {c["what"] for c in done["changes"]} >= {f"seq {seq}: ref", f"seq {seq}: on"}
    h.advance("2025-04-01T09:00:00+02:00")
    assert h.show()["state"] == "active"


def test_a_signature_moved_after_the_publication_is_refused_naming_why(h):
    h.signed()
    h.advance("2025-03-25T10:00:00+01:00")
    h.fire(KB, "publish", ref=STCRT, on="2025-03-25")
    h.advance("2025-04-10T10:00:00+02:00")
    before = h.snapshot()
    with pytest.raises(NotAllowed) as info:
        fix(h, seq_of(h, "sign", "vng"), on="2025-04-01")
    assert "publish" in info.value.message and "no longer be possible" in info.value.message
    assert info.value.exit_code == 3
    assert h.snapshot() == before


def test_a_vote_corrected_changes_the_decision(h):
    h.active()
    h.advance("2026-06-15T10:00:00+02:00")
    for party in ("ienw", "ipo", "uvw"):
        h.fire(KB, "vote_extension", role="party", party=party, on="2026-06-15",
               sets={"extend": "yes", "new_end": "2028-01-01"})
    h.fire(KB, "vote_extension", role="party", party="vng", on="2026-06-15", sets={"extend": "no"})
    assert h.show()["ends_on"] == "2027-01-01"
    fix(h, seq_of(h, "vote_extension", "vng"), extend="yes", new_end="2028-01-01")
    doc = h.show()
    assert (doc["state"], doc["ends_on"]) == ("active", "2028-01-01")
    assert kinds(h)["end"] == ("2028-01-01", "open")


def test_a_notice_withdrawn_and_a_notice_date_corrected(h):
    h.active()
    h.advance("2026-02-10T10:00:00+01:00")
    h.fire(KB, "give_notice", role="party", party="vng", ref="VNG/2026/3", on="2026-01-31")
    seq = seq_of(h, "give_notice")
    children = [c["id"] for c in h.show()["children"]]
    assert children
    done = fix(h, seq, withdraw=True)
    assert any(c["after"] == "withdrawn" for c in done["changes"])
    h.advance("2026-03-02T10:00:00+01:00")
    assert h.party("vng")["withdrawn_on"] is None                  # the notice never takes effect
    with pytest.raises(NotAllowed):
        fix(h, seq, withdraw=True)                                 # withdrawn already


def test_bad_input_and_not_found_change_nothing(h):
    h.signed()
    before = h.snapshot()
    seq = seq_of(h, "sign", "vng")
    with pytest.raises(BadInput) as info:
        fix(h, seq, on="20-03-2025")
    assert info.value.field == "on"
    with pytest.raises(BadInput) as info:
        fix(h, seq, colour="blue")
    assert info.value.field == "colour"
    with pytest.raises(BadInput):
        fix(h, seq)
    with pytest.raises(NotFound):
        fix(h, 999, on="2025-03-20")
    with pytest.raises(NotAllowed):
        correct(h.service, h.reads, fork, KB, seq, sets={"on": "2025-03-20"}, withdraw=False,
                who={**WHO, "role": "party"})
    with pytest.raises(NotAllowed):
        fix(h, 1, on="2025-03-20")                                  # the create record is bookkeeping
    assert h.snapshot() == before


def test_show_as_recorded_on_a_day(h):
    signed_with(h, "2025-03-02")
    h.advance("2025-03-22T10:00:00+01:00")
    fix(h, seq_of(h, "sign", "vng"), on="2025-03-20")
    from convenant.engine.views import show
    then, _ = as_recorded_on(h.service, h.reads, fork, KB, dt.date(2025, 3, 20))
    assert show(then, KB)["effective_from"] == "2025-03-03"          # as known before the correction
    now, _ = as_recorded_on(h.service, h.reads, fork, KB, dt.date(2025, 3, 22))
    assert show(now, KB)["effective_from"] == "2025-03-21"
    early, _ = as_recorded_on(h.service, h.reads, fork, KB, dt.date(2025, 3, 1))
    assert show(early, KB)["state"] == "signing"
    with pytest.raises(NotFound):
        as_recorded_on(h.service, h.reads, fork, KB, dt.date(2025, 2, 1))


# -- the property: corrected equals entered right ----------------------------------------------------------------
DAYS = st.integers(min_value=1, max_value=19)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(right=st.lists(DAYS, min_size=4, max_size=4), wrong=st.lists(st.one_of(st.none(), DAYS), min_size=4,
                                                                     max_size=4))
def test_corrected_equals_entered_right(tmp_path_factory, right, wrong):
    """Four signatures on days of March 2025 (entered on the 20th), some entered with a wrong day and then
    corrected: the state equals the same signatures entered right, and the chains verify."""
    parties = list(MAIN_SIGNERS)

    def run(days: list[int], base: Any) -> Harness:
        made = Harness("memory", base)
        made.create()
        made.fire(KB, "open_signing")
        made.advance("2025-03-20T12:00:00+01:00")
        for party, day in zip(parties, days, strict=True):
            made.fire(KB, "sign", role="party", party=party, actor=MAIN_SIGNERS[party], on=f"2025-03-{day:02d}")
        made.advance("2025-03-21T12:00:00+01:00")
        return made

    entered = [w if w is not None else r for r, w in zip(right, wrong, strict=True)]
    corrected = run(entered, tmp_path_factory.mktemp("c"))
    for party, r, w in zip(parties, right, wrong, strict=True):
        if w is not None and w != r:
            fix(corrected, seq_of(corrected, "sign", party), on=f"2025-03-{r:02d}")
    proper = run(right, tmp_path_factory.mktemp("r"))
    try:
        assert state_of(corrected) == state_of(proper)
        assert corrected.verify()["intact"] is True
    finally:
        corrected.close()
        proper.close()
