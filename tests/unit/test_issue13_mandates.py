"""A party's mandate before it signs (Art. 3.2, seed 001: the UvW's CWE advises, the Uniebestuur decides, then the
UvW signs): recorded per party by the secretariat; `show` lists who still lacks one; signing without one is
flagged in the record, not refused (Art. 5.1)."""
from __future__ import annotations

from convenant.engine.errors import BadInput
from tests.conftest import KB, MAIN_SIGNERS, on_backends

pytestmark = on_backends("memory")


def test_mandates_are_recorded_listed_and_flagged_not_enforced(harness):
    h = harness
    h.create()
    assert h.show()["lacking_mandate"] == ["ienw", "ipo", "uvw", "vng"]    # EZ and VRO act through IenW
    h.fire(KB, "open_signing")
    h.fire(KB, "record_mandate", party="uvw", ref="CWE 2025-02", on="2025-02-12",
           sets={"step": "advice", "body": "Commissie Waterbeheer en Economie (CWE)"})
    assert "uvw" in h.show()["lacking_mandate"]                          # advice is not yet a mandate
    h.fire(KB, "record_mandate", party="uvw", ref="UB 2025-03", on="2025-02-27",
           sets={"step": "decision", "body": "Uniebestuur"})
    doc = h.show()
    assert doc["lacking_mandate"] == ["ienw", "ipo", "vng"]
    (uvw,) = [p for p in doc["parties"] if p["id"] == "uvw"]
    assert [(m["step"], m["body"], m["on"], m["ref"]) for m in uvw["mandate"]] == [
        ("advice", "Commissie Waterbeheer en Economie (CWE)", "2025-02-12", "CWE 2025-02"),
        ("decision", "Uniebestuur", "2025-02-27", "UB 2025-03")]
    h.advance("2025-03-20T12:00:00+01:00")
    h.fire(KB, "sign", role="party", party="uvw", actor=MAIN_SIGNERS["uvw"], on="2025-03-20")
    h.fire(KB, "sign", role="party", party="ipo", actor=MAIN_SIGNERS["ipo"], on="2025-03-20")
    flags = {r["party"]: r["data"].get("mandate_missing") for r in h.records("sign")}
    assert flags["uvw"] is None and "Art. 3.2" in flags["ipo"]
    err = h.refused(BadInput, KB, "record_mandate", party="vng", ref="x", sets={"step": "vote", "body": "ALV"})
    assert err.field == "step"
