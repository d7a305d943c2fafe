"""Amendments that add a theme or a commitment (issue 13, Art. 5.8 with Art. 3.4 and 4): `request_amendment
--set theme=ID --set theme_title=TEXT [--set theme_title_en=TEXT --set theme_article=TEXT --set theme_layers=LIST]`
and `--set commitment=N --set commitment_theme=THEME --set commitment_text=TEXT [--set commitment_text_en=TEXT]`.
Validated on the request (exit 2 naming the field, nothing changed); on adoption applied in the same transaction
to the agreement's theme data and recorded in apply_amendment's migration (before/after); afterwards a government
signs up for the new theme and `show` lists it; corrections and audit replay reproduce it."""
from __future__ import annotations

import datetime as dt

import pytest

from convenant.engine.errors import BadInput, NotAllowed
from convenant.engine.queries import Queries
from convenant.engine.whatif import Fork
from tests.conftest import KB, Harness, on_backends

pytestmark = on_backends("memory")

ORIGINAL = ["inkoop", "kennisdeling", "ketens", "mkb", "ruimte", "vth"]
BOUW = {"change": "Art. 4: nieuw thema Circulaire bouw", "theme": "bouw", "theme_title": "Circulair bouwen",
        "theme_title_en": "Circular construction", "theme_layers": "province,municipality"}
LONG = ("Intekenaars passen bij nieuwbouw en renovatie van hun eigen vastgoed de leidende principes voor circulair "
        "bouwen toe en delen hun ervaringen met de andere intekenaars via de werkgroep en de kennisplatforms van "
        "het programma, zodat die ervaringen ook elders kunnen worden benut.")


def fork() -> Fork:
    from convenant.storage.memory import MemoryReadModels, MemoryStore
    store = MemoryStore()
    return Fork(store=store, outbox=store.outbox, reads=MemoryReadModels(store), load=store.load)


def adopt(h: Harness, sets: dict[str, str]) -> str:
    amendment = h.fire(KB, "request_amendment", role="party", party="ipo", ref="IPO/2025/21", sets=sets)["created"]
    for party in ("ienw", "uvw", "vng"):
        h.fire(amendment, "consent", role="party", party=party, ref=f"{party}/instemming")
    assert h.show(amendment)["state"] == "adopted"
    return amendment


def themes(h: Harness) -> dict[str, dict]:
    return {t["id"]: t for t in h.show()["themes"]}


def test_an_adopted_new_theme_is_applied_recorded_and_open_for_sign_up(harness):
    h = harness.active()
    h.advance("2025-10-01T10:00:00+02:00")
    amendment = h.fire(KB, "request_amendment", role="party", party="ipo", ref="IPO/2025/21", sets=BOUW)["created"]
    assert "bouw" not in themes(h), "a request changes nothing until it is adopted"
    h.refused(BadInput, KB, "sign_up", sets={"government": "Gemeente Zwolle", "layer": "municipality",
                                             "theme": "bouw"})
    for party in ("ienw", "uvw", "vng"):
        h.fire(amendment, "consent", role="party", party=party, ref=f"{party}/instemming")
    bouw = themes(h)["bouw"]
    assert (bouw["title"], bouw["article"], bouw["sign_ups"]) == (
        {"nl": "Circulair bouwen", "en": "Circular construction"}, "Art. 4", [])
    # a new theme of an active agreement awaits its first progress report like the others (Art. 1.1 ii):
    # 1 October 2025 + the report interval
    interval = h.settings.progress.report_interval_days
    (row,) = [d for d in h.show()["deadlines"] if d["kind"] == "progress_report" and d["subject"] == "bouw"]
    assert row["due"] == (dt.date(2025, 10, 1) + dt.timedelta(days=interval)).isoformat()
    (migration,) = h.records("apply_amendment")
    assert migration["effective"] == "2025-10-01" and migration["article"] == "Art. 5.8"
    record = migration["data"]["migration"]
    assert record["amendment"] == amendment
    assert record["before"] == {"themes": ORIGINAL}
    assert record["after"]["themes"] == sorted([*ORIGINAL, "bouw"])
    assert record["after"]["theme"] == {"id": "bouw", "title": {"nl": "Circulair bouwen",
                                                                "en": "Circular construction"},
                                        "article": "Art. 4", "commitments": [], "contacts": [],
                                        "layers": ["province", "municipality"]}
    assert record["after"]["progress_report_due"] == row["due"]
    # afterwards: a municipality signs up; a water board is not among the layers the amendment named
    h.fire(KB, "sign_up", sets={"government": "Gemeente Zwolle", "layer": "municipality", "theme": "bouw"})
    assert [s["government"] for s in themes(h)["bouw"]["sign_ups"]] == ["Gemeente Zwolle"]
    err = h.refused(NotAllowed, KB, "sign_up", sets={"government": "Waterschap Vallei en Veluwe",
                                                     "layer": "water_board", "theme": "bouw"})
    assert "province, municipality" in err.message
    assert h.verify()["intact"] is True


def test_a_new_commitment_of_an_existing_theme_can_be_chosen_at_sign_up(harness):
    h = harness.active()
    amendment = adopt(h, {"commitment": "6", "commitment_theme": "ruimte", "commitment_text": LONG,
                          "commitment_text_en": "Apply the guiding principles to one's own real estate."})
    assert themes(h)["ruimte"]["commitments"] == 6
    (migration,) = h.records("apply_amendment")
    record = migration["data"]["migration"]
    assert record["amendment"] == amendment
    assert record["before"] == {"themes": ORIGINAL, "commitments": {"ruimte": [1, 2, 3, 4, 5]}}
    assert record["after"] == {"themes": ORIGINAL, "commitment": {
        "theme": "ruimte", "n": 6, "title_nl": LONG, "title_en": "Apply the guiding principles to one's own real estate."}}
    assert len(LONG) > 200, "the whole text is kept, not the agreement's short copy of the child's facts"
    h.fire(KB, "sign_up", sets={"government": "Provincie Gelderland", "layer": "province", "theme": "ruimte",
                                "commitments": "1,6"})
    (sign_up,) = themes(h)["ruimte"]["sign_ups"]
    assert sign_up["commitments"] == [1, 6]
    assert h.refused(BadInput, KB, "sign_up", sets={"government": "Gemeente Ede", "layer": "municipality",
                                                    "theme": "ruimte", "commitments": "7"}).field == "commitments"


def test_one_amendment_adds_a_theme_and_its_first_commitment(harness):
    h = harness.active()
    adopt(h, {**BOUW, "commitment": "1", "commitment_theme": "bouw", "commitment_text": "Circulair bouwen."})
    assert themes(h)["bouw"]["commitments"] == 1
    (migration,) = h.records("apply_amendment")
    assert migration["data"]["migration"]["before"]["commitments"] == {"bouw": []}
    h.fire(KB, "sign_up", sets={"government": "Provincie Overijssel", "layer": "province", "theme": "bouw",
                                "commitments": "1"})


def test_a_theme_without_layers_is_open_to_every_layer(harness):
    h = harness.active()
    adopt(h, {"theme": "water", "theme_title": "Circulair waterbeheer", "theme_article": "Art. 4a"})
    water = themes(h)["water"]
    assert (water["title"], water["article"]) == ({"nl": "Circulair waterbeheer", "en": "Circulair waterbeheer"},
                                                  "Art. 4a")
    h.fire(KB, "sign_up", sets={"government": "Waterschap Vallei en Veluwe", "layer": "water_board",
                                "theme": "water"})
    assert [s["in_kind"] if "in_kind" in s else None for s in themes(h)["water"]["sign_ups"]] == [None]


@pytest.mark.parametrize(("sets", "field"), [
    ({"theme": "vth", "theme_title": "VTH opnieuw"}, "theme"),                  # a duplicate id
    ({"theme": "Bouw!", "theme_title": "Bouw"}, "theme"),                       # not an id
    ({"theme": "bouw"}, "theme_title"),                                         # missing title
    ({"theme_title": "Circulair bouwen"}, "theme"),                             # a title without the theme
    ({**BOUW, "theme_layers": "province,rijk"}, "theme_layers"),                # an unknown layer
    ({"commitment": "3", "commitment_theme": "vth", "commitment_text": "x"}, "commitment"),   # a duplicate number
    ({"commitment": "zes", "commitment_theme": "vth", "commitment_text": "x"}, "commitment"),
    ({"commitment": "6", "commitment_theme": "nope", "commitment_text": "x"}, "commitment_theme"),  # unknown theme
    ({"commitment": "6", "commitment_text": "x"}, "commitment_theme"),
    ({"commitment": "6", "commitment_theme": "ruimte"}, "commitment_text"),     # missing text
    ({"commitment": "6", "commitment_theme": "ruimte", "commitment_text": "  "}, "commitment_text"),
    ({"commitment_theme": "ruimte", "commitment_text": "x"}, "commitment"),
])
def test_a_bad_theme_or_commitment_is_refused_naming_the_field_and_changes_nothing(harness, sets, field):
    h = harness.active()
    err = h.refused(BadInput, KB, "request_amendment", role="party", party="ipo", ref="IPO/x", sets=sets)
    assert err.field == field, err.message


def test_a_theme_added_once_cannot_be_proposed_or_added_again(harness):
    h = harness.active()
    first = h.fire(KB, "request_amendment", role="party", party="ipo", ref="IPO/1", sets=BOUW)["created"]
    err = h.refused(BadInput, KB, "request_amendment", role="party", party="vng", ref="VNG/1", sets=BOUW)
    assert (err.field, first in err.message) == ("theme", True)
    for party in ("ienw", "uvw", "vng"):
        h.fire(first, "consent", role="party", party=party, ref=f"{party}/1")
    assert h.refused(BadInput, KB, "request_amendment", role="party", party="vng", ref="VNG/2",
                     sets=BOUW).field == "theme"
    adopt(h, {"commitment": "1", "commitment_theme": "bouw", "commitment_text": "Eerste afspraak."})
    assert h.refused(BadInput, KB, "request_amendment", role="party", party="vng", ref="VNG/3",
                     sets={"commitment": "1", "commitment_theme": "bouw", "commitment_text": "x"}).field == "commitment"


# -- kept: corrections and audit replay reproduce it -------------------------------------------------------
def test_audit_replay_is_equal_and_a_correction_keeps_the_new_theme(harness):
    from convenant.engine.corrections import correct
    from convenant.engine.replay import replay

    h = harness.active()
    h.advance("2025-10-01T10:00:00+02:00")
    adopt(h, {**BOUW, "commitment": "1", "commitment_theme": "bouw", "commitment_text": LONG})
    h.fire(KB, "sign_up", sets={"government": "Gemeente Zwolle", "layer": "municipality", "theme": "bouw",
                                "commitments": "1"})
    replayed = replay(h.service, Queries(h.reads, h.service), fork)
    assert replayed["equal"] is True, replayed["differences"]
    (publish,) = h.records("publish")
    correct(h.service, h.reads, fork, KB, publish["seq"], sets={"ref": "Stcrt. 2025, 11513"}, withdraw=False,
            who={"actor": "Secretariaat CE", "role": "secretariat", "reason": "tikfout in de referentie"})
    bouw = themes(h)["bouw"]
    assert (bouw["commitments"], [s["government"] for s in bouw["sign_ups"]]) == (1, ["Gemeente Zwolle"])
    replayed = replay(h.service, Queries(h.reads, h.service), fork)
    assert replayed["equal"] is True, replayed["differences"]
    assert h.verify()["intact"] is True


def test_a_theme_added_by_amendment_stays_when_the_agreement_moves_to_version_2(harness):
    h = harness.active()
    h.advance("2025-10-01T10:00:00+02:00")
    adopt(h, BOUW)
    h.service.migrate(KB, 2)
    assert "bouw" in themes(h)
    h.fire(KB, "sign_up", sets={"government": "Provincie Utrecht", "layer": "province", "theme": "bouw"})
    assert [s["government"] for s in themes(h)["bouw"]["sign_ups"]] == ["Provincie Utrecht"]
