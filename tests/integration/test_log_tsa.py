"""Trusted time (issue 14): with `[log] tsa_url`, every checkpoint is stamped by an RFC 3161 time-stamping
authority and the token is kept with it. The authority here is `openssl ts` behind a tiny HTTP server on 127.0.0.1,
with a CA of its own: timestamped checkpoints verify (`audit verify`, `convenant-verify --tsa-cert`), and a token
moved to another checkpoint is refused."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from convenant import verify
from tests.conftest import Cli

KB = "krachtenbundeling"
# A local RFC 3161 authority needs openssl: skipped, saying so, on a machine without it; CI installs it and sets
# CONVENANT_REQUIRE_OPENSSL=1, so there the test fails rather than skips.
if shutil.which("openssl") is None and os.environ.get("CONVENANT_REQUIRE_OPENSSL") == "1":
    raise RuntimeError("CONVENANT_REQUIRE_OPENSSL=1 but openssl is not installed")
pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl (apt-get install openssl)")

TSA_CONFIG = """
[ tsa ]
default_tsa = local
[ local ]
dir = {dir}
serial = {dir}/serial
signer_cert = {dir}/tsa.crt
certs = {dir}/tsa.crt
signer_key = {dir}/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256
accuracy = secs:1
ordering = yes
tsa_name = no
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_authority(folder: Path) -> None:
    """A CA and a time-stamping certificate it signs (extended key usage timeStamping, critical)."""
    folder.mkdir()
    (folder / "serial").write_text("01\n")
    (folder / "tsa.ext").write_text("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                                    "extendedKeyUsage=critical,timeStamping\n")
    (folder / "ca.ext").write_text("basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "3650",
            "-subj", "/CN=Test TSA CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=folder)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "tsa.key", "-out", "tsa.csr", "-subj",
            "/CN=Test TSA", cwd=folder)
    openssl("x509", "-req", "-in", "tsa.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out",
            "tsa.crt", "-days", "3650", "-extfile", "tsa.ext", cwd=folder)
    (folder / "tsa.cnf").write_text(TSA_CONFIG.format(dir=folder))


class Authority:
    """`openssl ts -reply` over HTTP: POST a TimeStampReq, get a TimeStampResp."""

    def __init__(self, folder: Path) -> None:
        make_authority(folder)
        self.folder = folder
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with tempfile.TemporaryDirectory() as work:
                    query, reply = Path(work) / "q.tsq", Path(work) / "r.tsr"
                    query.write_bytes(body)
                    subprocess.run(["openssl", "ts", "-reply", "-config", str(folder / "tsa.cnf"), "-queryfile",
                                    str(query), "-out", str(reply)], check=True, capture_output=True)
                    answer = reply.read_bytes()
                outer.requests += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/tsa"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def authority(tmp_path):
    tsa = Authority(tmp_path / "tsa")
    yield tsa
    tsa.close()


def test_timestamped_checkpoints_verify_and_a_token_of_another_checkpoint_is_refused(tmp_path, authority):
    ca = authority.folder / "ca.crt"
    c = Cli(tmp_path, f"sqlite:///{tmp_path / 'convenant.db'}",
            f'\n[log]\ntsa_url = "{authority.url}"\ntsa_certificate = "{ca}"\n')
    c.run("init", "--simulation", "--start", "2025-03-01T09:00:00+01:00")
    c.run("agreements", "create", "--example", KB)
    c.run("audit", "checkpoint")
    c.trigger(KB, "open_signing")
    c.advance("2025-03-02T09:00:00+01:00")
    c.trigger(KB, "sign", role="party", party="ipo", actor="namens ipo")
    checkpoint = c.run("audit", "checkpoint").data
    assert checkpoint.get("tsa_token") and authority.requests >= 3
    assert c.run("audit", "verify").data["intact"] is True

    export = tmp_path / "export.json"
    c.run("audit", "export", "--out", str(export))
    key = tmp_path / "key.json"
    key.write_text(json.dumps(c.run("keys", "show").data))
    doc = json.loads(export.read_text())
    assert len(doc["checkpoints"]) >= 3 and all(cp.get("tsa_token") for cp in doc["checkpoints"])
    assert verify.main(["log", str(export), "--key", str(key), "--tsa-cert", str(ca)]) == 0
    assert verify.main(["log", str(export), "--key", str(key)]) == 0       # the imprint alone, without the CA

    receipt = tmp_path / "receipt.json"
    c.run("audit", "receipt", "2", "--out", str(receipt))
    assert json.loads(receipt.read_text()).get("tsa_token")
    assert verify.main(["receipt", str(receipt), "--key", str(key), "--tsa-cert", str(ca)]) == 0

    # the token of the first checkpoint put beside the last: it stamps another text
    moved = json.loads(export.read_text())
    moved["checkpoints"][-1]["tsa_token"] = moved["checkpoints"][0]["tsa_token"]
    (tmp_path / "moved.json").write_text(json.dumps(moved))
    assert verify.main(["log", str(tmp_path / "moved.json"), "--key", str(key), "--tsa-cert", str(ca)]) == 3
    forged = json.loads(receipt.read_text())
    forged["tsa_token"] = moved["checkpoints"][0]["tsa_token"]
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    assert verify.main(["receipt", str(tmp_path / "forged.json"), "--key", str(key)]) == 3

    # another authority's CA does not vouch for these tokens
    other = Authority(tmp_path / "other-tsa")
    try:
        assert verify.main(["log", str(export), "--key", str(key), "--tsa-cert",
                            str(other.folder / "ca.crt")]) == 3
    finally:
        other.close()

    # and the same token moved in the database is found by audit verify
    import sqlalchemy as sa

    from convenant.storage.store import make_engine
    engine = make_engine(f"sqlite:///{tmp_path / 'convenant.db'}")
    with engine.begin() as conn:
        first = conn.execute(sa.text("select tsa_token from log_checkpoints order by size limit 1")).scalar()
        conn.execute(sa.text("update log_checkpoints set tsa_token = :t where size = (select max(size) from "
                             "log_checkpoints)"), {"t": first})
    engine.dispose()
    res = c.run("audit", "verify", expect=3)
    assert "time-stamp" in json.loads(res.out)["problem"]


def test_an_unreachable_authority_leaves_the_checkpoint_without_a_token(tmp_path):
    c = Cli(tmp_path, f"sqlite:///{tmp_path / 'convenant.db'}", '\n[log]\ntsa_url = "http://127.0.0.1:9/tsa"\n'
                                                              'tsa_timeout_seconds = 2\n')
    c.run("init", "--simulation", "--start", "2025-03-01T09:00:00+01:00")
    c.run("agreements", "create", "--example", KB)
    checkpoint = c.run("audit", "checkpoint").data
    assert checkpoint["size"] == 1 and "tsa_token" not in checkpoint
    assert c.run("audit", "verify").data["intact"] is True
