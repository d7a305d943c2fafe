"""The log's routes of the HTTP API (/api/v1/log/...): any token reads the key, the checkpoints and the proofs;
receipts follow what the token may read (a party its own agreements, never a confidential record entered for
another party); what they serve is what `convenant-verify` accepts."""
from __future__ import annotations

import json

from convenant import verify
from tests.e2e.test_api import KB, Api, api, refused  # noqa: F401 - the fixture

__all__ = ["api"]


def test_every_token_reads_the_key_the_checkpoint_and_the_proofs(api: Api, tmp_path):
    api.signed()
    secret = api.fire(KB, "add_note", body={"data": {"text": "geheim", "confidential": "yes"}, "party": "vng"})
    assert secret.status_code == 200
    refused(api.get("/api/v1/log/key", "auditor"), 404, article=False)    # no key before the first checkpoint
    assert api.get("/api/v1/log/checkpoint", "ipo").status_code == 200  # which takes the records in, signed
    for who in ("auditor", "ipo", "secretariat"):
        assert api.get("/api/v1/log/key", who).status_code == 200
    key = verify.parse_vkey(api.get("/api/v1/log/key", "auditor").json()["public_key"])
    checkpoint = api.get("/api/v1/log/checkpoint", "ipo").json()
    assert checkpoint["size"] >= 6 and verify.verify_checkpoint(checkpoint["note"], key).size == checkpoint["size"]
    cps = api.get("/api/v1/log/checkpoints", "auditor").json()
    assert cps[-1]["size"] == checkpoint["size"]
    assert api.get(f"/api/v1/log/checkpoints/{checkpoint['size']}", "ipo").json()["note"] == checkpoint["note"]
    proof = api.get("/api/v1/log/proofs/inclusion", "auditor", params={"seq": 2}).json()
    verify.verify_inclusion(bytes.fromhex(proof["leaf_hash"]), proof["leaf_index"], proof["tree_size"],
                            [bytes.fromhex(p) for p in proof["inclusion_proof"]],
                            verify.verify_checkpoint(proof["checkpoint"], key).root)
    doc = api.get("/api/v1/log/proofs/consistency", "ipo",
                  params={"from": cps[0]["size"], "to": cps[-1]["size"]}).json()
    verify.verify_consistency_proof(doc["old"], doc["new"], doc, key)
    refused(api.get("/api/v1/log/proofs/inclusion", "auditor", params={"seq": 999}), 404, article=False)
    refused(api.get("/api/v1/log/proofs/consistency", "auditor", params={"from": 999, "to": 1000}), 404,
            article=False)
    refused(api.get("/api/v1/log/checkpoint", None), 401, article=False)

    receipt = api.get("/api/v1/log/receipts/3", "ipo").json()
    assert verify.verify_receipt(receipt, key)[0]["seq"] == 3
    seq = secret.json()["seq"]
    refused(api.get(f"/api/v1/log/receipts/{seq}", "ipo"), 403, article=False)   # entered for vng
    assert verify.verify_receipt(api.get(f"/api/v1/log/receipts/{seq}", "vng").json(), key)[0]["seq"] == seq
    refused(api.get("/api/v1/log/receipts/3", "stranger"), 403, article=False)

    export = api.get("/api/v1/log/export", "auditor").json()
    (tmp_path / "export.json").write_text(json.dumps(export))
    assert verify.main(["log", str(tmp_path / "export.json"), "--key", key.text()]) == 0
    refused(api.get("/api/v1/log/export", "ipo"), 403, article=False)
