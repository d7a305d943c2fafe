"""Property test: any sequence of commands - triggers with random roles, parties, dates and values, and clock
advances that run what falls due - leaves every process in a state of its definition and the audit chain intact;
a refused command changes nothing that `show` or `history` can see; and no command fails with anything but the
engine's own errors (exit codes 2-5), never a crash."""
from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from convenant import workflows
from convenant.engine.agreements import read_data_file
from convenant.engine.errors import ConvenantError
from convenant.engine.views import show
from convenant.storage.queries import history, verify_chain
from tests.conftest import build_app

KB = "krachtenbundeling"
START = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
PARTIES = ["ienw", "ez", "vro", "ipo", "uvw", "vng"]

dates = st.dates(min_value=dt.date(2025, 1, 1), max_value=dt.date(2027, 12, 31)).map(dt.date.isoformat)
VALUES = {
    "extend": st.sampled_from(["yes", "no", "maybe"]),
    "new_end": st.one_of(dates, st.just("2027-02-30")),
    "continue": st.sampled_from(["yes", "no"]),
    "theme": st.sampled_from(["ruimte", "inkoop", "vth", "mkb", "ruimtevaart"]),
    "status": st.sampled_from(["on_track", "stalled", "great"]),
    "layer": st.sampled_from(["province", "water_board", "municipality", "county"]),
    "government": st.sampled_from(["Gemeente Zwolle", "Waterschap Vallei en Veluwe", "Provincie Utrecht"]),
    "commitments": st.sampled_from(["1", "1,3", "x"]),
    "change": st.just("Art. 4: een zevende thema"),
    "subject": st.just("uitleg van Art. 3.2"),
}


STAGES = ["draft", "signing", "signed", "active", "extension_decision"]
_TEMPLATES: dict[str, Path] = {}


def open_app(folder: Path):
    """The application on the database in `folder`, as it is (no migration, the clock left alone)."""
    from convenant.app.bootstrap import build
    from convenant.app.bootstrap import config_from_dict as settings_from_dict

    raw = {"database": {"url": f"sqlite:///{folder / 'p.db'}"},
           "mail": {"transport": "maildir", "path": str(folder / "mail")}}
    return build(settings=settings_from_dict(raw, base_dir=folder))


def template(stage: str) -> Path:
    """A database at a point of the main line, built once per run and copied for each example: migrating and
    walking the main line for every example would make the test slow."""
    if stage in _TEMPLATES:
        return _TEMPLATES[stage]
    folder = Path(tempfile.mkdtemp(prefix=f"convenant-prop-{stage}-"))
    app = build_app(f"sqlite:///{folder / 'p.db'}", folder, simulation=START.isoformat())
    service, fire = app.service, app.service.fire
    service.create_agreement(KB, read_data_file(workflows.example_file(app.workflows[KB])))
    steps = STAGES.index(stage)
    if steps >= 1:
        fire(KB, "open_signing", actor="s", role="secretariat")
        service.advance_clock(dt.datetime(2025, 3, 20, 12, tzinfo=dt.UTC))
        fire(KB, "sign", actor="s", role="party", party="ienw", on="2025-03-20")
    if steps >= 2:
        for party in ("ipo", "uvw", "vng"):
            fire(KB, "sign", actor="s", role="party", party=party, on="2025-03-20")
    if steps >= 3:
        fire(KB, "publish", actor="s", role="secretariat", ref="Stcrt. 2025, 11512", on="2025-03-20")
        target = {"active": dt.datetime(2025, 4, 1, tzinfo=dt.UTC),
                  "extension_decision": dt.datetime(2026, 4, 3, tzinfo=dt.UTC)}[stage]
        service.advance_clock(target, dispatch=app.dispatcher())
    assert show(service, KB)["state"] == stage
    app.store.dispose()
    _TEMPLATES[stage] = folder
    return folder


class Commands(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="convenant-prop-"))
        self.app = None
        self.fired = 0

    @initialize(stage=st.sampled_from(STAGES))
    def create(self, stage: str) -> None:
        """Start from a random point of the main line, so that a few random steps reach every part of it."""
        source = template(stage)
        for item in source.iterdir():
            if item.is_file():
                shutil.copy(item, self.tmp / item.name)
        self.app = open_app(self.tmp)
        self.service = self.app.service
        self.wf = self.app.workflows[KB]
        self.vocabulary = sorted(self.wf.vocabulary)

    # -- what can be seen --------------------------------------------------------------------------------
    def processes(self) -> list:
        with self.service.store.transaction() as tx:
            root = tx.get_process(KB)
            return [root] + tx.children(KB)

    def seen(self, pid: str) -> tuple:
        doc = show(self.service, pid)
        return doc, [{k: v for k, v in r.items() if k != "notifications"} for r in history(self.service.store, KB)]

    # -- commands ------------------------------------------------------------------------------------------
    @rule(data=st.data(), wild=st.integers(min_value=0, max_value=3))
    def fire(self, data: st.DataObject, wild: int) -> None:
        """Most commands are drawn from what the definition allows now (so the agreement moves on), the rest from
        the whole vocabulary with any role, party, date and value (so that refusals are exercised)."""
        sensible = wild > 0
        procs = {p.id: p for p in self.processes()}
        pid = data.draw(st.sampled_from(sorted(procs)), label="process")
        before = self.seen(pid)
        allowed = before[0]["allowed_triggers"]
        if sensible and allowed:
            trigger = data.draw(st.sampled_from(allowed), label="trigger")
            tspec = self.wf.process(procs[pid].ptype).trigger_map[trigger]
            role = data.draw(st.sampled_from(tspec.roles), label="role")
            own = [pid2 for pid2 in PARTIES if pid2 not in ("ez", "vro")]
            party = data.draw(st.sampled_from(own) if role == "party" or tspec.party == "required"
                              else st.one_of(st.none(), st.sampled_from(own)), label="party")
            keys = data.draw(st.lists(st.sampled_from(sorted(tspec.params)), max_size=len(tspec.params),
                                      unique=True) if tspec.params else st.just([]), label="keys")
            ref = data.draw(st.one_of(st.just("brief 2025/17"), st.none()), label="ref")
        else:
            names = st.sampled_from(self.vocabulary + ["nope"])
            trigger = data.draw(st.one_of(st.sampled_from(allowed), names) if allowed else names, label="trigger")
            role = data.draw(st.sampled_from(["secretariat", "party", "auditor", "minister"]), label="role")
            party = data.draw(st.one_of(st.none(), st.sampled_from(PARTIES + ["ghost"])), label="party")
            keys = data.draw(st.lists(st.sampled_from(sorted(VALUES)), max_size=4, unique=True), label="keys")
            ref = data.draw(st.one_of(st.none(), st.just("brief 2025/17")), label="ref")
        today = self.service.today()
        on = data.draw(st.one_of(
            st.none(),
            st.dates(min_value=dt.date(2025, 2, 1), max_value=today + dt.timedelta(days=3)).map(dt.date.isoformat),
            st.sampled_from(["2025-02-30", "tomorrow", "20-03-2025"]) if not sensible else st.none()), label="on")
        values = {k: data.draw(VALUES.get(k, st.just("x")), label=k) for k in keys}
        try:
            self.service.fire(pid, trigger, actor="tester", role=role, party=party, on=on, ref=ref, data=values)
        except ConvenantError as exc:
            assert exc.exit_code in (2, 3, 4, 5), exc
            assert self.seen(pid) == before, f"refused {trigger} ({exc}) changed what show/history see"
        else:
            self.fired += 1

    @rule(hours=st.integers(min_value=0, max_value=24 * 60))
    def advance(self, hours: int) -> None:
        """Move the clock, running what falls due on the way (0: only run what is due now)."""
        if hours == 0:
            self.service.run_due()
            return
        now = self.service.now()
        target = min(now + dt.timedelta(hours=hours), dt.datetime(2027, 7, 1, tzinfo=dt.UTC))
        if target > now:
            self.service.advance_clock(target)     # mail is queued, not sent: delivery has tests of its own

    # -- what must always hold -----------------------------------------------------------------------------
    @invariant()
    def every_process_in_a_state_of_its_definition(self) -> None:
        for proc in self.processes():
            spec = self.wf.process(proc.ptype)
            assert proc.state in spec.states, (proc.id, proc.state)
            assert proc.final == spec.states[proc.state].final
            if proc.final:
                with self.service.store.transaction() as tx:
                    assert not [d for d in tx.deadlines_of(proc.id) if d.status == "open" or d.next_at], proc.id

    @invariant()
    def chain_intact(self) -> None:
        result = verify_chain(self.service.store)
        assert result["intact"], result

    def teardown(self) -> None:
        if self.app is None:
            return
        states = sorted({p.state for p in self.processes()})
        event(f"commands done: {'0' if not self.fired else '1-4' if self.fired < 5 else '5+'}")
        for state in states:
            event(f"state reached: {state}")
        self.app.store.dispose()
        shutil.rmtree(self.tmp, ignore_errors=True)


def teardown_module() -> None:
    for folder in _TEMPLATES.values():
        shutil.rmtree(folder, ignore_errors=True)
    _TEMPLATES.clear()


Commands.TestCase.settings = settings(max_examples=30, stateful_step_count=25, deadline=None,
                                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
TestCommands = Commands.TestCase
