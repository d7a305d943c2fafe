"""An amendment that adds a theme, through the command line on SQLite: a bad request exits 2 naming the field and
changes nothing; the adopted one shows the theme in `show`, a municipality signs up for it, and `audit replay`
says equal."""
from __future__ import annotations

from tests.conftest import KB, active


def test_a_theme_added_by_amendment_through_the_command_line(cli):
    c = active(cli)
    base = ("change=Art. 4: nieuw thema Circulair bouwen", "theme=bouw", "theme_layers=province,municipality")
    before = c.snapshot()
    refused = c.trigger(KB, "request_amendment", role="party", party="ipo", ref="IPO/2025/21", sets=base, expect=2)
    assert "theme_title" in refused.err
    refused = c.trigger(KB, "request_amendment", role="party", party="ipo", ref="IPO/2025/21",
                        sets=("theme=vth", "theme_title=VTH"), expect=2)
    assert "theme" in refused.err and "already" in refused.err
    assert c.snapshot() == before
    amendment = c.trigger(KB, "request_amendment", role="party", party="ipo", ref="IPO/2025/21",
                          sets=(*base, "theme_title=Circulair bouwen", "theme_title_en=Circular construction",
                                "commitment=1", "commitment_theme=bouw",
                                "commitment_text=Leidende principes voor circulair bouwen toepassen")).data["created"]
    for party in ("ienw", "uvw", "vng"):
        c.trigger(amendment, "consent", role="party", party=party, ref=f"{party}/instemming")
    (bouw,) = [t for t in c.show()["themes"] if t["id"] == "bouw"]
    assert (bouw["title"], bouw["commitments"]) == ({"nl": "Circulair bouwen", "en": "Circular construction"}, 1)
    (record,) = [r for r in c.history() if r["trigger"] == "apply_amendment"]
    assert record["data"]["migration"]["after"]["theme"]["layers"] == ["province", "municipality"]
    c.trigger(KB, "sign_up", sets=("government=Gemeente Zwolle", "layer=municipality", "theme=bouw",
                                   "commitments=1"))
    (bouw,) = [t for t in c.show()["themes"] if t["id"] == "bouw"]
    assert [(s["government"], s["commitments"]) for s in bouw["sign_ups"]] == [("Gemeente Zwolle", [1])]
    assert c.trigger(KB, "sign_up", sets=("government=Waterschap Aa en Maas", "layer=water_board", "theme=bouw"),
                     expect=3).code == 3
    assert c.run("audit", "replay").data["equal"] is True
    assert c.run("audit", "verify").code == 0
