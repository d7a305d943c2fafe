"""The property of issue 13, widened: for any sequence of acts - the four signatures, the publication (its
reference and its date), the votes on extension, a notice - with some of them entered wrong and then corrected
(a date, a reference, an answer; a notice that should not have been entered withdrawn), the agreement ends up in
the state of the same sequence entered right, and the chains verify.

Bounded in time (each correction rebuilds the agreement from its history): the settings profile
`issue13-corrections` runs CONVENANT_PROPERTY_EXAMPLES examples (default 25, about 10 s) on the memory store."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from convenant.engine.corrections import correct
from tests.conftest import KB, MAIN_SIGNERS, Harness
from tests.unit.test_issue13_corrections import WHO, fork

settings.register_profile(
    "issue13-corrections", max_examples=int(os.environ.get("CONVENANT_PROPERTY_EXAMPLES", "25")), deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow], derandomize=False)

PARTIES = list(MAIN_SIGNERS)
STCRT = ("Stcrt. 2025, 11512", "Stcrt. 2025, 11521", "Stcrt. 2025, 1152")
NEW_END = "2028-01-01"


@dataclass(frozen=True)
class Story:
    """One sequence of acts: what is right, and what was entered (None: entered right)."""
    signs: tuple[int, ...]              # the day of March 2025 each party signed
    publication: tuple[int, str]        # the day of March 2025 and the Staatscourant reference
    last_vote: str                      # VNG's answer on extension (the others vote yes)
    notice: int | None                  # the day of September 2026 UvW gave notice, or no notice
    wrong_signs: tuple[int | None, ...]
    wrong_publication: tuple[int | None, str | None]
    wrong_vote: bool                    # VNG's answer entered the other way
    wrong_notice: int | None            # entered with this day (or, where there was none, entered at all)


@st.composite
def stories(draw: Any) -> Story:
    signs = tuple(draw(st.lists(st.integers(1, 19), min_size=4, max_size=4)))
    publication = (draw(st.integers(20, 25)), draw(st.sampled_from(STCRT)))
    notice = draw(st.one_of(st.none(), st.integers(1, 19)))
    # at most three acts entered wrong: each correction rebuilds the agreement, which is the test's time
    slots = draw(st.lists(st.sampled_from(["sign", "pub_day", "pub_ref", "vote", "notice"]), min_size=1, max_size=3,
                          unique=True))
    wrong_signs: list[int | None] = [None] * 4
    if "sign" in slots:
        wrong_signs[draw(st.integers(0, 3))] = draw(st.integers(1, 19))
    return Story(
        signs=signs, publication=publication, last_vote=draw(st.sampled_from(["yes", "no"])), notice=notice,
        wrong_signs=tuple(wrong_signs),
        wrong_publication=(draw(st.integers(20, 25)) if "pub_day" in slots else None,
                           draw(st.sampled_from(STCRT)) if "pub_ref" in slots else None),
        wrong_vote="vote" in slots,
        wrong_notice=draw(st.integers(1, 19)) if "notice" in slots else None)


def other(answer: str) -> str:
    return "no" if answer == "yes" else "yes"


def vote(answer: str) -> dict[str, str]:
    return {"extend": "yes", "new_end": NEW_END} if answer == "yes" else {"extend": "no"}


def enter(h: Harness, s: Story, *, right: bool) -> None:
    """The acts of the story at their moments, as they were entered (or, `right`, as they should have been)."""
    def pick(value: Any, wrong: Any) -> Any:
        return value if right or wrong is None else wrong

    h.create()
    h.fire(KB, "open_signing")
    h.advance("2025-03-20T12:00:00+01:00")
    for party, day, wrong in zip(PARTIES, s.signs, s.wrong_signs, strict=True):
        h.fire(KB, "sign", role="party", party=party, actor=MAIN_SIGNERS[party], on=f"2025-03-{pick(day, wrong):02d}")
    h.advance("2025-03-25T12:00:00+01:00")
    day, ref = s.publication
    h.fire(KB, "publish", ref=pick(ref, s.wrong_publication[1]),
           on=f"2025-03-{pick(day, s.wrong_publication[0]):02d}")
    h.advance("2026-06-15T10:00:00+02:00")        # the extension decision opened by itself on 2026-04-02
    for party in ("ienw", "ipo", "uvw"):
        h.fire(KB, "vote_extension", role="party", party=party, on="2026-06-15", sets=vote("yes"))
    answer = s.last_vote if right or not s.wrong_vote else other(s.last_vote)
    h.fire(KB, "vote_extension", role="party", party="vng", on="2026-06-15", sets=vote(answer))
    h.advance("2026-09-20T10:00:00+02:00")
    notice = s.notice if right else (s.wrong_notice if s.wrong_notice is not None else s.notice)
    if notice is not None:
        h.fire(KB, "give_notice", role="party", party="uvw", ref="UvW/2026/9", on=f"2026-09-{notice:02d}")


def seq(h: Harness, trigger: str, party: str | None = None) -> int:
    return [r["seq"] for r in h.records(trigger) if (party is None or r["party"] == party)
            and "opened_by" not in (r["data"] or {})][-1]


def fix(h: Harness, at: int, **sets: str) -> None:
    correct(h.service, h.reads, fork, KB, at, sets=sets, withdraw=False, who=WHO)


def corrections(h: Harness, s: Story) -> None:
    """The secretariat corrects, on 25 September 2026, every act of the story that was entered wrong."""
    for party, day, wrong in zip(PARTIES, s.signs, s.wrong_signs, strict=True):
        if wrong is not None and wrong != day:
            fix(h, seq(h, "sign", party), on=f"2025-03-{day:02d}")
    day, ref = s.publication
    sets = {k: v for k, v, w in (("on", f"2025-03-{day:02d}", s.wrong_publication[0]),
                                 ("ref", ref, s.wrong_publication[1])) if w is not None and v != w
            and (k != "on" or w != day)}
    if sets:
        fix(h, seq(h, "publish"), **sets)
    if s.wrong_vote:
        fix(h, seq(h, "vote_extension", "vng"), **({**vote(s.last_vote), "new_end": ""} if s.last_vote == "no"
                                                   else vote(s.last_vote)))
    if s.wrong_notice is not None and s.wrong_notice != s.notice:
        if s.notice is None:
            correct(h.service, h.reads, fork, KB, seq(h, "give_notice"), sets={}, withdraw=True, who=WHO)
        else:
            fix(h, seq(h, "give_notice"), on=f"2026-09-{s.notice:02d}")


def state(h: Harness, leave_out: frozenset[str] | set[str] = frozenset()) -> tuple[Any, ...]:
    """What must be equal (as tests/unit/test_issue13_corrections.py's state_of): every process as shown, but its
    version and the clock, and every deadline; `leave_out` the processes not compared."""
    pids = [q.id for r in h.reads.roots() for q in (r, *h.reads.children(r.id)) if q.id not in leave_out]
    shown = []
    for pid in pids:
        doc = {k: v for k, v in h.show(pid).items() if k not in ("version", "clock")}
        doc["children"] = [c for c in doc.get("children", []) if c["id"] not in leave_out]
        shown.append(doc)
    deadlines = sorted((d.process_id, d.kind, d.subject or "", d.due.isoformat(), str(d.status), d.met_on)
                       for d in h.reads.deadlines(statuses=None) if d.process_id not in leave_out)
    return shown, deadlines


def comparable(corrected: Harness, right: Harness) -> tuple[Any, ...]:
    """The corrected agreement's state. A withdrawn act's child stays in the database under its id, closed: final,
    its deadlines cancelled (its number stays taken). That child, absent from the agreement entered right, is
    checked to be so and then left out."""
    ids = {c.id for r in right.reads.roots() for c in right.reads.children(r.id)}
    extra = {c.id for r in corrected.reads.roots() for c in corrected.reads.children(r.id) if c.id not in ids}
    for pid in extra:
        doc = corrected.show(pid)
        assert all(d["status"] == "cancelled" for d in doc["deadlines"])
        assert [c for c in corrected.reads.children(KB) if c.id == pid][0].final
    return state(corrected, extra)


@settings(settings.get_profile("issue13-corrections"))
@given(story=stories())
def test_any_story_corrected_equals_the_story_entered_right(tmp_path_factory, story):
    wrong = Harness("memory", tmp_path_factory.mktemp("corrected"))
    right = Harness("memory", tmp_path_factory.mktemp("right"))
    try:
        enter(wrong, story, right=False)
        wrong.advance("2026-09-25T10:00:00+02:00")
        corrections(wrong, story)
        for r in wrong.records("correct"):
            event(f"corrected {r['data'].get('withdraw') and 'withdraw' or ','.join(sorted(r['data']['set']))}")
        wrong.advance("2026-11-02T10:00:00+01:00")
        enter(right, story, right=True)
        right.advance("2026-09-25T10:00:00+02:00")
        right.advance("2026-11-02T10:00:00+01:00")
        assert comparable(wrong, right) == state(right)
        assert wrong.verify()["intact"] is True
    finally:
        wrong.close()
        right.close()


def test_a_withdrawn_notice_keeps_its_number_and_a_new_one_gets_the_next(tmp_path):
    """Found by the property above: the rebuilt agreement reused the withdrawn notice's number, so the next notice
    collided with the closed child kept under it (and a later correction, or `audit replay`, swapped the two)."""
    from convenant.engine.queries import Queries
    from convenant.engine.replay import replay

    h = Harness("memory", tmp_path)
    try:
        h.active()
        h.advance("2026-02-10T10:00:00+01:00")
        h.fire(KB, "give_notice", role="party", party="vng", ref="VNG/2026/3", on="2026-01-31")
        correct(h.service, h.reads, fork, KB, seq(h, "give_notice"), sets={}, withdraw=True, who=WHO)
        again = h.fire(KB, "give_notice", role="party", party="vng", ref="VNG/2026/4", on="2026-02-10")["created"]
        assert again == f"{KB}/termination-2"
        h.advance("2026-03-11T10:00:00+01:00")
        assert h.party("vng")["withdrawn_on"] == "2026-03-11"
        replayed = replay(h.service, Queries(h.reads, h.service), fork)
        assert replayed["equal"] is True, replayed["differences"]
        out = correct(h.service, h.reads, fork, KB, seq(h, "publish"), sets={"ref": "Stcrt. 2025, 11513"},
                      withdraw=False, who=WHO)
        assert [c["what"] for c in out["changes"]] == [f"seq {seq(h, 'publish')}: ref",
                                                       f"{KB}: data.facts.publication_ref"]
        children = {c["id"]: (c["state"], c["final"]) for c in h.show()["children"]}
        assert children == {f"{KB}/termination-1": ("notice_given", True),
                            f"{KB}/termination-2": ("continuation_decision", False)}
        assert h.verify()["intact"] is True
    finally:
        h.close()
