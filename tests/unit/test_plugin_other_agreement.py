"""A third agreement with other themes needs data, not engine code: a definition written here names the themes
plug-in (`plugins = ["themes"]`), its data file brings two themes of its own, a working group, a footnote-like
restriction as the guard's argument and a target on another theme with a deadline kind of its own. Through the
service on the memory store: sign-ups, the target, the refusal, a stalled report climbing to the working group,
`show` and the progress view."""
from __future__ import annotations

import datetime as dt
import email.header
import tomllib
from pathlib import Path

import pytest

from convenant.app.bootstrap import config_from_dict
from convenant.engine.clock import DatabaseClock, FixedClock
from convenant.engine.errors import BadInput, NotAllowed
from convenant.engine.loading import parse_definition
from convenant.engine.service import Service
from convenant.engine.views import progress_view, show
from convenant.notifications.dispatcher import Dispatcher
from convenant.notifications.render import render_subject
from convenant.storage.memory import MemoryStore

DEFINITION = """
name = "regiodeal"
version = 1
article = "Regiodeal"
root = "deal"
title = { nl = "Regiodeal Afval en Energie", en = "Regional deal on waste and energy" }
plugins = ["themes"]

[processes.deal]
article = "Regiodeal"
initial = "draft"
title = { nl = "Regiodeal", en = "Regional deal" }
[processes.deal.states.draft]
article = "Art. 1"
[processes.deal.states.running]
article = "Art. 2"
[processes.deal.states.closed]
article = "Art. 9"
final = true

[[processes.deal.triggers]]
name = "start"
article = "Art. 2"
source = ["draft"]
dest = "running"
roles = ["secretariat"]
effects = [{ do = "open_progress_deadlines" }]

[[processes.deal.triggers]]
name = "close"
article = "Art. 9"
source = ["running"]
dest = "closed"
roles = ["secretariat"]

[[processes.deal.triggers]]
name = "sign_up"
article = "Art. 3"
source = ["draft", "running"]
roles = ["secretariat"]
guards = [{ check = "layer_themes", article = "Art. 3 lid 2", args = { allowed = { province = ["energie"] } } }]
effects = [{ do = "sign_up" }]
[processes.deal.triggers.params.government]
type = "text"
required = true
[processes.deal.triggers.params.layer]
type = "option"
vocabulary = "layers"
required = true
[processes.deal.triggers.params.theme]
type = "option"
vocabulary = "themes"
required = true
[processes.deal.triggers.params.commitments]
type = "list"
vocabulary = "commitments"

[[processes.deal.triggers]]
name = "report_progress"
article = "Art. 4"
source = ["running"]
roles = ["secretariat"]
effects = [{ do = "report_progress" }]
[processes.deal.triggers.params.theme]
type = "option"
vocabulary = "themes"
required = true
[processes.deal.triggers.params.status]
type = "option"
options = ["on_track", "stalled"]
required = true

[[processes.deal.deadlines]]
kind = "progress_report"
article = "Art. 4"
title = { nl = "Voortgangsverslag", en = "Progress report" }
due = { on = true, days = "$progress.report_interval_days" }
responsible = ["theme"]

[[processes.deal.deadlines]]
kind = "afval_target"
article = "Art. 5"
title = { nl = "Inzamelnorm gehaald", en = "Collection standard reached" }
due = { on = true }
responsible = ["government"]
"""

DATA = """
id = "regio"
title = "Regiodeal Afval en Energie"

[[parties]]
id = "gemeente"
name = "Gemeente Voorbeeld"
contacts = [{ name = "Gemeente", email = "gemeente@example.org" }]

[[parties]]
id = "provincie"
name = "Provincie Voorbeeld"
contacts = [{ name = "Provincie", email = "provincie@example.org" }]

[governance.secretariat]
name = "Secretariaat Regiodeal"
email = "secretariaat@regio.example.org"

[[themes]]
id = "energie"
title_nl = "Energie"
title_en = "Energy"
article = "Art. 3.1"
commitments = [{ n = 1, title_nl = "Zon op daken" }, { n = 2, title_nl = "Warmtenetten" }]

[[themes]]
id = "afval"
title_nl = "Afval"
title_en = "Waste"
article = "Art. 3.2"
commitments = [{ n = 1, title_nl = "Gescheiden inzameling" }]
contacts = [{ name = "Werkgroep Afval", email = "werkgroep-afval@regio.example.org" }]

[[targets]]
theme = "afval"
layer = "municipality"
due = 2027-06-30
deadline = "afval_target"
source = "Art. 5"
"""

START = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def service(tmp_path: Path) -> Service:
    wf = parse_definition(tomllib.loads(DEFINITION), "regiodeal.toml")
    settings = config_from_dict({"database": {"url": "sqlite://"}, "mail": {"transport": "maildir",
                                 "path": str(tmp_path / "mail")}}, base_dir=tmp_path)
    store = MemoryStore()
    svc = Service(store, settings, {wf.name: wf}, subject=render_subject,
                  clock=DatabaseClock(store, real=FixedClock(START)))
    svc.init_database(simulation=True, start=START)
    return svc


class Kept:
    def __init__(self) -> None:
        self.messages: list = []

    def send(self, msg) -> None:
        self.messages.append(msg)


def fire(svc: Service, trigger: str, **sets: str) -> None:
    svc.fire("regio", trigger, actor="Secretariaat", role="secretariat", data=sets or None)


def test_an_agreement_with_other_themes_is_data_only(service):
    svc = service
    svc.create_agreement("regiodeal", tomllib.loads(DATA))
    doc = show(svc, "regio")
    assert [(t["id"], t["title"]["en"], t["commitments"]) for t in doc["themes"]] == [("energie", "Energy", 2),
                                                                                        ("afval", "Waste", 1)]
    fire(svc, "start")
    assert sorted(d["subject"] for d in show(svc, "regio")["deadlines"] if d["kind"] == "progress_report") == [
        "afval", "energie"]

    fire(svc, "sign_up", government="Gemeente Voorbeeld", layer="municipality", theme="afval", commitments="1")
    fire(svc, "sign_up", government="Provincie Voorbeeld", layer="province", theme="energie")
    with pytest.raises(NotAllowed) as refused:      # the definition's restriction, not engine code
        fire(svc, "sign_up", government="Provincie Voorbeeld", layer="province", theme="afval")
    assert refused.value.article == "Art. 3 lid 2" and "province may sign up only for energie" in refused.value.message
    with pytest.raises(BadInput) as bad:
        fire(svc, "sign_up", government="Gemeente Twee", layer="municipality", theme="afval", commitments="2")
    assert bad.value.field == "commitments"
    with pytest.raises(BadInput) as unknown:
        fire(svc, "sign_up", government="Gemeente Twee", layer="municipality", theme="vth")
    assert unknown.value.field == "theme"

    target = [d for d in show(svc, "regio")["deadlines"] if d["kind"] == "afval_target"]
    assert [(d["subject"], d["due"], d["article"]) for d in target] == [("Gemeente Voorbeeld", "2027-06-30", "Art. 5")]
    overview = progress_view(svc, "regio")
    by_gov = {g["government"]: g for g in overview["governments"]}
    assert by_gov["Gemeente Voorbeeld"]["vth_target"] == {"due": "2027-06-30", "status": "open"}
    assert by_gov["Provincie Voorbeeld"]["vth_target"] is None

    # stalled: the ladder's first rung goes to the theme's own working group, named from the data
    fire(svc, "report_progress", theme="afval", status="stalled")
    kept = Kept()
    dispatch = Dispatcher(svc.store.outbox, kept, sender="secretariaat@regio.example.org", tz=svc.tz)
    svc.advance_clock(START + dt.timedelta(minutes=5), dispatch=dispatch)
    themes = {t["id"]: t for t in show(svc, "regio")["themes"]}
    assert themes["afval"]["escalation_level"] == 1 and themes["energie"]["escalation_level"] == 0
    escalations = [m for m in kept.messages if m["To"].endswith("werkgroep-afval@regio.example.org>")]
    subject = str(email.header.make_header(email.header.decode_header(escalations[0]["Subject"])))
    assert len(escalations) == 1 and "werkgroep Afval" in subject.replace("\n", "").replace("\r", "")
    fire(svc, "report_progress", theme="afval", status="on_track")
    assert {t["id"]: t["escalation_level"] for t in show(svc, "regio")["themes"]}["afval"] == 0


def test_the_definition_names_only_plug_ins_that_exist():
    raw = tomllib.loads(DEFINITION.replace('plugins = ["themes"]', 'plugins = ["thema"]'))
    with pytest.raises(BadInput) as err:
        parse_definition(raw, "regiodeal.toml")
    assert err.value.field == "plugins" and "thema" in err.value.message and "themes" in err.value.message


def test_without_the_plug_in_its_blocks_and_words_are_unknown():
    raw = tomllib.loads(DEFINITION.replace('plugins = ["themes"]\n', ""))
    with pytest.raises(BadInput) as err:
        parse_definition(raw, "regiodeal.toml")
    assert "unknown effect 'open_progress_deadlines'" in err.value.message


def test_a_target_must_name_a_deadline_kind_of_the_workflow(service):
    data = DATA.replace('deadline = "afval_target"', 'deadline = "recycling_target"')
    with pytest.raises(BadInput) as err:
        service.create_agreement("regiodeal", tomllib.loads(data))
    assert err.value.field == "targets" and "recycling_target" in err.value.message


def test_a_data_section_no_plug_in_reads_is_refused(service):
    with pytest.raises(BadInput) as err:
        service.create_agreement("regiodeal", tomllib.loads('colour = "red"\n' + DATA))
    assert err.value.field == "colour"
